"""CPU per Redis call: redis-py's asyncio client (the old path) against the lean client (resp.LeanRedis).

Starts its own redis-server on a free loopback port, pinned to CPU 1 (taskset), pins this process to
CPU 0, then runs N heartbeat-style EVALSHA calls, C at a time, through each client at two levels:

  client  bare EVALSHA calls of the heartbeat script: redis-py `Redis.evalsha` against
          `LeanRedis.run_script` (EVALSHA with the per-call timeout);
  store   `RedisCounterStore.play_heartbeat` (what a decision pays), on redis-py's client (as
          redis:// URLs were served before; now the contract tests' reference) and on open_store(url)
          (LeanRedis, what every Redis URL gets).

and prints calls/s and µs of this process' CPU per call (time.process_time delta / calls; user and
system time apart, and redis-server's CPU per call from INFO cpu), best of R rounds (rounds
alternate between the clients), calls that failed (timed out, mostly), and the ratios. CPU per call
is the figure to compare; calls/s also depends on what else runs on the two CPUs.

    .venv/bin/python benchmarks/redis_client.py [--calls N] [--concurrency C] [--rounds R] [--timeout S]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from minorguard.adapters.base import CounterStore
from minorguard.adapters.redis import RedisCounterStore, user_key
from minorguard.adapters.redisscripts import script
from minorguard.adapters.resp import LeanRedis
from minorguard.adapters.stores import open_store
from minorguard.errors import StoreError
from redis_servers import HOST, free_port, require_binaries, wait_until

T = 1_795_017_600  # a local midnight
HEARTBEAT = script("heartbeat")
USERS = [f"{i:032x}" for i in range(1000)]

Call = Callable[[int], Awaitable[object]]


@dataclass(frozen=True)
class Round:
    calls: int
    seconds: float
    cpu: float  # time.process_time() delta
    user: float  # os.times(): the same CPU split in user and system time (10 ms ticks)
    system: float
    failed: int  # calls that raised (past their timeout, mostly): counted in calls
    server: float  # CPU seconds redis-server spent meanwhile

    @property
    def rate(self) -> float:
        return self.calls / self.seconds

    @property
    def cpu_us(self) -> float:
        return self.cpu / self.calls * 1e6


@contextmanager
def redis_server_on_cpu1() -> Iterator[int]:
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        cmd = ["taskset", "-c", "1", "redis-server", "--port", str(port), "--bind", HOST]
        cmd += ["--save", "", "--appendonly", "no", "--dir", folder]
        server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: redis.Redis(host=HOST, port=port).ping(), "redis-server", timeout=10)
            yield port
        finally:
            server.terminate()
            server.wait(10)


def heartbeat_args(i: int) -> tuple[str | int, ...]:
    return (T + i, "2026-11-22", "2026-11-21", T, 120, 3 * 3600, 2 * 86_400)


def server_cpu(port: int) -> float:
    info = redis.Redis(host=HOST, port=port).info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def run_round(call: Call, calls: int, concurrency: int, port: int) -> Round:
    per_worker = calls // concurrency
    failed = 0

    async def worker(w: int) -> None:
        nonlocal failed
        for k in range(per_worker):
            try:
                await call(w + k * concurrency)
            except (StoreError, TimeoutError):
                failed += 1

    server = server_cpu(port)
    started, cpu, times = time.perf_counter(), time.process_time(), os.times()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    ended, cpu_end, times_end = time.perf_counter(), time.process_time(), os.times()
    user, system = times_end.user - times.user, times_end.system - times.system
    seconds = ended - started
    return Round(
        per_worker * concurrency, seconds, cpu_end - cpu, user, system, failed, server_cpu(port) - server
    )


def client_calls(old: redis.asyncio.Redis, lean: LeanRedis, timeout: float) -> dict[str, Call]:
    sha, source = HEARTBEAT.sha, HEARTBEAT.source

    async def via_redis_py(i: int) -> object:
        return await old.evalsha(sha, 1, user_key(USERS[i % len(USERS)]), *heartbeat_args(i))

    async def via_lean(i: int) -> object:
        return await lean.run_script(
            sha, source, (user_key(USERS[i % len(USERS)]),), heartbeat_args(i), timeout=timeout
        )

    return {"redis-py": via_redis_py, "lean": via_lean}


def store_calls(old: CounterStore, lean: CounterStore) -> dict[str, Call]:
    def beat(store: CounterStore) -> Call:
        async def call(i: int) -> object:
            now, day, prev, start, gap, limit, ttl = heartbeat_args(i)
            return await store.play_heartbeat(
                USERS[i % len(USERS)],
                now=int(now),
                day=str(day),
                prev_day=str(prev),
                day_start=int(start),
                max_gap=int(gap),
                limit_seconds=int(limit),
                ttl_seconds=int(ttl),
            )

        return call

    return {"redis-py": beat(old), "lean": beat(lean)}


async def compare(level: str, calls: dict[str, Call], args: argparse.Namespace) -> None:
    for call in calls.values():  # warm up: load the script, open the connections
        await run_round(call, min(args.calls, 4 * args.concurrency), args.concurrency, args.port)
    rounds: dict[str, list[Round]] = {name: [] for name in calls}
    for _ in range(args.rounds):
        for name, call in calls.items():
            rounds[name].append(await run_round(call, args.calls, args.concurrency, args.port))
    best = {name: min(runs, key=lambda r: r.cpu_us) for name, runs in rounds.items()}
    for name, runs in rounds.items():
        b = best[name]
        every = ", ".join(f"{r.cpu_us:.1f}" for r in runs)
        failed = sum(r.failed for r in runs)
        print(
            f"{level:6} {name:9} {b.rate:9,.0f} calls/s  {b.cpu_us:6.1f} µs CPU/call"
            f" (user {b.user / b.calls * 1e6:5.1f}, sys {b.system / b.calls * 1e6:4.1f};"
            f" redis-server {b.server / b.calls * 1e6:4.1f})"
            f"  µs/call of each round: {every}" + (f"  ({failed} calls failed)" if failed else "")
        )
    old, new = best["redis-py"], best["lean"]
    ratio = f"{new.rate / old.rate:.2f}x calls/s, {old.cpu_us / new.cpu_us:.2f}x less CPU per call"
    print(f"{level:6} lean/redis-py: {ratio}\n")


async def main(args: argparse.Namespace) -> None:
    url = f"redis://{HOST}:{args.port}/0"
    # redis-py as redis:// URLs were served before the store had one client stack (the contract
    # tests' reference implementation): the options open_store gave it then
    reference = Redis.from_url(
        url, socket_timeout=1.0, socket_connect_timeout=1.0, retry=Retry(NoBackoff(), 1), max_connections=100
    )
    old_store, lean_store = (
        RedisCounterStore(reference, timeout=args.timeout),
        open_store(url, timeout=args.timeout),
    )
    assert isinstance(old_store, RedisCounterStore)
    assert isinstance(lean_store, RedisCounterStore)
    old_client, lean_client = old_store._client, lean_store._client
    assert isinstance(old_client, redis.asyncio.Redis)
    assert isinstance(lean_client, LeanRedis)
    await old_client.script_load(HEARTBEAT.source)  # redis-py's bare evalsha does not fall back to EVAL
    print(f"{args.calls} calls, {args.concurrency} at a time, best of {args.rounds} rounds;", end=" ")
    print("redis-server on CPU 1, this process on CPU 0\n")
    try:
        await compare("client", client_calls(old_client, lean_client, args.timeout), args)
        await compare("store", store_calls(old_store, lean_store), args)
    finally:
        await old_store.close()
        await lean_store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=0.02, help="seconds per call (the store's default)")
    options = parser.parse_args()
    require_binaries("redis-server", "taskset")
    os.sched_setaffinity(0, {0})
    with redis_server_on_cpu1() as options.port:
        asyncio.run(main(options))
