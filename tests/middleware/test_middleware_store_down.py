"""The counter store down (a Redis URL on a closed port, 50 ms timeout): play time fails open, money
fails closed with 503, adults never notice, and the metrics say what happened."""

from __future__ import annotations

import json
import logging
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from mwkit import (
    ADULT,
    AGE_15,
    AGE_17,
    PROBLEM_JSON,
    Clock,
    assert_problem,
    bearer,
    build,
    client,
    token,
    write_deployment,
)

from minorguard.explain import compile_policy
from minorguard.middleware import MinorGuardMiddleware
from redis_servers import RedisServer, free_port

IN_WINDOW = "2026-11-20 20:30:00"
SPEC: Any = compile_policy("nppa-2021").policy.spec


@pytest.fixture
def down(tmp_path: Path, clock: Clock, closing: list[Any]) -> tuple[MinorGuardMiddleware, Any]:
    port = free_port()  # nothing listens there
    config = write_deployment(
        tmp_path, policy="nppa-2021", store=f"redis://127.0.0.1:{port}/0", store_timeout_ms=50
    )
    app, _, registry = build(config, clock)
    closing.append(app)
    clock.set(IN_WINDOW)
    return app, registry


def _errors(registry: Any, activity: str) -> float:
    return sum(
        s.value
        for m in registry.collect()
        if m.name == "minorguard_store_errors"
        for s in m.samples
        if s.name.endswith("_total") and s.labels["activity"] == activity
    )


