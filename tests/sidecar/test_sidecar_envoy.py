"""Envoy ext_authz (HTTP service) contract, with the request shapes Envoy's documentation gives: the
original method, `path_prefix` + the original path (and query), only the allowed headers plus Host,
Method, Path, Content-Length and Authorization, `Content-Length: 0` and no body unless
`with_request_body`. 200 allows and carries x-minorguard-* headers (allowed_upstream_headers); a deny's
status (401/403), problem+json body and Minorguard-*/Retry-After headers go to the client; never a 5xx,
which Envoy would take for an outage (docs/envoy.md has the matching Envoy configuration)."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from sidecarkit import (
    ADULT,
    AGE_15,
    AGE_17,
    FRIDAY_CURFEW,
    PROBLEM_JSON,
    REPO,
    UNDER_8,
    Clock,
    asgi_client,
    service,
    sidecar,
    token,
    write_config,
)

from minorguard.sidecar.app import SidecarApp
from redis_servers import free_port

PREFIX = "/v1/authz/envoy"
# allowed_headers of docs/envoy.md (Envoy adds Host, Method, Path, Content-Length and Authorization)
ALLOWED_HEADERS = ("accept-language", "idempotency-key", "x-amount-fen")
UPSTREAM_PATTERN = re.compile(r"^x-minorguard-")  # allowed_upstream_headers: prefix x-minorguard-
CLIENT_HEADERS = ("content-type", "content-language", "www-authenticate", "retry-after")  # + minorguard-*


def envoy_request(
    method: str,
    path: str,
    subject_token: str | None = None,
    *,
    body: bytes | None = None,
    prefix: str = PREFIX,
    **original: str,
) -> dict[str, Any]:
    """The check request Envoy's HTTP ext_authz filter sends for an original request."""
    headers = {"host": "game.example.com", "content-length": "0"}
    if subject_token is not None:
        headers["authorization"] = f"Bearer {subject_token}"
    for key, value in original.items():
        name = key.replace("_", "-").lower()
        assert name in ALLOWED_HEADERS, f"Envoy would not forward {name}"
        headers[name] = value
    if body is not None:  # with_request_body
        headers["content-length"] = str(len(body))
        headers["x-envoy-auth-partial-body"] = "false"
    return {"method": method, "url": prefix + path, "headers": headers, "content": body}


def upstream_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if UPSTREAM_PATTERN.match(k)}


@pytest.fixture
def app(tmp_path: Path, clock: Clock, closing: list[SidecarApp]) -> SidecarApp:
    built = sidecar(write_config(tmp_path), clock)
    closing.append(built)
    return built


async def test_an_allowed_minor_gets_200_with_the_upstream_headers_and_no_body(app: SidecarApp) -> None:
    async with asgi_client(app) as http:
        response = await http.request(
            **envoy_request("GET", "/game/ping?game=star-fleet", token("e-t15", AGE_15))
        )
    assert response.status_code == 200
    assert response.content == b""
    assert upstream_headers(response) == {
        "x-minorguard-decision": "allow",
        "x-minorguard-band": "age_8_15",
        "x-minorguard-remaining-seconds": "1800",
    }
    # nothing a client-facing Minorguard-* header would expose on an allow
    assert not [k for k in response.headers if k.startswith("minorguard-")]


async def test_an_allowed_purchase_carries_the_reservation_upstream(app: SidecarApp) -> None:
    request = envoy_request("POST", "/shop/purchases", token("e-buyer", AGE_15), x_amount_fen="1200")
    async with asgi_client(app) as http:
        response = await http.request(**request)
        assert response.status_code == 200
        reservation = response.headers["x-minorguard-reservation-id"]
        assert response.headers["x-minorguard-remaining-budget-fen"] == str(20000 - 1200)
        settled = await http.post(f"/v1/reservations/{reservation}/commit", headers=service("commit"))
    assert settled.status_code == 200
    assert settled.json() == {
        "reservation_id": reservation,
        "status": "committed",
        "changed": True,
        "amount_fen": 1200,
    }


async def test_an_unrouted_or_exempt_path_is_allowed_unenforced(app: SidecarApp) -> None:
    async with asgi_client(app) as http:
        for path in ("/news/today", "/healthz", "/static/app.js", ""):
            response = await http.request(**envoy_request("GET", path))
            assert response.status_code == 200, path
            assert upstream_headers(response) == {"x-minorguard-decision": "not-enforced"}


