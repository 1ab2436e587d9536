"""The client-side NPPA rate limit: however long requests take to reach NPPA, no window of NPPA's clock
sees more than the limit, a failed request still holds its slot for the window, and a caller waits no
longer than it allowed. Windows are shortened (0.2 s) so the real-time tests stay fast."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from minorguard.adapters.nppa import RateLimiter, RateLimits
from minorguard.adapters.nppa.ratelimit import Throttled

WINDOW = 0.2
LIMIT = 3


def _busiest(arrivals: list[float]) -> int:
    return max(sum(1 for t in arrivals if start <= t < start + WINDOW) for start in arrivals)


async def _request(limiter: RateLimiter, arrivals: list[float], before: float, after: float) -> None:
    """A request that reaches the server `before` seconds after it was sent, answered `after` later."""
    async with limiter.slot("biz", "loginout", max_wait=30):
        await asyncio.sleep(before)
        arrivals.append(time.monotonic())
        await asyncio.sleep(after)


async def _hold(limiter: RateLimiter, release: asyncio.Event) -> asyncio.Task[None]:
    """A request in flight on the key's slot until `release` is set."""

    async def in_flight() -> None:
        async with limiter.slot("biz", "loginout"):
            await release.wait()

    task = asyncio.create_task(in_flight())
    await asyncio.sleep(0.01)
    return task


async def test_late_arrivals_never_crowd_a_window() -> None:
    """The first requests reach the server late (just before the window would end), the next at once.
    Counted from the send alone, both groups would land in one window at the server."""
    limiter = RateLimiter(RateLimits(loginout=LIMIT), window=WINDOW)
    arrivals: list[float] = []
    late = [_request(limiter, arrivals, WINDOW * 0.9, 0.0) for _ in range(LIMIT)]
    prompt = [_request(limiter, arrivals, 0.0, 0.0) for _ in range(LIMIT)]
    await asyncio.gather(*late, *prompt)
    assert len(arrivals) == 2 * LIMIT
    assert _busiest(arrivals) <= LIMIT


@pytest.mark.parametrize("seed", range(3))
async def test_random_latencies_never_crowd_a_window(seed: int) -> None:
    rng = random.Random(seed)
    limiter = RateLimiter(RateLimits(loginout=LIMIT), window=WINDOW)
    arrivals: list[float] = []
    calls = [_request(limiter, arrivals, rng.uniform(0, 0.15), rng.uniform(0, 0.1)) for _ in range(12)]
    await asyncio.gather(*calls)
    assert len(arrivals) == 12
    assert _busiest(arrivals) <= LIMIT


async def test_a_failed_request_holds_its_slot_for_the_window() -> None:
    limiter = RateLimiter(RateLimits(loginout=1), window=WINDOW)
    with pytest.raises(ConnectionError):
        async with limiter.slot("biz", "loginout"):
            raise ConnectionError
    ended = time.monotonic()
    async with limiter.slot("biz", "loginout"):
        assert time.monotonic() - ended >= WINDOW * 0.95


async def test_waiting_longer_than_allowed_is_throttled_without_sending() -> None:
    limiter = RateLimiter(RateLimits(loginout=1), window=WINDOW)
    release = asyncio.Event()
    task = await _hold(limiter, release)
    started = time.monotonic()
    with pytest.raises(Throttled) as raised:
        async with limiter.slot("biz", "loginout", max_wait=0.1):
            pytest.fail("sent while the only slot was in flight")
    assert 0.09 <= time.monotonic() - started < 1.0
    assert not raised.value.by_nppa
    release.set()
    await task
    async with limiter.slot("biz", "loginout", max_wait=1.0):
        pass  # the slot came back one window after the request ended


async def test_keys_are_separate_and_a_block_refuses_at_once() -> None:
    limiter = RateLimiter(RateLimits(loginout=1, query=1), window=WINDOW)
    async with limiter.slot("biz", "loginout"), limiter.slot("biz", "query"), limiter.slot("other", "query"):
        pass
    limiter.block("biz", "query", seconds=60)
    with pytest.raises(Throttled) as raised:
        async with limiter.slot("biz", "query", max_wait=0):
            pytest.fail("sent while NPPA throttles the game")
    assert raised.value.by_nppa
    assert raised.value.retry_after > 59


async def test_a_wait_that_cannot_end_in_time_is_refused_at_once() -> None:
    limiter = RateLimiter(RateLimits(loginout=1), window=1.0)
    async with limiter.slot("biz", "loginout"):
        pass
    started = time.monotonic()
    with pytest.raises(Throttled) as raised:
        async with limiter.slot("biz", "loginout", max_wait=0.3):
            pytest.fail("sent before the window ended")
    assert time.monotonic() - started < 0.1
    assert 0.8 < raised.value.retry_after <= 1.0


async def test_a_caller_queued_behind_another_waits_no_longer_than_it_allowed() -> None:
    limiter = RateLimiter(RateLimits(loginout=1), window=WINDOW)
    release = asyncio.Event()
    holder = await _hold(limiter, release)
    patient = asyncio.create_task(limiter.slot("biz", "loginout", max_wait=5.0).__aenter__())
    await asyncio.sleep(0.01)  # the patient caller holds the queue, waiting for the slot
    started = time.monotonic()
    with pytest.raises(Throttled):
        async with limiter.slot("biz", "loginout", max_wait=0.05):
            pytest.fail("sent while the only slot was in flight")
    assert time.monotonic() - started < 0.5
    release.set()
    await holder
    await patient


def test_a_limiter_serves_one_event_loop_after_another() -> None:
    limiter = RateLimiter(RateLimits(loginout=1), window=0.05)

    async def twice() -> None:
        for _ in range(2):  # the second waits for the first's window: the event is used
            async with limiter.slot("biz", "loginout", max_wait=1.0):
                pass

    asyncio.run(twice())
    asyncio.run(twice())
