"""A tiny run of the peers benchmark (benchmarks/peers.py: one round of a second a row, 200 players), so
its scripts cannot rot: every peer is built or installed (benchmarks/peers/install, which scripts/test
runs), started, proved to be in the request's path (a request it must refuse) and measured. A peer
that is missing fails the run, never skips it: the issue's targets are set against these peers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "benchmarks" / "peers.py"
VENV = Path(sys.executable).parent

pytestmark = pytest.mark.slow

RATELIMIT = "envoyproxy/ratelimit, per-user daily limit"
OPA = "OPA-envoy, curfew rule"
GRPC = "minorguard sidecar, minor, ext_authz gRPC"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, dict[str, Any]]]:
    out = tmp_path_factory.mktemp("peers") / "peers.json"
    command = [sys.executable, str(HARNESS), "--seconds", "1", "--rounds", "1", "--players", "200"]
    done = subprocess.run(
        [*command, "--json", str(out)], capture_output=True, text=True, timeout=240, check=False, cwd=ROOT
    )
    assert done.returncode == 0, f"the peers benchmark failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return done.stdout, {entry["name"]: entry for entry in json.loads(out.read_text())}


def grpc_door() -> bool:
    help_text = subprocess.run(
        [str(VENV / "minorguard"), "sidecar", "--help"], capture_output=True, text=True, check=True
    ).stdout
    return "--grpc-port" in help_text


@pytest.mark.timeout(300)
def test_every_row_is_measured_and_printed_in_one_table(run: tuple[str, dict[str, dict[str, Any]]]) -> None:
    """Each row that this build can run has a round with requests, a server CPU cost and a latency."""
    printed, rows = run
    assert len(rows) == 13
    for name, row in rows.items():
        assert f"| {name} |" in printed
        if name == GRPC and not grpc_door():
            continue
        assert row["rounds"] == 1, name
        assert row["rate"] > 0, name
        assert row["server_us"] > 0, name
        assert 0 < row["p50_ms"] <= row["p99_ms"], name


@pytest.mark.timeout(300)
def test_the_grpc_row_says_why_it_is_missing_or_is_measured(
    run: tuple[str, dict[str, dict[str, Any]]],
) -> None:
    """Without `minorguard sidecar --grpc-port` the gRPC row is a clear 'not available' line."""
    printed, rows = run
    if grpc_door():
        assert rows[GRPC]["unavailable"] is None
        assert rows[GRPC]["rate"] > 0
    else:
        assert rows[GRPC]["unavailable"].startswith("not available: no gRPC door in this build")
        assert "not available: no gRPC door in this build" in printed


@pytest.mark.timeout(300)
def test_the_peers_use_redis_as_they_should(run: tuple[str, dict[str, dict[str, Any]]]) -> None:
    """ratelimit pipelines INCRBY and EXPIRE per request; slowapi and fastapi-limiter run one script; the
    OPA rule and adults need no store; minors' heartbeats reach it (200 chatty players: not every
    request, the per-second memo answers the rest)."""
    _, rows = run
    assert rows[RATELIMIT]["redis_calls"] == pytest.approx(2, abs=0.1)
    for name in ("slowapi, in-process", "fastapi-limiter, in-process"):
        assert rows[name]["redis_calls"] == pytest.approx(1, abs=0.1), name
    assert rows[OPA]["redis_calls"] < 0.01
    assert rows["minorguard sidecar, adult, ext_authz HTTP"]["redis_calls"] < 0.01
    for name in ("minorguard sidecar, minor, ext_authz HTTP", "minorguard middleware, minor, in-process"):
        assert rows[name]["redis_calls"] > 0, name


@pytest.mark.timeout(300)
def test_ratios_are_to_ratelimit_and_opa_per_server_core(run: tuple[str, dict[str, dict[str, Any]]]) -> None:
    """Every measured row carries its requests per server core over ratelimit's and over OPA's."""
    _, rows = run
    assert rows[RATELIMIT]["to_ratelimit"] == pytest.approx(1)
    assert rows[OPA]["to_opa"] == pytest.approx(1)
    for name, row in rows.items():
        if row["unavailable"] is None:
            assert row["per_core"] == pytest.approx(1e6 / row["server_us"], rel=1e-6), name
            assert row["to_opa"] == pytest.approx(row["per_core"] / rows[OPA]["per_core"]), name
