"""The adults' pass (middleware/hotpath.py): once a verified adult's token has been answered from the
verified-token cache, its raw header value passes on plain routes with one dict probe. Every way it
must stop passing is tested here: the token expiring, the engine's clock before the 18th birthday, a
policy reload, the decisions log being on, an activity with adult rules, a full table."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from mwkit import ADULT, Clock, bearer, build, client, token, write_deployment

from minorguard.adapters.memory import MemoryCounterStore
from minorguard.engine import ADULT_ALLOWED, Engine
from minorguard.explain import compile_policy
from minorguard.gate.passes import AdultPasses
from minorguard.types import Activity, Facts

PLAIN_ROUTES: list[dict[str, Any]] = [
    {"method": "GET", "path": "/game/ping", "activity": "game"},  # reads nothing but the token
    {"method": "POST", "path": "/live/publishers", "activity": "livestream_publisher_registration"},
]
TURNS_18 = dt.date(2008, 11, 21)  # 18 on 2026-11-21, 00:00 Beijing time
GAME = Facts(Activity.GAME)


def _decisions(registry: Any, reason: str = "allowed") -> float:
    labels = {"activity": "game", "outcome": "allow", "reason": reason}
    return registry.get_sample_value("minorguard_decisions_total", labels) or 0


def _timed(registry: Any) -> float:
    return registry.get_sample_value("minorguard_decision_duration_seconds_count", {"activity": "game"}) or 0


async def test_an_adult_passes_from_the_third_request_counted_but_not_timed(
    tmp_path: Path, clock: Clock
) -> None:
    app, seen, registry = build(write_deployment(tmp_path, routes=PLAIN_ROUTES), clock)
    adult = bearer(token("adult-1", ADULT))
    async with client(app) as http:
        for _ in range(5):
            assert (await http.get("/game/ping", headers=adult)).status_code == 200
    # 1: verified (signature); 2: the verified-token cache, which admits it; 3-5: the pass
    assert len(app.gate.passes) == 1
    assert _decisions(registry) == 5
    assert _timed(registry) == 2
    assert seen.decisions == [ADULT_ALLOWED] * 5  # request.state.minorguard on every request


async def test_the_pass_ends_when_the_engine_clock_is_before_the_18th_birthday(
    tmp_path: Path, clock: Clock
) -> None:
    """A clock set back (a test's, or a demo's --start-at) must not keep a minor on an adult's pass."""
    app, seen, _ = build(write_deployment(tmp_path, routes=PLAIN_ROUTES), clock)
    headers = bearer(token("new-adult", TURNS_18))
    clock.set("2026-11-21 20:30:00")
    async with client(app) as http:
        for _ in range(3):
            assert (await http.get("/game/ping", headers=headers)).status_code == 200
        assert len(app.gate.passes) == 1
        clock.set("2026-11-20 20:30:00")  # a day before: 17, inside the demo policy's play window
        answer = await http.get("/game/ping", headers=headers)
    assert answer.status_code == 200
    assert seen.decisions[-1].band.value != "adult"
    assert seen.decisions[-1].remaining_seconds is not None  # counted as a minor's play
    assert len(app.gate.passes) == 0


async def test_a_policy_reload_empties_the_passes(tmp_path: Path, clock: Clock) -> None:
    app, _, registry = build(write_deployment(tmp_path, routes=PLAIN_ROUTES), clock)
    adult = bearer(token("adult-2", ADULT))
    async with client(app) as http:
        for _ in range(3):
            await http.get("/game/ping", headers=adult)
        assert _timed(registry) == 2
        assert app.gate.reloader is not None
        assert app.gate.reloader.reload(app.gate.engine)  # the same file, compiled anew: a new policy object
        await http.get("/game/ping", headers=adult)  # not passed: timed, and admitted again
        await http.get("/game/ping", headers=adult)  # passed
    assert _timed(registry) == 3
    assert _decisions(registry) == 5


