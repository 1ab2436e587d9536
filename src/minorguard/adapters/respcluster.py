"""A lean asyncio client for Redis Cluster: one `resp.LeanRedis` per master, a slot map, and the
redirections. What redis+cluster:// URLs get (redis-py's RedisCluster spends ~3x its CPU per call).

Every store script touches one hash-tagged key, so a call goes to the master of that key's slot:

- The slot map comes from CLUSTER SLOTS, asked of the nodes in turn until one answers: the masters of
  the map at hand, then the startup nodes, then nodes that failed lately. Each node gets its own time
  (connect + stall timeout), not a caller's deadline, so a dead node first in line delays a fetch but
  does not sink it. The first calls wait for the first map (within their own deadlines); concurrent
  callers share one fetch.
- MOVED (the slot has a new master, after a failover or a reshard): the slot is pointed at the new
  master and the call is sent there at once; the whole map is fetched again in the background.
- ASK (the slot is being migrated and the key is not on the old master any more): the call is sent to
  the new master once, after ASKING on the same connection; the map is left as it is.
- A master that cannot be reached or does not answer in time, or CLUSTERDOWN (the cluster lost a
  master and has not promoted its replica yet): the call fails (the store's failure policy decides)
  and a fetch of the map starts at once, in the background, so a promoted replica is found.
- TRYAGAIN (multi-key commands on a slot mid-migration; the store's single-key scripts never get it):
  sent again after `_TRYAGAIN_PAUSE` while the call's deadline allows; else it fails as CLUSTERDOWN
  does.
- At most `_MAX_REDIRECTS` redirections per call, as redis-py.
- The nodes a new map no longer names (a failed master, a node removed) are retired: their
  connections close once their last replies are read, so nodes come and go without connections
  piling up (`open_connections` counts them).

Nothing connects before the first call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Final

from redis import exceptions as rx
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from minorguard.adapters.resp import DEFAULT_OPTIONS, LeanRedis, ServerOptions, deadline_after
from minorguard.adapters.resprefresh import SharedRefresh
from minorguard.adapters.respwire import NEVER, Arg

__all__ = ["LeanCluster"]

_MAX_REDIRECTS: Final = 5
_REFETCH_AFTER: Final = 0.1  # seconds between map fetches a failing master triggers (not a fetch a call)
_TRYAGAIN_PAUSE: Final = 0.005  # seconds: a migrating slot's keys move in a few ms
Address = tuple[str, int]


class LeanCluster:
    """Redis Cluster over `LeanRedis` clients, one per master, each connected as `options` say."""

    def __init__(self, startup: Sequence[Address], options: ServerOptions = DEFAULT_OPTIONS) -> None:
        if not startup:
            raise ValueError("a cluster needs at least one startup node")
        self._startup = list(startup)
        self._options = options
        self._nodes: dict[Address, LeanRedis] = {}
        self._slots: list[LeanRedis | None] = [None] * REDIS_CLUSTER_HASH_SLOTS
        self._mapped = False  # a map was fetched (calls route by it while a newer one is fetched)
        self._stale = True  # fetch the map again
        self._failed: set[Address] = set()  # nodes that failed a call or a fetch since the last map
        self._retired: list[LeanRedis] = []  # nodes out of the map, closing as their calls end
        self._fetching = SharedRefresh(self._fetch, every=_REFETCH_AFTER, what="fetching the slot map")

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
        """PING every master of a freshly fetched map: the cluster is ready when all answer."""
        deadline = deadline_after(timeout)
        await self._fetching.join(self._fetching.start(fresh=True), deadline)
        masters = {id(node): node for node in self._slots if node is not None}.values()
        replies = await asyncio.gather(*(node.execute_until(("PING",), deadline) for node in masters))
        return all(reply == b"PONG" for reply in replies)

    async def initialize(self) -> LeanCluster:
        """For `RedisCounterStore`: fetch the slot map."""
        await self._fetching.join(self._fetching.start(fresh=True), NEVER)
        return self

    async def aclose(self) -> None:
        """Close every connection; a fetch under way stops (its waiters get a ConnectionError)."""
        self._fetching.cancel()
        nodes, self._nodes = [*self._nodes.values(), *self._retired], {}
        self._retired = []
        self._slots = [None] * REDIS_CLUSTER_HASH_SLOTS
        self._mapped, self._stale = False, True
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
        for _ in range(_MAX_REDIRECTS + 1):
            if self._stale:
                task = self._fetching.start()
                if not self._mapped:  # nothing to route by yet
                    await self._fetching.join(task, deadline)
            node = asking or self._slots[slot]
            if node is None:
                self._refetch()
                raise rx.ClusterDownError(f"no master serves slot {slot}")
            try:
                return await node.script_until(sha, script, keys, args, deadline, asking=asking is not None)
            except rx.MovedError as moved:  # before AskError: MovedError is one
                # an empty host means "the host you asked"
                self._slots[slot] = self._node(moved.host or node.host, moved.port)
                self._stale = True
                asking = None
            except rx.AskError as ask:
                asking = self._node(ask.host or node.host, ask.port)
            except rx.TryAgainError:
                if asyncio.get_running_loop().time() + _TRYAGAIN_PAUSE >= deadline:
                    self._refetch()
                    raise
                await asyncio.sleep(_TRYAGAIN_PAUSE)
            except rx.ClusterDownError:
                self._refetch()  # a failover under way: the next map names the promoted replica
                raise
            except (rx.ConnectionError, rx.TimeoutError, TimeoutError):
                # a dead or silent master may have failed over: ask the cluster again
                self._failed.add((node.host, node.port))
                self._refetch()
                raise
        raise rx.ClusterError(f"more than {_MAX_REDIRECTS} redirections for slot {slot}")

    def _refetch(self) -> None:
        """Fetch the map again, starting now: the next call should not go where this one failed."""
        self._stale = True
        self._fetching.start()

    def open_connections(self) -> int:
        """Connections open now, to every node this client knows or retired lately."""
        self._retired = [node for node in self._retired if node.open_connections()]
        return sum(node.open_connections() for node in [*self._nodes.values(), *self._retired])

    def _node(self, host: str, port: int) -> LeanRedis:
        node = self._nodes.get((host, port))
        if node is None:
            node = self._nodes[(host, port)] = self._options.client(host, port)
        return node

    async def _fetch(self) -> None:
        """CLUSTER SLOTS from the first node that answers: the masters of the map at hand, then the
        startup nodes, then the nodes that failed lately; each within its lookup timeout. The error
        raised when none answers is the last node's."""
        masters = [(node.host, node.port) for node in dict.fromkeys(n for n in self._slots if n is not None)]
        known = list(dict.fromkeys([*masters, *self._startup, *self._nodes]))
        known.sort(key=lambda address: address in self._failed)  # stable: the failed ones last
        loop = asyncio.get_running_loop()
        error: Exception = rx.ConnectionError("no cluster node to ask")
        for address in known:
            try:
                deadline = loop.time() + self._options.lookup_timeout
                reply = await self._node(*address).execute_until(("CLUSTER", "SLOTS"), deadline)
            except (rx.ConnectionError, rx.TimeoutError, rx.ResponseError, TimeoutError) as exc:
                self._failed.add(address)
                error = exc
                continue
            self._apply(address, reply)
            return
        raise error

    def _apply(self, asked: Address, reply: list[Any]) -> None:
        """Point every slot at its master: [[start, end, [host, port, id, ...], replicas...], ...]."""
        slots: list[LeanRedis | None] = [None] * REDIS_CLUSTER_HASH_SLOTS
        for start, end, master, *_ in reply:
            raw = master[0]
            host = raw.decode() if isinstance(raw, bytes) else "" if raw is None else str(raw)
            if host in ("", "?"):  # NULL, empty or "?": the host we asked (cluster-preferred-endpoint-type)
                host = asked[0]
            node = self._node(host, int(master[1]))
            slots[int(start) : int(end) + 1] = [node] * (int(end) - int(start) + 1)
        self._slots = slots
        self._mapped, self._stale = True, False
        self._failed.clear()
        self._prune({id(node) for node in slots if node is not None})

    def _prune(self, serving: set[int]) -> None:
        """Retire the nodes the map does not name (a startup node too: a later fetch dials it
        afresh if it must): the client's connections follow the cluster's masters."""
        for address, node in list(self._nodes.items()):
            if id(node) not in serving:
                del self._nodes[address]
                node.retire()
                self._retired.append(node)
