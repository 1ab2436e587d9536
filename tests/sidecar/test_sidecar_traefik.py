"""Traefik ForwardAuth contract, with the request shapes Traefik's documentation gives: a GET (or the
original method with preserveRequestMethod) to the address, the original headers, and
X-Forwarded-Method / -Proto / -Host / -Uri (path and query) / -For. 2xx forwards the request and the
headers matching authResponseHeadersRegex `^X-Minorguard-` go upstream; any other answer reaches the
client verbatim: status, body and headers (docs/traefik.md has the matching middleware)."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from sidecarkit import (
    ADULT,
    AGE_15,
    AGE_17,
    AMOUNT_HEADER,
    MONDAY_AFTERNOON,
    PROBLEM_JSON,
    REPO,
    UNDER_8,
    Clock,
    asgi_client,
    sidecar,
    token,
    write_config,
)

from minorguard.sidecar.app import SidecarApp
from redis_servers import free_port

ADDRESS = "/v1/authz/traefik"
RESPONSE_HEADERS_REGEX = "^X-Minorguard-"


def forward_auth(
    method: str, uri: str, subject_token: str | None = None, *, auth_method: str = "GET", **original: str
) -> dict[str, Any]:
    """The request Traefik's ForwardAuth middleware sends for an original request."""
    headers = {
        "host": "minorguard:8080",
        "user-agent": "game-client/1.0",
        "accept": "application/json",
        "x-forwarded-method": method,
        "x-forwarded-proto": "https",
        "x-forwarded-host": "game.example.com",
        "x-forwarded-uri": uri,
        "x-forwarded-for": "203.0.113.7",
    }
    if subject_token is not None:
        headers["authorization"] = f"Bearer {subject_token}"
    headers.update({k.replace("_", "-"): v for k, v in original.items()})
    return {"method": auth_method, "url": ADDRESS, "headers": headers}


def canonical(name: str) -> str:
    """Go's canonical header form, which Traefik matches authResponseHeadersRegex against."""
    return "-".join(part.capitalize() for part in name.split("-"))


def to_upstream(headers: Any) -> dict[str, str]:
    return {canonical(k): v for k, v in headers.items() if re.match(RESPONSE_HEADERS_REGEX, canonical(k))}


@pytest.fixture
def app(tmp_path: Path, clock: Clock, closing: list[SidecarApp]) -> SidecarApp:
    built = sidecar(write_config(tmp_path), clock)
    closing.append(built)
    return built


async def test_an_allowed_request_gets_2xx_and_headers_for_auth_response_headers_regex(
    app: SidecarApp,
) -> None:
    async with asgi_client(app) as http:
        play = await http.request(**forward_auth("GET", "/game/ping?game=x", token("t-teen", AGE_15)))
        buy = await http.request(
            **forward_auth("POST", "/shop/purchases", token("t-teen", AGE_15), x_amount_fen="2500")
        )
    assert play.status_code == 200
    assert to_upstream(play.headers) == {
        "X-Minorguard-Decision": "allow",
        "X-Minorguard-Band": "age_8_15",
        "X-Minorguard-Remaining-Seconds": "1800",
    }
    assert buy.status_code == 200
    upstream = to_upstream(buy.headers)
    assert upstream["X-Minorguard-Remaining-Budget-Fen"] == "17500"
    assert re.fullmatch(r"[0-9a-f]+\.[0-9a-f]+", upstream["X-Minorguard-Reservation-Id"])


async def test_the_original_method_comes_from_x_forwarded_method_whatever_the_auth_method(
    app: SidecarApp,
) -> None:
    """Traefik asks with GET by default and with the original method under preserveRequestMethod; the
    sidecar judges X-Forwarded-Method (a lower-case one too) either way."""
    subject = token("t-child", UNDER_8)
    async with asgi_client(app) as http:
        for method, auth_method in (("POST", "GET"), ("POST", "POST"), ("post", "GET")):
            response = await http.request(
                **forward_auth(
                    method, "/shop/purchases", subject, auth_method=auth_method, x_amount_fen="100"
                )
            )
            assert response.status_code == 403, (method, auth_method)
            assert response.json()["reason"] == "purchase_not_allowed"
        # a GET of the purchase path matches no route (POST only): not enforced
        response = await http.request(**forward_auth("GET", "/shop/purchases", subject))
    assert response.status_code == 200
    assert response.headers["x-minorguard-decision"] == "not-enforced"


async def test_without_x_forwarded_method_the_request_method_is_used(app: SidecarApp) -> None:
    request = forward_auth("POST", "/live/publishers", token("t-15-pub", AGE_15), auth_method="POST")
    del request["headers"]["x-forwarded-method"]
    async with asgi_client(app) as http:
        response = await http.request(**request)
    assert response.status_code == 403
    assert response.json()["reason"] == "publisher_under_min_age"


