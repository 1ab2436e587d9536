"""Client-side rate limits of the NPPA interfaces, per game (bizId) and interface.

NPPA allows 100 check, 300 query and 10 loginout requests per second per game, and throttles a game that
goes over for one minute (errcode 1006). So the limit here is strict: at most N requests start in ANY
window of `window` seconds (a sliding log of the last N start times, i.e. a token bucket of N tokens whose
tokens come back one by one exactly `window` seconds after they were spent). A plain token bucket with a
burst of N would let through up to 2N in some one-second windows. `window` defaults to 1.1 s: the margin
absorbs network jitter between our clock and the instant NPPA counts a request.

After a 1006 the key is blocked for 60 s: requests fail at once instead of hammering NPPA.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

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


class RateLimiter:
    """Sliding-window limits keyed by (bizId, interface). Share one between clients of the same game."""

    def __init__(
        self,
        limits: RateLimits | None = None,
        *,
        window: float = 1.1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limits = limits or RateLimits()
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._starts: dict[tuple[str, str], deque[float]] = {}
        self._blocked_until: dict[tuple[str, str], float] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def acquire(self, biz_id: str, interface: str, *, max_wait: float = 5.0) -> None:
        """Wait for a free slot (FIFO per key). Throttled when blocked after a 1006 or when the wait
        would exceed `max_wait` seconds."""
        key = (biz_id, interface)
        limit = self.limits.for_interface(interface)
        lock = self._locks.setdefault(key, asyncio.Lock())
        deadline = self._clock() + max_wait
        async with lock:
            starts = self._starts.setdefault(key, deque(maxlen=limit))
            while True:
                now = self._clock()
                remaining = self.blocked_for(biz_id, interface)
                if remaining > 0:
                    raise Throttled(remaining, by_nppa=True)
                if len(starts) < limit or now - starts[0] >= self.window:
                    starts.append(now)
                    return
                wait = starts[0] + self.window - now
                if now + wait > deadline:
                    raise Throttled(wait, by_nppa=False)
                await self._sleep(wait)

    def block(self, biz_id: str, interface: str, seconds: float = THROTTLE_SECONDS) -> None:
        """NPPA answered 1006: no request for this key during `seconds`."""
        self._blocked_until[(biz_id, interface)] = self._clock() + seconds

    def blocked_for(self, biz_id: str, interface: str) -> float:
        return max(0.0, self._blocked_until.get((biz_id, interface), 0.0) - self._clock())
