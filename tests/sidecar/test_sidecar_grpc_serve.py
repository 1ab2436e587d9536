"""`minorguard sidecar --grpc-port` as a user runs it (granian): the gRPC door is served in the worker
beside the HTTP doors, on the same gate (a memory:// store's counters are one total across both), with
the HTTP server's start and stop safety: a port in use is an error before anything starts, and at
SIGTERM the checks keep being answered for `shutdown_delay_seconds`, those under way finish, and then
the port is closed."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
from pathlib import Path

import grpc
import httpx
import pytest
from envoy.service.auth.v3.external_auth_pb2_grpc import AuthorizationStub
from sidecarkit import AGE_15, AMOUNT_HEADER, FRIDAY_IN_WINDOW, SidecarProcess, bj_iso, token, write_config
from test_sidecar_grpc import OK, PERMISSION_DENIED, check_request

from redis_servers import free_port

DELAY = 1.0  # sidecar.shutdown_delay_seconds
START_AT = ["--start-at", bj_iso(FRIDAY_IN_WINDOW)]


def purchase(subject: str, amount: int) -> object:
    headers = {"authorization": f"Bearer {token(subject, AGE_15)}", AMOUNT_HEADER.lower(): str(amount)}
    return check_request("POST", "/shop/purchases", headers)


async def test_the_grpc_and_http_doors_share_one_gate(tmp_path: Path) -> None:
    """A 15-year-old's ¥150 over gRPC and ¥50 over HTTP use up the month's ¥200 (memory:// store):
    the next fen is refused by either door."""
    grpc_port = free_port()
    config = write_config(tmp_path / "config")
    args = ("--config", str(config), "--grpc-port", str(grpc_port), *START_AT)
    with SidecarProcess.running(tmp_path / "run", *args) as process:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            stub = AuthorizationStub(channel)
            for _ in range(3):
                assert (await stub.Check(purchase("serve-shared", 5000), timeout=5)).status.code == OK
            headers = {"authorization": f"Bearer {token('serve-shared', AGE_15)}", AMOUNT_HEADER: "5000"}
            http = httpx.post(f"{process.url}/v1/authz/envoy/shop/purchases", headers=headers, timeout=5)
            assert http.status_code == 200, http.text
            over = await stub.Check(purchase("serve-shared", 1), timeout=5)
    assert over.status.code == PERMISSION_DENIED
    reason = {o.header.key: o.header.value for o in over.denied_response.headers}["minorguard-reason"]
    assert reason == "purchase_monthly_cap"


@pytest.mark.parametrize("taken", ["http", "grpc"])
def test_a_grpc_port_in_use_exits_with_a_clear_message(tmp_path: Path, taken: str) -> None:
    """Another program on the gRPC port (or the gRPC port given as the HTTP one): no start."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        process = SidecarProcess(tmp_path, "--config", str(write_config(tmp_path / "config")))
        if taken == "grpc":
            process.args += ["--grpc-port", str(port)]
            expected = f"127.0.0.1:{port} is in use"
        else:
            process.args += ["--grpc-port", str(process.port)]
            expected = "must differ from the HTTP port"
        done = subprocess.run(process.args, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert expected in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_the_deployment_setting_turns_the_grpc_door_on(tmp_path: Path) -> None:
    grpc_port = free_port()
    config = write_config(tmp_path / "config", sidecar={"grpc_port": grpc_port})
    with (
        SidecarProcess.running(tmp_path / "run", "--config", str(config)),
        grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel,
    ):
        response = AuthorizationStub(channel).Check(check_request(), timeout=5)
    assert response.denied_response.status.code == 401


async def test_sigterm_answers_every_check_then_closes_the_port(tmp_path: Path) -> None:
    """Checks under way at the SIGTERM and sent during the shutdown delay are all answered (no RPC
    error, which Envoy would take for the sidecar failing); after the delay the port is closed and
    the process exits 0."""
    grpc_port = free_port()
    config = write_config(tmp_path / "config", sidecar={"shutdown_delay_seconds": DELAY})
    process = SidecarProcess(
        tmp_path / "run", "--config", str(config), "--grpc-port", str(grpc_port), *START_AT
    )
    process.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            stub = AuthorizationStub(channel)

            async def one(n: int, wait: float = 0.0) -> int:
                await asyncio.sleep(wait)
                response = await stub.Check(purchase(f"serve-term-{n % 8}", 1), timeout=10)
                return int(response.status.code)

            burst = [asyncio.create_task(one(n)) for n in range(200)]
            await asyncio.sleep(0.05)
            process.signal(signal.SIGTERM)
            during = [asyncio.create_task(one(1000 + n, DELAY / 2 + n * 0.002)) for n in range(20)]
            codes = await asyncio.gather(*burst, *during)
            code = process.wait(30)
        assert codes == [OK] * len(codes)
        assert code == 0, process.stderr[-3000:]
        with (
            grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel,
            pytest.raises(grpc.RpcError) as refused,
        ):
            AuthorizationStub(channel).Check(check_request(), timeout=2)
        assert refused.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    finally:
        process.stop()
