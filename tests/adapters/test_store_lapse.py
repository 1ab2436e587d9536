"""The CounterStore contract when settling goes wrong, on every store: a reservation nobody settles
lapses as spent, and a cancelled id (a reserve whose caller gave up) never holds quota, even when
its reserve arrives after the cancel."""

from __future__ import annotations

import pytest

from minorguard.adapters.base import (
    Bucket,
    BucketTotals,
    CounterStore,
    Lapsed,
    ReservationStatus,
    ReserveResult,
    SettleResult,
    SpendDenial,
    SpendKind,
    Usage,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

T = 1_795_017_600 + 10 * 3600  # 10:00 on 2026-11-22, local
MONTH, DAY = "2026-11", "2026-11-22"
TTL = 60  # reservation deadline after T
DAY_SECONDS = 86_400
S = ReservationStatus
PURCHASE, TIP = SpendKind.PURCHASE, SpendKind.TIP


async def reserve(
    store: CounterStore,
    user: str,
    amount: int,
    rid: str,
    *,
    now: int = T,
    kind: SpendKind = PURCHASE,
    key: str | None = None,
    cap: int | None = 1_000,
    ttl: int = TTL,
) -> ReserveResult:
    buckets = (Bucket(MONTH, cap, 40 * DAY_SECONDS),)
    if kind is TIP:
        buckets = (Bucket(DAY, None, 2 * DAY_SECONDS), *buckets)
    return await store.reserve(
        user,
        kind=kind,
        amount=amount,
        single_cap=None,
        buckets=buckets,
        reservation_id=rid,
        idempotency_key=key,
        now=now,
        reservation_ttl=ttl,
    )


async def usage(store: CounterStore, user: str, now: int) -> Usage:
    return await store.usage(user, day=DAY, month=MONTH, now=now)


async def cancel(store: CounterStore, user: str, rid: str, now: int) -> SettleResult:
    return await store.cancel(user, rid, now=now, reservation_ttl=TTL)


# --- lapse: unsettled at the deadline means spent ----------------------------------------------------


async def test_the_call_that_finds_a_lapse_reports_it_once(store: CounterStore, user: str) -> None:
    """Every sweeping call lists what it lapsed (sorted), so the engine can count and log each once."""
    await reserve(store, user, 100, "b1")
    await reserve(store, user, 5, "a1", kind=TIP)
    await reserve(store, user, 100, "c1", ttl=3_600)
    early = await reserve(store, user, 1, "probe1", now=T + TTL - 1)
    assert early.lapsed == ()
    found = await store.release(user, "probe1", now=T + TTL)
    assert found == SettleResult(S.RELEASED, True, 1, (Lapsed(PURCHASE, "b1"), Lapsed(TIP, "a1")))
    again = await reserve(store, user, 0, "probe2", now=T + TTL + 1)
    assert again.lapsed == ()
    assert again.totals == (BucketTotals(MONTH, 100, 100),)  # b1 spent, c1 still pending


async def test_a_lapsed_tip_counts_in_every_bucket_and_usage_sees_it_before_any_sweep(
    store: CounterStore, user: str
) -> None:
    """Lapsing moves the amount from pending to committed in the day and the month alike."""
    await reserve(store, user, 300, "t1", kind=TIP)
    before = await usage(store, user, T + TTL - 1)
    assert (before.tips_day_committed, before.tips_month_committed) == (0, 0)
    seen = await usage(store, user, T + TTL)  # read-only: nothing was swept yet
    assert (seen.tips_day_committed, seen.tips_month_committed) == (300, 300)
    swept = await reserve(store, user, 0, "t2", kind=TIP, now=T + TTL)
    assert swept.lapsed == (Lapsed(TIP, "t1"),)
    assert swept.totals == (BucketTotals(DAY, 300, 0), BucketTotals(MONTH, 300, 0))
    assert await usage(store, user, T + TTL + 1) == seen


async def test_a_lapsed_reservation_can_be_committed_once_and_no_release_undoes_it(
    store: CounterStore, user: str
) -> None:
    """A commit that arrives late confirms the lapse; the counters are not touched twice."""
    await reserve(store, user, 400, "r1")
    assert await store.commit(user, "r1", now=T + TTL + 5) == SettleResult(
        S.COMMITTED, True, 400, (Lapsed(PURCHASE, "r1"),)
    )
    assert await store.commit(user, "r1", now=T + TTL + 6) == SettleResult(S.COMMITTED, False, 400)
    assert (await store.release(user, "r1", now=T + TTL + 7)).status is S.CONFLICT
    assert (await usage(store, user, T + TTL + 8)).month_committed == 400


async def test_a_late_release_of_a_lapsed_reservation_gives_its_amount_back(
    store: CounterStore, user: str
) -> None:
    """The backend's word that the purchase failed still counts after the deadline."""
    await reserve(store, user, 1_000, "r1")
    assert not (await reserve(store, user, 1, "r2", now=T + TTL + 1)).ok
    assert await store.release(user, "r1", now=T + TTL + 2) == SettleResult(S.RELEASED, True, 1_000)
    assert await store.release(user, "r1", now=T + TTL + 3) == SettleResult(S.RELEASED, False, 1_000)
    assert (await store.commit(user, "r1", now=T + TTL + 4)).status is S.CONFLICT
    assert (await reserve(store, user, 1_000, "r3", now=T + TTL + 5)).ok


@pytest.mark.parametrize("restore", [True, False])
async def test_a_lapsed_reservation_can_be_refunded(store: CounterStore, user: str, restore: bool) -> None:
    """It is a purchase that went ahead: refundable, with the policy's choice of restoring quota."""
    await reserve(store, user, 250, "r1")
    refunded = await store.refund(user, "r1", now=T + TTL + 1, restore_quota=restore)
    assert refunded == SettleResult(S.REFUNDED, True, 250, (Lapsed(PURCHASE, "r1"),))
    assert (await store.refund(user, "r1", now=T + TTL + 2, restore_quota=restore)).changed is False
    assert (await usage(store, user, T + TTL + 3)).month_committed == (0 if restore else 250)


async def test_a_lapsed_reservation_is_kept_as_long_as_a_committed_one(
    store: CounterStore, user: str
) -> None:
    """Its retention runs from its deadline, as if it had been committed then."""
    keep = 40 * DAY_SECONDS
    await reserve(store, user, 100, "r1")
    await reserve(store, user, 0, "sweep", now=T + TTL + 10)
    late = T + TTL + keep - 1
    assert (await store.refund(user, "r1", now=late, restore_quota=False)).changed
    await reserve(store, user, 100, "r2")
    assert (await store.commit(user, "r2", now=T + TTL + keep)).status is S.UNKNOWN


async def test_an_idempotency_key_whose_reservation_lapsed_replays_it(store: CounterStore, user: str) -> None:
    """A lapsed reservation went ahead as far as anyone can tell: the key answers it, reserves nothing."""
    first = await reserve(store, user, 100, "r1", key="order-7")
    later = await reserve(store, user, 100, "r2", key="order-7", now=T + TTL + 1)
    assert (later.ok, later.replayed, later.reservation_id) == (True, True, "r1")
    assert later.totals == first.totals  # the first answer's totals
    assert later.lapsed == (Lapsed(PURCHASE, "r1"),)
    assert (await usage(store, user, T + TTL + 2)).month_committed == 100


# --- cancel: a reserve whose caller gave up ----------------------------------------------------------


async def test_a_cancel_releases_a_reservation_that_was_made(store: CounterStore, user: str) -> None:
    """The reserve went through although its caller timed out: the cancel frees the quota."""
    await reserve(store, user, 1_000, "r1")
    assert await cancel(store, user, "r1", T + 1) == SettleResult(S.RELEASED, True, 1_000)
    assert await cancel(store, user, "r1", T + 2) == SettleResult(S.RELEASED, False, 1_000)
    assert (await reserve(store, user, 1_000, "r2", now=T + 3)).ok


async def test_a_reserve_that_arrives_after_its_cancel_reserves_nothing(
    store: CounterStore, user: str
) -> None:
    """The cancel of an unknown id leaves a tombstone: the delayed reserve is refused and remembered
    nowhere, and the id stays unknown to settle calls."""
    assert await cancel(store, user, "late", T) == SettleResult(S.UNKNOWN, False)
    refused = await reserve(store, user, 300, "late", now=T - 1, key="k")  # sent before, arrives after
    assert (refused.ok, refused.reservation_id, refused.denial) == (False, None, SpendDenial.RELEASED)
    assert refused.totals == (BucketTotals(MONTH, 0, 0),)
    assert (await usage(store, user, T + 1)).month_pending == 0
    for settle in (store.commit, store.release):
        assert await settle(user, "late", now=T + 2) == SettleResult(S.UNKNOWN, False)
    assert await store.refund(user, "late", now=T + 2, restore_quota=True) == SettleResult(S.UNKNOWN, False)
    assert await cancel(store, user, "late", T + 3) == SettleResult(S.UNKNOWN, False)
    fresh = await reserve(store, user, 300, "next", now=T + 4, key="k")  # the refusal was not remembered
    assert (fresh.ok, fresh.replayed) == (True, False)


async def test_a_released_id_is_never_reserved_again(store: CounterStore, user: str) -> None:
    """A retried reserve of a released id (a copy delayed past the release) reserves nothing."""
    await reserve(store, user, 500, "r1")
    await store.release(user, "r1", now=T + 1)
    again = await reserve(store, user, 500, "r1", now=T)
    assert (again.ok, again.denial, again.replayed) == (False, SpendDenial.RELEASED, False)
    assert (await usage(store, user, T + 2)).month_pending == 0


async def test_a_tombstone_lasts_a_day(store: CounterStore, user: str) -> None:
    """Long past any stall a delayed reserve could come out of; then the id is forgotten."""
    await cancel(store, user, "late", T)
    assert not (await reserve(store, user, 1, "late", now=T + DAY_SECONDS - 1)).ok
    assert (await reserve(store, user, 1, "late", now=T + DAY_SECONDS)).ok


async def test_an_ordinary_release_of_an_unknown_id_leaves_nothing(store: CounterStore, user: str) -> None:
    """Only a cancel writes a tombstone: the public release of a made-up id stores nothing."""
    assert await store.release(user, "made-up", now=T) == SettleResult(S.UNKNOWN, False)
    assert (await reserve(store, user, 1, "made-up", now=T + 1)).ok


async def test_a_cancel_leaves_alone_a_reservation_a_replay_handed_out(
    store: CounterStore, user: str
) -> None:
    """Once an idempotency key answered the reservation again, someone may hold it: the cancel of
    the first call must not free it under them. They settle it, or it lapses as spent."""
    await reserve(store, user, 200, "r1", key="order-9")
    replay = await reserve(store, user, 200, "r2", key="order-9", now=T + 1)
    assert (replay.replayed, replay.reservation_id) == (True, "r1")
    assert await cancel(store, user, "r1", T + 2) == SettleResult(S.CONFLICT, False, 200)
    assert (await usage(store, user, T + 3)).month_pending == 200
    assert await store.commit(user, "r1", now=T + 4) == SettleResult(S.COMMITTED, True, 200)


async def test_a_cancel_frees_a_lapsed_reservation_nobody_was_handed(store: CounterStore, user: str) -> None:
    """A cancel that comes after the deadline still undoes the lapse of a reserve nobody learned of."""
    await reserve(store, user, 600, "r1", key="order-3")
    cancelled = await cancel(store, user, "r1", T + TTL + 30)
    assert cancelled == SettleResult(S.RELEASED, True, 600, (Lapsed(PURCHASE, "r1"),))
    assert (await usage(store, user, T + TTL + 31)).month_committed == 0
    fresh = await reserve(store, user, 600, "r2", key="order-3", now=T + TTL + 32)
    assert (fresh.ok, fresh.replayed, fresh.reservation_id) == (True, False, "r2")


@pytest.mark.parametrize("settle", ["commit", "refund"])
async def test_a_cancel_never_undoes_a_settled_reservation(
    store: CounterStore, user: str, settle: str
) -> None:
    """Committed or refunded is someone's word on the purchase: the cancel answers conflict."""
    await reserve(store, user, 100, "r1")
    await store.commit(user, "r1", now=T + 1)
    if settle == "refund":
        await store.refund(user, "r1", now=T + 2, restore_quota=False)
    assert await cancel(store, user, "r1", T + 3) == SettleResult(S.CONFLICT, False, 100)
    assert (await usage(store, user, T + 4)).month_committed == 100
