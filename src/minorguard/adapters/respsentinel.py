"""A lean asyncio client for a Sentinel-managed master: `resp.LeanRedis` to the master the Sentinels
name, found again after a failover. What redis+sentinel:// URLs get (redis-py's Sentinel client spends
several times its CPU per call).

- The master's address comes from `SENTINEL GET-MASTER-ADDR-BY-NAME`, asked of the Sentinels in turn,
  each within its own time (connect + stall timeout); the one that answers is asked first next time
  (as redis-py does), and an answer naming the master that just failed is taken only if no other
  Sentinel names another. The first calls wait for it (within their own deadlines); concurrent callers
  share one question.
- A call that fails for want of the master (connection lost or refused, no answer in time, READONLY
  from a demoted master) marks the address stale: the Sentinels are asked again at once, in the
  background (at most once per `_REASK_AFTER` seconds), and calls go to the new master once they name
  it. During a failover calls fail meanwhile, and the store's failure policy decides. A replaced
  master's client is retired (`LeanRedis.retire`) rather than closed, since calls may still be
  finishing on it: its connections close as soon as their last replies are read.
- While calls succeed the Sentinels are still asked again, in the background, once per
  `_RECHECK_EVERY`: after a manual failover (SENTINEL FAILOVER) the old master goes on taking writes
  for seconds until Sentinel demotes it, and those writes are lost when it resyncs from the new one.
- The Sentinels are asked with their own credentials (`sentinels_options`: Sentinel's `requirepass`,
  or an ACL user there), the master with `options` and `db`; TLS, when on, is used for both.

Nothing connects before the first call.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any, Final

from redis import exceptions as rx

from minorguard.adapters.resp import DEFAULT_OPTIONS, LeanRedis, ServerOptions, deadline_after
from minorguard.adapters.resprefresh import SharedRefresh
from minorguard.adapters.respwire import NEVER, Arg

__all__ = ["LeanSentinel"]

_REASK_AFTER: Final = 0.1  # seconds between questions a failing master triggers
_RECHECK_EVERY: Final = 1.0  # seconds between questions while the master answers
Address = tuple[str, int]


class LeanSentinel:
    """The master of `service`, as the Sentinels at `sentinels` name it, over a `LeanRedis`."""

    def __init__(
        self,
        sentinels: Sequence[Address],
        service: str,
        *,
        db: int = 0,
        options: ServerOptions = DEFAULT_OPTIONS,
        sentinels_options: ServerOptions | None = None,
    ) -> None:
        """`options` and `db` are the master's; `sentinels_options` the Sentinels' (default: the
        master's timeouts and TLS, no credentials)."""
        if not sentinels:
            raise ValueError("give at least one Sentinel")
        self.service = service
        if sentinels_options is None:
            sentinels_options = ServerOptions(
                connect_timeout=options.connect_timeout, stall_timeout=options.stall_timeout, tls=options.tls
            )
        self._sentinels = [sentinels_options.client(host, port) for host, port in sentinels]
        self._options, self._db = options, db
        self._master: LeanRedis | None = None
        self._stale = True
        self._asking = SharedRefresh(self._ask, every=_REASK_AFTER, what="asking the Sentinels")
        self._failed: Address | None = None  # the master whose failure marked the address stale
        self._retired: list[LeanRedis] = []  # replaced masters' clients, closing as their calls end
        self._recheck_at = NEVER  # on the loop's clock: when to ask again, though nothing failed

    def __repr__(self) -> str:
        return f"<LeanSentinel {self.service} master={self._master!r}>"

    async def run_script(
        self, sha: str, script: str, keys: Sequence[Arg], args: Sequence[Arg], *, timeout: float | None = None
    ) -> Any:
        deadline = deadline_after(timeout)
        master = await self._current(deadline)
        return await self._watched(master.script_until(sha, script, keys, args, deadline))

    async def evalsha(self, sha: str, numkeys: int, *keys_and_args: Arg, timeout: float | None = None) -> Any:
        deadline = deadline_after(timeout)
        master = await self._current(deadline)
        keys, args = keys_and_args[:numkeys], keys_and_args[numkeys:]
        return await self._watched(master.script_until(sha, None, keys, args, deadline))

    async def eval(self, script: str, numkeys: int, *keys_and_args: Arg, timeout: float | None = None) -> Any:
        deadline = deadline_after(timeout)
        master = await self._current(deadline)
        keys, args = keys_and_args[:numkeys], keys_and_args[numkeys:]
        return await self._watched(master.script_until(None, script, keys, args, deadline))

    async def ping(self, *, timeout: float | None = None) -> bool:
        """PING the master (found first if need be; a PING that fails makes the Sentinels be asked)."""
        deadline = deadline_after(timeout)
        master = await self._current(deadline)
        reply = await self._watched(master.execute_until(("PING",), deadline))
        return bool(reply == b"PONG")

    async def initialize(self) -> LeanSentinel:
        """For `RedisCounterStore`: find the master, unless it is known."""
        await self._current(NEVER)
        return self

    def open_connections(self) -> int:
        """Connections open now: to the master, to masters replaced but still answering, to Sentinels."""
        self._retired = [client for client in self._retired if client.open_connections()]
        clients = [*self._sentinels, *self._retired, *([self._master] if self._master is not None else [])]
        return sum(client.open_connections() for client in clients)

    async def aclose(self) -> None:
        """Close every connection; a question under way stops (its waiters get a ConnectionError)."""
        self._asking.cancel()
        master, self._master, self._stale = self._master, None, True
        retired, self._retired = self._retired, []
        for client in [*self._sentinels, *retired, *([master] if master is not None else [])]:
            with contextlib.suppress(RuntimeError):  # connections of a closed event loop
                await client.aclose()

    async def _current(self, deadline: float) -> LeanRedis:
        """The master to call: the one known (while a stale one is asked about in the background), or,
        before the first answer, the one the Sentinels name."""
        if self._stale:
            task = self._asking.start()
            if self._master is None:
                await self._asking.join(task, deadline)
        elif (now := asyncio.get_running_loop().time()) >= self._recheck_at:
            self._recheck_at = now + _RECHECK_EVERY
            self._asking.start()
        if self._master is None:
            raise rx.ConnectionError(f"no Sentinel names a master for {self.service!r}")
        return self._master

    async def _watched(self, call: Any) -> Any:
        master = self._master
        try:
            return await call
        except (rx.ConnectionError, rx.TimeoutError, TimeoutError, rx.ReadOnlyError, rx.InvalidResponse):
            self._lost(master)
            raise
        except rx.ResponseError as exc:
            if "READONLY" in str(exc):  # Redis 6 wraps a script's READONLY in "ERR Error running script"
                self._lost(master)
            raise

    def _lost(self, master: LeanRedis | None) -> None:
        """A failover may have moved the master: ask the Sentinels again."""
        self._stale = True
        if master is not None:
            self._failed = (master.host, master.port)
        self._asking.start()  # now: the next call should not go where this one failed

    async def _ask(self) -> None:
        """Ask the Sentinels in turn for the master: the first that names one other than the master
        that just failed wins (and is asked first next time); the failed one is taken only if no
        Sentinel names another."""
        loop = asyncio.get_running_loop()
        error: Exception = rx.ConnectionError(f"no Sentinel names a master for {self.service!r}")
        fallback: Address | None = None
        for sentinel in list(self._sentinels):
            deadline = loop.time() + self._options.lookup_timeout
            try:
                reply = await sentinel.execute_until(
                    ("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service), deadline
                )
                address = None if not reply else (reply[0].decode(), int(reply[1]))
            except (rx.RedisError, TimeoutError, IndexError, ValueError, AttributeError) as exc:
                error = exc  # down, silent, or not speaking RESP as a Sentinel does: ask the next
                continue
            if address is None:  # this Sentinel does not monitor the service (or knows no master yet)
                continue
            if address == self._failed:  # it may not have seen the failover yet
                fallback = fallback or address
                continue
            self._sentinels.remove(sentinel)
            self._sentinels.insert(0, sentinel)
            self._use(address)
            return
        if fallback is not None:
            self._use(fallback)
            return
        raise error

    def _use(self, address: Address) -> None:
        current = self._master
        if current is None or (current.host, current.port) != address:
            self._master = self._options.client(address[0], address[1], self._db)
            if current is not None:
                current.retire()
                self._retired.append(current)
        self._stale, self._failed = False, None
        self._recheck_at = asyncio.get_running_loop().time() + _RECHECK_EVERY
