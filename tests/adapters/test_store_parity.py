"""The memory store and the Redis scripts implement one contract twice: random call sequences
(time jumping, late heartbeats, retries, expiries and lapses, every settle transition, cancels and
their tombstones) must get equal answers, down to the lapsed reservations each call reports."""

from __future__ import annotations

import random
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from minorguard.adapters.base import (
    Bucket,
    CounterStore,
    LeaseArgs,
    PlayResult,
    ReserveResult,
    RestArgs,
    SpendKind,
)
from minorguard.adapters.memory import MemoryCounterStore
from minorguard.adapters.stores import open_store
from minorguard.counters import NO_LEASE, NO_REST

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.redis]

BASE = 1_795_017_600  # a local midnight
Op = Callable[[CounterStore], Awaitable[Any]]


class Script:
    """A random but reproducible sequence of store calls."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.now = BASE + 20 * 3600
        self.users = [secrets.token_hex(16) for _ in range(2)]
        self.devices = [secrets.token_hex(8) for _ in range(2)]
        self.rids: list[tuple[str, str]] = []  # (user, id) of every reservation tried
        self.held: list[tuple[str, str]] = []  # ... and of those reserved
        self._user = ""
        self._owner = ""
        self.leases: dict[tuple[str, str], tuple[int, int]] = {}  # (owner, user) -> (granted at, end)

    def step(self) -> tuple[str, Op]:
        rng = self.rng
        self.now += rng.choice((0, 1, 7, 30, 30, 60, 119, 121, 121, -15))
        self.now += rng.choice((600, 901, 3_600, 86_400)) if rng.random() < 0.05 else 0
        name = rng.choice(
            ("beat", "beat", "lease", "lease", "guest", "reserve", "reserve", "settle", "settle", "usage")
        )
        self._user = rng.choice(self.users)
        return name, getattr(self, name)(self.now, self._user)

    def saw(self, result: object) -> None:
        """Settle mostly reservations that exist: the interesting transitions are theirs; and hold
        the leases a heartbeat answered, to give back later."""
        if isinstance(result, ReserveResult) and result.reservation_id and not result.replayed:
            self.held.append((self._user, result.reservation_id))
        if isinstance(result, PlayResult) and self._owner and result.last_seen > self.now:
            self.leases[(self._owner, self._user)] = (self.now, result.last_seen)
        self._owner = ""

    def lease(self, now: int, user: str) -> Op:
        """A heartbeat of one of two processes asking for a lease, giving back one it holds (seen
        anywhere in it, or a forged one); with the rest reminder at times."""
        rng = self.rng
        owner = self._owner = rng.choice(("a", "b"))
        granted, end = self.leases.pop((owner, user), (0, 0))
        seen = rng.randint(granted, max(granted, min(end, now))) if end else 0
        lease = LeaseArgs(rng.choice((10, 30, 60)), now + rng.choice((5, 100, 10**6)), owner, end, seen)
        rest = rng.choice((NO_REST, RestArgs(90, 0, False), RestArgs(90, 200, False)))
        return self._heartbeat(now, user, 172_800, rest, lease)

    def _day(self, now: int) -> tuple[str, str, int]:
        index = (now - BASE) // 86_400
        return f"2026-11-{index % 28 + 1:02d}", f"2026-11-{(index - 1) % 28 + 1:02d}", BASE + index * 86_400

    def beat(self, now: int, user: str) -> Op:
        return self._heartbeat(now, user, self.rng.choice((600, 172_800)), NO_REST, NO_LEASE)

    def _heartbeat(self, now: int, user: str, ttl: int, rest: RestArgs, lease: LeaseArgs) -> Op:
        day, prev, start = self._day(now)
        return lambda s: s.play_heartbeat(
            user,
            now=now,
            day=day,
            prev_day=prev,
            day_start=start,
            max_gap=120,
            limit_seconds=300,
            ttl_seconds=ttl,
            rest=rest,
            lease=lease,
        )

    def guest(self, now: int, _: str) -> Op:
        device = self.rng.choice(self.devices)
        return lambda s: s.guest_heartbeat(
            device, now=now, max_gap=120, window_seconds=1_000, limit_seconds=150
        )

    def reserve(self, now: int, user: str) -> Op:
        rng = self.rng
        day = self._day(now)[0]
        buckets = (
            Bucket("2026-11", rng.choice((None, 600, 600)), rng.choice((3_000, 90_000))),
            Bucket(day, rng.choice((None, 400, 400)), rng.choice((1_000, 172_800))),
        )[: rng.choice((1, 2))]
        if self.rids and rng.random() < 0.1:
            rid = rng.choice([*self.rids[-4:], ("", "unknown")])[1]  # a retried id, or a cancelled one
        else:
            rid = secrets.token_hex(8)
            self.rids.append((user, rid))
        kind = rng.choice(list(SpendKind))
        amount = rng.choice((0, 50, 100, 300))
        single_cap = rng.choice((None, None, 200))
        key = rng.choice((None, None, f"k{rng.randrange(12)}"))
        ttl = rng.choice((60, 900, 900))
        return lambda s: s.reserve(
            user,
            kind=kind,
            amount=amount,
            single_cap=single_cap,
            buckets=buckets,
            reservation_id=rid,
            idempotency_key=key,
            now=now,
            reservation_ttl=ttl,
        )

    def settle(self, now: int, user: str) -> Op:
        rng = self.rng
        owner, rid = rng.choice([*self.held[-3:], *self.rids[-2:], (user, "unknown")])
        restore = rng.random() < 0.5
        ttl = rng.choice((60, 900))
        return rng.choice(
            (
                lambda s: s.commit(owner, rid, now=now),
                lambda s: s.release(owner, rid, now=now),
                lambda s: s.refund(owner, rid, now=now, restore_quota=restore),
                lambda s: s.cancel(owner, rid, now=now, reservation_ttl=ttl),
            )
        )

    def usage(self, now: int, user: str) -> Op:
        day = self._day(now)[0]
        return lambda s: s.usage(user, day=day, month="2026-11", now=now)


@pytest.mark.parametrize("servers", ["redis_single", "redis_cluster"])
@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_memory_and_redis_answer_alike(request: pytest.FixtureRequest, servers: str, seed: int) -> None:
    backend = request.getfixturevalue(servers)
    redis_store = open_store(backend.url, timeout=2.0)
    memory_store = MemoryCounterStore(sweep_every=7)
    script = Script(seed)
    try:
        for i in range(400):
            name, op = script.step()
            expected, got = await op(memory_store), await op(redis_store)
            script.saw(expected)
            assert got == expected, f"step {i} ({name}) at now={script.now}"
    finally:
        await redis_store.close()
    assert backend.keys_without_ttl() == []
