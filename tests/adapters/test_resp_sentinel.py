"""The lean Sentinel client (adapters/respsentinel.py) against a real Sentinel group. Failover is
tested in test_store_redis.py (both clients) and the store contract suite runs on it (conftest.py);
here: a Sentinel that accepts connections and never answers must not hold up calls or readiness."""

from __future__ import annotations

import asyncio
import secrets

import pytest
from storekit import MIDNIGHT
from storekit import heartbeat as store_heartbeat

from minorguard.adapters.base import CounterStore
from minorguard.adapters.redis import RedisCounterStore
from minorguard.adapters.respsentinel import LeanSentinel
from minorguard.adapters.stores import open_store
from minorguard.errors import StoreError, StoreErrorKind
from redis_servers import HOST, SentinelGroup

pytestmark = pytest.mark.redis

T = MIDNIGHT + 20 * 3600


async def heartbeat(store: CounterStore, user: str, now: int) -> int:
    return await store_heartbeat(store, user, now, ttl=3600)


async def test_a_silent_sentinel_first_in_line_holds_up_only_the_first_question(
    redis_sentinel: SentinelGroup,
) -> None:
    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(silent, HOST, 0)
    port = server.sockets[0].getsockname()[1]
    known = f"{HOST}:{redis_sentinel.sentinel.port}"
    url = redis_sentinel.url.replace(known, f"{HOST}:{port},{known}")
    store = open_store(url, timeout=0.05, socket_timeout=0.2, socket_connect_timeout=0.2)
    assert isinstance(store, RedisCounterStore)
    assert isinstance(store._client, LeanSentinel)
    try:
        with pytest.raises(StoreError) as early:
            await heartbeat(store, secrets.token_hex(16), T)  # the question waits on the silent one
        assert early.value.kind is StoreErrorKind.TIMEOUT
        await asyncio.sleep(0.6)  # it went on without the caller, and the second Sentinel answered
        for _ in range(3):  # calls and readiness use the master found: no new question, no wait
            assert await heartbeat(store, secrets.token_hex(16), T) == 0
            await store.ping()
    finally:
        await store.close()
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()
