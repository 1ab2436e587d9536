"""The money guarantee against a real Redis that is killed or stalled mid-purchase (docs/operations.md,
"The money guarantee"): every purchase the backend accepted is counted, a reservation whose reserve
call failed holds no quota once the store answers again, and the cap holds throughout.

The engine drives the purchases as a front door does: decide, the backend charges what was allowed,
then settle with retries. Deadlines are passed by moving the engine's clock, never by sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import CollectorRegistry

from minorguard.adapters.redis import RedisCounterStore, user_key
from minorguard.adapters.resp import LeanRedis
from minorguard.adapters.stores import open_store
from minorguard.counters import Usage
from minorguard.engine import Engine
from minorguard.errors import StoreError
from minorguard.explain import compile_policy
from minorguard.metrics import Metrics
from minorguard.settling import Retries
from minorguard.types import Activity, Decision, Facts, Reason, Subject
from redis_servers import HOST, RedisServer, fail_without

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.redis]

NOON = dt.datetime(2026, 11, 20, 12, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
TTL = 900  # nppa-2021's reservation_ttl_seconds
CAP = 40_000  # nppa-2021, ages 16-17: 400 yuan a month
BORN = dt.date(2009, 3, 10)  # 17 in November 2026
# Acknowledged writes survive a SIGKILL only with every write on disk before its reply.
DURABLE = ("--appendonly", "yes", "--appendfsync", "always")
QUICK = Retries(tries=3, within=0.3, pause=0.05, cancel_pause=0.05, cancel_max_pause=0.2)


@dataclass
class Clock:
    now: float = NOON

    def __call__(self) -> float:
        return self.now


@dataclass
class Shop:
    """An engine on a real Redis, with what the backend accepted per subject."""

    engine: Engine
    registry: CollectorRegistry
    clock: Clock

    def __post_init__(self) -> None:
        self.accepted: dict[str, int] = {}

    async def buy(self, subject: Subject, amount: int) -> Decision:
        """A purchase through a door: the backend charges what was allowed, then it is committed."""
        decision = await self.engine.decide(subject, Facts(Activity.PURCHASE, amount))
        if decision.allowed and decision.reservation_id is not None:
            self.accepted[subject.subject_id] = self.accepted.get(subject.subject_id, 0) + amount
            await self.commit(subject, decision.reservation_id)
        return decision

    async def commit(self, subject: Subject, reservation_id: str) -> None:
        # a failure is counted and audited, and the reservation lapses as spent at its deadline
        with contextlib.suppress(StoreError):
            await self.engine.settle_reservation(
                "commit", self.engine.user_key(subject.subject_id), reservation_id
            )

    async def usage(self, subject: Subject) -> Usage:
        return await self.engine.usage(subject.subject_id)

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    fail_without("redis-server")
    with RedisServer.launch(tmp_path, args=DURABLE) as launched:
        yield launched


@pytest.fixture
async def shop(server: RedisServer) -> AsyncIterator[Shop]:
    store = open_store(server.url, timeout=0.1)
    registry, clock = CollectorRegistry(), Clock()
    engine = Engine(
        compile_policy("nppa-2021"),
        store,
        subject_secret=secrets.token_bytes(16),
        clock=clock,
        observer=Metrics(registry),
        retries=QUICK,
    )
    await engine.decide(teen(), Facts(Activity.PURCHASE, 0))  # loads the scripts
    yield Shop(engine, registry, clock)
    await engine.close()
    await store.close()


def teen() -> Subject:
    return Subject("teen-" + secrets.token_hex(4), BORN, True)


async def test_purchases_accepted_while_redis_is_killed_are_all_counted(
    server: RedisServer, shop: Shop
) -> None:
    """Redis is SIGKILLed while the backend charges, in the middle of four users' concurrent purchase
    streams, and restarted 0.6 s later. Commits fail meanwhile; yet once the deadlines pass, each
    user's month counts exactly what the backend accepted, and never more than the cap."""
    users = [teen() for _ in range(4)]
    restarted: list[asyncio.Task[None]] = []

    async def back_later() -> None:
        await asyncio.sleep(0.6)
        await asyncio.to_thread(server.start)

    async def stream(subject: Subject) -> None:
        for _ in range(15):
            decision = await shop.engine.decide(subject, Facts(Activity.PURCHASE, 2_000))
            if decision.allowed and decision.reservation_id is not None:
                shop.accepted[subject.subject_id] = shop.accepted.get(subject.subject_id, 0) + 2_000
                if sum(shop.accepted.values()) == 40_000 and not restarted:  # while charging
                    server.stop(kill=True)
                    restarted.append(asyncio.create_task(back_later()))
                await shop.commit(subject, decision.reservation_id)
            await asyncio.sleep(0.02)

    await asyncio.gather(*(stream(u) for u in users for _ in range(2)))
    await asyncio.gather(*restarted)
    assert restarted, "the stream ended before the kill"
    assert await shop.engine.settler.drain(5.0) == 0
    shop.clock.now += TTL
    for user in users:
        usage = await shop.usage(user)
        assert (usage.month_committed, usage.month_pending) == (shop.accepted.get(user.subject_id, 0), 0)
        assert usage.month_committed <= CAP
        await shop.engine.settle_key("release", shop.engine.user_key(user.subject_id), "sweep")
    assert shop.metric("minorguard_settlement_failures_total", action="commit") >= 1
    assert shop.metric("minorguard_reservations_lapsed_total", kind="purchase") >= 1


