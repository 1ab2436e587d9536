"""The engine: at most one store call per decision, none for adults or stateless denies, and the
failure policy applied per activity."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from minorguard.adapters.memory import MemoryCounterStore
from minorguard.adapters.stores import open_store
from minorguard.engine import Engine
from minorguard.errors import StoreError, StoreErrorKind
from minorguard.explain import compile_policy
from minorguard.settling import Unanswered
from minorguard.types import Activity, Decision, Facts, FailurePolicy, Outcome, Reason, Subject

SHANGHAI = ZoneInfo("Asia/Shanghai")
KID = Subject("kid-1", dt.date(2011, 5, 1), True)
ADULT = Subject("adult-1", dt.date(1990, 5, 1), True)


def beijing(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).timestamp()


class CountingStore:
    """The real memory store, with a count of the calls that reach it."""

    def __init__(self) -> None:
        self.inner = MemoryCounterStore()
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return await method(*args, **kwargs)

        return counted


class Recorder:
    def __init__(self) -> None:
        self.failures: list[tuple[str, StoreErrorKind, FailurePolicy]] = []
        self.events: list[tuple[str, str]] = []

    def store_failed(self, activity: str, kind: StoreErrorKind, failure: FailurePolicy) -> None:
        self.failures.append((activity, kind, failure))

    def reservation_lapsed(self, kind: str) -> None:
        self.events.append(("lapsed", kind))

    def settlement_failed(self, action: str) -> None:
        self.events.append(("settlement_failed", action))

    def reserve_unanswered(self, outcome: Unanswered) -> None:
        self.events.append(("unanswered", outcome.value))


@pytest.fixture
def counting() -> CountingStore:
    return CountingStore()


def engine_on(store: Any, preset: str = "nppa-2021", observer: Recorder | None = None) -> Engine:
    return Engine(compile_policy(preset), store, subject_secret=b"test-secret", observer=observer)


async def test_adults_and_stateless_denies_never_touch_the_store(counting: CountingStore) -> None:
    """An adult's game and purchase, and a minor's curfew deny, make no store call."""
    engine = engine_on(counting)
    assert (await engine.decide(ADULT, Facts(Activity.GAME), at=beijing("2026-11-19T23:00"))).allowed
    assert (
        await engine.decide(ADULT, Facts(Activity.PURCHASE, 100_000), at=beijing("2026-11-19T23:00"))
    ).allowed
    denied = await engine.decide(KID, Facts(Activity.GAME), at=beijing("2026-11-20T23:00"))
    assert denied.reason is Reason.CURFEW
    over_single = await engine.decide(KID, Facts(Activity.PURCHASE, 5001), at=beijing("2026-11-20T12:00"))
    assert over_single.reason is Reason.PURCHASE_SINGLE_CAP
    assert counting.calls == []


async def test_a_minor_in_the_window_makes_exactly_one_heartbeat_call(counting: CountingStore) -> None:
    """Each game request inside the window is one heartbeat; time adds up between heartbeats."""
    engine = engine_on(counting)
    first = await engine.decide(KID, Facts(Activity.GAME), at=beijing("2026-11-20T20:00"))
    second = await engine.decide(KID, Facts(Activity.GAME), at=beijing("2026-11-20T20:02"))
    assert counting.calls == ["play_heartbeat", "play_heartbeat"]
    assert first.remaining_seconds == 3600
    assert second.remaining_seconds == 3600 - 120


async def test_the_daily_limit_denies_until_the_next_play_day(counting: CountingStore) -> None:
    """nppa-2019: 90 minutes on a working day; once used up, denied until 08:00 the next day."""
    engine = engine_on(counting, "nppa-2019")
    start = beijing("2026-11-19T10:00")
    decision = None
    for minute in range(0, 95, 5):
        decision = await engine.decide(KID, Facts(Activity.GAME), at=start + minute * 60)
    assert decision is not None
    assert decision.outcome is Outcome.DENY
    assert decision.reason is Reason.DAILY_PLAY_LIMIT
    assert decision.allowed_again_at == dt.datetime(2026, 11, 20, 8, 0, tzinfo=SHANGHAI)


async def test_purchases_reserve_commit_and_respect_the_monthly_cap(counting: CountingStore) -> None:
    """A 15-year-old may spend 200 yuan a month: four 50-yuan purchases, not a fifth."""
    engine = engine_on(counting)
    at = beijing("2026-11-20T12:00")
    for _ in range(4):
        decision = await engine.decide(KID, Facts(Activity.PURCHASE, 5000), at=at)
        assert decision.allowed
        assert decision.reservation_id is not None
        assert (await engine.commit(KID.subject_id, decision.reservation_id, at=at)).changed
    fifth = await engine.decide(KID, Facts(Activity.PURCHASE, 1), at=at)
    assert fifth.reason is Reason.PURCHASE_MONTHLY_CAP
    assert fifth.allowed_again_at == dt.datetime(2026, 12, 1, tzinfo=SHANGHAI)


async def test_an_idempotency_key_reserves_once(counting: CountingStore) -> None:
    """Retrying a purchase with the same key answers the same reservation."""
    engine = engine_on(counting)
    at = beijing("2026-11-20T12:00")
    first = await engine.decide(KID, Facts(Activity.PURCHASE, 5000), idempotency_key="k1", at=at)
    again = await engine.decide(KID, Facts(Activity.PURCHASE, 5000), idempotency_key="k1", at=at)
    assert first.reservation_id == again.reservation_id
    assert again.remaining_budget_fen == 15000


async def test_store_down_fails_open_for_play_time_and_closed_for_money() -> None:
    """With Redis unreachable, play time fails open (flagged) and purchases fail closed."""
    recorder = Recorder()
    store = open_store("redis://127.0.0.1:9/0", timeout=0.05)  # the discard port: nothing listens
    engine = engine_on(store, observer=recorder)
    try:
        play = await engine.decide(KID, Facts(Activity.GAME), at=beijing("2026-11-20T20:10"))
        buy = await engine.decide(KID, Facts(Activity.PURCHASE, 100), at=beijing("2026-11-20T12:00"))
    finally:
        await engine.close()  # the failed reserve's cancel is still trying: abandoned now
        await store.close()
    assert play.allowed
    assert play.failed_open
    assert buy.outcome is Outcome.DENY
    assert buy.reason is Reason.STORE_UNAVAILABLE
    assert [(a, f) for a, _, f in recorder.failures] == [
        ("game", FailurePolicy.OPEN),
        ("purchase", FailurePolicy.CLOSED),
    ]
    assert recorder.events == [("unanswered", "abandoned")]


async def test_the_store_sees_only_a_keyed_hash_of_the_subject(counting: CountingStore) -> None:
    """No raw subject id reaches the store."""
    engine = engine_on(counting)
    await engine.decide(KID, Facts(Activity.PURCHASE, 100), at=beijing("2026-11-20T12:00"))
    assert KID.subject_id not in repr(counting.inner.__dict__)
    assert engine.user_key(KID.subject_id) != KID.subject_id


async def test_a_user_whose_play_time_is_used_up_is_answered_without_the_store(
    counting: CountingStore,
) -> None:
    """After the daily-limit deny, later heartbeats that day make no store call, and the next play day
    asks the store again."""
    engine = engine_on(counting, "nppa-2019")
    start = beijing("2026-11-19T10:00")
    for minute in range(0, 95, 5):
        await engine.decide(KID, Facts(Activity.GAME), at=start + minute * 60)
    calls = len(counting.calls)
    later = await engine.decide(KID, Facts(Activity.GAME), at=start + 120 * 60)
    assert later.reason is Reason.DAILY_PLAY_LIMIT
    assert len(counting.calls) == calls  # answered from the known blocked period
    tomorrow = await engine.decide(KID, Facts(Activity.GAME), at=beijing("2026-11-20T09:00"))
    assert tomorrow.allowed
    assert len(counting.calls) == calls + 1


# --- the minute memo: a minor's stateless game verdict is reused for the rest of its minute ----------


def _compiled(tmp_path: Any, body: str) -> Any:
    path = tmp_path / "memo.yaml"
    path.write_text(f"name: memo\nextends: nppa-2021\n{body}", encoding="utf-8")
    return compile_policy(path)


async def test_memoised_heartbeats_decide_as_the_rules_do_second_by_second() -> None:
    """Every second of 20:58:00-21:00:30 on a Friday: the engine (memo on) and a fresh engine per
    request (memo cold) give the same decision, remaining seconds counting down to the window's end."""
    warm = engine_on(MemoryCounterStore())
    start = beijing("2026-11-20T20:58:00")
    for offset in range(0, 150, 7):
        at = start + offset
        cold = engine_on(MemoryCounterStore())
        # the cold engine's store has never seen the kid: replay the warm one's first heartbeat
        await cold.decide(KID, Facts(Activity.GAME), at=start)
        expected = await cold.decide(KID, Facts(Activity.GAME), at=at)
        got = await warm.decide(KID, Facts(Activity.GAME), at=at)
        assert got == expected, at - start
    inside = await warm.decide(KID, Facts(Activity.GAME), at=beijing("2026-11-20T20:59:50"))
    assert inside.remaining_seconds == 10
    after = await warm.decide(KID, Facts(Activity.GAME), at=beijing("2026-11-20T21:00:00"))
    assert after.reason is Reason.OUTSIDE_PLAY_WINDOW


