"""Settling reservations through store failures: a purchase the backend accepted is always counted,
and a reservation nobody will settle holds no quota it should not.

- A door settles after the backend answered with `Engine.settle_reservation`: commit on success,
  release otherwise. A store call that fails is tried again (3 tries within ~2 s by default). When
  every try fails, a commit is still counted: the reservation lapses as spent at its deadline (see
  `CounterStore.reserve`). A release is given up: its amount stays counted (when unsure, the cap is
  a ceiling), as does a refund's.
- A reserve call that failed on our side (a timeout, a lost connection) may have been made anyway,
  or be made later by a delayed copy. Nobody learned its id, so nobody would settle it: it is
  cancelled by id in the background (`CounterStore.cancel`), with backoff, until the store answers
  or the reservation's deadline passes.
- Every store call that sweeps reports the reservations it found lapsed.

Each case is counted by the observer (metrics) and written as one JSON line to the
`minorguard.reservations` logger: `ts`, `event`, `subject` (the user's store key, a keyed hash),
`reservation_id`, `action`, `outcome`. Never a raw user id or an amount.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from minorguard.adapters.base import CounterStore
from minorguard.counters import Lapsed, ReservationStatus, SettleResult
from minorguard.errors import StoreError

AUDIT = logging.getLogger("minorguard.reservations")

SettleCall = Callable[[int], Awaitable[SettleResult]]  # one store call, given `now`


class Unanswered(StrEnum):
    """What became of a reservation whose reserve call failed on our side (a metric label)."""

    RELEASED = "released"  # it had been made: its quota is free again
    NOT_MADE = "not_made"  # nothing was reserved; a tombstone refuses a late copy of the call
    HANDED_OUT = "handed_out"  # an idempotency replay gave it to a caller since: theirs to settle
    ABANDONED = "abandoned"  # no answer before its deadline (or too many waiting, or shutdown)


_CANCELLED = {
    ReservationStatus.RELEASED: Unanswered.RELEASED,
    ReservationStatus.UNKNOWN: Unanswered.NOT_MADE,
    ReservationStatus.CONFLICT: Unanswered.HANDED_OUT,
}
# what a settlement the store never answered leaves behind
_GIVEN_UP = {
    "commit": "lapses_as_spent",
    "release": "stays_counted",
    "refund": "not_refunded",
}


def settle_call(
    store: CounterStore, action: str, user: str, reservation_id: str, *, restore_quota: bool
) -> SettleCall:
    """The store call of a settlement: commit, release or refund (else a ValueError)."""
    if action == "commit":
        return lambda now: store.commit(user, reservation_id, now=now)
    if action == "release":
        return lambda now: store.release(user, reservation_id, now=now)
    if action == "refund":
        return lambda now: store.refund(user, reservation_id, now=now, restore_quota=restore_quota)
    raise ValueError(f"unknown reservation action {action!r}")


@dataclass(frozen=True, slots=True)
class Retries:
    """How hard the engine tries when the store fails (seconds are real time, not the clock's)."""

    tries: int = 3  # store calls of one settlement, at most
    within: float = 2.0  # no try of a settlement starts later than this after its first
    pause: float = 0.2  # before a settlement's second try; doubled after each (with jitter)
    cancel_pause: float = 0.1  # before a cancel's second try; doubled up to cancel_max_pause
    cancel_max_pause: float = 10.0
    max_cancels: int = 10_000  # cancels waiting at once; more are abandoned at once (and logged)


class SettleObserver(Protocol):
    def reservation_lapsed(self, kind: str) -> None: ...

    def settlement_failed(self, action: str) -> None: ...

    def reserve_unanswered(self, outcome: Unanswered) -> None: ...


class Settler:
    """The retries, background cancels and audit of one engine."""

    def __init__(
        self,
        store: CounterStore,
        clock: Callable[[], float],
        observer: SettleObserver | None,
        retries: Retries,
    ) -> None:
        self.store = store
        self.clock = clock
        self.observer = observer
        self.retries = retries
        self._cancels: set[asyncio.Task[Unanswered]] = set()

    @property
    def cancels_waiting(self) -> int:
        return len(self._cancels)

    async def retried(self, action: str, user: str, reservation_id: str, call: SettleCall) -> SettleResult:
        """`call` until the store answers, within the retry budget; raises the last StoreError when
        it never did (after counting and logging it)."""
        loop = asyncio.get_running_loop()
        started, pause, tries = loop.time(), self.retries.pause, 1
        while True:
            try:
                result = await call(int(self.clock()))
            except StoreError as exc:
                if tries >= self.retries.tries or loop.time() - started + pause > self.retries.within:
                    self._given_up(action, user, reservation_id, exc)
                    raise
                await asyncio.sleep(pause * random.uniform(0.5, 1.5))
                pause, tries = pause * 2, tries + 1
                continue
            self.lapsed(user, result.lapsed)
            return result

    def lapsed(self, user: str, lapsed: tuple[Lapsed, ...]) -> None:
        for item in lapsed:
            if self.observer is not None:
                self.observer.reservation_lapsed(item.kind.value)
            self._audit(
                "lapsed", user, item.reservation_id, "lapse", "counted_as_spent", kind=item.kind.value
            )

    def cancel_later(self, user: str, reservation_id: str, *, now: int, reservation_ttl: int) -> None:
        """Cancel, in the background, a reservation whose reserve call (made at `now`) failed."""
        if len(self._cancels) >= self.retries.max_cancels:
            self._unanswered(user, reservation_id, Unanswered.ABANDONED)
            return
        task = asyncio.get_running_loop().create_task(
            self._cancel(user, reservation_id, now, reservation_ttl)
        )
        self._cancels.add(task)

        def done(task: asyncio.Task[Unanswered]) -> None:
            self._cancels.discard(task)
            # cancelled at shutdown (perhaps before it started) or broken: abandoned, and said so
            error = None if task.cancelled() else task.exception()
            if error is not None:
                AUDIT.error("cancel of reservation %s failed", reservation_id, exc_info=error)
            failed = task.cancelled() or error is not None
            self._unanswered(user, reservation_id, Unanswered.ABANDONED if failed else task.result())

        task.add_done_callback(done)

    async def drain(self, timeout: float) -> int:
        """Wait up to `timeout` seconds for the background cancels; returns how many still wait."""
        if self._cancels:
            await asyncio.wait(set(self._cancels), timeout=timeout)
        return len(self._cancels)

    async def close(self) -> None:
        """Stop the background cancels (each is logged as abandoned)."""
        waiting = set(self._cancels)
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)

    async def _cancel(self, user: str, reservation_id: str, now: int, reservation_ttl: int) -> Unanswered:
        """Tries until the store answers or, by the engine's clock, the reservation's deadline passed
        (time runs from the reserve's `now`, which a caller may have given: `Engine.decide(at=...)`)."""
        started, pause = self.clock(), self.retries.cancel_pause
        while True:
            elapsed = self.clock() - started
            try:
                result = await self.store.cancel(
                    user, reservation_id, now=now + int(elapsed), reservation_ttl=reservation_ttl
                )
            except StoreError:
                if self.clock() - started >= reservation_ttl:
                    return Unanswered.ABANDONED
                await asyncio.sleep(pause * random.uniform(0.5, 1.5))
                pause = min(pause * 2, self.retries.cancel_max_pause)
                continue
            self.lapsed(user, result.lapsed)
            return _CANCELLED.get(result.status, Unanswered.HANDED_OUT)

    def _unanswered(self, user: str, reservation_id: str, outcome: Unanswered) -> None:
        if self.observer is not None:
            self.observer.reserve_unanswered(outcome)
        self._audit("reserve_unanswered", user, reservation_id, "cancel", outcome.value)

    def _given_up(self, action: str, user: str, reservation_id: str, exc: StoreError) -> None:
        if self.observer is not None:
            self.observer.settlement_failed(action)
        outcome = f"store_unavailable:{exc.kind.value}:{_GIVEN_UP.get(action, 'unchanged')}"
        self._audit("settle_failed", user, reservation_id, action, outcome)

    def _audit(
        self, event: str, user: str, reservation_id: str, action: str, outcome: str, **extra: str
    ) -> None:
        if not AUDIT.isEnabledFor(logging.WARNING):
            return
        line = {
            "ts": round(self.clock(), 3),
            "event": event,
            "subject": user,
            "reservation_id": reservation_id,
            "action": action,
            "outcome": outcome,
            **extra,
        }
        AUDIT.warning(json.dumps(line))