async def test_a_reserve_that_times_out_and_runs_later_is_released_by_its_id(
    server: RedisServer, shop: Shop
) -> None:
    """Redis stalls (CLIENT PAUSE 400 ms): the reserve times out on the client, so the purchase is
    refused, but Redis runs it once the pause ends. The cancel of its id gives the quota back."""
    subject = teen()
    server.call("CLIENT", "PAUSE", 400, "ALL")
    refused = await shop.engine.decide(subject, Facts(Activity.PURCHASE, 10_000))
    assert refused.reason is Reason.STORE_UNAVAILABLE
    assert await shop.engine.settler.drain(3.0) == 0
    await asyncio.sleep(0.45)  # past the pause, whatever the cancel did
    assert await shop.usage(subject) == Usage(0, None, 0, 0, 0, 0)
    fields = server.call("HGETALL", user_key(shop.engine.user_key(subject.subject_id)))
    records = [value for name, value in fields.items() if name.startswith("r")]
    assert [r.split(":")[1] for r in records] == ["r"]  # it was made, late, and released
    assert shop.metric("minorguard_unanswered_reserves_total", outcome="released") == 1
    for _ in range(4):  # the whole month's quota is free
        assert (await shop.buy(subject, 10_000)).allowed


async def test_a_reserve_that_arrives_after_its_cancel_reserves_nothing(server: RedisServer) -> None:
    """The reserve is stuck on its connection behind a slow command (BLPOP) while the cancel of its
    id goes out on another connection and lands first: the tombstone it leaves makes the late
    reserve reserve nothing."""
    client = LeanRedis(HOST, server.port, connections=2)
    store = RedisCounterStore(client, timeout=0.1)
    registry, clock = CollectorRegistry(), Clock()
    engine = Engine(
        compile_policy("nppa-2021"),
        store,
        subject_secret=b"k",
        clock=clock,
        observer=Metrics(registry),
        retries=QUICK,
    )
    subject = teen()
    try:
        await engine.decide(teen(), Facts(Activity.PURCHASE, 0))  # the scripts are loaded:
        await store.release("warm-up", "none", now=int(NOON))  # no NOSCRIPT round trip below
        await client.ping()
        await client.ping()  # both connections open; the next call goes out on the first
        slow = asyncio.create_task(client.execute("BLPOP", "mg-test-nothing", 0.5, timeout=2))
        await asyncio.sleep(0)  # the BLPOP goes out first
        await client.ping()  # on the second: the next one (the reserve) queues behind the BLPOP
        refused = await engine.decide(subject, Facts(Activity.PURCHASE, 10_000))
        assert refused.reason is Reason.STORE_UNAVAILABLE
        assert await engine.settler.drain(3.0) == 0
        assert await slow is None  # the BLPOP ended; the reserve behind it runs now
        assert (await engine.usage(subject.subject_id)).month_pending == 0
        key = user_key(engine.user_key(subject.subject_id))
        fields = server.call("HGETALL", key)
        assert [v.split(":")[1] for k, v in fields.items() if k.startswith("r")] == ["t"]
        assert not any(k.startswith("i") for k in fields)
        assert registry.get_sample_value("minorguard_unanswered_reserves_total", {"outcome": "not_made"}) == 1
    finally:
        await engine.close()
        await store.close()


async def test_concurrent_purchases_through_a_stall_never_overspend(server: RedisServer, shop: Shop) -> None:
    """One user, 90 purchases of 10 yuan at once in three waves, the second sent while Redis is paused:
    its reserves time out and run late, holding quota until their cancels land, while the third wave
    competes for it. The allowed total never passes the cap and is exactly what is counted, before
    and after the deadlines."""
    subject = teen()

    async def wave(n: int) -> list[Decision]:
        return await asyncio.gather(*(shop.buy(subject, 1_000) for _ in range(n)))

    first = await wave(10)
    server.call("CLIENT", "PAUSE", 300, "ALL")
    paused = asyncio.get_running_loop().time()
    second = await wave(40)
    await asyncio.sleep(max(0.3 - (asyncio.get_running_loop().time() - paused), 0))
    third = await wave(40)
    assert await shop.engine.settler.drain(5.0) == 0
    assert all(d.reason is Reason.STORE_UNAVAILABLE for d in second)
    allowed = [d for d in first + second + third if d.allowed]
    assert all(d.remaining_budget_fen is not None and d.remaining_budget_fen >= 0 for d in allowed)
    total = shop.accepted[subject.subject_id]
    assert total == 1_000 * len(allowed) <= CAP
    assert (await shop.usage(subject)).month_committed == total
    shop.clock.now += TTL
    assert await shop.usage(subject) == Usage(0, None, total, 0, 0, 0)  # nothing cancelled lapsed
    assert shop.metric("minorguard_unanswered_reserves_total", outcome="released") >= 1
