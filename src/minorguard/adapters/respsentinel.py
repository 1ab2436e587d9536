"""A lean asyncio client for a Sentinel-managed master: `resp.LeanRedis` to the master the Sentinels
name, found again after a failover. What redis+sentinel:// URLs get (redis-py's Sentinel client spends
several times its CPU per call).

- The master's address comes from `SENTINEL GET-MASTER-ADDR-BY-NAME`, asked of the Sentinels in turn
  (the first that names one), each within its own time (connect + stall timeout). The first calls wait
  for it (within their own deadlines); concurrent callers share one question.
- A call that fails for want of the master (connection lost or refused, no answer in time, READONLY
  from a demoted master) marks the address stale: the Sentinels are asked again in the background,
  at most every `_REASK_AFTER` seconds, and calls go to the new master once they name it. During a
  failover calls fail meanwhile, and the store's failure policy decides, as with redis-py.
- The Sentinels are asked without credentials (as redis-py's `Sentinel` without `sentinel_kwargs`);
  `username`, `password` and `db` are the master's.

Nothing connects before the first call.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import Sequence
from typing import Any, Final

from redis import exceptions as rx

from minorguard.adapters.resp import LeanRedis, deadline_after
from minorguard.adapters.respwire import NEVER, Arg

__all__ = ["LeanSentinel"]

_REASK_AFTER: Final = 0.1  # seconds between questions a failing master triggers
Address = tuple[str, int]


class LeanSentinel:
    """The master of `service`, as the Sentinels at `sentinels` name it, over a `LeanRedis`."""

    def __init__(
        self,
        sentinels: Sequence[Address],
        service: str,
        *,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        client_name: str | None = None,
        connections: int = 1,
        connect_timeout: float = 1.0,
        stall_timeout: float = 1.0,
    ) -> None:
        if not sentinels:
            raise ValueError("give at least one Sentinel")
        self.service = service
        self._sentinels = [
            LeanRedis(host, port, connect_timeout=connect_timeout, stall_timeout=stall_timeout)
            for host, port in sentinels
        ]
        self._options: dict[str, Any] = {
            "db": db,
            "username": username,
            "password": password,
            "client_name": client_name,
            "connections": connections,
            "connect_timeout": connect_timeout,
            "stall_timeout": stall_timeout,
        }
        self._ask_timeout = connect_timeout + stall_timeout  # one Sentinel's share of a question
        self._master: LeanRedis | None = None
        self._stale = True
        self._asking: asyncio.Task[None] | None = None
        self._asked_at = -NEVER
        self._closing: set[asyncio.Task[None]] = set()  # old masters' clients, closed in the background

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
        """PING the master the Sentinels name now (asked again for this)."""
        deadline = deadline_after(timeout)
        await self._join(self._start_asking(fresh=True), deadline)
        assert self._master is not None  # set by a question that succeeded
        reply = await self._watched(self._master.execute_until(("PING",), deadline))
        return bool(reply == b"PONG")

    async def initialize(self) -> LeanSentinel:
        """For `RedisCounterStore`: find the master."""
        await self._join(self._start_asking(fresh=True), NEVER)
        return self

    async def aclose(self) -> None:
        """Close every connection; a question under way stops (its waiters get a ConnectionError)."""
        task, self._asking = self._asking, None
        if task is not None and not task.done():
            with contextlib.suppress(RuntimeError):  # its event loop is closed already
                task.cancel()
        master, self._master, self._stale = self._master, None, True
        for client in [*self._sentinels, *([master] if master is not None else [])]:
            await client.aclose()

    async def _current(self, deadline: float) -> LeanRedis:
        """The master to call: the one known (while a stale one is asked about in the background), or,
        before the first answer, the one the Sentinels name."""
        if self._stale:
            task = self._start_asking()
            if self._master is None:
                await self._join(task, deadline)
        if self._master is None:
            raise rx.ConnectionError(f"no Sentinel names a master for {self.service!r}")
        return self._master

    async def _watched(self, call: Any) -> Any:
        try:
            return await call
        except (rx.ConnectionError, rx.TimeoutError, TimeoutError, rx.ReadOnlyError):
            self._stale = True  # a failover may have moved the master: ask the Sentinels again
            raise

    def _start_asking(self, *, fresh: bool = False) -> asyncio.Task[None]:
        """The question under way, or a new one; one that ended less than `_REASK_AFTER` ago stands
        (while the master is down, every call fails and asks), unless the caller wants a `fresh` one."""
        loop = asyncio.get_running_loop()
        task = self._asking
        if task is not None and task.get_loop() is loop:
            if not task.done():
                return task
            if not fresh and loop.time() < self._asked_at + _REASK_AFTER:
                return task
        self._asked_at = loop.time()
        task = self._asking = loop.create_task(self._ask())
        task.add_done_callback(_retrieved)
        return task

    async def _join(self, task: asyncio.Task[None], deadline: float) -> None:
        """Wait for a question until `deadline`; shielded, so a caller that gives up does not cancel
        the question others wait for. Each caller gets its own copy of its error."""
        try:
            async with asyncio.timeout_at(None if deadline == NEVER else deadline):
                await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and current is not None and not current.cancelling():
                raise rx.ConnectionError("the client was closed while asking the Sentinels") from None
            raise
        except Exception as exc:
            raise copy.copy(exc) from None

    async def _ask(self) -> None:
        loop = asyncio.get_running_loop()
        error: Exception = rx.ConnectionError(f"no Sentinel names a master for {self.service!r}")
        for sentinel in self._sentinels:
            deadline = loop.time() + self._ask_timeout
            try:
                reply = await sentinel.execute_until(
                    ("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service), deadline
                )
            except (rx.ConnectionError, rx.TimeoutError, rx.ResponseError, TimeoutError) as exc:
                error = exc
                continue
            if not reply:  # this Sentinel does not monitor the service (or knows no master yet)
                continue
            self._use((reply[0].decode(), int(reply[1])))
            return
        raise error

    def _use(self, address: Address) -> None:
        current = self._master
        if current is None or (current.host, current.port) != address:
            self._master = LeanRedis(address[0], address[1], **self._options)
            if current is not None:  # calls still on the old master fail as they would anyway
                closing = asyncio.get_running_loop().create_task(current.aclose())
                self._closing.add(closing)  # a task nothing holds may be collected before it runs
                closing.add_done_callback(self._closing.discard)
                closing.add_done_callback(_retrieved)
        self._stale = False


def _retrieved(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()