async def test_a_memoised_check_keeps_no_findings_of_an_earlier_request(tmp_path: Any) -> None:
    """With play time report_only, a used-up limit adds a finding to the decision it allows; the next
    request of the same minute, by another kid with time left, must not carry it."""
    minutes = "{default: 2, holiday: 2}"
    cp = _compiled(
        tmp_path,
        f"game:\n  play_time:\n    mode: report_only\n    daily_minutes:\n      age_8_15: {minutes}\n",
    )
    engine = Engine(cp, MemoryCounterStore(), subject_secret=b"s")
    other = Subject("kid-2", KID.birthdate, True)
    at = beijing("2026-11-20T20:00:00")
    for second in range(0, 180, 30):  # three minutes of heartbeats use the kid's two up
        await engine.decide(KID, Facts(Activity.GAME), at=at + second)
    used_up = await engine.decide(KID, Facts(Activity.GAME), at=at + 190)
    assert used_up.allowed
    assert [f.reason for f in used_up.report_only] == [Reason.DAILY_PLAY_LIMIT]
    fresh = await engine.decide(other, Facts(Activity.GAME), at=at + 200)
    again = await engine.decide(KID, Facts(Activity.GAME), at=at + 210)
    assert fresh.allowed
    assert fresh.report_only == ()
    assert [f.reason for f in again.report_only] == [Reason.DAILY_PLAY_LIMIT]


