"""Settling through store failures, in the engine: retried settlements, background cancels of reserves
that failed, lapses counted and audited. The store is the real memory store behind a fault injector
that fails chosen calls (before or after carrying them out); the same cases against a real Redis that
is killed or paused are in test_money_faults.py."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from minorguard.adapters.memory import MemoryCounterStore
from minorguard.counters import ReservationStatus, SpendDenial, SpendKind
from minorguard.engine import Engine
from minorguard.errors import StoreError, StoreErrorKind
from minorguard.explain import compile_policy
from minorguard.settling import Retries, Unanswered
from minorguard.types import Activity, Facts, FailurePolicy, Reason, Subject

KID = Subject("kid-7", dt.date(2011, 5, 1), True)
NOON = dt.datetime(2026, 11, 20, 12, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
TTL = 900  # nppa-2021's reservation_ttl_seconds
FAST = Retries(tries=3, within=1.0, pause=0.01, cancel_pause=0.01, cancel_max_pause=0.05)


@dataclass
class Clock:
    now: float = NOON

    def __call__(self) -> float:
        return self.now


@dataclass
class FaultyStore:
    """The memory store; `fail[name]` calls of a method fail before reaching it, `lose[name]` are
    carried out and then fail (a reply lost to a timeout). Records the reservation ids it was given."""

    inner: MemoryCounterStore = field(default_factory=MemoryCounterStore)
    fail: dict[str, int] = field(default_factory=dict)
    lose: dict[str, int] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            if "reservation_id" in kwargs:
                self.ids.append(kwargs["reservation_id"])
            if self.fail.get(name, 0) > 0:
                self.fail[name] -= 1
                raise StoreError(StoreErrorKind.TIMEOUT, "injected: never reached the store")
            result = await method(*args, **kwargs)
            if self.lose.get(name, 0) > 0:
                self.lose[name] -= 1
                raise StoreError(StoreErrorKind.TIMEOUT, "injected: the reply was lost")
            return result

        return call


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def store_failed(self, activity: str, kind: StoreErrorKind, failure: FailurePolicy) -> None:
        self.events.append(("store_failed", activity))

    def reservation_lapsed(self, kind: str) -> None:
        self.events.append(("lapsed", kind))

    def settlement_failed(self, action: str) -> None:
        self.events.append(("settlement_failed", action))

    def reserve_unanswered(self, outcome: Unanswered) -> None:
        self.events.append(("unanswered", outcome.value))


@pytest.fixture
def store() -> FaultyStore:
    return FaultyStore()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def engine(store: FaultyStore, clock: Clock, recorder: Recorder) -> Engine:
    return Engine(
        compile_policy("nppa-2021"), store, subject_secret=b"s", clock=clock, observer=recorder, retries=FAST
    )


def audit_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "minorguard.reservations"]


async def buy(engine: Engine, amount: int = 5_000, key: str | None = None) -> str | None:
    decision = await engine.decide(KID, Facts(Activity.PURCHASE, amount), idempotency_key=key)
    return decision.reservation_id


async def spent(engine: Engine) -> tuple[int, int]:
    usage = await engine.usage(KID.subject_id)
    return usage.month_committed, usage.month_pending


async def test_a_commit_that_fails_is_tried_again(
    engine: Engine, store: FaultyStore, recorder: Recorder
) -> None:
    """Two failed tries, then the store answers: committed, and nothing to report."""
    rid = await buy(engine)
    assert rid is not None
    store.fail["commit"] = 2
    result = await engine.settle_reservation("commit", engine.user_key(KID.subject_id), rid)
    assert (result.status, result.changed) == (ReservationStatus.COMMITTED, True)
    assert store.calls.count("commit") == 3
    assert recorder.events == []
    assert await spent(engine) == (5_000, 0)


async def test_a_commit_the_store_never_answers_is_still_counted_at_the_deadline(
    engine: Engine, store: FaultyStore, clock: Clock, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    """Every try fails: counted as a settlement failure and audited; at the deadline the purchase
    counts as spent, and the call that finds it reports the lapse."""
    caplog.set_level(logging.WARNING, logger="minorguard.reservations")
    rid = await buy(engine)
    assert rid is not None
    store.fail["commit"] = 3
    user = engine.user_key(KID.subject_id)
    with pytest.raises(StoreError):
        await engine.settle_reservation("commit", user, rid)
    assert store.calls.count("commit") == 3
    clock.now += TTL
    assert await spent(engine) == (5_000, 0)  # usage reads it as spent already
    assert await buy(engine, 1_000) is not None  # the sweep of this reserve lapses it
    assert recorder.events == [("settlement_failed", "commit"), ("lapsed", "purchase")]
    lines = audit_lines(caplog)
    assert [(a["event"], a["action"], a["reservation_id"], a["subject"]) for a in lines] == [
        ("settle_failed", "commit", rid, user),
        ("lapsed", "lapse", rid, user),
    ]
    assert lines[0]["outcome"] == "store_unavailable:timeout:lapses_as_spent"
    assert lines[1]["outcome"] == "counted_as_spent"
    assert not any(KID.subject_id in json.dumps(a) or "5000" in json.dumps(a) for a in lines)


async def test_a_release_the_store_never_answers_stays_counted(
    engine: Engine, store: FaultyStore, clock: Clock, recorder: Recorder
) -> None:
    """The cap errs as a ceiling: an unreleased amount counts as spent, and the failure is reported."""
    rid = await buy(engine)
    assert rid is not None
    store.fail["release"] = 3
    with pytest.raises(StoreError):
        await engine.settle_reservation("release", engine.user_key(KID.subject_id), rid)
    clock.now += TTL
    assert await spent(engine) == (5_000, 0)
    assert recorder.events == [("settlement_failed", "release")]


async def test_retries_stop_within_their_time_budget(store: FaultyStore, clock: Clock) -> None:
    """No try starts after `within`: a store that keeps failing costs a bounded wait."""
    slow = Retries(tries=50, within=0.2, pause=0.05)
    engine = Engine(compile_policy("nppa-2021"), store, subject_secret=b"s", clock=clock, retries=slow)
    store.fail["commit"] = 100
    started = asyncio.get_running_loop().time()
    with pytest.raises(StoreError):
        await engine.settle_reservation("commit", "user", "r1")
    assert asyncio.get_running_loop().time() - started < 0.5
    assert 2 <= store.calls.count("commit") <= 4


async def test_a_reserve_whose_reply_was_lost_is_released_by_its_id(
    engine: Engine, store: FaultyStore, recorder: Recorder
) -> None:
    """The reserve went through but the engine never heard: the purchase is refused (money fails
    closed) and the background cancel gives the quota back."""
    store.lose["reserve"] = 1
    decision = await engine.decide(KID, Facts(Activity.PURCHASE, 5_000))
    assert decision.reason is Reason.STORE_UNAVAILABLE
    assert await engine.settler.drain(2.0) == 0
    assert store.calls[-1] == "cancel"
    assert recorder.events == [("store_failed", "purchase"), ("unanswered", "released")]
    assert await spent(engine) == (0, 0)


async def test_a_reserve_that_arrives_after_its_cancel_holds_nothing(
    engine: Engine, store: FaultyStore, recorder: Recorder, clock: Clock
) -> None:
    """The reserve never reached the store before the cancel did (a delayed copy): the cancel leaves a
    tombstone, and the late reserve reserves nothing."""
    store.fail["reserve"] = 1
    await engine.decide(KID, Facts(Activity.PURCHASE, 5_000))
    assert await engine.settler.drain(2.0) == 0
    assert recorder.events[-1] == ("unanswered", "not_made")
    late = await store.inner.reserve(
        engine.user_key(KID.subject_id),
        kind=SpendKind.PURCHASE,
        amount=5_000,
        single_cap=None,
        buckets=(),
        reservation_id=store.ids[0],
        idempotency_key=None,
        now=int(clock.now),
        reservation_ttl=TTL,
    )
    assert (late.ok, late.denial) == (False, SpendDenial.RELEASED)


async def test_a_cancel_retries_until_the_store_answers(
    engine: Engine, store: FaultyStore, recorder: Recorder
) -> None:
    """A store that comes back within the deadline gets the cancel."""
    store.lose["reserve"] = 1
    store.fail["cancel"] = 4
    await engine.decide(KID, Facts(Activity.PURCHASE, 5_000))
    assert await engine.settler.drain(2.0) == 0
    assert store.calls.count("cancel") == 5
    assert recorder.events[-1] == ("unanswered", "released")


async def test_a_cancel_gives_up_at_the_reservations_deadline(
    engine: Engine, store: FaultyStore, recorder: Recorder, clock: Clock
) -> None:
    """The cancel stops when the reservation's deadline passes, by the engine's clock: abandoned."""
    store.lose["reserve"] = 1
    store.fail["cancel"] = 10**6
    await engine.decide(KID, Facts(Activity.PURCHASE, 5_000))
    assert await engine.settler.drain(0.1) == 1
    clock.now += TTL
    assert await engine.settler.drain(2.0) == 0
    assert recorder.events[-1] == ("unanswered", "abandoned")
    assert await spent(engine) == (5_000, 0)  # it had been made: it lapsed as spent


async def test_too_many_waiting_cancels_are_abandoned_at_once(
    store: FaultyStore, clock: Clock, recorder: Recorder
) -> None:
    """The background work is bounded: beyond max_cancels, a failed reserve is only reported."""
    few = Retries(cancel_pause=0.01, max_cancels=1)
    engine = Engine(
        compile_policy("nppa-2021"), store, subject_secret=b"s", clock=clock, observer=recorder, retries=few
    )
    store.fail = {"reserve": 2, "cancel": 10**6}
    await engine.decide(KID, Facts(Activity.PURCHASE, 100))
    await engine.decide(KID, Facts(Activity.PURCHASE, 100))
    assert engine.settler.cancels_waiting == 1
    assert recorder.events.count(("unanswered", "abandoned")) == 1
    await engine.close()
    assert engine.settler.cancels_waiting == 0
    assert recorder.events.count(("unanswered", "abandoned")) == 2


async def test_the_single_try_settlement_reports_lapses_too(
    engine: Engine, clock: Clock, recorder: Recorder
) -> None:
    """`settle_key` (one store call, no retry) also counts what the call found lapsed."""
    first = await buy(engine)
    second = await buy(engine)
    assert first is not None
    assert second is not None
    clock.now += TTL
    result = await engine.settle_key("commit", engine.user_key(KID.subject_id), first)
    assert (result.status, result.changed) == (ReservationStatus.COMMITTED, True)
    assert recorder.events == [("lapsed", "purchase"), ("lapsed", "purchase")]


async def test_an_unknown_action_is_a_value_error(engine: Engine) -> None:
    """Doors pass the action through; only commit, release and refund exist."""
    with pytest.raises(ValueError, match="unknown reservation action"):
        await engine.settle_reservation("undo", "user", "r1")