async def test_with_the_decisions_log_on_every_request_is_logged(
    tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    app, _, registry = build(write_deployment(tmp_path, routes=PLAIN_ROUTES), clock)
    adult = bearer(token("adult-3", ADULT))
    caplog.set_level(logging.INFO, logger="minorguard.decisions")
    async with client(app) as http:
        for _ in range(4):
            await http.get("/game/ping", headers=adult)
    lines = [r for r in caplog.records if r.name == "minorguard.decisions"]
    assert len(lines) == 4
    assert _timed(registry) == 4


async def test_an_activity_with_adult_rules_never_passes(tmp_path: Path, clock: Clock) -> None:
    """Publisher registration has no adult limit either, but only game and purchase are on the pass:
    an adult's registration is always judged by the engine."""
    app, _, registry = build(write_deployment(tmp_path, routes=PLAIN_ROUTES), clock)
    adult = bearer(token("adult-4", ADULT))
    async with client(app) as http:
        for _ in range(3):
            assert (await http.post("/live/publishers", headers=adult)).status_code == 201
    timed = registry.get_sample_value(
        "minorguard_decision_duration_seconds_count", {"activity": "livestream_publisher_registration"}
    )
    assert timed == 3
    assert len(app.gate.passes) == 0


async def test_an_expired_token_leaves_the_pass(tmp_path: Path, clock: Clock) -> None:
    """By the real clock, as the verifier checks tokens: a token valid 1 s more (no leeway)."""
    identity = {
        "algorithms": ["HS256"],
        "issuer": "https://id.minorguard.test",
        "audience": "minorguard-tests",
        "hs_secret": {"value": "middleware-tests-hs256-secret-0123456789abcdef"},
        "leeway_seconds": 0,
    }
    app, _, _ = build(write_deployment(tmp_path, routes=PLAIN_ROUTES, identity=identity), clock)
    short = bearer(token("adult-5", ADULT, expires_in=2))
    async with client(app) as http:
        for _ in range(3):
            assert (await http.get("/game/ping", headers=short)).status_code == 200
        assert len(app.gate.passes) == 1
        expires = _exp(short)
        while time.time() < expires:
            await asyncio.sleep(0.05)
        answer = await http.get("/game/ping", headers=short)
    assert answer.status_code == 401
    assert len(app.gate.passes) == 0


def _exp(headers: dict[str, str]) -> float:
    return float(jwt.decode(headers["Authorization"][7:], options={"verify_signature": False})["exp"])


def test_the_table_is_emptied_when_full_and_checks_each_bound(clock: Clock) -> None:
    """AdultPasses on its own, with a real engine: validity, the 18th birthday, the activity, the size."""
    engine = Engine(compile_policy("nppa-2021"), MemoryCounterStore(), subject_secret=b"s" * 32, clock=clock)
    passes = AdultPasses(size=2)
    now = time.time()
    passes.admit(b"Bearer a", now + 60, clock() - 1, engine)
    assert passes.let_through(b"Bearer a", GAME, engine, None)
    assert not passes.let_through(b"Bearer a", Facts(Activity.LIVESTREAM_TIP), engine, None)
    assert not passes.let_through(b"Bearer a", None, engine, None)  # a route that reads more
    assert not passes.let_through(None, GAME, engine, None)
    passes.admit(b"Bearer old", now - 0.001, clock() - 1, engine)
    assert not passes.let_through(b"Bearer old", GAME, engine, None)
    assert len(passes) == 1  # the expired entry left
    passes.admit(b"Bearer later", now + 60, clock() + 1, engine)  # 18 in a second, by the engine
    assert not passes.let_through(b"Bearer later", GAME, engine, None)
    passes.admit(b"Bearer b", now + 60, clock() - 1, engine)
    passes.admit(b"Bearer c", now + 60, clock() - 1, engine)  # over size 2: emptied first
    assert len(passes) == 1
    assert not passes.let_through(b"Bearer a", GAME, engine, None)
    assert passes.let_through(b"Bearer c", GAME, engine, None)
