"""Hostile requests through every sidecar door (issue 14 items 1-5), black-box: the same requests that
were let past the rules or crashed the sidecar on the code before the gate.

A 15-year-old on a Monday at 10:00 is outside the play window, so any spelling of /game/ping that is
judged is a 403; one that slipped past the route table would be a 200 "not-enforced".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sidecarkit import (
    AGE_15,
    AMOUNT_HEADER,
    PROBLEM_JSON,
    Clock,
    asgi_client,
    bearer,
    bj,
    sidecar,
    token,
    write_config,
)

from minorguard.sidecar.app import SidecarApp

MONDAY_MORNING = "2026-11-23 10:00:00"
SPELLINGS = [
    "/game/%70ing",
    "/%67ame/ping",
    "/game//ping",
    "/game/./ping",
    "/game/x/../ping",
    "/static/../game/ping",
    "/game/ping;jsessionid=1",
    "/GAME/ping/../../game/ping",
]
UNJUDGEABLE = ["/game%2Fping", "/game/ping%00", "/game%5Cping", "/game/%zz", "/game/%C3%28", "//game/ping"]


@pytest.fixture
async def app(tmp_path: Path, closing: list[SidecarApp]) -> SidecarApp:
    built = sidecar(write_config(tmp_path), Clock(bj(MONDAY_MORNING)))
    closing.append(built)
    return built


def teen() -> dict[str, str]:
    return bearer(token("hostile-teen", AGE_15))


def utf8(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    """Headers as a client may send them: UTF-8 bytes (httpx itself refuses non-ASCII text)."""
    return [(name.lower().encode(), value.encode()) for name, value in headers.items()]


async def nginx(http: httpx.AsyncClient, method: str, uri: str, **headers: str) -> httpx.Response:
    original = {"x-original-uri": uri, "x-original-method": method}
    return await http.get("/v1/authz/nginx", headers=utf8({**teen(), **original, **headers}))


async def traefik(http: httpx.AsyncClient, method: str, uri: str, **headers: str) -> httpx.Response:
    return await http.get(
        "/v1/authz/traefik",
        headers={**teen(), "x-forwarded-uri": uri, "x-forwarded-method": method, **headers},
    )


async def envoy(http: httpx.AsyncClient, method: str, path: str, **headers: str) -> httpx.Response:
    url = httpx.URL("http://sidecar.test/v1/authz/envoy" + path)
    request = http.build_request(method, url, headers=utf8({**teen(), "content-length": "0", **headers}))
    return await http.send(request)


def assert_bad_request(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 400, (response.status_code, response.text)
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == 400
    return body


def assert_nginx_invalid(response: httpx.Response) -> None:
    assert response.status_code == 403, (response.status_code, response.headers)
    assert response.headers["minorguard-reason"] == "invalid_request"


@pytest.mark.parametrize("path", SPELLINGS)
async def test_every_door_judges_every_spelling_of_a_path(app: SidecarApp, path: str) -> None:
    """Item 1: percent-escapes, dot segments, repeated slashes and ;params reach the route of
    /game/ping at every door: the minor outside the window is refused, never 'not-enforced'."""
    async with asgi_client(app) as http:
        for response in (
            await nginx(http, "GET", path),
            await traefik(http, "GET", path),
            await envoy(http, "GET", path),
        ):
            assert response.status_code == 403, (path, response.status_code, response.headers)
            assert response.headers["minorguard-reason"] == "outside_play_window"
        decided = await http.post(
            "/v1/decisions", json={"token": token("t", AGE_15), "method": "GET", "path": path}
        )
        assert decided.json()["reason"] == "outside_play_window", decided.text


async def test_a_percent_encoded_purchase_path_is_a_purchase(app: SidecarApp) -> None:
    """Item 1: through nginx, POST /shop/%70urchases with a huge amount was a 'not-enforced' pass."""
    async with asgi_client(app) as http:
        response = await nginx(http, "POST", "/shop/%70urchases", **{AMOUNT_HEADER: "999999"})
    assert response.status_code == 403
    assert response.headers["minorguard-reason"] == "purchase_single_cap"


@pytest.mark.parametrize("path", UNJUDGEABLE)
async def test_a_path_that_cannot_be_judged_is_refused_at_every_door(app: SidecarApp, path: str) -> None:
    async with asgi_client(app) as http:
        assert_nginx_invalid(await nginx(http, "GET", path))
        assert_bad_request(await traefik(http, "GET", path))
        assert_bad_request(await envoy(http, "GET", path))
        decided = await http.post(
            "/v1/decisions", json={"token": token("t", AGE_15), "method": "GET", "path": path}
        )
        assert_bad_request(decided)


@pytest.mark.parametrize("amount", ["²", "\u0663\u0664", "1" * 5000, "\uff15", "1e3"])
async def test_an_amount_that_is_not_ascii_digits_is_a_400_naming_the_field(
    app: SidecarApp, amount: str
) -> None:
    """Item 2: "²" passed str.isdigit() and crashed int(); 5,000 digits hit the int-string limit."""
    raw = amount.encode()
    async with asgi_client(app) as http:
        assert_nginx_invalid(await nginx(http, "POST", "/shop/purchases", **{AMOUNT_HEADER: amount}))
        headers = [
            (b"x-forwarded-uri", b"/shop/purchases"),
            (b"x-forwarded-method", b"POST"),
            (b"authorization", f"Bearer {token('t', AGE_15)}".encode()),
            (b"x-amount-fen", raw),
        ]
        body = assert_bad_request(await http.get("/v1/authz/traefik", headers=headers))
        assert body["field"] == AMOUNT_HEADER
        assert_bad_request(await envoy(http, "POST", "/shop/purchases", **{AMOUNT_HEADER: amount}))


async def test_the_raw_byte_b2_in_an_amount_header_is_a_400(app: SidecarApp) -> None:
    """Item 2: the byte 0xB2 reads as "²" in latin-1."""
    headers = [
        (b"x-forwarded-uri", b"/shop/purchases"),
        (b"x-forwarded-method", b"POST"),
        (b"authorization", f"Bearer {token('t', AGE_15)}".encode()),
        (b"x-amount-fen", b"\xb2"),
    ]
    async with asgi_client(app) as http:
        assert_bad_request(await http.get("/v1/authz/traefik", headers=headers))


@pytest.mark.parametrize("uri", ["http://[", "https://[::1/x", "http://a b/game/ping"])
async def test_a_malformed_url_is_a_4xx_with_no_token_needed(app: SidecarApp, uri: str) -> None:
    """Item 3: urlsplit raised ValueError("Invalid IPv6 URL") on these: a 500 for anyone."""
    async with asgi_client(app) as http:
        nginx_answer = await http.get(
            "/v1/authz/nginx", headers={"x-original-uri": uri, "x-original-method": "GET"}
        )
        traefik_answer = await http.get("/v1/authz/traefik", headers={"x-forwarded-uri": uri})
        decided = await http.post("/v1/decisions", json={"method": "GET", "path": "//[::1/x"})
    assert_nginx_invalid(nginx_answer)
    assert_bad_request(traefik_answer)
    assert_bad_request(decided)


async def test_a_deeply_nested_body_is_a_400_at_envoy_and_the_api(app: SidecarApp) -> None:
    """Item 4: a JSON body nested 10,000 deep ended in RecursionError, a 500."""
    deep = b'{"a":' * 10_000 + b"1" + b"}" * 10_000
    async with asgi_client(app) as http:
        at_envoy = await http.post(
            "/v1/authz/envoy/shop/body-purchases",
            content=deep,
            headers={**teen(), "content-type": "application/json"},
        )
        text = json.dumps({"token": token("t", AGE_15), "method": "POST", "path": "/shop/body-purchases"})
        raw_api = text[:-1] + ', "body": ' + '{"a":' * 10_000 + "1" + "}" * 10_000 + "}"
        at_api = await http.post("/v1/decisions", content=raw_api.encode())
    assert_bad_request(at_envoy)
    assert at_api.status_code == 400, at_api.text


@pytest.mark.parametrize("amount", ["²", "\u0663\u0664", "\uff15\uff10"])
async def test_a_json_amount_in_unicode_digits_is_a_400(app: SidecarApp, amount: str) -> None:
    """Item 2: in a JSON body "²" crashed int() (a 500) and Arabic-Indic "٣٤" was read as 34 fen."""
    body = {"amount_fen": amount}
    async with asgi_client(app) as http:
        at_envoy = await http.post(
            "/v1/authz/envoy/shop/body-purchases",
            json=body,
            headers={**teen(), "content-type": "application/json"},
        )
        request = {
            "token": token("t", AGE_15),
            "method": "POST",
            "path": "/shop/body-purchases",
            "body": body,
        }
        at_api = await http.post("/v1/decisions", json=request)
    assert assert_bad_request(at_envoy)["field"] == "amount_fen"
    assert assert_bad_request(at_api)["field"] == "amount_fen"
