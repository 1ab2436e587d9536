"""A heartbeat as the store tests send it: on 2026-11-22 (local midnight MIDNIGHT), gap 120 s."""

from __future__ import annotations

from minorguard.adapters.base import CounterStore, LeaseArgs, PlayResult, RestArgs
from minorguard.counters import NO_LEASE, NO_REST

MIDNIGHT = 1_795_017_600  # local midnight starting 2026-11-22 (the store never checks: callers compute it)
T = MIDNIGHT + 10 * 3600


async def heartbeat(store: CounterStore, user: str, now: int, *, ttl: int, limit: int = 7_200) -> int:
    """Seconds played on 2026-11-22 after a heartbeat at `now`."""
    return (await play(store, user, now, limit=limit, ttl=ttl)).used_seconds


async def play(
    store: CounterStore,
    user: str,
    now: int,
    lease: LeaseArgs = NO_LEASE,
    *,
    limit: int = 7_200,
    rest: RestArgs = NO_REST,
    letter: str = "",
    ttl: int = 2 * 86_400,
) -> PlayResult:
    """A heartbeat on 2026-11-22 with every option: the day type's letter (guardian settings are read
    when one is given), the rest reminder's arguments and a lease."""
    return await store.play_heartbeat(
        user,
        now=now,
        day="2026-11-22",
        prev_day="2026-11-21",
        day_start=MIDNIGHT,
        max_gap=120,
        limit_seconds=limit,
        ttl_seconds=ttl,
        guardian_day=letter,
        minute=(now - MIDNIGHT) // 60,
        rest=rest,
        lease=lease,
    )