async def test_a_reloaded_policy_is_applied_within_the_same_minute(tmp_path: Any) -> None:
    engine = engine_on(MemoryCounterStore())
    at = beijing("2026-11-20T20:30:00")
    assert (await engine.decide(KID, Facts(Activity.GAME), at=at)).allowed
    engine.policy = _compiled(tmp_path, "game:\n  curfew: {start: '20:00', end: '08:00'}\n")
    denied = await engine.decide(KID, Facts(Activity.GAME), at=at + 5)
    assert denied.reason is Reason.CURFEW


async def test_subjects_with_the_same_id_and_other_claims_are_judged_apart() -> None:
    """The memo is keyed by the subject object, not its id: a new token with another birthdate is
    judged on its own claims in the same minute."""
    engine = engine_on(MemoryCounterStore())
    at = beijing("2026-11-20T20:30:00")
    assert (await engine.decide(KID, Facts(Activity.GAME), at=at)).allowed
    younger = Subject(KID.subject_id, dt.date(2020, 1, 1), True)
    rated = Facts(Activity.GAME, game_rating=12)
    assert (await engine.decide(KID, rated, at=at + 1)).allowed
    assert (await engine.decide(younger, rated, at=at + 2)).reason is Reason.GAME_RATING


async def test_a_heartbeat_counted_this_second_answers_the_rest_of_the_second(
    counting: CountingStore,
) -> None:
    """The store counts whole seconds: a second request of the kid at the same second adds nothing,
    so the engine answers it without the store, with the decision the store would have led to."""
    engine = engine_on(counting)
    at = beijing("2026-11-20T20:10:00")
    first = await engine.decide(KID, Facts(Activity.GAME), at=at)
    await engine.decide(KID, Facts(Activity.GAME), at=at + 100)
    counted = await engine.decide(KID, Facts(Activity.GAME), at=at + 200)
    assert counting.calls == ["play_heartbeat"] * 3
    for _ in range(5):
        assert await engine.decide(KID, Facts(Activity.GAME), at=at + 200.9) is counted
    assert counting.calls == ["play_heartbeat"] * 3
    cold = await engine_on(counting.inner).decide(KID, Facts(Activity.GAME), at=at + 200)
    assert cold == counted  # what a store call at that second decides
    assert first.remaining_seconds is not None
    assert counted.remaining_seconds is not None
    assert first.remaining_seconds - counted.remaining_seconds == 200
    later = await engine.decide(KID, Facts(Activity.GAME), at=at + 201)
    assert counting.calls == ["play_heartbeat"] * 4
    assert later.remaining_seconds == counted.remaining_seconds - 1


