"""Redis round trips per store operation, and Redis memory per active user-day.

Starts its own redis-server (from PATH) on a free loopback port, then:
  1. runs N stateful decisions of each kind (heartbeat, reserve, commit) and reads `INFO commandstats`:
     EVALSHA + EVAL calls per operation must be exactly 1;
  2. gives K users one day of heartbeats and a month of purchases each, and divides the growth of
     Redis' allocated memory (less client buffers and script caches, see `data_memory`) by K
     (target: <= 300 bytes per user-day).

    .venv/bin/python benchmarks/store_roundtrips.py [--ops N] [--users K] [--purchases P]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from minorguard.adapters.base import Bucket, CounterStore, SpendKind
from minorguard.adapters.stores import open_store
from redis_servers import RedisServer, require_binaries

T = 1_795_017_600  # a local midnight
DAY, PREV, MONTH = "2026-11-22", "2026-11-21", "2026-11"
BATCH = 64  # calls in flight at once while filling memory


async def heartbeat(store: CounterStore, user: str, now: int) -> None:
    await store.play_heartbeat(
        user,
        now=now,
        day=DAY,
        prev_day=PREV,
        day_start=T,
        max_gap=120,
        limit_seconds=3 * 3600,
        ttl_seconds=2 * 86_400,
    )


async def purchase(store: CounterStore, user: str, now: int, key: str | None) -> str:
    rid = secrets.token_hex(8)  # 64 random bits, as hex
    await store.reserve(
        user,
        kind=SpendKind.PURCHASE,
        amount=600,
        single_cap=10_000,
        buckets=(Bucket(MONTH, 40_000, 40 * 86_400),),
        reservation_id=rid,
        idempotency_key=key,
        now=now,
        reservation_ttl=900,
    )
    return rid


def evals(server: RedisServer) -> int:
    stats = server.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("evalsha", "eval"))


async def round_trips(server: RedisServer, store: CounterStore, ops: int) -> None:
    users = [secrets.token_hex(16) for _ in range(ops)]
    await heartbeat(store, users[0], T)  # load the scripts (NOSCRIPT, then EVAL) outside the count
    rid = await purchase(store, users[0], T, None)
    await store.commit(users[0], rid, now=T)
    rids: list[str] = []

    async def beat(i: int) -> None:
        await heartbeat(store, users[i], T + 3600 + i)

    async def reserve(i: int) -> None:
        rids.append(await purchase(store, users[i], T + 3600, f"order-{i}"))

    async def commit(i: int) -> None:
        await store.commit(users[i], rids[i], now=T + 3601)

    kinds: dict[str, Callable[[int], Awaitable[None]]] = {
        "heartbeat": beat,
        "reserve": reserve,
        "commit": commit,
    }
    print(f"round trips per operation ({ops} operations each):")
    for name, call in kinds.items():
        before, started = evals(server), time.perf_counter()
        for i in range(ops):
            await call(i)
        elapsed, calls = time.perf_counter() - started, evals(server) - before
        per_call = f"{calls} EVALSHA/EVAL, {elapsed / ops * 1e6:.0f} us per call"
        print(f"  {name:<10} {calls / ops:.3f}   ({per_call})")


def data_memory(server: RedisServer) -> int:
    """Allocated bytes less client buffers and script caches (they follow traffic, not users)."""
    stats = server.call("MEMORY", "STATS")
    other = ("clients.normal", "clients.slaves", "lua.caches", "functions.caches", "replication.backlog")
    return int(stats["total.allocated"]) - sum(int(stats.get(k, 0)) for k in (*other, "aof.buffer"))


async def memory(server: RedisServer, users: int, purchases: int, keyed: bool) -> float:
    """Data memory growth per user. Both readings are taken with no store connected: a connection's
    buffers (~20 kB each, resized as traffic comes and goes) would drown a few hundred bytes."""

    async def user_day(store: CounterStore, user: str) -> None:
        for minute in range(5):  # the state is the same after 5 heartbeats or 500
            await heartbeat(store, user, T + 8 * 3600 + 60 * minute)
        for p in range(purchases):  # spread over the month, forward in time, each paid
            now = T - (purchases - p) * 5 * 86_400
            rid = await purchase(store, user, now, f"order-{p}" if keyed else None)
            await store.commit(user, rid, now=now + 30)

    server.call("FLUSHALL", "SYNC")
    before = data_memory(server)
    names = [secrets.token_hex(16) for _ in range(users)]
    store = open_store(server.url, timeout=5.0)
    try:
        for start in range(0, users, BATCH):
            await asyncio.gather(*(user_day(store, u) for u in names[start : start + BATCH]))
    finally:
        await store.close()
    await asyncio.sleep(0.2)  # let Redis notice the closed connections and free them
    grown = (data_memory(server) - before) / users
    sample = server.call("MEMORY", "USAGE", f"mg:{{{names[0]}}}:u", "SAMPLES", "0")
    print(f"    (MEMORY USAGE of one user's hash: {sample} bytes, without its expiry entry)")
    return grown


async def main(args: argparse.Namespace) -> None:
    require_binaries("redis-server")
    with tempfile.TemporaryDirectory() as workdir, RedisServer.launch(Path(workdir)) as server:
        store = open_store(server.url, timeout=5.0)
        try:
            await round_trips(server, store, args.ops)
        finally:
            await store.close()
        print(f"\nRedis memory per active user-day ({args.users} users; data memory growth / users):")
        scenarios = [(0, False), (1, False), (args.purchases, False), (args.purchases, True)]
        for purchases, keyed in scenarios:
            what = f"play + {purchases} purchase{'s' if purchases != 1 else ''} (reserve+commit)"
            print(f"  {what}{' with idempotency keys' if keyed else ''}")
            per_user = await memory(server, args.users, purchases, keyed)
            print(f"    {per_user:.0f} bytes per user-day")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ops", type=int, default=1000, help="operations of each kind (default 1000)")
    parser.add_argument("--users", type=int, default=3000, help="users for the memory figure (default 3000)")
    parser.add_argument("--purchases", type=int, default=4, help="purchases per user-month (default 4)")
    asyncio.run(main(parser.parse_args()))
