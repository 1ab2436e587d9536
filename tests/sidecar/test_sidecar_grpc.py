"""The Envoy ext_authz gRPC door (`envoy.service.auth.v3.Authorization/Check`), in process and over a
real gRPC channel: CheckRequest in, CheckResponse out, with the same statuses, bodies and headers as
the HTTP door for the same request (a differential property over hostile methods, paths, header maps
and bodies: never an exception, never an RPC error, which Envoy would count as the sidecar failing)."""

from __future__ import annotations

import asyncio
import json
import socket
import string
from pathlib import Path
from typing import Any

import grpc
import pytest
from envoy.service.auth.v3.attribute_context_pb2 import AttributeContext
from envoy.service.auth.v3.external_auth_pb2 import CheckRequest
from envoy.service.auth.v3.external_auth_pb2_grpc import AuthorizationStub
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sidecarkit import (
    ADULT,
    AGE_15,
    AMOUNT_HEADER,
    FRIDAY_CURFEW,
    FRIDAY_IN_WINDOW,
    UNDER_8,
    Clock,
    bj,
    sidecar,
    token,
    write_config,
)
from test_sidecar_fuzz import NASTY_TEXT, Answered, call, scope_of

from minorguard.sidecar.app import SidecarApp
from minorguard.sidecar.grpcdoor import EnvoyGrpcDoor
from minorguard.sidecar.grpcserver import GrpcAddress, GrpcBindError, GrpcListener
from redis_servers import free_port

OK, INVALID_ARGUMENT, PERMISSION_DENIED, UNAUTHENTICATED = 0, 3, 7, 16
PREFIX = "/v1/authz/envoy"
REMOVED = "x-envoy-auth-headers-to-remove"


def check_request(
    method: str = "GET",
    path: str = "/game/ping",
    headers: dict[str, str] | None = None,
    *,
    body: str = "",
    raw_body: bytes = b"",
    raw_headers: list[tuple[str, bytes]] | None = None,
) -> CheckRequest:
    """The CheckRequest Envoy's gRPC ext_authz filter sends for an original request."""
    http = AttributeContext.HttpRequest(
        method=method, path=path, headers=headers or {}, body=body, raw_body=raw_body, host="game.test"
    )
    if raw_headers is not None:  # encode_raw_headers: header_map instead of the map
        for name, value in raw_headers:
            http.header_map.headers.add(key=name, raw_value=value)
    return CheckRequest(attributes=AttributeContext(request=AttributeContext.Request(http=http)))


def bearer_of(subject: str, born: Any) -> dict[str, str]:
    return {"authorization": f"Bearer {token(subject, born)}"}


def header_dict(options: Any) -> dict[str, str]:
    return {option.header.key: option.header.value for option in options}


@pytest.fixture
def clock() -> Clock:
    return Clock(bj(FRIDAY_IN_WINDOW))


@pytest.fixture
def app(tmp_path: Path, clock: Clock, closing: list[SidecarApp]) -> SidecarApp:
    built = sidecar(write_config(tmp_path), clock)
    closing.append(built)
    return built


@pytest.fixture
def door(app: SidecarApp) -> EnvoyGrpcDoor:
    return EnvoyGrpcDoor(app.gate)


async def test_an_allowed_minor_is_ok_with_the_upstream_headers_set_over_the_clients(
    door: EnvoyGrpcDoor,
) -> None:
    """OK; x-minorguard-* headers overwrite a client's own of the same name, and the client's other
    x-minorguard-* headers are removed, so the backend sees only the sidecar's."""
    headers = bearer_of("grpc-allowed", AGE_15) | {
        "x-minorguard-band": "adult",
        "x-minorguard-reservation-id": "forged",
        "accept": "*/*",
    }
    response = await door.Check(check_request(headers=headers), None)
    assert response.status.code == OK
    assert response.WhichOneof("http_response") == "ok_response"
    ok = response.ok_response
    assert header_dict(ok.headers) == {
        "x-minorguard-decision": "allow",
        "x-minorguard-band": "age_8_15",
        "x-minorguard-remaining-seconds": "1800",
    }
    assert {o.append_action for o in ok.headers} == {2}  # OVERWRITE_IF_EXISTS_OR_ADD
    assert list(ok.headers_to_remove) == ["x-minorguard-reservation-id"]


async def test_a_deny_carries_the_http_doors_status_body_and_headers(
    door: EnvoyGrpcDoor, clock: Clock
) -> None:
    clock.set(FRIDAY_CURFEW)
    response = await door.Check(check_request(headers=bearer_of("grpc-curfew", AGE_15)), None)
    assert (response.status.code, response.status.message) == (PERMISSION_DENIED, "curfew")
    denied = response.denied_response
    assert denied.status.code == 403
    headers = header_dict(denied.headers)
    assert headers["content-type"] == "application/problem+json"
    assert headers["minorguard-reason"] == "curfew"
    assert headers["minorguard-allowed-again-at"] == "2026-11-21T20:00:00+08:00"
    assert int(headers["retry-after"]) == 21 * 3600
    assert "content-length" not in headers  # Envoy frames the body itself
    body = json.loads(denied.body)
    assert (body["status"], body["reason"]) == (403, "curfew")


