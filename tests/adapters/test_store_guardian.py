"""The guardian part of the CounterStore contract, run against every store (memory, Redis in every URL
form, Cluster included): settings kept beside the counters, read by the heartbeat and the reserve
that count, the guardian's hours and an enforced rest never counted as play, and the guardian's caps
applied in the reserve's one atomic step, after the policy's."""

from __future__ import annotations

import pytest
from storekit import MIDNIGHT, T, play

from minorguard.adapters.base import (
    Bucket,
    CounterStore,
    PlayResult,
    ReserveResult,
    RestArgs,
    SpendDenial,
    SpendKind,
)
from minorguard.counters import NO_REST
from minorguard.errors import StoreError
from minorguard.rules.guardian import GuardianSettings
from minorguard.types import DayType

pytestmark = pytest.mark.asyncio(loop_scope="session")

DAY, MONTH = "2026-11-22", "2026-11"
KEEP = 400 * 86_400
EVENING = 19 * 60  # minutes: 19:00
SUNDAY = DayType.WEEKEND


def encoded(**values: object) -> str:
    return GuardianSettings(keep_seconds=KEEP, updated_at=T, **values).encode()  # type: ignore[arg-type]


async def put(store: CounterStore, user: str, value: str | None, now: int = T) -> str:
    return await store.set_guardian_settings(user, value, now=now, keep_seconds=KEEP)


async def beat(
    store: CounterStore, user: str, now: int, *, letter: str = "e", rest: RestArgs = NO_REST
) -> PlayResult:
    return await play(store, user, now, letter=letter, rest=rest)


async def buy(
    store: CounterStore,
    user: str,
    amount: int,
    rid: str,
    *,
    kind: SpendKind = SpendKind.PURCHASE,
    single: int | None = None,
    month_cap: int | None = None,
    guardian: bool = True,
) -> ReserveResult:
    buckets = (Bucket(DAY, None, 2 * 86_400), Bucket(MONTH, month_cap, 40 * 86_400))
    return await store.reserve(
        user,
        kind=kind,
        amount=amount,
        single_cap=single,
        buckets=buckets,
        reservation_id=rid,
        idempotency_key=None,
        now=T,
        reservation_ttl=900,
        guardian=guardian,
    )


async def test_settings_are_set_read_replaced_and_cleared(store: CounterStore, user: str) -> None:
    """Each call answers the settings before it; a clear leaves none."""
    first, second = encoded(single=1000), encoded(single=0)
    assert await store.guardian_settings(user, now=T) == ""
    assert await put(store, user, first) == ""
    assert await store.guardian_settings(user, now=T) == first
    assert await put(store, user, second) == first
    assert await put(store, user, None) == second
    assert await store.guardian_settings(user, now=T) == ""
    assert await put(store, user, None) == ""


async def test_a_heartbeat_answers_the_settings_only_when_asked(store: CounterStore, user: str) -> None:
    value = encoded(minutes={SUNDAY: 30})
    await put(store, user, value)
    assert (await beat(store, user, T)).guardian == value
    assert (await beat(store, user, T + 60, letter="")).guardian == ""


async def test_outside_the_guardians_hours_a_heartbeat_is_not_counted(store: CounterStore, user: str) -> None:
    """Hours 19:00-20:00 on weekends: heartbeats at 10:00 add nothing and leave the last one alone;
    inside the hours they count again (the gap capped at max_gap, as any new session)."""
    await put(store, user, encoded(hours={SUNDAY: ((EVENING, EVENING + 60),)}))
    morning = MIDNIGHT + 10 * 3600
    for offset in (0, 60, 120):
        result = await beat(store, user, morning + offset)
        assert (result.used_seconds, result.counted, result.last_seen) == (0, False, 0)
    evening = MIDNIGHT + EVENING * 60
    assert (await beat(store, user, evening)).counted
    assert (await beat(store, user, evening + 60)).used_seconds == 60
    assert (await beat(store, user, evening + 3600)).counted is False  # 20:00: the period ended
    assert (await beat(store, user, evening + 60, letter="w")).used_seconds == 60  # a repeat


async def test_no_hours_on_the_day_type_counts_nothing_and_other_day_types_are_free(
    store: CounterStore, user: str
) -> None:
    await put(store, user, encoded(hours={SUNDAY: ()}))
    await beat(store, user, T)
    assert (await beat(store, user, T + 60)).counted is False
    await beat(store, user, T + 120, letter="w")
    assert (await beat(store, user, T + 180, letter="w")).used_seconds == 60


