"""What only the memory store has: eviction of expired entries, and a cap on their number."""

from __future__ import annotations

import pytest
from storekit import T
from storekit import heartbeat as store_heartbeat

from minorguard.adapters.base import Bucket, SpendKind
from minorguard.adapters.memory import MemoryCounterStore
from minorguard.errors import StoreError, StoreErrorKind

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def beat(store: MemoryCounterStore, user: str, now: int, ttl: int = 60) -> int:
    return await store_heartbeat(store, user, now, ttl=ttl)


async def test_expired_entries_are_evicted_without_being_read_again() -> None:
    store = MemoryCounterStore(sweep_every=10)
    for i in range(100):
        await beat(store, f"u{i}", T, ttl=60)
        await store.guest_heartbeat(f"d{i}", now=T, max_gap=60, window_seconds=30, limit_seconds=10)
    assert len(store) == 200
    for i in range(10):  # other users' calls, later: the periodic sweep drops the expired
        await beat(store, "active", T + 61 + i)
    assert len(store) == 1


async def test_an_entry_whose_expiry_moved_on_survives_the_sweep() -> None:
    store = MemoryCounterStore(sweep_every=1)
    await beat(store, "u", T, ttl=60)
    await beat(store, "u", T + 50, ttl=60)  # now lives until T+110
    await beat(store, "other", T + 70)
    assert len(store) == 2
    assert await beat(store, "u", T + 100) == 100
    await store.reserve(
        "u",
        kind=SpendKind.PURCHASE,
        amount=1,
        single_cap=None,
        buckets=(Bucket("2026-11", 10, 3_600),),
        reservation_id="r",
        idempotency_key=None,
        now=T + 100,
        reservation_ttl=60,
    )
    await beat(store, "other", T + 500)
    assert len(store) == 2  # the user's bucket keeps it an hour


async def test_max_entries_refuses_new_entries_instead_of_dropping_live_ones() -> None:
    store = MemoryCounterStore(max_entries=3, sweep_every=1_000)
    for name in ("a", "b", "c"):
        await beat(store, name, T)
    with pytest.raises(StoreError) as full:
        await beat(store, "d", T + 1)
    assert full.value.kind is StoreErrorKind.OTHER
    assert await beat(store, "a", T + 30) == 30  # existing entries still count
    assert await beat(store, "d", T + 61) == 0  # once some expired, there is room again
    assert len(store) == 2  # the new one and "a" (kept alive by its heartbeat at T+30)


async def test_close_forgets_everything() -> None:
    store = MemoryCounterStore()
    await beat(store, "u", T)
    await store.close()
    assert len(store) == 0