async def test_the_counted_second_is_not_kept_when_the_store_fails() -> None:
    """A decision of the failure policy says nothing about the counters: the next request asks again."""
    store = CountingStore()
    engine = engine_on(store)
    at = beijing("2026-11-20T20:10:00")

    async def down(*args: Any, **kwargs: Any) -> Any:
        store.calls.append("down")
        raise StoreError(StoreErrorKind.CONNECTION, "down")

    store.play_heartbeat = down  # type: ignore[method-assign]
    first = await engine.decide(KID, Facts(Activity.GAME), at=at)
    second = await engine.decide(KID, Facts(Activity.GAME), at=at)
    assert first.failed_open
    assert second.failed_open
    assert store.calls == ["down", "down"]


async def test_a_second_counted_by_another_engine_adds_nothing_to_the_kept_decision() -> None:
    """Two processes on one store: B's heartbeat at the second A counted adds no time, so A's kept
    decision is still what the store says."""
    shared = MemoryCounterStore()
    a, b = engine_on(shared), engine_on(shared)
    at = beijing("2026-11-20T20:10:00")
    await a.decide(KID, Facts(Activity.GAME), at=at)
    kept = await a.decide(KID, Facts(Activity.GAME), at=at + 60)
    from_b = await b.decide(KID, Facts(Activity.GAME), at=at + 60)
    assert from_b == kept
    assert await a.decide(KID, Facts(Activity.GAME), at=at + 60) is kept


async def test_a_heartbeat_settled_after_a_reload_is_not_kept_for_the_new_policy(tmp_path: Any) -> None:
    """A check of the old policy settles after a reload: its decision must not answer requests
    judged by the new policy (here with a 30-minute limit) in that second."""
    engine = engine_on(MemoryCounterStore())
    at = beijing("2026-11-20T20:10:00")
    old = engine.evaluate(KID, Facts(Activity.GAME), at=at)
    assert not isinstance(old, Decision)
    engine.policy = _compiled(
        tmp_path, "game:\n  play_time:\n    daily_minutes:\n      age_8_15: {default: 30, holiday: 30}\n"
    )
    new = engine.evaluate(KID, Facts(Activity.GAME), at=at)
    assert not isinstance(new, Decision)
    assert (await engine.settle(KID, Facts(Activity.GAME), old)).remaining_seconds == 3000  # window end
    answer = await engine.decide(KID, Facts(Activity.GAME), at=at)
    assert answer.remaining_seconds == 1800


async def test_report_only_findings_do_not_pile_up_within_a_second_or_a_minute(tmp_path: Any) -> None:
    """Play time report-only and used up: every request of the kid carries exactly one finding,
    whether it is answered by the store, by the kept second, or by a re-timed kept minute."""
    cp = _compiled(
        tmp_path,
        "game:\n  play_time:\n    mode: report_only\n    daily_minutes:\n"
        "      age_8_15: {default: 2, holiday: 2}\n",
    )
    engine = Engine(cp, MemoryCounterStore(), subject_secret=b"s")
    at = beijing("2026-11-20T20:00:00")
    for second in range(0, 180, 30):
        await engine.decide(KID, Facts(Activity.GAME), at=at + second)
    for second in (190, 190, 190, 191, 191, 230):
        decision = await engine.decide(KID, Facts(Activity.GAME), at=at + second)
        assert decision.allowed
        assert [f.reason for f in decision.report_only] == [Reason.DAILY_PLAY_LIMIT], second


async def test_each_facts_of_a_subject_keeps_its_own_second(counting: CountingStore) -> None:
    """The memo is keyed by subject and facts: another game (its own rating checks) asks the store
    once in that second too, and adds no time; the first game's next request is still answered kept."""
    engine = engine_on(counting)
    at = beijing("2026-11-20T20:10:00")
    ping, other = Facts(Activity.GAME), Facts(Activity.GAME, game_id="star-fleet")
    first = await engine.decide(KID, ping, at=at)
    second = await engine.decide(KID, other, at=at)
    again = await engine.decide(KID, ping, at=at)
    assert counting.calls == ["play_heartbeat", "play_heartbeat"]
    assert again is first
    assert second.remaining_seconds == first.remaining_seconds  # the same second added no time
