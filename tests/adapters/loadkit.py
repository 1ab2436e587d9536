"""Load for the failure tests: play heartbeats, purchases against a cap and engine decisions, all at
once on one store while a test breaks its servers. Every answer is checked as it comes, so a wrong
answer fails the test wherever the fault happens to land; failures are timed, so the test can bound
the window in which the store did not answer.

- Heartbeats: each worker plays as its own user, one fake second per attempt, with a max gap larger
  than any outage, so a correct store answers exactly `now - first` (lost writes included: the next
  heartbeat counts from the last one the store kept).
- Money: buyers reserve and commit 1,000 fen at a time against one user's monthly cap, slowly enough
  that the faults land before the cap is full; committed + pending may never pass it, in any answer
  or at the end, nor may what the store said it committed.
- Engine: a 15-year-old's game requests (play time fails open) and a 17-year-old's purchases
  (spending fails closed) through `Engine.decide`: every store failure must come out as the failure
  policy says.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from minorguard.adapters.base import Bucket, CounterStore, ReservationStatus, SpendKind
from minorguard.engine import Engine
from minorguard.errors import StoreError, StoreErrorKind
from minorguard.explain import compile_policy
from minorguard.types import Activity, Facts, Reason, Subject

NIGHT = 1_795_017_600  # a local midnight
CAP = 200_000  # fen: one buyer's monthly cap, filled in ~2.5 s at the buyers' pace (past the faults)
PRICE = 1_000
FRIDAY_8PM = dt.datetime(2026, 11, 20, 20, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
TEEN = Subject("load-teen-15", dt.date(2011, 5, 1), True)
BUYER = Subject("load-buyer-17", dt.date(2009, 5, 1), True)


@dataclass
class Outcomes:
    """When calls failed (loop clock), of which kinds, and what the load saw."""

    failures: list[tuple[float, StoreErrorKind]] = field(default_factory=list)
    messages: set[str] = field(default_factory=set)  # of the failures, for a failing test's report
    successes: list[float] = field(default_factory=list)
    committed: int = 0  # fen the store said it committed
    purchases_denied_closed: int = 0
    games_failed_open: int = 0
    decisions: int = 0

    def failed(self, exc: StoreError) -> None:
        self.failures.append((time.monotonic(), exc.kind))
        self.messages.add(str(exc))

    def ok(self) -> None:
        self.successes.append(time.monotonic())

    def kinds(self) -> set[StoreErrorKind]:
        return {kind for _, kind in self.failures}

    def error_window(self, since: float) -> float:
        """Seconds from `since` to the last failure (0 with none)."""
        return max((at - since for at, _ in self.failures), default=0.0)

    def summary(self, since: float) -> str:
        """One line for the log of a run (pytest -s shows it)."""
        kinds = ", ".join(sorted(kind.value for kind in self.kinds())) or "none"
        return (
            f"{len(self.successes)} calls answered, {len(self.failures)} failed ({kinds}); errors until "
            f"{self.error_window(since):.2f} s after the fault; {self.games_failed_open} games failed open, "
            f"{self.purchases_denied_closed} purchases denied closed; {self.committed} fen committed"
        )

    def healthy_since(self) -> float:
        """How long calls have succeeded without a failure in between (loop clock)."""
        last_failure = max((at for at, _ in self.failures), default=0.0)
        later = [at for at in self.successes if at > last_failure]
        return later[-1] - later[0] if later else 0.0


class Load:
    """Runs until `stop()`; `run()` raises the first wrong answer."""

    def __init__(self, store: CounterStore, *, heartbeaters: int = 8, buyers: int = 4) -> None:
        self.store = store
        self.engine = Engine(compile_policy("nppa-2021"), store, subject_secret=b"load")
        self.outcomes = Outcomes()
        self.users = [secrets.token_hex(16) for _ in range(heartbeaters)]
        self.buyer = secrets.token_hex(16)
        self.buyers = buyers
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def close(self) -> None:
        """The engine's background cancels (of reserves that timed out in the fault) stop before the
        store closes: one still retrying would dial the store again after its close."""
        await self.engine.close()
        await self.store.close()

    async def warm(self) -> None:
        """One answered call per worker before any fault, so each has its starting point. Tried
        again while the first calls (slot map, dial, scripts loaded) take longer than the budget: a
        heartbeat at one instant counts once however often it is sent."""
        deadline = time.monotonic() + 5
        for user in self.users:
            while True:
                try:
                    assert await self._beat(user, NIGHT + 3600) == 0
                    break
                except StoreError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.05)

    async def run(self) -> None:
        work = [self._heartbeats(user) for user in self.users]
        work += [self._buying() for _ in range(self.buyers)]
        work += [self._engine_game(), self._engine_purchases()]
        try:
            await asyncio.gather(*work)
        finally:
            self.stop()  # a wrong answer ends one worker: the others end at their next step

    async def check_money(self) -> None:
        """Once the store answers again: the buyer's month is within the cap, and so is what it was
        told was committed."""
        usage = await self.store.usage(self.buyer, day="2026-11-22", month="2026-11", now=NIGHT + 7200)
        assert usage.month_committed + usage.month_pending <= CAP
        assert self.outcomes.committed <= CAP
        assert usage.month_committed <= CAP

    async def until(self, done: Callable[[], bool], limit: float) -> None:
        """Wait until `done()` or `limit` seconds, then stop the load."""
        deadline = time.monotonic() + limit
        while not done() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self.stop()

    async def heartbeat_once(self, user: str, seconds_later: int) -> int:
        """One heartbeat of a warmed user, `seconds_later` after its first."""
        return await self._beat(user, NIGHT + 3600 + seconds_later)

    async def _beat(self, user: str, now: int) -> int:
        result = await self.store.play_heartbeat(
            user,
            now=now,
            day="2026-11-22",
            prev_day="2026-11-21",
            day_start=NIGHT,
            max_gap=86_400,
            limit_seconds=86_400,
            ttl_seconds=86_400,
        )
        return result.used_seconds

    async def _loop(self, step: Callable[[int], Awaitable[None]], pause: float = 0.005) -> None:
        i = 0
        while not self._stopping.is_set():
            i += 1
            try:
                await step(i)
            except StoreError as exc:
                self.outcomes.failed(exc)
            else:
                self.outcomes.ok()
            await asyncio.sleep(pause)

    async def _heartbeats(self, user: str) -> None:
        first = NIGHT + 3600

        async def step(i: int) -> None:
            now = first + i
            used = await self._beat(user, now)
            assert used == now - first, f"heartbeat at +{i}s answered {used}"

        await self._loop(step)

    async def _buying(self) -> None:
        async def step(i: int) -> None:
            reserved = await self.store.reserve(
                self.buyer,
                kind=SpendKind.PURCHASE,
                amount=PRICE,
                single_cap=None,
                buckets=(Bucket("2026-11", CAP, 40 * 86_400),),
                reservation_id=secrets.token_hex(8),
                idempotency_key=None,
                now=NIGHT + 3600,
                reservation_ttl=900,
            )
            for total in reserved.totals:
                assert total.committed + total.pending <= CAP, reserved
            if reserved.ok and reserved.reservation_id is not None:
                settled = await self.store.commit(self.buyer, reserved.reservation_id, now=NIGHT + 3601)
                if settled.status is ReservationStatus.COMMITTED and settled.changed:
                    self.outcomes.committed += settled.amount

        await self._loop(step, pause=0.05)

    async def _engine_game(self) -> None:
        async def step(i: int) -> None:
            decision = await self.engine.decide(TEEN, Facts(Activity.GAME), at=FRIDAY_8PM + i % 3000)
            self.outcomes.decisions += 1
            assert decision.allowed, decision  # inside the play window: only the store could fail it
            self.outcomes.games_failed_open += decision.failed_open

        await self._loop(step)

    async def _engine_purchases(self) -> None:
        async def step(i: int) -> None:
            decision = await self.engine.decide(BUYER, Facts(Activity.PURCHASE, 100), at=FRIDAY_8PM + i)
            self.outcomes.decisions += 1
            if decision.reason is Reason.STORE_UNAVAILABLE:
                assert not decision.allowed, decision  # spending fails closed
                self.outcomes.purchases_denied_closed += 1
                return
            assert decision.allowed == (decision.reservation_id is not None), decision
            assert not decision.failed_open, decision
            if decision.reservation_id is not None:
                await self.engine.release(BUYER.subject_id, decision.reservation_id, at=FRIDAY_8PM + i)

        await self._loop(step)
