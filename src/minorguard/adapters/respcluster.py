"""A lean asyncio client for Redis Cluster: one `resp.LeanRedis` per master, a slot map, and the
redirections. What redis+cluster:// URLs get (redis-py's RedisCluster spends ~3x its CPU per call).

Every store script touches one hash-tagged key, so a call goes to the master of that key's slot:

- The slot map comes from CLUSTER SLOTS, asked of the known nodes in turn (the first to answer), before
  the first call; concurrent callers share one fetch.
- MOVED (the slot has a new master, after a failover or a reshard): the slot is pointed at the new
  master at once and the call is sent there; the whole map is fetched again before the next call.
- ASK (the slot is being migrated and the key is not on the old master any more): the call is sent to
  the new master once, after ASKING on the same connection; the map is left as it is.
- A master that cannot be reached: the call fails (the store's failure policy decides) and the map is
  fetched again before the next call, so a promoted replica is found.
- At most `_MAX_REDIRECTS` redirections per call, as redis-py.

Nothing connects before the first call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Final

from redis import exceptions as rx
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from minorguard.adapters.resp import LeanRedis, deadline_after
from minorguard.adapters.respwire import Arg

__all__ = ["LeanCluster"]

_MAX_REDIRECTS: Final = 5
Address = tuple[str, int]


class LeanCluster:
    """Redis Cluster over `LeanRedis` clients, one per master (each with `connections` connections).
    `username`, `password`, `client_name` and the timeouts are those of `LeanRedis`."""

    def __init__(
        self,
        startup: Sequence[Address],
        *,
        username: str | None = None,
        password: str | None = None,
        client_name: str | None = None,
        connections: int = 1,
        connect_timeout: float = 1.0,
        stall_timeout: float = 1.0,
    ) -> None:
        if not startup:
            raise ValueError("a cluster needs at least one startup node")
        self._startup = list(startup)
        self._options: dict[str, Any] = {
            "username": username,
            "password": password,
            "client_name": client_name,
            "connections": connections,
            "connect_timeout": connect_timeout,
            "stall_timeout": stall_timeout,
        }
        self._nodes: dict[Address, LeanRedis] = {}
        self._slots: list[LeanRedis | None] = [None] * REDIS_CLUSTER_HASH_SLOTS
        self._stale = True  # fetch the map before the next call
        self._fetching: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<LeanCluster {len(self._nodes)} nodes>"

    async def run_script(
        self, sha: str, script: str, keys: Sequence[Arg], args: Sequence[Arg], *, timeout: float | None = None
    ) -> Any:
        """EVALSHA on the master of the first key's slot (EVAL once if it lacks the script)."""
        return await self._routed(keys, args, deadline_after(timeout), sha, script)

    async def evalsha(self, sha: str, numkeys: int, *keys_and_args: Arg, timeout: float | None = None) -> Any:
        keys, args = keys_and_args[:numkeys], keys_and_args[numkeys:]
        return await self._routed(keys, args, deadline_after(timeout), sha, None)

    async def eval(self, script: str, numkeys: int, *keys_and_args: Arg, timeout: float | None = None) -> Any:
        keys, args = keys_and_args[:numkeys], keys_and_args[numkeys:]
        return await self._routed(keys, args, deadline_after(timeout), None, script)

    async def ping(self, *, timeout: float | None = None) -> bool:
        """PING every master of the map (fetched first if need be): the cluster is ready when all are."""
        deadline = deadline_after(timeout)
        await self._fresh_map(deadline)
        masters = {id(node): node for node in self._slots if node is not None}.values()
        replies = await asyncio.gather(*(node.execute_until(("PING",), deadline) for node in masters))
        return all(reply == b"PONG" for reply in replies)

    async def initialize(self) -> LeanCluster:
        """For `RedisCounterStore`: fetch the slot map."""
        await self._fresh_map(deadline_after(None))
        return self

    async def aclose(self) -> None:
        if self._fetching is not None:
            self._fetching.cancel()
        nodes, self._nodes = list(self._nodes.values()), {}
        self._slots = [None] * REDIS_CLUSTER_HASH_SLOTS
        self._stale = True
        for node in nodes:
            await node.aclose()

    async def _routed(
        self, keys: Sequence[Arg], args: Sequence[Arg], deadline: float, sha: str | None, script: str | None
    ) -> Any:
        if not keys:
            raise rx.RedisClusterException("a cluster call needs a key to route by")
        key = keys[0]
        slot = key_slot(key if isinstance(key, bytes) else str(key).encode())
        asking: LeanRedis | None = None
        for _ in range(_MAX_REDIRECTS):
            if self._stale:
                await self._fresh_map(deadline)
            node = asking or self._slots[slot]
            if node is None:
                self._stale = True
                raise rx.ClusterDownError(f"no master serves slot {slot}")
            try:
                return await node.script_until(sha, script, keys, args, deadline, asking=asking is not None)
            except rx.MovedError as moved:  # before AskError: MovedError is one
                self._slots[slot] = self._node(moved.host, moved.port)
                self._stale = True
                asking = None
            except rx.AskError as ask:
                asking = self._node(ask.host, ask.port)
            except rx.ConnectionError:
                self._stale = True  # the master may have failed over: ask the cluster again
                raise
        raise rx.ClusterError(f"more than {_MAX_REDIRECTS} redirections for slot {slot}")

    def _node(self, host: str, port: int) -> LeanRedis:
        node = self._nodes.get((host, port))
        if node is None:
            node = self._nodes[(host, port)] = LeanRedis(host, port, **self._options)
        return node

    async def _fresh_map(self, deadline: float) -> None:
        """Fetch the slot map, sharing one fetch among concurrent callers. Shielded: a caller that
        times out does not cancel the fetch the others wait for."""
        loop = asyncio.get_running_loop()
        task = self._fetching
        if task is None or task.done() or task.get_loop() is not loop:
            task = self._fetching = loop.create_task(self._fetch(deadline))
        async with asyncio.timeout_at(None if deadline == float("inf") else deadline):
            await asyncio.shield(task)

    async def _fetch(self, deadline: float) -> None:
        """CLUSTER SLOTS from the known nodes (masters of the current map first, then the startup
        nodes), the first that answers. Every failure raised is the last node's."""
        known = list(dict.fromkeys([*self._nodes, *self._startup]))
        error: Exception = rx.ConnectionError("no cluster node to ask")
        for address in known:
            try:
                reply = await self._node(*address).execute_until(("CLUSTER", "SLOTS"), deadline)
            except (rx.ConnectionError, rx.TimeoutError, rx.ResponseError, TimeoutError) as exc:
                error = exc
                continue
            self._apply(address, reply)
            return
        raise error

    def _apply(self, asked: Address, reply: list[Any]) -> None:
        """Point every slot at its master: [[start, end, [host, port, id, ...], replicas...], ...]."""
        slots: list[LeanRedis | None] = [None] * REDIS_CLUSTER_HASH_SLOTS
        for start, end, master, *_ in reply:
            host = master[0].decode() if isinstance(master[0], bytes) else str(master[0])
            if host in ("", "?"):  # "the host you asked" (cluster-preferred-endpoint-type)
                host = asked[0]
            node = self._node(host, int(master[1]))
            slots[int(start) : int(end) + 1] = [node] * (int(end) - int(start) + 1)
        self._slots = slots
        self._stale = False
