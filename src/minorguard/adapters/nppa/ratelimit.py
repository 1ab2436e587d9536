"""Client-side rate limits of the NPPA interfaces, per game (bizId) and interface.

NPPA allows 100 check, 300 query and 10 loginout requests per second per game, and throttles a game that
goes over for one minute (errcode 1006). NPPA counts a request when it arrives, somewhere between the
moment we send it and the moment its answer is back; on a loaded machine or network that can be far
from either end. So a request holds one of the N slots of its key from before it is sent until `window`
seconds after its attempt ended (answer, error or timeout). Then no `window`-long stretch of NPPA's
clock can see more than N arrivals, whatever the latency: if N + 1 arrivals a_i fell in [t, t + window),
at the latest send s = max s_i (s < t + window, since s_i <= a_i) every one of them still held its slot,
because each ended at e_i >= a_i >= t, so e_i + window > s. That is N + 1 slots held at once, which the
limiter never allows. A fixed-second counter at NPPA is a special case of such a stretch. The one case
outside it: a request that reaches NPPA after we gave up on it (bytes still in flight past the 5 s
timeout, or a caller that cancelled) arrives after its attempt "ended"; the 50 ms margin is all it has.

`window` defaults to 1.05 s: the margin covers a difference in clock rate or NPPA rounding arrival times.
After a 1006 the key is blocked for 60 s: requests fail at once instead of hammering NPPA.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

THROTTLE_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Requests per second per game, as NPPA grants them (raise them when NPPA grants more)."""

    check: int = 100
    query: int = 300
    loginout: int = 10

    def for_interface(self, interface: str) -> int:
        return int(getattr(self, interface))


class Throttled(Exception):
    """No request was sent: the key is inside NPPA's 1-minute throttle (`by_nppa`), or the local limit
    would make the caller wait longer than it allowed. `retry_after` is in seconds."""

    def __init__(self, retry_after: float, *, by_nppa: bool) -> None:
        self.retry_after = retry_after
        self.by_nppa = by_nppa
        why = "NPPA throttles this game after a 1006" if by_nppa else "the client-side rate limit is reached"
        super().__init__(f"{why}: retry in {retry_after:.1f} s")


@dataclass(slots=True)
class _Key:
    """One (bizId, interface): when each held slot frees (inf while its request is in flight). The lock
    and event belong to one event loop; a limiter used from another (a second asyncio.run) gets new ones."""

    limit: int
    frees_at: list[float] = field(default_factory=list)
    loop: asyncio.AbstractEventLoop | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def on(self, loop: asyncio.AbstractEventLoop) -> _Key:
        if self.loop is not loop:
            self.loop, self.lock, self.released = loop, asyncio.Lock(), asyncio.Event()
        return self


class RateLimiter:
    """Sliding-window limits keyed by (bizId, interface). Share one between clients of the same game."""

    def __init__(
        self,
        limits: RateLimits | None = None,
        *,
        window: float = 1.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits or RateLimits()
        self.window = window
        self._clock = clock
        self._keys: dict[tuple[str, str], _Key] = {}
        self._blocked_until: dict[tuple[str, str], float] = {}

    @asynccontextmanager
    async def slot(self, biz_id: str, interface: str, *, max_wait: float = 5.0) -> AsyncIterator[None]:
        """Hold a slot while the body sends one request and for `window` seconds after it ends.

        Waits for a free slot (FIFO per key); Throttled when blocked after a 1006 or when the wait would
        exceed `max_wait` seconds."""
        key = self._key(biz_id, interface)
        index = await self._acquire(key, biz_id, interface, max_wait)
        try:
            yield
        finally:
            key.frees_at[index] = self._clock() + self.window
            key.released.set()

    def _key(self, biz_id: str, interface: str) -> _Key:
        name = (biz_id, interface)
        if name not in self._keys:
            self._keys[name] = _Key(self.limits.for_interface(interface))
        return self._keys[name].on(asyncio.get_running_loop())

    async def _acquire(self, key: _Key, biz_id: str, interface: str, max_wait: float) -> int:
        deadline = self._clock() + max_wait
        try:  # queued behind other callers: within this caller's own max_wait too (a free lock is
            # taken without suspending, so even max_wait=0 gets it)
            async with asyncio.timeout(max(0.0, max_wait)):
                await key.lock.acquire()
        except TimeoutError:
            raise Throttled(self.window, by_nppa=False) from None
        try:
            while True:
                now = self._clock()
                remaining = self.blocked_for(biz_id, interface)
                if remaining > 0:
                    raise Throttled(remaining, by_nppa=True)
                if len(key.frees_at) < key.limit:
                    key.frees_at.append(math.inf)
                    return len(key.frees_at) - 1
                first = min(key.frees_at)
                if first <= now:
                    index = key.frees_at.index(first)
                    key.frees_at[index] = math.inf
                    return index
                # No slot frees before `first`: a request in flight that ends now frees one only later.
                if first > deadline and first < math.inf:
                    raise Throttled(first - now, by_nppa=False)
                if deadline <= now:
                    raise Throttled(self.window, by_nppa=False)
                key.released.clear()
                # A slot frees at `first`, or `window` after a request in flight ends.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(key.released.wait(), min(first, deadline) - now)
        finally:
            key.lock.release()

    def block(self, biz_id: str, interface: str, seconds: float = THROTTLE_SECONDS) -> None:
        """NPPA answered 1006: no request for this key during `seconds`."""
        self._blocked_until[(biz_id, interface)] = self._clock() + seconds

    def blocked_for(self, biz_id: str, interface: str) -> float:
        return max(0.0, self._blocked_until.get((biz_id, interface), 0.0) - self._clock())
