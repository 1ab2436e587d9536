"""Websocket game connections: a denied one is closed with 1008 before accept (the app never runs); an
allowed one connects."""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path
from typing import Any

import pytest
from mwkit import ADULT, AGE_15, Clock, Sent, bearer, bj, build, token, write_deployment
from starlette.exceptions import StarletteDeprecationWarning
from starlette.websockets import WebSocketDisconnect

IN_WINDOW = "2026-11-20 20:30:00"
OUT_OF_WINDOW = "2026-11-20 21:30:00"


def _ws_scope(headers: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": "/game/ws",
        "raw_path": b"/game/ws",
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50001),
        "server": ("mg.test", 80),
        "subprotocols": [],
    }


async def _connect(app: Any, headers: dict[str, str]) -> list[dict[str, Any]]:
    """One websocket session over raw ASGI: connect, then whatever the app sends until it returns."""
    messages: list[dict[str, Any]] = [{"type": "websocket.connect"}]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.sleep(5)
        return {"type": "websocket.disconnect", "code": 1000}

    sent = Sent()
    await asyncio.wait_for(app(_ws_scope(headers), receive, sent), 5)
    return sent.messages


@pytest.mark.parametrize(
    ("at", "who", "headers"),
    [
        pytest.param(OUT_OF_WINDOW, "minor", None, id="minor-outside-window"),
        pytest.param(IN_WINDOW, "nobody", {}, id="no-token"),
        pytest.param(IN_WINDOW, "forged", {"Authorization": "Bearer not.a.jwt"}, id="forged-token"),
        pytest.param(
            IN_WINDOW, "unverified", bearer(token("ws-unverified", None, verified=False)), id="unverified"
        ),
    ],
)
async def test_a_denied_websocket_is_closed_with_1008_before_accept(
    tmp_path: Path, clock: Clock, at: str, who: str, headers: dict[str, str] | None
) -> None:
    """A denied game websocket gets websocket.close 1008 as its only message; the app never runs."""
    app, seen, registry = build(write_deployment(tmp_path), clock)
    clock.now = bj(at)
    sent = await _connect(app, headers if headers is not None else bearer(token("ws-teen", AGE_15)))
    assert sent == [{"type": "websocket.close", "code": 1008}]
    assert "ws" not in seen.calls
    denied = sum(
        s.value
        for m in registry.collect()
        if m.name == "minorguard_decisions"
        for s in m.samples
        if s.name.endswith("_total") and s.labels["outcome"] == "deny"
    )
    assert denied == 1


@pytest.mark.parametrize(
    ("birthdate", "at"), [(AGE_15, IN_WINDOW), (ADULT, OUT_OF_WINDOW)], ids=["minor-in-window", "adult"]
)
async def test_an_allowed_websocket_connects(tmp_path: Path, clock: Clock, birthdate: Any, at: str) -> None:
    """An allowed game websocket reaches the app: accepted, one message, closed normally."""
    app, seen, _ = build(write_deployment(tmp_path), clock)
    clock.now = bj(at)
    sent = await _connect(app, bearer(token("ws-player", birthdate)))
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.send", "websocket.close"]
    assert seen.calls == ["ws"]
    assert all(not any(k.startswith(b"minorguard-") for k, _ in m.get("headers", [])) for m in sent)


def test_a_denied_websocket_is_refused_through_the_test_client(tmp_path: Path) -> None:
    """Through Starlette's TestClient: the denied handshake raises WebSocketDisconnect(1008)."""
    with warnings.catch_warnings():
        # this starlette prefers the httpx2 fork for its TestClient; the httpx it falls back on is fine
        warnings.simplefilter("ignore", StarletteDeprecationWarning)
        from starlette.testclient import TestClient
    clock = Clock(bj(OUT_OF_WINDOW))
    app, seen, _ = build(write_deployment(tmp_path), clock)
    with TestClient(app) as http:
        with (
            pytest.raises(WebSocketDisconnect) as refused,
            http.websocket_connect("/game/ws", headers=bearer(token("tc-teen", AGE_15))),
        ):
            pass
        assert refused.value.code == 1008
        clock.now = bj(IN_WINDOW)
        with http.websocket_connect("/game/ws", headers=bearer(token("tc-teen", AGE_15))) as ws:
            assert ws.receive_json() == {"game": "connected"}
    assert seen.calls == ["ws"]
    assert seen.lifespan == ["startup", "shutdown"]
