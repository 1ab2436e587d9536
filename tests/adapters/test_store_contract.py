"""The CounterStore contract, run against every store: memory, one Redis, a Redis Cluster.

Times are caller-supplied epoch seconds, so most tests move time by passing `now`; none of them
sleeps. Concurrency tests live in test_store_concurrency.py.
"""

from __future__ import annotations

import pytest

from minorguard.adapters.base import (
    Bucket,
    BucketTotals,
    CounterStore,
    GuestResult,
    ReservationStatus,
    ReserveResult,
    SettleResult,
    SpendDenial,
    SpendKind,
    Usage,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

MIDNIGHT = 1_795_017_600  # local midnight starting DAY (the store never checks: callers compute it)
T = MIDNIGHT + 10 * 3600
DAY, PREV, PREV2 = "2026-11-22", "2026-11-21", "2026-11-20"
MONTH = "2026-11"
HOUR = 3600
DAYS2 = 2 * 86_400

S = ReservationStatus


async def beat(
    store: CounterStore,
    user: str,
    now: int,
    *,
    day: str = DAY,
    prev: str = PREV,
    start: int = MIDNIGHT,
    gap: int = 120,
    limit: int = 3 * HOUR,
) -> int:
    result = await store.play_heartbeat(
        user,
        now=now,
        day=day,
        prev_day=prev,
        day_start=start,
        max_gap=gap,
        limit_seconds=limit,
        ttl_seconds=DAYS2,
    )
    assert result.limit_reached == (result.used_seconds >= limit)
    return result.used_seconds


def month(cap: int | None = 10_000, ttl: int = 40 * 86_400) -> Bucket:
    return Bucket(MONTH, cap, ttl)


def today(cap: int | None = 5_000, ttl: int = DAYS2) -> Bucket:
    return Bucket(DAY, cap, ttl)


async def reserve(
    store: CounterStore,
    user: str,
    amount: int,
    rid: str,
    *,
    now: int = T,
    kind: SpendKind = SpendKind.PURCHASE,
    single_cap: int | None = None,
    buckets: tuple[Bucket, ...] | None = None,
    key: str | None = None,
    ttl: int = 900,
) -> ReserveResult:
    return await store.reserve(
        user,
        kind=kind,
        amount=amount,
        single_cap=single_cap,
        buckets=buckets if buckets is not None else (month(),),
        reservation_id=rid,
        idempotency_key=key,
        now=now,
        reservation_ttl=ttl,
    )


async def usage(store: CounterStore, user: str, now: int = T + 60, day: str = DAY) -> Usage:
    return await store.usage(user, day=day, month=MONTH, now=now)


# --- play time ---------------------------------------------------------------------------------------


async def test_first_heartbeat_adds_nothing_and_gaps_add_up(store: CounterStore, user: str) -> None:
    assert await beat(store, user, T) == 0
    assert await beat(store, user, T + 30) == 30
    assert await beat(store, user, T + 90) == 90
    assert await beat(store, user, T + 150, limit=150) == 150  # limit_reached checked in beat()
    assert (await usage(store, user, T + 151)).played_seconds == 150
    assert (await usage(store, user, T + 151)).last_seen == T + 150


async def test_gap_is_capped_at_max_gap(store: CounterStore, user: str) -> None:
    await beat(store, user, T)
    assert await beat(store, user, T + HOUR, gap=120) == 120
    assert await beat(store, user, T + HOUR + 50, gap=120) == 170


async def test_heartbeat_not_after_the_last_adds_nothing_and_keeps_last_seen(
    store: CounterStore, user: str
) -> None:
    await beat(store, user, T)
    assert await beat(store, user, T + 60) == 60
    assert await beat(store, user, T + 20) == 60  # late arrival
    assert await beat(store, user, T + 60) == 60  # duplicate
    assert (await usage(store, user, T + 61)).last_seen == T + 60
    # last_seen stayed at T+60: had it gone back to T+20, this would add 60, not 20
    assert await beat(store, user, T + 80) == 80


async def test_midnight_splits_the_interval_between_the_two_days(store: CounterStore, user: str) -> None:
    before_midnight = MIDNIGHT - 50
    assert await beat(store, user, before_midnight, day=PREV, prev=PREV2, start=MIDNIGHT - 86_400) == 0
    assert await beat(store, user, MIDNIGHT - 20, day=PREV, prev=PREV2, start=MIDNIGHT - 86_400) == 30
    # [MIDNIGHT-20, MIDNIGHT+40): 20 s belong to PREV, 40 s to DAY
    assert await beat(store, user, MIDNIGHT + 40) == 40
    assert (await usage(store, user, MIDNIGHT + 41, day=DAY)).played_seconds == 40
    assert (await usage(store, user, MIDNIGHT + 41, day=PREV)).played_seconds == 50
    assert (await usage(store, user, MIDNIGHT + 41, day=PREV2)).played_seconds == 0


async def test_interval_entirely_before_midnight_goes_to_the_previous_day(
    store: CounterStore, user: str
) -> None:
    await beat(store, user, MIDNIGHT - 100, day=PREV, prev=PREV2, start=MIDNIGHT - 86_400)
    # a late heartbeat computed for DAY, but with a capped gap that ends before midnight
    assert await beat(store, user, MIDNIGHT - 40, gap=300) == 0
    assert (await usage(store, user, MIDNIGHT, day=PREV)).played_seconds == 60


async def test_play_time_is_forgotten_after_its_ttl(store: CounterStore, user: str) -> None:
    await beat(store, user, T)
    await beat(store, user, T + 60)
    later = T + 60 + DAYS2
    assert await usage(store, user, later) == Usage(0, None, 0, 0, 0, 0)
    assert await beat(store, user, later) == 0  # a first heartbeat again


async def test_usage_of_an_unknown_user_is_empty(store: CounterStore, user: str) -> None:
    assert await usage(store, user) == Usage(0, None, 0, 0, 0, 0)


# --- guest windows -----------------------------------------------------------------------------------


async def test_guest_window_counts_caps_and_reopens(store: CounterStore, user: str) -> None:
    device, window = "dev" + user, 15 * 86_400

    async def guest(now: int, gap: int = 120) -> GuestResult:
        return await store.guest_heartbeat(
            device, now=now, max_gap=gap, window_seconds=window, limit_seconds=HOUR
        )

    first = await guest(T)
    assert (first.used_seconds, first.limit_reached, first.window_ends_at) == (0, False, T + window)
    assert (await guest(T + 100)).used_seconds == 100
    assert (await guest(T + 50)).used_seconds == 100  # not after the last: nothing
    assert (await guest(T + 5000)).used_seconds == 220  # capped gap
    now = T + 5000
    while not (result := await guest(now := now + 120)).limit_reached:
        assert result.window_ends_at == T + window
    assert HOUR <= result.used_seconds < HOUR + 120
    assert (await guest(T + window - 1)).limit_reached  # cool-down lasts the whole window
    reopened = await guest(T + window)
    assert (reopened.used_seconds, reopened.limit_reached) == (0, False)
    assert reopened.window_ends_at == T + 2 * window


# --- reserve -----------------------------------------------------------------------------------------


async def test_reserve_holds_pending_in_every_bucket(store: CounterStore, user: str) -> None:
    result = await reserve(store, user, 700, "r1", buckets=(month(), today()))
    assert (result.ok, result.reservation_id, result.denial, result.replayed) == (True, "r1", None, False)
    assert result.totals == (BucketTotals(MONTH, 0, 700), BucketTotals(DAY, 0, 700))
    again = await reserve(store, user, 300, "r2", buckets=(month(), today()))
    assert again.totals == (BucketTotals(MONTH, 0, 1000), BucketTotals(DAY, 0, 1000))
    assert (await usage(store, user)).month_pending == 1000


async def test_single_cap(store: CounterStore, user: str) -> None:
    denied = await reserve(store, user, 501, "r1", single_cap=500)
    assert (denied.ok, denied.reservation_id, denied.denial) == (False, None, SpendDenial.SINGLE_CAP)
    assert denied.totals == (BucketTotals(MONTH, 0, 0),)
    assert (await reserve(store, user, 500, "r2", single_cap=500)).ok


async def test_daily_and_monthly_caps(store: CounterStore, user: str) -> None:
    both = (month(1_000), today(500))
    assert (await reserve(store, user, 400, "r1", buckets=both)).ok
    daily = await reserve(store, user, 200, "r2", buckets=both)
    assert (daily.ok, daily.denial) == (False, SpendDenial.DAILY_CAP)
    assert daily.totals == (BucketTotals(MONTH, 0, 400), BucketTotals(DAY, 0, 400))
    other_day = (month(1_000), Bucket("2026-11-23", 500, DAYS2))
    assert (await reserve(store, user, 500, "r3", buckets=other_day)).ok
    monthly = await reserve(store, user, 200, "r4", buckets=other_day)
    assert (monthly.ok, monthly.denial) == (False, SpendDenial.MONTHLY_CAP)
    # the cap is inclusive, and a bucket without a cap only counts
    assert (await reserve(store, user, 100, "r5", buckets=(month(1_000), Bucket(DAY, None, 9)))).ok
    assert (await usage(store, user)).month_pending == 1_000


async def test_amount_zero_is_allowed_while_the_caps_allow(store: CounterStore, user: str) -> None:
    assert (await reserve(store, user, 1_000, "r1", buckets=(month(1_000),))).ok
    zero = await reserve(store, user, 0, "r2", buckets=(month(1_000),))
    assert zero.ok
    assert zero.totals == (BucketTotals(MONTH, 0, 1_000),)
    assert (await store.commit(user, "r2", now=T + 1)).status is S.COMMITTED


async def test_idempotency_key_replays_the_first_answer_and_changes_nothing(
    store: CounterStore, user: str
) -> None:
    first = await reserve(store, user, 300, "r1", key="order-1")
    replay = await reserve(store, user, 300, "r2", key="order-1", now=T + 10)
    assert replay.replayed
    assert not first.replayed
    assert (replay.ok, replay.reservation_id, replay.totals) == (True, "r1", first.totals)
    assert (await store.commit(user, "r2", now=T + 11)).status is S.UNKNOWN  # r2 never existed
    assert (await usage(store, user)).month_pending == 300
    # the same key of another kind is another request
    assert not (await reserve(store, user, 5, "r3", key="order-1", kind=SpendKind.TIP)).replayed


async def test_a_denial_is_replayed_too(store: CounterStore, user: str) -> None:
    assert (await reserve(store, user, 900, "r1", buckets=(month(1_000),))).ok
    denied = await reserve(store, user, 200, "r2", buckets=(month(1_000),), key="order-2")
    assert denied.denial is SpendDenial.MONTHLY_CAP
    await store.release(user, "r1", now=T + 1)  # quota is free now, yet the key's answer stands
    replay = await reserve(store, user, 200, "r3", buckets=(month(1_000),), key="order-2", now=T + 2)
    assert (replay.ok, replay.denial, replay.replayed, replay.totals) == (
        False,
        SpendDenial.MONTHLY_CAP,
        True,
        denied.totals,
    )
    assert (await usage(store, user, T + 3)).month_pending == 0


async def test_idempotency_answer_lasts_a_day_at_least(store: CounterStore, user: str) -> None:
    await reserve(store, user, 100, "r1", key="k", ttl=60)
    await store.commit(user, "r1", now=T + 1)
    assert (await reserve(store, user, 100, "r2", key="k", now=T + 86_399)).replayed
    fresh = await reserve(store, user, 100, "r3", key="k", now=T + 86_400)
    assert (fresh.replayed, fresh.reservation_id) == (False, "r3")


async def test_a_key_whose_reservation_was_released_reserves_afresh(store: CounterStore, user: str) -> None:
    """That try failed: a retry with the same key is a new reservation, counted when committed."""
    await reserve(store, user, 100, "r1", key="released")
    await store.release(user, "r1", now=T + 1)
    again = await reserve(store, user, 100, "r2", key="released", now=T + 2)
    assert (again.ok, again.replayed, again.reservation_id) == (True, False, "r2")
    assert again.totals == (BucketTotals(MONTH, 0, 100),)


async def test_a_key_reused_for_another_amount_is_another_reservation(store: CounterStore, user: str) -> None:
    """Never an uncounted purchase: a different amount under an old key is reserved and counted."""
    await reserve(store, user, 100, "r1", key="k")
    other = await reserve(store, user, 5000, "r2", key="k", now=T + 1)
    assert (other.ok, other.replayed, other.totals) == (True, False, (BucketTotals(MONTH, 0, 5100),))


async def test_retried_reservation_id_is_not_reserved_twice(store: CounterStore, user: str) -> None:
    await reserve(store, user, 100, "r1")
    again = await reserve(store, user, 100, "r1", now=T + 1)
    assert (again.ok, again.replayed, again.totals) == (True, True, (BucketTotals(MONTH, 0, 100),))


# --- commit / release / refund -----------------------------------------------------------------------


async def test_commit_moves_pending_to_committed_once(store: CounterStore, user: str) -> None:
    await reserve(store, user, 300, "r1", buckets=(month(), today()))
    assert await store.commit(user, "r1", now=T + 5) == SettleResult(S.COMMITTED, True, 300)
    assert await store.commit(user, "r1", now=T + 6) == SettleResult(S.COMMITTED, False, 300)
    after = await reserve(store, user, 0, "probe", buckets=(month(), today()), now=T + 7)
    assert after.totals == (BucketTotals(MONTH, 300, 0), BucketTotals(DAY, 300, 0))
    assert (await store.release(user, "r1", now=T + 8)).status is S.CONFLICT
    assert (await usage(store, user, T + 9)).month_committed == 300


async def test_release_gives_quota_back_once(store: CounterStore, user: str) -> None:
    await reserve(store, user, 400, "r1", buckets=(month(400),))
    assert await store.release(user, "r1", now=T + 5) == SettleResult(S.RELEASED, True, 400)
    assert await store.release(user, "r1", now=T + 6) == SettleResult(S.RELEASED, False, 400)
    assert (await store.commit(user, "r1", now=T + 7)).status is S.CONFLICT
    assert (await store.refund(user, "r1", now=T + 7, restore_quota=True)).status is S.CONFLICT
    assert (await reserve(store, user, 400, "r2", buckets=(month(400),), now=T + 8)).ok


@pytest.mark.parametrize("restore", [True, False])
async def test_refund(store: CounterStore, user: str, restore: bool) -> None:
    tip = SpendKind.TIP
    await reserve(store, user, 250, "r1", kind=tip, buckets=(month(), today()))
    assert (await store.refund(user, "r1", now=T + 1, restore_quota=restore)).status is S.CONFLICT
    await store.commit(user, "r1", now=T + 2)
    assert (await usage(store, user, T + 3)).tips_day_committed == 250
    refunded = await store.refund(user, "r1", now=T + 4, restore_quota=restore)
    assert refunded == SettleResult(S.REFUNDED, True, 250)
    again = await store.refund(user, "r1", now=T + 5, restore_quota=restore)
    assert again == SettleResult(S.REFUNDED, False, 250)
    left = 0 if restore else 250
    snapshot = await usage(store, user, T + 6)
    assert (snapshot.tips_day_committed, snapshot.tips_month_committed) == (left, left)
    assert (snapshot.month_committed, snapshot.month_pending) == (0, 0)  # purchases are apart
    assert (await store.commit(user, "r1", now=T + 7)).status is S.CONFLICT


async def test_unknown_reservations(store: CounterStore, user: str) -> None:
    unknown = SettleResult(S.UNKNOWN, False)
    assert await store.commit(user, "nope", now=T) == unknown
    assert await store.release(user, "nope", now=T) == unknown
    assert await store.refund(user, "nope", now=T, restore_quota=True) == unknown


async def test_a_reservation_past_its_deadline_counts_as_spent(store: CounterStore, user: str) -> None:
    """Nobody settled it by its deadline: it lapses into committed, and its quota stays used."""
    assert (await reserve(store, user, 1_000, "r1", buckets=(month(1_000),), ttl=60)).ok
    assert not (await reserve(store, user, 1, "r2", buckets=(month(1_000),), now=T + 59)).ok
    snapshot = await usage(store, user, T + 60)  # read-only, yet already counted as spent
    assert (snapshot.month_committed, snapshot.month_pending) == (1_000, 0)
    after = await reserve(store, user, 1, "r3", buckets=(month(1_000),), now=T + 60)
    assert (after.ok, after.denial) == (False, SpendDenial.MONTHLY_CAP)
    assert after.totals == (BucketTotals(MONTH, 1_000, 0),)
    assert await store.commit(user, "r1", now=T + 61) == SettleResult(S.COMMITTED, True, 1_000)
    assert (await usage(store, user, T + 62)).month_committed == 1_000  # not counted twice


async def test_committed_reservation_is_kept_as_long_as_its_longest_bucket(
    store: CounterStore, user: str
) -> None:
    long_ttl = 40 * 86_400
    await reserve(store, user, 100, "r1", buckets=(month(ttl=long_ttl), today()))
    await store.commit(user, "r1", now=T + 10)
    late = T + 10 + long_ttl - 1
    assert (await store.refund(user, "r1", now=late, restore_quota=True)).changed
    assert (await usage(store, user, late)).month_committed == 0
    await reserve(store, user, 100, "r2", buckets=(month(ttl=long_ttl),))
    await store.commit(user, "r2", now=T + 10)
    assert (await store.refund(user, "r2", now=T + 10 + long_ttl, restore_quota=True)).status is S.UNKNOWN


async def test_buckets_of_past_periods_expire(store: CounterStore, user: str) -> None:
    await reserve(store, user, 100, "r1", buckets=(month(1_000, ttl=3_600),))
    await store.commit(user, "r1", now=T)
    assert (await usage(store, user, T + 3_599)).month_committed == 100
    assert (await usage(store, user, T + 3_600)).month_committed == 0
    fresh = await reserve(store, user, 1_000, "r2", buckets=(month(1_000, ttl=3_600),), now=T + 3_600)
    assert fresh.ok
    assert fresh.totals == (BucketTotals(MONTH, 0, 1_000),)


async def test_bad_input_is_refused_before_touching_the_store(store: CounterStore, user: str) -> None:
    with pytest.raises(ValueError, match="negative"):
        await reserve(store, user, -1, "r1")
    with pytest.raises(ValueError, match="neither a month"):
        await reserve(store, user, 1, "r1", buckets=(Bucket("week-47", 10, 60),))
    assert await usage(store, user) == Usage(0, None, 0, 0, 0, 0)
