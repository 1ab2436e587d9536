"""The lean Redis Cluster client (adapters/respcluster.py) against a real 3-master cluster: calls land on
the master of their slot, MOVED after a reshard and ASK during a migration are followed, a dead startup
node is skipped. (The store contract suite also runs on it: the `cluster` store of conftest.py.)"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.crc import key_slot
from storekit import MIDNIGHT
from storekit import heartbeat as store_heartbeat

from minorguard.adapters.base import CounterStore
from minorguard.adapters.redis import RedisCounterStore, user_key
from minorguard.adapters.respcluster import LeanCluster
from minorguard.adapters.stores import open_store
from minorguard.errors import StoreError, StoreErrorKind
from redis_servers import HOST, RedisClusterServers, RedisServer, free_port

pytestmark = pytest.mark.redis

T = MIDNIGHT + 20 * 3600  # 20:00 on the day storekit's heartbeat counts


async def heartbeat(store: CounterStore, user: str, now: int) -> int:
    return await store_heartbeat(store, user, now, ttl=3600)


@pytest.fixture
async def store(redis_cluster: RedisClusterServers) -> AsyncIterator[CounterStore]:
    opened = open_store(redis_cluster.url, timeout=0.5)
    assert isinstance(opened, RedisCounterStore)
    assert isinstance(opened._client, LeanCluster)
    yield opened
    await opened.close()


def holders(cluster: RedisClusterServers, key: str) -> list[int]:
    """The ports of the nodes that hold `key` (a node counts its own keys only, owned slot or not)."""
    slot = key_slot(key.encode())
    return [node.port for node in cluster.nodes if key in node.call("CLUSTER", "GETKEYSINSLOT", slot, 1000)]


def owner(cluster: RedisClusterServers, slot: int) -> RedisServer:
    for start, end, master, *_ in cluster.nodes[0].call("CLUSTER", "SLOTS"):
        if start <= slot <= end:
            return next(node for node in cluster.nodes if node.port == int(master[1]))
    raise AssertionError(f"no master serves slot {slot}")


def fresh_user(cluster: RedisClusterServers) -> tuple[str, int, RedisServer]:
    """A user whose slot holds no key yet (a slot can only be moved empty), its slot and master."""
    while True:
        user = secrets.token_hex(16)
        slot = key_slot(user_key(user).encode())
        master = owner(cluster, slot)
        if master.call("CLUSTER", "COUNTKEYSINSLOT", slot) == 0:
            return user, slot, master


def assign(cluster: RedisClusterServers, slot: int, to: RedisServer) -> None:
    """Reshard an empty slot: every node is told its new master at once."""
    target = to.call("CLUSTER", "MYID")
    for node in cluster.nodes:
        node.call("CLUSTER", "SETSLOT", slot, "NODE", target)


@pytest.fixture
def moving(redis_cluster: RedisClusterServers) -> Iterator[list[tuple[int, RedisServer]]]:
    """Slots a test moves, put back (emptied) on their first master afterwards."""
    moved: list[tuple[int, RedisServer]] = []
    yield moved
    for slot, home in moved:
        for node in redis_cluster.nodes:
            node.call("CLUSTER", "SETSLOT", slot, "STABLE")
        for node in redis_cluster.nodes:  # a node may only delete keys of a slot it serves
            keys = node.call("CLUSTER", "GETKEYSINSLOT", slot, 1000)
            if keys:
                assign(redis_cluster, slot, node)
                node.call("DEL", *keys)
        assign(redis_cluster, slot, home)


async def test_each_call_lands_on_the_master_of_its_slot(
    store: CounterStore, redis_cluster: RedisClusterServers
) -> None:
    users = [secrets.token_hex(16) for _ in range(30)]
    for user in users:
        assert await heartbeat(store, user, T + 60) == 0
        assert await heartbeat(store, user, T + 90) == 30
    ports = set()
    for user in users:
        key = user_key(user)
        expected = owner(redis_cluster, key_slot(key.encode())).port
        assert holders(redis_cluster, key) == [expected]
        ports.add(expected)
    assert len(ports) == 3  # thirty users spread over every master


async def test_a_resharded_slot_is_followed_by_its_moved_answer(
    store: CounterStore, redis_cluster: RedisClusterServers, moving: list[tuple[int, RedisServer]]
) -> None:
    assert await heartbeat(store, secrets.token_hex(16), T) == 0  # the client has its slot map now
    user, slot, home = fresh_user(redis_cluster)
    elsewhere = next(node for node in redis_cluster.nodes if node is not home)
    moving.append((slot, home))
    assign(redis_cluster, slot, elsewhere)
    assert await heartbeat(store, user, T + 60) == 0  # sent to the old master, MOVED, sent again
    assert await heartbeat(store, user, T + 100) == 40
    assert holders(redis_cluster, user_key(user)) == [elsewhere.port]


async def test_a_migrating_slot_is_followed_by_its_ask_answer(
    store: CounterStore, redis_cluster: RedisClusterServers, moving: list[tuple[int, RedisServer]]
) -> None:
    assert await heartbeat(store, secrets.token_hex(16), T) == 0
    user, slot, home = fresh_user(redis_cluster)
    target = next(node for node in redis_cluster.nodes if node is not home)
    moving.append((slot, home))
    target.call("CLUSTER", "SETSLOT", slot, "IMPORTING", home.call("CLUSTER", "MYID"))
    home.call("CLUSTER", "SETSLOT", slot, "MIGRATING", target.call("CLUSTER", "MYID"))
    # the key is not on the old master: it answers ASK, and the target takes the call after ASKING
    assert await heartbeat(store, user, T + 60) == 0
    assert await heartbeat(store, user, T + 100) == 40
    assert holders(redis_cluster, user_key(user)) == [target.port]


async def test_a_dead_startup_node_is_skipped(redis_cluster: RedisClusterServers) -> None:
    nodes = ",".join(f"{HOST}:{port}" for port in [free_port(), *(n.port for n in redis_cluster.nodes)])
    opened = open_store(f"redis+cluster://{nodes}", timeout=0.5)
    try:
        assert await heartbeat(opened, secrets.token_hex(16), T) == 0
        await opened.ping()
    finally:
        await opened.close()


async def test_a_silent_startup_node_delays_the_first_map_but_does_not_sink_it(
    redis_cluster: RedisClusterServers,
) -> None:
    """A node that accepts and never answers comes first in the seed list: the map fetch gives it its
    own time (connect + stall timeout) and moves on; a call that gave up meanwhile does not stop it."""
    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(silent, HOST, 0)
    port = server.sockets[0].getsockname()[1]
    nodes = ",".join(f"{HOST}:{p}" for p in [port, *(n.port for n in redis_cluster.nodes)])
    url = f"redis+cluster://{nodes}"
    patient = open_store(url, timeout=2.0, socket_timeout=0.2, socket_connect_timeout=0.2)
    hasty = open_store(url, timeout=0.05, socket_timeout=0.2, socket_connect_timeout=0.2)
    try:
        assert await heartbeat(patient, secrets.token_hex(16), T) == 0
        with pytest.raises(StoreError) as early:
            await heartbeat(hasty, secrets.token_hex(16), T)  # its fetch waits on the silent node
        assert early.value.kind is StoreErrorKind.TIMEOUT
        await asyncio.sleep(0.5)  # the fetch went on without the caller, and found the map
        assert await heartbeat(hasty, secrets.token_hex(16), T) == 0
    finally:
        for store in (patient, hasty):
            await store.close()
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


def test_a_master_without_a_host_in_the_slot_map_is_the_node_asked() -> None:
    """CLUSTER SLOTS may give a master's endpoint as NULL, "" or "?" (cluster-preferred-endpoint-type):
    each means the host of the node that answered."""
    cluster = LeanCluster([("seed", 7000)])
    reply = [[0, 99, [None, 7001, b"a"]], [100, 199, [b"", 7002, b"b"]], [200, 16383, [b"?", 7003, b"c"]]]
    cluster._apply(("10.0.0.9", 7000), reply)
    assert [(n.host, n.port) for n in (cluster._slots[0], cluster._slots[150], cluster._slots[16383])] == [
        ("10.0.0.9", 7001),
        ("10.0.0.9", 7002),
        ("10.0.0.9", 7003),
    ]
