"""A heartbeat as the store tests send it: on 2026-11-22 (local midnight MIDNIGHT), gap 120 s."""

from __future__ import annotations

from minorguard.adapters.base import CounterStore

MIDNIGHT = 1_795_017_600  # local midnight starting 2026-11-22 (the store never checks: callers compute it)
T = MIDNIGHT + 10 * 3600


async def heartbeat(store: CounterStore, user: str, now: int, *, ttl: int, limit: int = 7_200) -> int:
    """Seconds played on 2026-11-22 after a heartbeat at `now`."""
    result = await store.play_heartbeat(
        user,
        now=now,
        day="2026-11-22",
        prev_day="2026-11-21",
        day_start=MIDNIGHT,
        max_gap=120,
        limit_seconds=limit,
        ttl_seconds=ttl,
    )
    return result.used_seconds
