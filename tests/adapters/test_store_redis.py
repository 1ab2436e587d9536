"""What only the Redis store has: round trips, key layout and TTLs, broken and slow servers, restarts,
Sentinel failover, and the mapping of redis-py errors onto StoreError. All against real servers."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from storekit import T
from storekit import heartbeat as store_heartbeat

from minorguard.adapters.base import Bucket, CounterStore, ReservationStatus, SpendKind
from minorguard.adapters.redis import RedisCounterStore
from minorguard.adapters.redisscripts import guarded, script
from minorguard.adapters.stores import open_store
from minorguard.errors import StoreError, StoreErrorKind
from redis_servers import RedisClusterServers, RedisServer, SentinelGroup, free_port

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.redis]

Kind = StoreErrorKind


async def beat(store: CounterStore, user: str, now: int, ttl: int = 2 * 86_400) -> int:
    return await store_heartbeat(store, user, now, ttl=ttl)


async def reserve(store: CounterStore, user: str, rid: str, now: int = T, ttl: int = 900) -> bool:
    result = await store.reserve(
        user,
        kind=SpendKind.PURCHASE,
        amount=100,
        single_cap=None,
        buckets=(Bucket("2026-11", 10_000, 2 * ttl), Bucket("2026-11-22", None, ttl)),
        reservation_id=rid,
        idempotency_key=None,
        now=now,
        reservation_ttl=ttl,
    )
    return result.ok


@pytest.fixture
def fresh_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of the test's own, to stop, restart or pause at will."""
    with RedisServer.launch(tmp_path) as server:
        yield server


@pytest.fixture
async def fresh_store(fresh_redis: RedisServer) -> AsyncIterator[CounterStore]:
    store = open_store(fresh_redis.url, timeout=0.5)
    yield store
    await store.close()


async def test_each_operation_is_one_round_trip(fresh_redis: RedisServer, fresh_store: CounterStore) -> None:
    user = secrets.token_hex(16)
    await beat(fresh_store, user, T)  # loads the scripts: NOSCRIPT, then EVAL
    await reserve(fresh_store, user, "warm")
    await fresh_store.commit(user, "warm", now=T)
    fresh_redis.call("CONFIG", "RESETSTAT")
    for i in range(20):
        await beat(fresh_store, user, T + 10 * i)
        await reserve(fresh_store, user, f"r{i}")
        await fresh_store.commit(user, f"r{i}", now=T)
    stats = fresh_redis.info("commandstats")
    assert stats["cmdstat_evalsha"]["calls"] == 60
    assert "cmdstat_eval" not in stats
    assert "cmdstat_script" not in stats


async def test_one_hash_per_user_one_per_guest_device_all_with_ttls(
    fresh_redis: RedisServer, fresh_store: CounterStore
) -> None:
    user, device = secrets.token_hex(16), secrets.token_hex(16)
    await beat(fresh_store, user, T, ttl=3_600)
    assert await reserve(fresh_store, user, "r1", ttl=600)
    await fresh_store.commit(user, "r1", now=T + 1)
    await fresh_store.guest_heartbeat(device, now=T, max_gap=60, window_seconds=900, limit_seconds=300)
    keys = fresh_redis.keys()
    assert set(keys) == {f"mg:{{{user}}}:u", f"mg:{{g:{device}}}:g"}
    assert 3_590 <= keys[f"mg:{{{user}}}:u"] <= 3_600  # the longest of play (1 h) and spend (20 min)
    assert 890 <= keys[f"mg:{{g:{device}}}:g"] <= 900


@pytest.mark.slow
@pytest.mark.parametrize("servers", ["redis_single", "redis_cluster"])
async def test_no_key_outlives_its_window(request: pytest.FixtureRequest, servers: str) -> None:
    backend: RedisServer | RedisClusterServers = request.getfixturevalue(servers)
    store = open_store(backend.url, timeout=2.0)
    user, device = secrets.token_hex(16), secrets.token_hex(16)
    now = int(time.time())
    try:
        await beat(store, user, now, ttl=1)
        await beat(store, user, now + 1, ttl=1)
        assert await reserve(store, user, "r1", now=now, ttl=1)  # buckets live 2 s and 1 s
        assert await reserve(store, user, "r2", now=now, ttl=1)
        await store.commit(user, "r1", now=now)
        await store.refund(user, "r1", now=now, restore_quota=True)
        await store.guest_heartbeat(device, now=now, max_gap=60, window_seconds=2, limit_seconds=1)
        ours = {**backend.keys(f"mg:{{{user}}}:*"), **backend.keys(f"mg:{{g:{device}}}:*")}
        assert len(ours) == 2
        assert all(0 < ttl <= 2 for ttl in ours.values())
        await asyncio.sleep(2.5)
        assert backend.keys(f"*{user}*") == {}
        assert backend.keys(f"*{device}*") == {}
    finally:
        await store.close()