async def test_a_session_runs_until_a_break_longer_than_break_seconds(store: CounterStore, user: str) -> None:
    rest = RestArgs(break_seconds=600)
    await beat(store, user, T, rest=rest)
    assert (await beat(store, user, T + 100, rest=rest)).session_seconds == 100
    assert (await beat(store, user, T + 700, rest=rest)).session_seconds == 700  # a gap of 600 is no break
    after_break = await beat(store, user, T + 1301, rest=rest)
    assert (after_break.session_seconds, after_break.last_seen) == (0, T + 1301)


async def test_while_an_enforced_rest_is_due_heartbeats_are_not_counted(
    store: CounterStore, user: str
) -> None:
    """Rest after 300 s, break 600 s: once the session reached 300 s, heartbeats within the break add
    nothing and do not extend the session; after the break a new session counts again."""
    rest = RestArgs(break_seconds=600, enforce_after=300)
    for offset in range(0, 301, 100):
        await beat(store, user, T + offset, rest=rest)
    refused = await beat(store, user, T + 400, rest=rest)
    assert (refused.counted, refused.session_seconds, refused.used_seconds) == (False, 300, 300)
    assert (await beat(store, user, T + 890, rest=rest)).counted is False
    back = await beat(store, user, T + 901, rest=rest)
    assert (back.counted, back.session_seconds, back.used_seconds) == (True, 0, 420)


@pytest.mark.parametrize(("exemptable", "counted"), [(False, False), (True, True)])
async def test_an_exempt_child_plays_through_an_enforced_rest_where_the_policy_allows(
    store: CounterStore, user: str, exemptable: bool, counted: bool
) -> None:
    await put(store, user, encoded(rest_exempt=True))
    rest = RestArgs(break_seconds=600, enforce_after=100, exemptable=exemptable)
    await beat(store, user, T, rest=rest)
    await beat(store, user, T + 100, rest=rest)
    assert (await beat(store, user, T + 150, rest=rest)).counted is counted


async def test_the_guardians_caps_refuse_with_letters_of_their_own(store: CounterStore, user: str) -> None:
    """single (S), day (D), month (M); the reply carries the settings; nothing is held on a refusal."""
    value = encoded(single=1000, daily=1500, monthly=2500)
    await put(store, user, value)
    single = await buy(store, user, 1001, "a1")
    assert (single.ok, single.denial, single.guardian) == (False, SpendDenial.GUARDIAN_SINGLE, value)
    assert (await buy(store, user, 1000, "a2")).ok
    daily = await buy(store, user, 600, "a3")
    assert daily.denial is SpendDenial.GUARDIAN_DAILY
    assert [t.pending for t in daily.totals] == [1000, 1000]
    assert (await buy(store, user, 500, "a4")).ok


async def test_the_guardians_month_cap_counts_what_was_spent_before_it_was_set(
    store: CounterStore, user: str
) -> None:
    assert (await buy(store, user, 2000, "b1")).ok
    await put(store, user, encoded(monthly=2500))
    assert (await buy(store, user, 600, "b2")).denial is SpendDenial.GUARDIAN_MONTHLY
    assert (await buy(store, user, 500, "b3")).ok


async def test_the_policys_caps_are_checked_before_the_guardians(store: CounterStore, user: str) -> None:
    await put(store, user, encoded(single=100, monthly=100))
    assert (await buy(store, user, 600, "c1", single=500)).denial is SpendDenial.SINGLE_CAP
    assert (await buy(store, user, 200, "c2", month_cap=150)).denial is SpendDenial.MONTHLY_CAP
    assert (await buy(store, user, 200, "c3")).denial is SpendDenial.GUARDIAN_SINGLE


async def test_tipping_off_refuses_tips_and_leaves_purchases(store: CounterStore, user: str) -> None:
    await put(store, user, encoded(tips_off=True))
    assert (await buy(store, user, 100, "d1", kind=SpendKind.TIP)).denial is SpendDenial.GUARDIAN_TIPS
    assert (await buy(store, user, 100, "d2")).ok


async def test_settings_are_not_applied_when_the_reserve_does_not_ask(store: CounterStore, user: str) -> None:
    await put(store, user, encoded(single=0))
    found = await buy(store, user, 100, "e1", guardian=False)
    assert (found.ok, found.guardian) == (True, "")


async def test_a_stored_value_the_service_never_writes_fails_the_call(store: CounterStore, user: str) -> None:
    """The engine's failure policy then decides: no settings are silently ignored."""
    await put(store, user, "not json")
    with pytest.raises(StoreError):
        await beat(store, user, T)
    with pytest.raises(StoreError):
        await buy(store, user, 100, "f1")
    assert (await beat(store, user, T, letter="")).guardian == ""