@pytest.mark.parametrize(
    ("headers", "code", "status", "reason"),
    [
        ({}, UNAUTHENTICATED, 401, "identity_missing"),
        ({"authorization": "Bearer not-a-jwt"}, UNAUTHENTICATED, 401, "identity_invalid"),
    ],
    ids=["missing", "invalid"],
)
async def test_no_or_a_bad_token_is_unauthenticated(
    door: EnvoyGrpcDoor, headers: dict[str, str], code: int, status: int, reason: str
) -> None:
    response = await door.Check(check_request(headers=headers), None)
    assert response.status.code == code
    assert response.denied_response.status.code == status
    denied = header_dict(response.denied_response.headers)
    assert denied["minorguard-reason"] == reason
    assert denied["www-authenticate"].startswith("Bearer")


async def test_the_amount_comes_from_a_header_and_a_replayed_key_is_refused(door: EnvoyGrpcDoor) -> None:
    headers = bearer_of("grpc-purchase", AGE_15) | {AMOUNT_HEADER.lower(): "700", "idempotency-key": "k-1"}
    first = await door.Check(check_request("POST", "/shop/purchases", headers), None)
    assert first.status.code == OK
    allowed = header_dict(first.ok_response.headers)
    assert allowed["x-minorguard-remaining-budget-fen"] == str(20000 - 700)
    assert allowed["x-minorguard-reservation-id"]
    again = await door.Check(check_request("POST", "/shop/purchases", headers), None)
    assert again.status.code == PERMISSION_DENIED
    assert again.denied_response.status.code == 409
    assert header_dict(again.denied_response.headers)["minorguard-reason"] == "duplicate_request"


async def test_raw_headers_and_a_body_as_bytes_are_read(door: EnvoyGrpcDoor) -> None:
    """encode_raw_headers (header_map with raw values) and pack_as_bytes (raw_body) as Envoy sends
    them: a 7-year-old's body purchase is judged from the body's amount."""
    raw = [("Authorization", f"Bearer {token('grpc-raw', UNDER_8)}".encode())]
    body = json.dumps({"amount_fen": 100}).encode()
    request = check_request("POST", "/shop/body-purchases", raw_headers=raw, raw_body=body)
    response = await door.Check(request, None)
    assert header_dict(response.denied_response.headers)["minorguard-reason"] == "purchase_not_allowed"
    as_text = check_request("POST", "/shop/body-purchases", raw_headers=raw, body=body.decode())
    response = await door.Check(as_text, None)
    assert header_dict(response.denied_response.headers)["minorguard-reason"] == "purchase_not_allowed"


@pytest.mark.parametrize(
    ("request_", "status", "field"),
    [
        (check_request("POST", "/shop/body-purchases", bearer_of("grpc-no-body", AGE_15)), 400, "amount_fen"),
        (
            check_request(
                "POST", "/shop/body-purchases", bearer_of("grpc-big", AGE_15), raw_body=b"{" * 70_000
            ),
            413,
            None,
        ),
        (check_request("", "/game/ping"), 400, None),
        (check_request("GET", ""), 400, None),
        (check_request("GET", "/game%2Fping"), 400, None),
        (check_request("GET", "/game/ping", {f"h{n}": "x" for n in range(300)}), 400, None),
    ],
    ids=["body-not-forwarded", "body-too-large", "no-method", "no-path", "encoded-slash", "300-headers"],
)
async def test_a_request_that_cannot_be_judged_is_invalid_argument_with_a_4xx_problem(
    door: EnvoyGrpcDoor, request_: CheckRequest, status: int, field: str | None
) -> None:
    response = await door.Check(request_, None)
    assert response.status.code == INVALID_ARGUMENT
    denied = response.denied_response
    assert denied.status.code == status
    assert header_dict(denied.headers)["content-type"] == "application/problem+json"
    body = json.loads(denied.body)
    assert body["status"] == status
    assert body.get("field") == field


async def test_over_a_real_channel_and_a_port_in_use_is_an_error(app: SidecarApp) -> None:
    """The listener serves Check on its port; a second one on the same port of another program (no
    SO_REUSEPORT) cannot start."""
    listener = GrpcListener(app.gate, GrpcAddress("127.0.0.1", 0), max_body_bytes=1024)
    await listener.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{listener.port}") as channel:
            response = await AuthorizationStub(channel).Check(check_request(), timeout=5)
        assert response.status.code == UNAUTHENTICATED
    finally:
        await listener.stop(1)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        blocked = GrpcListener(app.gate, GrpcAddress("127.0.0.1", port), max_body_bytes=1024)
        with pytest.raises(GrpcBindError, match=f"127.0.0.1:{port}"):
            await blocked.start()