DENIES = [
    (
        "window",
        MONDAY_AFTERNOON,
        AGE_15,
        "GET",
        "/game/ping",
        {},
        "outside_play_window",
        "2026-11-27T20:00:00+08:00",
    ),
    (
        "rating",
        None,
        UNDER_8,
        "GET",
        "/game/ping?game=star-fleet",
        {},
        "game_rating",
        "2031-06-15T20:00:00+08:00",
    ),
    (
        "tip",
        None,
        AGE_17,
        "POST",
        "/live/rooms/3/tips",
        {"x_amount_fen": "1"},
        "tip_minor",
        "2027-03-10T00:00:00+08:00",
    ),
    ("cap", None, AGE_15, "POST", "/shop/purchases", {"x_amount_fen": "9999"}, "purchase_single_cap", None),
]


@pytest.mark.parametrize(
    ("when", "born", "method", "uri", "extra", "reason", "again"),
    [pytest.param(*d[1:], id=d[0]) for d in DENIES],
)
async def test_a_deny_reaches_the_client_verbatim(
    app: SidecarApp,
    clock: Clock,
    when: str | None,
    born: dt.date,
    method: str,
    uri: str,
    extra: dict[str, str],
    reason: str,
    again: str | None,
) -> None:
    """Whatever the sidecar answers is what the client gets: so the answer must be complete on its own,
    a problem+json with a consistent status, Content-Length, language and the Minorguard-* headers."""
    if when is not None:
        clock.set(when)
    async with asgi_client(app) as http:
        response = await http.request(**forward_auth(method, uri, token(f"t-{reason}", born), **extra))
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["content-length"] == str(len(response.content))
    assert response.headers["content-language"] == "zh-CN"
    assert response.headers["vary"] == "Accept-Language"
    body = json.loads(response.content)
    assert body["status"] == 403
    assert body["reason"] == reason == response.headers["minorguard-reason"]
    assert body["title"]
    assert body["detail"]
    assert body["legal_basis"]
    assert not to_upstream(response.headers), "a deny carries nothing meant for the upstream"
    if again is None:
        assert "retry-after" not in response.headers
    else:
        assert body["allowed_again_at"] == again == response.headers["minorguard-allowed-again-at"]
        expected = math.ceil(dt.datetime.fromisoformat(again).timestamp() - clock.now)
        assert response.headers["retry-after"] == str(expected)


async def test_a_missing_token_is_401_with_www_authenticate_and_english_on_request(app: SidecarApp) -> None:
    request = forward_auth("GET", "/game/ping")
    request["headers"]["accept-language"] = "en"
    async with asgi_client(app) as http:
        response = await http.request(**request)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-language"] == "en"
    assert response.json()["reason"] == "identity_missing"


async def test_an_amount_the_route_needs_but_does_not_get_is_a_400_problem(app: SidecarApp) -> None:
    async with asgi_client(app) as http:
        missing = await http.request(**forward_auth("POST", "/shop/purchases", token("t-a", AGE_15)))
        bad = await http.request(
            **forward_auth("POST", "/shop/purchases", token("t-a", AGE_15), x_amount_fen="12.5")
        )
    for response in (missing, bad):
        assert response.status_code == 400
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.json()["field"] == AMOUNT_HEADER


async def test_with_the_store_down_money_fails_closed_with_403_and_play_fails_open(
    tmp_path: Path, clock: Clock, closing: list[SidecarApp]
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    app = sidecar(write_config(tmp_path, store=dead, store_timeout_ms=50), clock)
    closing.append(app)
    async with asgi_client(app) as http:
        buy = await http.request(
            **forward_auth("POST", "/shop/purchases", token("t-d", AGE_15), x_amount_fen="5")
        )
        play = await http.request(**forward_auth("GET", "/game/ping", token("t-d", AGE_15)))
        adult = await http.request(**forward_auth("GET", "/game/ping", token("t-d-adult", ADULT)))
    assert buy.status_code == 403
    assert buy.json()["reason"] == "store_unavailable"
    assert play.status_code == 200
    assert play.headers["x-minorguard-failed-open"] == "1"
    assert adult.status_code == 200


def test_docs_traefik_md_matches_the_contract_the_tests_assert() -> None:
    doc = (REPO / "docs" / "traefik.md").read_text()
    assert "kind: Middleware" in doc
    assert "/v1/authz/traefik" in doc
    assert f'authResponseHeadersRegex: "{RESPONSE_HEADERS_REGEX}"' in doc
    assert "trustForwardHeader: false" in doc
    assert "http:\n  middlewares:" in doc  # the file provider's dynamic configuration
