"""Many calls at once for one user, on every store: atomicity, not luck, keeps the counters right."""

from __future__ import annotations

import asyncio
import random

import pytest

from minorguard.adapters.base import (
    Bucket,
    CounterStore,
    ReservationStatus,
    ReserveResult,
    SpendDenial,
    SpendKind,
)
from minorguard.rules.guardian import GuardianSettings

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.slow]

T = 1_795_053_600
MONTH = "2026-11"
CAP = 100_000  # fen
UNIT = 100


async def test_500_concurrent_reserves_never_exceed_and_exactly_fill_the_monthly_cap(
    store: CounterStore, user: str
) -> None:
    rng = random.Random(20261122)
    amounts = [rng.choice((UNIT, 2 * UNIT, 5 * UNIT, 10 * UNIT)) for _ in range(500)]  # all divide CAP
    assert sum(amounts) > CAP
    bucket = (Bucket(MONTH, CAP, 40 * 86_400),)

    async def one(i: int, amount: int) -> ReserveResult:
        return await store.reserve(
            user,
            kind=SpendKind.PURCHASE,
            amount=amount,
            single_cap=None,
            buckets=bucket,
            reservation_id=f"{i:04x}",
            idempotency_key=None,
            now=T + i % 7,
            reservation_ttl=900,
        )

    results = await asyncio.gather(*(one(i, a) for i, a in enumerate(amounts)))
    held = sum(a for a, r in zip(amounts, results, strict=True) if r.ok)
    denied = [a for a, r in zip(amounts, results, strict=True) if not r.ok]
    snapshot = await store.usage(user, day="2026-11-22", month=MONTH, now=T + 10)
    assert snapshot.month_pending == held <= CAP
    for result in results:  # every answer saw a total within the cap
        assert result.totals[0].committed + result.totals[0].pending <= CAP
    # A denial means what was left did not fit; a denied UNIT means nothing (a multiple of UNIT) was.
    assert all(a > CAP - held for a in denied)
    assert UNIT in denied
    assert held == CAP

    settled = await asyncio.gather(
        *(store.commit(user, r.reservation_id, now=T + 20) for r in results if r.reservation_id)
    )
    assert all(s.status is ReservationStatus.COMMITTED and s.changed for s in settled)
    snapshot = await store.usage(user, day="2026-11-22", month=MONTH, now=T + 30)
    assert (snapshot.month_committed, snapshot.month_pending) == (CAP, 0)


async def test_1000_concurrent_heartbeats_never_count_more_than_wall_clock_time(
    store: CounterStore, user: str
) -> None:
    rng = random.Random(7)
    span = 1_800
    times = sorted(rng.randrange(T, T + span) for _ in range(1000))
    times[0], times[-1] = T, T + span
    order = times[:]
    rng.shuffle(order)  # out of order, as requests from several servers arrive

    async def one(now: int) -> int:
        result = await store.play_heartbeat(
            user,
            now=now,
            day="2026-11-22",
            prev_day="2026-11-21",
            day_start=T - 36_000,
            max_gap=120,
            limit_seconds=10_000,
            ttl_seconds=2 * 86_400,
        )
        return result.used_seconds

    used = await asyncio.gather(*(one(now) for now in order))
    total = (await store.usage(user, day="2026-11-22", month=MONTH, now=T + span)).played_seconds
    assert max(used) == total <= span
    # In order, and each gap under max_gap, the same heartbeats count exactly the elapsed time.
    sorted_user = user[::-1]
    for now in times:
        result = await store.play_heartbeat(
            sorted_user,
            now=now,
            day="2026-11-22",
            prev_day="2026-11-21",
            day_start=T - 36_000,
            max_gap=120,
            limit_seconds=10_000,
            ttl_seconds=2 * 86_400,
        )
    assert result.used_seconds == span