async def test_a_minors_game_in_the_window_fails_open_when_the_store_is_down(
    down: tuple[MinorGuardMiddleware, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Play time fails open: the minor plays, fail_open and store_errors count it, the log says so."""
    app, registry = down
    caplog.set_level(logging.INFO, logger="minorguard.decisions")
    async with client(app) as http:
        started = time.perf_counter()
        response = await http.get("/game/ping", headers=bearer(token("down-teen", AGE_15)))
        elapsed = time.perf_counter() - started
    assert response.status_code == 200
    assert response.json()["minorguard"]["outcome"] == "allow"
    assert elapsed < 2.0
    assert registry.get_sample_value("minorguard_fail_open_total", {"activity": "game"}) == 1
    assert _errors(registry, "game") == 1
    events = [json.loads(r.getMessage()) for r in caplog.records if r.name == "minorguard.decisions"]
    assert [e["failed_open"] for e in events] == [True]


async def test_a_minors_game_outside_the_window_is_still_denied_when_the_store_is_down(
    down: tuple[MinorGuardMiddleware, Any], clock: Clock
) -> None:
    """The stateless rules need no store: outside the window the minor is refused as usual."""
    app, registry = down
    clock.set("2026-11-20 21:30:00")
    async with client(app) as http:
        response = await http.get("/game/ping", headers=bearer(token("down-teen", AGE_15)))
    assert response.status_code == 403
    assert response.json()["reason"] == "outside_play_window"
    assert _errors(registry, "game") == 0


@pytest.mark.parametrize("birthdate", [AGE_15, AGE_17], ids=["age_15", "age_17"])
async def test_a_minors_purchase_fails_closed_with_503_when_the_store_is_down(
    down: tuple[MinorGuardMiddleware, Any], clock: Clock, birthdate: Any
) -> None:
    """Money fails closed: 503 store_unavailable with Retry-After; the app is never called."""
    app, registry = down
    async with client(app) as http:
        response = await http.post(
            "/shop/purchases", headers=bearer(token("down-buyer", birthdate)), json={"amount_fen": 1000}
        )
    body = assert_problem(
        response,
        503,
        "store_unavailable",
        rule="purchase",
        legal_basis=SPEC.purchase.basis("purchase_monthly_cap"),
        again=None,
        now=clock.now,
    )
    assert response.headers["content-type"] == PROBLEM_JSON
    assert int(response.headers["retry-after"]) > 0
    assert body["title"] == "服务暂时不可用，请稍后再试"
    assert registry.get_sample_value("minorguard_fail_open_total", {"activity": "purchase"}) is None
    assert _errors(registry, "purchase") == 1
    assert (
        registry.get_sample_value(
            "minorguard_decisions_total",
            {"activity": "purchase", "outcome": "deny", "reason": "store_unavailable"},
        )
        == 1
    )


async def test_an_adult_is_unaffected_and_fast_when_the_store_is_down(
    down: tuple[MinorGuardMiddleware, Any], clock: Clock
) -> None:
    """Adults never touch the store: plays and purchases go through at once, no store errors."""
    app, registry = down
    headers = bearer(token("down-adult", ADULT))
    async with client(app) as http:
        started = time.perf_counter()
        for _ in range(20):
            assert (await http.get("/game/ping", headers=headers)).status_code == 200
            bought = await http.post("/shop/purchases", headers=headers, json={"amount_fen": 99999})
            assert bought.status_code == 201
        elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"40 adult requests took {elapsed:.3f}s: they waited on the store"
    assert _errors(registry, "game") == _errors(registry, "purchase") == 0


async def test_store_errors_are_counted_per_failed_call(
    down: tuple[MinorGuardMiddleware, Any], clock: Clock
) -> None:
    """minorguard_store_errors_total counts every failed store call, by activity."""
    app, registry = down
    async with client(app) as http:
        for i in range(3):
            await http.get("/game/ping", headers=bearer(token(f"teen-{i}", AGE_15)))
        for i in range(2):
            await http.post(
                "/shop/purchases", headers=bearer(token(f"buyer-{i}", AGE_15)), json={"amount_fen": 100}
            )
    assert _errors(registry, "game") == 3
    assert _errors(registry, "purchase") == 2
    assert registry.get_sample_value("minorguard_fail_open_total", {"activity": "game"}) == 3


@pytest.fixture
def blackhole() -> Any:
    """A port that accepts connections (the kernel's backlog) and never answers a command."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    yield sock.getsockname()[1]
    sock.close()


async def test_a_store_that_never_answers_times_out_within_the_configured_bound(
    tmp_path: Path, clock: Clock, closing: list[Any], blackhole: int
) -> None:
    """A hung store (connects, never replies): play fails open and money closed, each within ~50 ms."""
    config = write_deployment(
        tmp_path, policy="nppa-2021", store=f"redis://127.0.0.1:{blackhole}/0", store_timeout_ms=50
    )
    app, _, registry = build(config, clock)
    closing.append(app)
    clock.set(IN_WINDOW)
    async with client(app) as http:
        started = time.perf_counter()
        game = await http.get("/game/ping", headers=bearer(token("hung-teen", AGE_15)))
        game_time = time.perf_counter() - started
        started = time.perf_counter()
        purchase = await http.post(
            "/shop/purchases", headers=bearer(token("hung-teen", AGE_15)), json={"amount_fen": 100}
        )
        purchase_time = time.perf_counter() - started
    assert game.status_code == 200
    assert purchase.status_code == 503
    assert purchase.json()["reason"] == "store_unavailable"
    assert game_time < 0.5, game_time
    assert purchase_time < 0.5, purchase_time
    assert (
        registry.get_sample_value("minorguard_store_errors_total", {"activity": "game", "kind": "timeout"})
        == 1
    )


@pytest.mark.redis
async def test_a_commit_lost_to_a_store_failure_is_logged_and_counted(
    tmp_path: Path, clock: Clock, closing: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    """The store dies while the app charges: the 201 stands, the failed commit is logged and counted."""
    with RedisServer.launch(tmp_path / "redis") as server:

        async def charge_then_lose_the_store(scope: Any, receive: Any, send: Any) -> None:
            while (await receive()).get("more_body"):
                pass
            server.stop(kill=True)
            await send({"type": "http.response.start", "status": 201, "headers": []})
            await send({"type": "http.response.body", "body": b"charged"})

        config = write_deployment(tmp_path, policy="nppa-2021", store=server.url, store_timeout_ms=200)
        app, _, registry = build(config, clock, app=charge_then_lose_the_store)
        closing.append(app)
        clock.set(IN_WINDOW)
        caplog.set_level(logging.ERROR, logger="minorguard")
        async with client(app) as http:
            answer = await http.post(
                "/shop/purchases", headers=bearer(token("lost-teen", AGE_15)), json={"amount_fen": 100}
            )
    assert answer.status_code == 201
    assert answer.content == b"charged"
    assert (
        registry.get_sample_value("minorguard_reservations_total", {"action": "commit", "status": "error"})
        == 1
    )
    lost = [r.getMessage() for r in caplog.records if r.name == "minorguard"]
    assert any(m.startswith("could not commit reservation") for m in lost), lost
    assert not any("lost-teen" in m for m in lost)