async def test_a_restarted_redis_fails_calls_then_serves_the_same_store_again(
    fresh_redis: RedisServer, fresh_store: CounterStore
) -> None:
    user = secrets.token_hex(16)
    await beat(fresh_store, user, T)
    assert await beat(fresh_store, user, T + 30) == 30
    fresh_redis.stop(kill=True)
    with pytest.raises(StoreError) as down:
        await beat(fresh_store, user, T + 60)
    assert down.value.kind in (Kind.CONNECTION, Kind.TIMEOUT)
    fresh_redis.start()  # same port, empty (no persistence), no scripts cached
    assert fresh_redis.call("SCRIPT", "EXISTS", script("heartbeat").sha) == [0]
    assert await beat(fresh_store, user, T + 90) == 0  # the counters were lost with the server
    assert await beat(fresh_store, user, T + 120) == 30
    assert fresh_redis.call("SCRIPT", "EXISTS", script("heartbeat").sha) == [1]


async def test_a_silent_server_times_out_within_the_call_budget() -> None:
    handlers: list[asyncio.Task[None]] = []

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        while await reader.read(4096):
            pass  # read requests, answer none
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    store = open_store(f"redis://127.0.0.1:{port}/0")  # the default 0.02 s per call
    try:
        for _ in range(3):
            started = time.monotonic()
            with pytest.raises(StoreError) as stalled:
                await beat(store, "u", T)
            assert stalled.value.kind is Kind.TIMEOUT
            assert time.monotonic() - started < 0.25
    finally:
        await store.close()
        server.close()
        await server.wait_closed()
        await asyncio.wait_for(asyncio.gather(*handlers), 2)


async def test_a_paused_server_times_out_and_no_late_reply_is_read_by_the_next_call(
    fresh_redis: RedisServer,
) -> None:
    store = open_store(fresh_redis.url, timeout=0.05)
    user = secrets.token_hex(16)
    try:
        assert await reserve(store, user, "r1")
        fresh_redis.call("CLIENT", "PAUSE", 300, "ALL")
        with pytest.raises(StoreError) as paused:
            await store.usage(user, day="2026-11-22", month="2026-11", now=T)
        assert paused.value.kind is Kind.TIMEOUT
        await asyncio.sleep(0.35)
        settled = await store.commit(user, "r1", now=T + 1)
        assert (settled.status, settled.changed, settled.amount) == (ReservationStatus.COMMITTED, True, 100)
        snapshot = await store.usage(user, day="2026-11-22", month="2026-11", now=T + 2)
        assert (snapshot.month_committed, snapshot.month_pending) == (100, 0)
    finally:
        await store.close()


async def test_nothing_listening_is_a_connection_error() -> None:
    store = open_store(f"redis://127.0.0.1:{free_port()}/0", timeout=1.0)
    try:
        with pytest.raises(StoreError) as refused:
            await store.ping()
        assert refused.value.kind is Kind.CONNECTION
    finally:
        await store.close()


async def test_redis_errors_map_onto_store_error_kinds(tmp_path: Path) -> None:
    with RedisServer.launch(tmp_path, args=("--requirepass", "s3cret")) as server:
        once = Retry(NoBackoff(), 0)
        good = Redis(host="127.0.0.1", port=server.port, password="s3cret", retry=once)
        bad = Redis(host="127.0.0.1", port=server.port, password="wrong", retry=once)
        try:
            cases = [
                (good.execute_command("NO-SUCH-COMMAND"), Kind.RESPONSE),  # type: ignore[no-untyped-call]
                (good.eval("return redis.call('NO-SUCH-COMMAND')", 0), Kind.SCRIPT),
                (good.evalsha("0" * 40, 0), Kind.SCRIPT),
                (bad.ping(), Kind.CONFIGURATION),
            ]
            for call, kind in cases:
                with pytest.raises(StoreError) as caught:
                    await guarded(call, 1.0)
                assert caught.value.kind is kind, caught.value
        finally:
            await good.aclose()
            await bad.aclose()


async def test_a_store_wraps_a_client_it_is_given(fresh_redis: RedisServer) -> None:
    client = Redis(host="127.0.0.1", port=fresh_redis.port, decode_responses=True)
    store = RedisCounterStore(client, timeout=0.5)
    user = secrets.token_hex(16)
    try:
        assert await reserve(store, user, "r1")
        assert (await store.commit(user, "r1", now=T)).status is ReservationStatus.COMMITTED
        await store.ping()
    finally:
        await store.close()


@pytest.mark.slow
async def test_sentinel_failover_keeps_the_store_working(tmp_path: Path) -> None:
    """With passwords on the Sentinel and on the data nodes, each its own."""
    with SentinelGroup.launch(tmp_path, auth=True) as group:
        store = open_store(group.url + "&db=2", timeout=0.5)
        user = secrets.token_hex(16)
        try:
            await beat(store, user, T)
            assert await beat(store, user, T + 30) == 30
            assert group.master.call("WAIT", 1, 2_000) == 1  # the replica has it
            group.master.stop(kill=True)
            failures: set[StoreErrorKind] = set()
            deadline = time.monotonic() + 20
            while True:
                try:
                    used = await beat(store, user, T + 60)
                    break
                except StoreError as exc:
                    failures.add(exc.kind)
                    assert time.monotonic() < deadline, "no new master within 20 s"
                    await asyncio.sleep(0.1)
            assert failures
            assert failures <= {Kind.CONNECTION, Kind.TIMEOUT}
            assert used == 60  # the promoted replica had the first 30 s
            assert group.master_port() == group.replica.port
            assert f"mg:{{{user}}}:u" in group.replica.keys(db=2)
        finally:
            await store.close()
