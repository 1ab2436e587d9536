"""Store fixtures: real Redis servers for the session (started on first use), and `store`, one
contract suite's worth of stores: memory, and every Redis URL form through the project's client (one
Redis with an ACL user; the same over TLS with a client certificate; a Redis Cluster, and one over TLS;
a master behind Sentinels that take a password, and one over TLS), plus redis-py's client under the
same store as the reference implementation."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from minorguard.adapters.base import CounterStore
from minorguard.adapters.redis import RedisCounterStore
from minorguard.adapters.stores import open_store
from redis_servers import (
    HOST,
    Certificates,
    RedisClusterServers,
    RedisServer,
    SentinelGroup,
    fail_without,
    make_certificates,
)

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
    """Sentinel and data nodes each with a password of their own."""
    fail_without("redis-server", "redis-sentinel")
    with SentinelGroup.launch(tmp_path_factory.mktemp("sentinel"), auth=True) as group:
        yield group


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def redis_tls_cluster(
    tmp_path_factory: pytest.TempPathFactory, certificates: Certificates
) -> Iterator[RedisClusterServers]:
    """A 3-master cluster that speaks TLS to clients (a client certificate required), on its bus and
    for replication."""
    fail_without("redis-server")
    with RedisClusterServers.launch(tmp_path_factory.mktemp("tls-cluster"), tls=certificates) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def redis_tls_sentinel(
    tmp_path_factory: pytest.TempPathFactory, certificates: Certificates
) -> Iterator[SentinelGroup]:
    """Sentinel, master and replica over TLS (a client certificate required), replication too."""
    fail_without("redis-server", "redis-sentinel")
    with SentinelGroup.launch(tmp_path_factory.mktemp("tls-sentinel"), tls=certificates) as group:
        yield group


@pytest.fixture(scope="session")
def redis_tls(tmp_path_factory: pytest.TempPathFactory, certificates: Certificates) -> Iterator[RedisServer]:
    """A Redis that takes TLS connections with a client certificate only (`tls-auth-clients yes`)."""
    fail_without("redis-server")
    server = RedisServer.with_tls(tmp_path_factory.mktemp("tls"), certificates)
    try:
        yield server.start()
    finally:
        server.stop()


ACL_USER, ACL_PASSWORD = "minorguard", "acl pass/1"


def acl_url(server: RedisServer) -> str:
    """The single server's URL as an ACL user that may touch the store's keys only."""
    server.call("ACL", "SETUSER", ACL_USER, "on", f">{ACL_PASSWORD}", "resetkeys", "~mg:*", "+@all")
    return f"redis://{ACL_USER}:acl%20pass%2F1@{HOST}:{server.port}/0"


STORES = [
    pytest.param("memory", id="memory"),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),  # an ACL user
    pytest.param("rediss", id="rediss", marks=pytest.mark.redis),  # TLS, client certificate
    pytest.param("cluster", id="cluster", marks=pytest.mark.redis),
    pytest.param("tls-cluster", id="rediss+cluster", marks=pytest.mark.redis),
    pytest.param("sentinel", id="sentinel", marks=pytest.mark.redis),  # Sentinel auth
    pytest.param("tls-sentinel", id="rediss+sentinel", marks=pytest.mark.redis),
    pytest.param("redis-py", id="redis-py", marks=pytest.mark.redis),  # the reference client
]
_SERVERS = {
    "redis": "redis_single",
    "redis-py": "redis_single",
    "rediss": "redis_tls",
    "cluster": "redis_cluster",
    "tls-cluster": "redis_tls_cluster",
    "sentinel": "redis_sentinel",
    "tls-sentinel": "redis_tls_sentinel",
}


@pytest.fixture(params=STORES)
async def store(request: pytest.FixtureRequest) -> AsyncIterator[CounterStore]:
    """A fresh store object on the kind of backend the test is parametrized with. On Redis, the test
    fails at teardown if it left any key without a TTL."""
    if request.param == "memory":
        opened = open_store("memory://")
        yield opened
        await opened.close()
        return
    servers = request.getfixturevalue(_SERVERS[request.param])
    if request.param == "redis-py":
        opened = RedisCounterStore(Redis(host=HOST, port=servers.port), timeout=CALL_TIMEOUT)
    else:
        url = {
            "redis": lambda: acl_url(servers),
            "rediss": lambda: servers.tls_url(request.getfixturevalue("certificates")),
        }.get(request.param, lambda: servers.url)()
        opened = open_store(url, timeout=CALL_TIMEOUT)
    yield opened
    await opened.close()
    assert servers.keys_without_ttl() == [], "every key must have a TTL"


@pytest.fixture
def user() -> str:
    """A fresh user, shaped like subject_key's output, so tests never see each other's counters."""
    return secrets.token_hex(16)