def test_an_ipv6_address_is_written_in_brackets() -> None:
    assert str(GrpcAddress("::1", 9191)) == "[::1]:9191"
    assert str(GrpcAddress("0.0.0.0", free_port())).startswith("0.0.0.0:")


# ---------------------------------------------------------------- the differential property

PRINTABLE = st.text(string.printable.strip() + " ", max_size=30)
TEXT = st.one_of(st.sampled_from([t for t in NASTY_TEXT if t.isascii()]), PRINTABLE)
PATHS = st.one_of(
    st.sampled_from(
        ["/game/ping", "/%67ame/ping", "/shop/purchases", "/shop/body-purchases", "/live/rooms/7/tips"]
    ),
    TEXT.map(lambda t: "/" + t.lstrip("/").replace("?", "")),  # a "?" would start the query
)
QUERIES = st.one_of(st.just(""), st.sampled_from(["game=star-fleet", "a=%zz"]), PRINTABLE)
NAMES = st.sampled_from(["x-amount-fen", "idempotency-key", "accept-language", "x-minorguard-band", "accept"])
TOKENS = [token("grpc-fuzz-teen", AGE_15), token("grpc-fuzz-adult", ADULT), "not-a-jwt"]
AUTH = st.one_of(st.none(), st.sampled_from(TOKENS).map(lambda t: f"Bearer {t}"), TEXT)
BODIES = st.one_of(
    st.just(b""),
    st.sampled_from([b'{"amount_fen": 100}', b'{"amount_fen": 1e3}', b"[1]", b"{" * 40]),
    st.binary(max_size=40),
    st.integers(1, 3000).map(lambda n: b"x" * n),
)
PROPERTY = settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> tuple[SidecarApp, SidecarApp]:
    """Two sidecars of one config and clock, fed the same requests, so their counters stay equal:
    one answers through the HTTP door, the other through the gRPC door."""
    folder = tmp_path_factory.mktemp("grpc-twins")
    clock = Clock(bj(FRIDAY_IN_WINDOW))
    config = write_config(folder, max_body_bytes=1024)
    return sidecar(config, clock), sidecar(config, clock)


def comparable(status: int, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], Any]:
    headers = {k: v for k, v in headers.items() if k != "content-length"}
    if "x-minorguard-reservation-id" in headers:  # each store makes its own id
        headers["x-minorguard-reservation-id"] = "<id>"
    return status, headers, json.loads(body) if body else None


@PROPERTY
@given(
    st.sampled_from(["GET", "POST", "HEAD", "PATCH"]),
    PATHS,
    QUERIES,
    AUTH,
    st.lists(st.tuples(NAMES, TEXT), max_size=4),
    BODIES,
)
def test_the_grpc_door_answers_as_the_http_door_and_never_fails(
    twins: tuple[SidecarApp, SidecarApp],
    method: str,
    path: str,
    query: str,
    auth: str | None,
    extra: list[tuple[str, str]],
    body: bytes,
) -> None:
    """Any method, path, query, header map and body: the gRPC door answers a CheckResponse (OK or a
    denied_response with a 4xx, never an exception), with the status, headers and body the HTTP door
    gives for the same request."""
    http_app, grpc_app = twins
    headers = dict(extra)
    if auth is not None:
        headers["authorization"] = auth
    target = path + ("?" + query if query else "")
    as_text = body.decode("utf-8", "replace").encode()  # Envoy's `body` is UTF-8 text
    raw = [(k.encode(), v.encode()) for k, v in headers.items()]
    if as_text:
        raw.append((b"content-length", str(len(as_text)).encode()))
    raw_path = (PREFIX + path).encode()
    answered: Answered = asyncio.run(call(http_app, scope_of(method, raw_path, raw, query.encode()), as_text))
    door = EnvoyGrpcDoor(grpc_app.gate)
    request = check_request(method, target, headers, body=as_text.decode())
    response = asyncio.run(door.Check(request, None))

    assert answered.status is not None
    if response.status.code == OK:
        ok = response.ok_response
        removed = ",".join(ok.headers_to_remove)  # the HTTP door names them in a header
        got = comparable(200, header_dict(ok.headers) | ({REMOVED: removed} if removed else {}), b"")
    else:
        assert response.status.code in (INVALID_ARGUMENT, PERMISSION_DENIED, UNAUTHENTICATED)
        denied = response.denied_response
        assert 400 <= denied.status.code < 500
        got = comparable(denied.status.code, header_dict(denied.headers), denied.body.encode())
    expected = comparable(
        answered.status, {k.decode(): v.decode() for k, v in answered.headers}, answered.body
    )
    assert got == expected