async def test_retries_with_one_idempotency_key_never_double_count(store: CounterStore, user: str) -> None:
    async def attempt(i: int) -> ReserveResult:
        return await store.reserve(
            user,
            kind=SpendKind.TIP,
            amount=1_000,
            single_cap=None,
            buckets=(Bucket(MONTH, 5_000, 86_400), Bucket("2026-11-22", None, 86_400)),
            reservation_id=f"attempt{i}",
            idempotency_key="tip-42",
            now=T + i,
            reservation_ttl=900,
        )

    burst = await asyncio.gather(*(attempt(i) for i in range(50)))
    later = [await attempt(50 + i) for i in range(5)]
    answers = burst + later
    first = [r for r in answers if not r.replayed]
    assert len(first) == 1
    assert first[0].ok
    winner = first[0].reservation_id
    assert all(r.reservation_id == winner and r.totals == first[0].totals for r in answers)
    committed = await asyncio.gather(*(store.commit(user, f"attempt{i}", now=T + 99) for i in range(55)))
    assert sum(c.changed for c in committed) == 1
    snapshot = await store.usage(user, day="2026-11-22", month=MONTH, now=T + 100)
    assert (snapshot.tips_month_committed, snapshot.tips_day_committed) == (1_000, 1_000)


async def test_a_guardian_lowering_the_cap_during_purchases_never_lets_the_cap_in_force_be_passed(
    store: CounterStore, user: str
) -> None:
    """A guardian lowers the monthly cap ten times while 300 purchases run: each wave of purchases
    starts as a lowering is answered, while the next one is on its way. Every purchase that started
    after a lowering had been answered saw a total within that cap (or a lower one): the cap is
    checked in the reserve's atomic step, never against settings read before it."""
    rng = random.Random(1717)
    caps = list(range(20_000, 1_999, -2_000))
    lowered: list[float] = []  # when each lowering had been answered (loop time)
    loop = asyncio.get_running_loop()
    progress = asyncio.Condition()
    bucket = (Bucket(MONTH, None, 40 * 86_400),)

    async def guardian() -> None:
        for cap in caps:
            value = GuardianSettings(monthly=cap, keep_seconds=86_400 * 400, updated_at=T).encode()
            await store.set_guardian_settings(user, value, now=T, keep_seconds=86_400 * 400)
            async with progress:
                lowered.append(loop.time())
                progress.notify_all()
            await asyncio.sleep(rng.random() * 0.004)

    async def purchase(i: int) -> tuple[float, ReserveResult]:
        async with progress:
            await progress.wait_for(lambda: len(lowered) >= i % len(caps))
        await asyncio.sleep(rng.random() * 0.004)
        started = loop.time()
        result = await store.reserve(
            user,
            kind=SpendKind.PURCHASE,
            amount=rng.choice((50, 100, 200)),
            single_cap=None,
            buckets=bucket,
            reservation_id=f"g{i:04x}",
            idempotency_key=None,
            now=T,
            reservation_ttl=900,
            guardian=True,
        )
        return started, result

    _, *answers = await asyncio.gather(guardian(), *(purchase(i) for i in range(300)))
    assert all(r.ok or r.denial is SpendDenial.GUARDIAN_MONTHLY for _, r in answers)
    assert any(not r.ok for _, r in answers), "the caps never bit"
    # All amounts are pending in one bucket, so the totals answered rise in the order the store made
    # the calls: a reservation answers the total after it, a refusal the total it found (made after
    # every reservation up to that total, before every one above). A call made after one that started
    # after lowering k came after lowering k too: the strictest cap known before it is the latest known
    # before any earlier call, and no reservation may pass it.
    order = sorted((r.totals[0].pending, not r.ok, started) for started, r in answers)
    known, checked = -1, 0
    for total, refused, started in order:
        known = max(known, sum(1 for at in lowered if at < started) - 1)
        if known >= 0 and not refused:
            assert total <= caps[known], f"{total} fen held after the cap was lowered to {caps[known]}"
            checked += 1
    assert checked, "no purchase ran after a lowering: the test proved nothing"
