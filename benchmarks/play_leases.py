"""What a minor who plays costs Redis, with and without play-time leases (issue 16).

Starts its own redis-server (from PATH) on a free loopback port and drives the real engine on it with
a simulated clock (every figure here is a count or Redis' own accounting, none a wall-clock time):

  1. calls:  P players each send a request a second for M minutes, through 1 process and through 2
     processes taking turns at random (a load balancer without sticky routing); store calls per
     player-minute per process, and the feed reads a process makes a minute whatever its players;
  2. CPU:    Redis' own microseconds per call (INFO commandstats, EVALSHA) of the heartbeat script,
     leased and not, beside reference scripts measured in the same run: `return 1` (the floor of
     any EVALSHA) and one HINCRBY + EXPIRE (the least a counter needs);
  3. memory: Redis data memory per active minor-day, leased and not.

    .venv/bin/python benchmarks/play_leases.py [--players P] [--minutes M] [--lease R]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from minorguard.adapters.base import CounterStore
from minorguard.adapters.stores import open_store
from minorguard.engine import Engine
from minorguard.explain import compile_policy
from minorguard.types import Activity, Facts, Subject
from redis_servers import RedisServer, require_binaries
from store_roundtrips import data_memory

START = dt.datetime(2026, 11, 21, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()  # a Saturday
PRESET = "minor-mode-2024"  # 2 h on weekends, 08:00-22:00, the rest reminder
GAME = Facts(Activity.GAME)


class Counting:
    """The store the engine sees, counting the calls that reach it by method."""

    def __init__(self, inner: CounterStore) -> None:
        self.inner, self.calls = inner, Counter[str]()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return await method(*args, **kwargs)

        return counted


def players(n: int) -> list[Subject]:
    return [Subject(f"player-{i}", dt.date(2011, 5, 1), True) for i in range(n)]


async def play(
    store: CounterStore, pods: int, lease: int, kids: list[Subject], minutes: int, offset: int = 0
) -> Counting:
    counting = Counting(store)
    cp = compile_policy(PRESET)
    clock = [START + offset]
    engines = [
        Engine(cp, counting, subject_secret=b"bench", clock=lambda: clock[0], lease_seconds=lease)
        for _ in range(pods)
    ]
    rng = random.Random(1)
    for second in range(minutes * 60):
        clock[0] = START + offset + second
        await asyncio.gather(*(rng.choice(engines).decide(kid, GAME) for kid in kids))
    return counting


async def calls(server: RedisServer, args: argparse.Namespace) -> None:
    kids = players(args.players)
    print(f"store calls, {args.players} players x a request a second x {args.minutes} min ({PRESET}):")
    for pods in (1, 2):
        for lease in (0, args.lease):
            server.call("FLUSHALL", "SYNC")
            store = open_store(server.url, timeout=5.0)
            try:
                counted = await play(store, pods, lease, kids, args.minutes)
            finally:
                await store.close()
            beats, feed = counted.calls["play_heartbeat"], counted.calls["guardian_changes"]
            per_player = beats / args.players / args.minutes / pods
            what = f"{pods} process{'es' if pods > 1 else ''}, lease {lease or 'off'}"
            print(
                f"  {what:<24} heartbeat calls per player-minute per process {per_player:6.2f}"
                f"   feed reads per process-minute {feed / args.minutes / pods:5.1f}"
            )


def evalsha_usec(server: RedisServer) -> tuple[int, float]:
    stats = server.info("commandstats").get("cmdstat_evalsha", {})
    return int(stats.get("calls", 0)), float(stats.get("usec", 0))


async def cpu(server: RedisServer, args: argparse.Namespace) -> None:
    """Redis CPU per call, each row measured alone (CONFIG RESETSTAT between) and repeated: the
    heartbeat rows run a realistic stream (requests a second apart, so nearly every call counts)."""
    kids = players(args.players)
    print("\nRedis CPU per EVALSHA (INFO commandstats usec/calls; median of 3 runs each):")
    floor = "return 1"
    counter = "redis.call('HINCRBY', KEYS[1], 'D', 1) redis.call('EXPIRE', KEYS[1], 172800) return 1"
    client_store = open_store(server.url, timeout=5.0)
    rows: dict[str, list[float]] = {}
    per_minute: dict[str, list[float]] = {}
    try:
        for _ in range(3):
            for name, body in (("reference: return 1", floor), ("reference: HINCRBY + EXPIRE", counter)):
                sha = server.call("SCRIPT", "LOAD", body)
                server.call("CONFIG", "RESETSTAT")
                for i in range(2_000):
                    server.call("EVALSHA", sha, 1, f"mg:{{{i % 500}}}:u")
                n, usec = evalsha_usec(server)
                rows.setdefault(name, []).append(usec / n)
            for lease in (0, args.lease):
                server.call("FLUSHALL", "SYNC")
                await play(client_store, 1, lease, kids, 1)  # warm: scripts loaded, hashes made
                server.call("CONFIG", "RESETSTAT")
                await play(client_store, 1, lease, kids, 2, offset=60)
                n, usec = evalsha_usec(server)
                label = f"heartbeat, lease {lease or 'off'}"
                # the feed's reads are EVALSHA too: few, and cheap; counted in, not taken out
                rows.setdefault(label, []).append(usec / max(n, 1))
                per_minute.setdefault(label, []).append(usec / len(kids) / 2)
    finally:
        await client_store.close()
    floor_median = sorted(rows["reference: return 1"])[1]
    for name, values in rows.items():
        median = sorted(values)[1]
        ratio = median / floor_median
        line = f"  {name:<30} {median:6.2f} us per call   ({ratio:4.2f}x the `return 1` floor)"
        if name in per_minute:
            line += f"   {sorted(per_minute[name])[1]:7.1f} us per player-minute"
        print(line)


async def memory(server: RedisServer, args: argparse.Namespace) -> None:
    kids = players(args.memory_players)
    print(f"\nRedis memory per active minor-day ({len(kids)} players, play only):")
    for lease in (0, args.lease):
        server.call("FLUSHALL", "SYNC")
        before = data_memory(server)
        store = open_store(server.url, timeout=5.0)
        try:
            await play(store, 1, lease, kids, 1)
        finally:
            await store.close()
        await asyncio.sleep(0.2)
        grown = (data_memory(server) - before) / len(kids)
        print(f"  lease {lease or 'off':<4} {grown:6.0f} bytes per minor-day")


async def main(args: argparse.Namespace) -> None:
    require_binaries("redis-server")
    with tempfile.TemporaryDirectory() as workdir, RedisServer.launch(Path(workdir)) as server:
        await calls(server, args)
        await cpu(server, args)
        await memory(server, args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--players", type=int, default=200, help="players sending a request a second")
    parser.add_argument("--minutes", type=int, default=5, help="simulated minutes of play")
    parser.add_argument("--lease", type=int, default=30, help="lease seconds (the deployment default)")
    parser.add_argument("--memory-players", type=int, default=3000, help="players for the memory figure")
    asyncio.run(main(parser.parse_args()))
