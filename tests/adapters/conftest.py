"""Store fixtures: real Redis servers for the session (started on first use), and `store`, one
contract suite's worth of stores: memory, a single Redis, a Redis Cluster (the lean client and
redis-py's), a Sentinel-managed master."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator

import pytest

from minorguard.adapters.base import CounterStore
from minorguard.adapters.stores import open_store
from redis_servers import RedisClusterServers, RedisServer, SentinelGroup, fail_without

# Generous: a test's burst of hundreds of calls queues behind max_in_flight; timeouts have own tests.
CALL_TIMEOUT = 10.0


@pytest.fixture(scope="session")
def redis_single(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    fail_without("redis-server")
    with RedisServer.launch(tmp_path_factory.mktemp("single")) as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServers]:
    fail_without("redis-server")
    with RedisClusterServers.launch(tmp_path_factory.mktemp("cluster")) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def redis_sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelGroup]:
    fail_without("redis-server")
    with SentinelGroup.launch(tmp_path_factory.mktemp("sentinel")) as group:
        yield group


STORES = [
    pytest.param("memory", id="memory"),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
    pytest.param("cluster", id="cluster", marks=pytest.mark.redis),  # the lean cluster client
    pytest.param("cluster-redis-py", id="cluster-redis-py", marks=pytest.mark.redis),
    pytest.param("sentinel", id="sentinel", marks=pytest.mark.redis),  # the lean Sentinel client
]
_SERVERS = {"redis": "redis_single", "sentinel": "redis_sentinel"}


@pytest.fixture(params=STORES)
async def store(request: pytest.FixtureRequest) -> AsyncIterator[CounterStore]:
    """A fresh store object on the kind of backend the test is parametrized with. On Redis, the test
    fails at teardown if it left any key without a TTL."""
    if request.param == "memory":
        opened = open_store("memory://")
        yield opened
        await opened.close()
        return
    servers = request.getfixturevalue(_SERVERS.get(request.param, "redis_cluster"))
    client = {"lean": False} if request.param.endswith("redis-py") else {}
    opened = open_store(servers.url, timeout=CALL_TIMEOUT, **client)
    yield opened
    await opened.close()
    assert servers.keys_without_ttl() == [], "every key must have a TTL"


@pytest.fixture
def user() -> str:
    """A fresh user, shaped like subject_key's output, so tests never see each other's counters."""
    return secrets.token_hex(16)
