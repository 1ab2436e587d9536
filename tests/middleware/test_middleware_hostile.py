"""Hostile requests through the middleware (issue 14 items 1, 2 and 4): the ASGI path a server hands
over is judged in every spelling an app could route, amounts are ASCII digits, and a deeply nested body
is a 400, not a RecursionError."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mwkit import (
    AGE_15,
    PROBLEM_JSON,
    Clock,
    Sent,
    bearer,
    build,
    client,
    http_scope,
    scripted_receive,
    token,
    write_deployment,
)

from minorguard.middleware import MinorGuardMiddleware


@pytest.fixture
def app(tmp_path: Path, clock: Clock, closing: list[MinorGuardMiddleware]) -> MinorGuardMiddleware:
    built, _, _ = build(write_deployment(tmp_path), clock)
    closing.append(built)
    clock.set("2026-11-23 10:00:00")  # a Monday morning: outside the minors' play window
    return built


async def call(app: MinorGuardMiddleware, path: str) -> Sent:
    sent = Sent()
    scope = http_scope("GET", path, bearer(token("mw-hostile", AGE_15)))
    await app(scope, scripted_receive([{"type": "http.request", "body": b""}]), sent)
    return sent


@pytest.mark.parametrize(
    "path", ["/game//ping", "/game/./ping", "/game/x/../ping", "/static/../game/ping", "/game/ping;v=1"]
)
async def test_a_path_an_app_could_route_as_a_game_route_is_judged_as_one(
    app: MinorGuardMiddleware, path: str
) -> None:
    """Item 1: the ASGI path as the server gave it, and its normal form (which some routers use), are
    both judged; either reaching /game/ping makes the request a game request."""
    sent = await call(app, path)
    assert sent.status == 403, sent.messages


@pytest.mark.parametrize("path", ["/game\\ping", "/game/ping\x00", "/game/ping\x1b"])
async def test_a_decoded_path_with_a_backslash_or_control_character_is_a_400(
    app: MinorGuardMiddleware, path: str
) -> None:
    sent = await call(app, path)
    assert sent.status == 400, sent.messages


@pytest.mark.parametrize("amount", ["²", "\u0663\u0664", "1" * 5000])
async def test_a_body_amount_that_is_not_ascii_digits_is_a_400_naming_the_field(
    app: MinorGuardMiddleware, amount: str
) -> None:
    """Item 2: "²" crashed int() (a 500); "٣٤" was read as 34 fen; 5,000 digits hit Python's limit."""
    async with client(app) as http:
        response = await http.post(
            "/shop/gems", json={"amount_fen": amount}, headers=bearer(token("mw-amount", AGE_15))
        )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["field"] == "amount_fen"


@pytest.mark.parametrize(
    "body", [b"[" * 10_000 + b"]" * 10_000, b'{"a":' * 10_000 + b"1" + b"}" * 10_000], ids=["array", "object"]
)
async def test_a_body_nested_ten_thousand_deep_is_a_400(app: MinorGuardMiddleware, body: bytes) -> None:
    """Item 4: json.loads recursed until RecursionError, a 500."""
    headers: dict[str, Any] = {**bearer(token("mw-deep", AGE_15)), "content-type": "application/json"}
    async with client(app) as http:
        response = await http.post("/shop/gems", content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