DENIES = [
    ("single-cap", AGE_15, "POST", "/shop/purchases", {"x_amount_fen": "5001"}, "purchase_single_cap", None),
    (
        "under-8",
        UNDER_8,
        "POST",
        "/shop/purchases",
        {"x_amount_fen": "100"},
        "purchase_not_allowed",
        "2027-06-15",
    ),
    ("tip", AGE_17, "POST", "/live/rooms/9/tips", {"x_amount_fen": "100"}, "tip_minor", "2027-03-10"),
    ("publisher", AGE_15, "POST", "/live/publishers", {}, "publisher_under_min_age", "2027-05-01"),
    ("consent", AGE_17, "POST", "/live/publishers", {}, "publisher_guardian_consent_required", "2027-03-10"),
]


@pytest.mark.parametrize(
    ("born", "method", "path", "headers", "reason", "again"), [pytest.param(*d[1:], id=d[0]) for d in DENIES]
)
async def test_a_deny_carries_status_problem_body_and_headers_for_the_client(
    app: SidecarApp,
    clock: Clock,
    born: dt.date,
    method: str,
    path: str,
    headers: dict[str, str],
    reason: str,
    again: str | None,
) -> None:
    async with asgi_client(app) as http:
        response = await http.request(**envoy_request(method, path, token(f"e-{reason}", born), **headers))
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["status"] == 403
    assert body["reason"] == reason
    assert body["type"] == f"urn:minorguard:reason:{reason}"
    assert body["rule"]
    assert body["legal_basis"]
    assert response.headers["minorguard-reason"] == reason
    assert response.headers["minorguard-rule"] == body["rule"]
    assert not upstream_headers(response), "a deny puts nothing on the upstream request"
    if again is None:
        assert "retry-after" not in response.headers
        assert body["allowed_again_at"] is None
    else:
        at = dt.datetime.fromisoformat(f"{again}T00:00:00+08:00")
        assert body["allowed_again_at"] == at.isoformat()
        assert response.headers["minorguard-allowed-again-at"] == at.isoformat()
        assert response.headers["retry-after"] == str(math.ceil(at.timestamp() - clock.now))


async def test_a_curfew_deny_speaks_the_clients_language(app: SidecarApp, clock: Clock) -> None:
    clock.set(FRIDAY_CURFEW)
    request = envoy_request("GET", "/game/ping", token("e-night", AGE_15), accept_language="en-US,en;q=0.8")
    async with asgi_client(app) as http:
        response = await http.request(**request)
    assert response.status_code == 403
    assert response.headers["content-language"] == "en"
    body = response.json()
    assert body["reason"] == "curfew"
    assert body["allowed_again_at"] == "2026-11-21T20:00:00+08:00"
    assert response.headers["retry-after"] == str(21 * 3600)


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [(None, "identity_missing"), ("Bearer x.y.z", "identity_invalid")],
    ids=["missing", "invalid"],
)
async def test_no_or_a_bad_token_is_401_with_www_authenticate(
    app: SidecarApp, authorization: str | None, reason: str
) -> None:
    request = envoy_request("GET", "/game/ping")
    if authorization is not None:
        request["headers"]["authorization"] = authorization
    async with asgi_client(app) as http:
        response = await http.request(**request)
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["minorguard-reason"] == reason
    assert response.json()["status"] == 401


async def test_with_request_body_a_json_amount_is_read(app: SidecarApp) -> None:
    """with_request_body: Envoy sends the (buffered) body and its length; a body route is judged."""
    subject = token("e-body", AGE_15)
    async with asgi_client(app) as http:
        ok = await http.request(
            **envoy_request(
                "POST", "/shop/body-purchases", subject, body=json.dumps({"amount_fen": 4000}).encode()
            )
        )
        over = await http.request(
            **envoy_request("POST", "/shop/body-purchases", subject, body=b'{"amount_fen": 5001}')
        )
        without = await http.request(**envoy_request("POST", "/shop/body-purchases", subject))
        broken = await http.request(
            **envoy_request("POST", "/shop/body-purchases", subject, body=b"{not json")
        )
    assert ok.status_code == 200
    assert ok.headers["x-minorguard-remaining-budget-fen"] == "16000"
    assert over.status_code == 403
    assert over.json()["reason"] == "purchase_single_cap"
    # without the body (with_request_body off) or with a broken one: a 4xx naming the problem, no 5xx
    for response in (without, broken):
        assert response.status_code == 400
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.json()["status"] == 400


