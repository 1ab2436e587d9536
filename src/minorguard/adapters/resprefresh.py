"""`SharedRefresh`: one background refresh that concurrent callers share, for the lean clients that
must learn where to send calls (the Cluster client's slot map, the Sentinel client's master).

- `start()` returns the refresh under way, or starts one. At most one runs per `every` seconds
  (while a server is down every call fails and asks for a refresh): one asked for sooner after the
  last ended waits out the rest of that time, so the request is never dropped (a failure seen just
  after a refresh must still be followed by one), unless the caller wants a `fresh` one at once.
- The refresh runs on its own: callers `join` it within their own deadlines, shielded, so one that
  gives up does not cancel it for the others; each gets its own copy of its error (one exception
  raised in many tasks grows its traceback); `cancel()` (the client closing) gives them a
  ConnectionError.
- A refresh nobody waited for does not log "exception never retrieved".
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import Awaitable, Callable

from redis import exceptions as rx

from minorguard.adapters.respwire import NEVER


class SharedRefresh:
    def __init__(self, refresh: Callable[[], Awaitable[None]], *, every: float, what: str) -> None:
        self._refresh = refresh
        self._every = every
        self._what = what  # for the error its waiters get when the client closes
        self._task: asyncio.Task[None] | None = None
        self._ended_at = -NEVER  # on the task's loop's clock

    def start(self, *, fresh: bool = False) -> asyncio.Task[None]:
        loop = asyncio.get_running_loop()
        task = self._task
        delay = 0.0
        if task is not None and task.get_loop() is loop:
            if not task.done():
                return task
            if not fresh:
                delay = self._ended_at + self._every - loop.time()
        task = self._task = loop.create_task(self._run(delay))
        task.add_done_callback(self._ended)
        return task

    async def _run(self, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        await self._refresh()

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._ended_at = task.get_loop().time()
        if not task.cancelled():
            task.exception()  # retrieved: its failure shows in the waiters' own errors

    async def join(self, task: asyncio.Task[None], deadline: float) -> None:
        """Wait for `task` until `deadline` (on the loop's clock; TimeoutError then)."""
        try:
            async with asyncio.timeout_at(None if deadline == NEVER else deadline):
                await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and current is not None and not current.cancelling():
                raise rx.ConnectionError(f"the client was closed while {self._what}") from None
            raise  # this caller was cancelled (or timed out: asyncio.timeout_at says so)
        except Exception as exc:
            raise copy.copy(exc) from None

    def cancel(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            with contextlib.suppress(RuntimeError):  # its event loop is closed already
                task.cancel()