async def test_a_body_over_the_limit_is_413_not_5xx(
    tmp_path: Path, clock: Clock, closing: list[SidecarApp]
) -> None:
    app = sidecar(write_config(tmp_path, max_body_bytes=1024), clock)
    closing.append(app)
    body = json.dumps({"amount_fen": 1, "pad": "x" * 2000}).encode()
    async with asgi_client(app) as http:
        response = await http.request(
            **envoy_request("POST", "/shop/body-purchases", token("e-big", AGE_15), body=body)
        )
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM_JSON


async def test_the_prefix_is_configurable(tmp_path: Path, clock: Clock, closing: list[SidecarApp]) -> None:
    app = sidecar(write_config(tmp_path, sidecar={"envoy_prefix": "/authz/"}), clock)
    closing.append(app)
    async with asgi_client(app) as http:
        moved = await http.request(
            **envoy_request("GET", "/game/ping", token("e-p", AGE_15), prefix="/authz")
        )
        old = await http.request(**envoy_request("GET", "/game/ping", token("e-p", AGE_15)))
    assert moved.status_code == 200
    assert moved.headers["x-minorguard-band"] == "age_8_15"
    assert old.status_code == 404


async def test_a_retried_purchase_with_the_same_idempotency_key_is_409_duplicate_request(
    app: SidecarApp,
) -> None:
    """As the middleware answers: the first purchase went ahead (or is in flight), so the retry must not
    reach the upstream again (the money would move twice, counted once). Envoy passes a 409 on."""
    request = envoy_request(
        "POST", "/shop/purchases", token("e-idem", AGE_15), x_amount_fen="800", idempotency_key="order-9"
    )
    async with asgi_client(app) as http:
        first = await http.request(**request)
        second = await http.request(**request)
    assert first.status_code == 200
    assert second.status_code == 409, second.headers
    assert second.json()["reason"] == "duplicate_request"


async def test_never_a_5xx_with_the_store_down_purchases_fail_closed(
    tmp_path: Path, clock: Clock, closing: list[SidecarApp]
) -> None:
    """Redis unreachable: a minor's purchase is 403 store_unavailable (not 503, which Envoy would count
    as an error and answer by failure_mode_allow), play time fails open, adults pass."""
    dead = f"redis://127.0.0.1:{free_port()}/0"
    app = sidecar(write_config(tmp_path, policy="nppa-2021", store=dead, store_timeout_ms=50), clock)
    closing.append(app)
    async with asgi_client(app) as http:
        purchase = await http.request(
            **envoy_request("POST", "/shop/purchases", token("e-down", AGE_15), x_amount_fen="100")
        )
        play = await http.request(**envoy_request("GET", "/game/ping", token("e-down", AGE_15)))
        adult = await http.request(
            **envoy_request("POST", "/shop/purchases", token("e-down-adult", ADULT), x_amount_fen="100")
        )
        ready = await http.get("/readyz")
    assert purchase.status_code == 403
    assert purchase.headers["content-type"] == PROBLEM_JSON
    assert purchase.json()["reason"] == "store_unavailable"
    assert purchase.headers["minorguard-reason"] == "store_unavailable"
    assert purchase.headers["retry-after"] == "5"
    assert play.status_code == 200
    assert play.headers["x-minorguard-failed-open"] == "1"
    assert adult.status_code == 200
    assert ready.status_code == 503


def test_docs_envoy_md_matches_the_contract_the_tests_assert() -> None:
    """The Envoy configuration in docs/envoy.md uses the prefix, headers and patterns tested here."""
    doc = (REPO / "docs" / "envoy.md").read_text()
    assert f"path_prefix: {PREFIX}" in doc
    for name in ALLOWED_HEADERS:
        assert f"exact: {name}" in doc
    assert "prefix: x-minorguard-" in doc
    assert "prefix: minorguard-" in doc
    for name in CLIENT_HEADERS:
        assert f"exact: {name}" in doc
    assert "failure_mode_allow: false" in doc
    assert "with_request_body" in doc


async def test_a_repeated_header_is_read_first_wins_as_most_upstreams_read_it(app: SidecarApp) -> None:
    """Starlette, werkzeug and Go's Header.Get give an app the first of repeated headers: the sidecar
    judges that one too, at every door (the middleware does the same)."""
    request = envoy_request("POST", "/shop/purchases", token("e-dup", AGE_15))
    listed = [*request["headers"].items(), ("x-amount-fen", "100"), ("x-amount-fen", "9999")]
    async with asgi_client(app) as http:
        response = await http.request(request["method"], request["url"], headers=listed)
    assert response.status_code == 200
    assert response.headers["x-minorguard-remaining-budget-fen"] == str(20000 - 100)
