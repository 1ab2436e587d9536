"""Sending queued behaviour events to NPPA's loginout interface, and the `ot` adjustment of late items.

NPPA accepts a batch only if its earliest `ot` is less than 180 s before the request's `timestamps` and its
latest `ot` is before `timestamps`. Events that wait longer (NPPA or this process down) would be refused
forever; NPPA's FAQ #201 says to shift their `ot` by the offset between the last and the current report
timestamps. `plan_ots` does exactly that, per item, at every attempt (T = this attempt's timestamps):

1. an item whose true `ot` is still inside the window (T - ot <= `window`, 170 s by default) is sent as is;
2. a late item that an earlier attempt carried (timestamps T0, sent ot0) is sent with
   ot0 + ceil(T - T0): it keeps the distance to `timestamps` it had when first reported, which passed;
3. a late item never attempted before (queued while the process was down) counts as if it had been
   reported at the last instant the window allowed, ot + window: it is sent with T - window;
then every value is kept within [T - window, T) and, within a session (si), never earlier than the
session's previous item in the batch, so an offline is never before its online. What was sent is recorded
per entry, so a later retry — by this sender or another after a restart — shifts from it again.

`BehaviourSender.run_once` takes up to 128 entries (its own unsettled ones first, then entries a dead sender
left for `claim_idle`, then new ones), sends them, and settles what NPPA accepted or definitively refused
(dead-letter stream with code and reason). Transient failures (network, 5xx, 1001, 1007, 4001 — for the
whole batch or an item) leave entries queued; 1006 pauses the sender for a minute. Delivery is at least
once: an event is sent twice only if NPPA processed a request whose answer was lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from minorguard.adapters.nppa.client import NppaClient
from minorguard.adapters.nppa.codes import CONFIGURATION, NppaCode, NppaError
from minorguard.adapters.nppa.metrics import NppaMetrics
from minorguard.adapters.nppa.models import MAX_BATCH
from minorguard.adapters.nppa.queue import Attempt, BehaviourQueue, Entry

LOG = logging.getLogger("minorguard.nppa")
WINDOW = 170  # seconds; NPPA's limit is < 180, the margin absorbs clock skew between our hosts
ITEM_CODES = frozenset(c for c in NppaCode if 3002 <= c <= 3010)  # a batch-level refusal caused by an item
ITEM_TRANSIENT = frozenset({NppaCode.SYS_ERROR, NppaCode.REQUEST_EXPIRED, NppaCode.TEST_SYSTEM_ERROR})


def plan_ots(
    entries: Sequence[tuple[str, int]],
    previous: Sequence[Attempt | None],
    timestamp_ms: int,
    window: int = WINDOW,
) -> list[int]:
    """The `ot` to send for each (si, true ot) of a batch, in batch order (see the module docstring)."""
    earliest = math.ceil(timestamp_ms / 1000) - window
    latest = (timestamp_ms - 1) // 1000  # ot * 1000 < timestamps
    last_in_session: dict[str, int] = {}
    planned: list[int] = []
    for (si, ot), before in zip(entries, previous, strict=True):
        if ot >= earliest:
            sent = ot
        elif before is not None:
            sent = before.ot + math.ceil((timestamp_ms - before.timestamp_ms) / 1000)
        else:
            sent = earliest
        sent = max(earliest, min(sent, latest), last_in_session.get(si, earliest))
        last_in_session[si] = sent
        planned.append(sent)
    return planned


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one `run_once` did; `wait` is how long the caller should pause before the next one."""

    sent: int = 0
    dead: int = 0
    kept: int = 0
    wait: float = 0.0

    def __add__(self, other: Outcome) -> Outcome:
        return Outcome(
            self.sent + other.sent, self.dead + other.dead, self.kept + other.kept, max(self.wait, other.wait)
        )


class BehaviourSender:
    def __init__(
        self,
        client: NppaClient,
        queue: BehaviourQueue,
        *,
        consumer: str | None = None,
        metrics: NppaMetrics | None = None,
        window: int = WINDOW,
        batch_max: int = MAX_BATCH,
        block: float = 1.0,
        claim_idle: float = 60.0,
        backoff: float = 1.0,
        backoff_max: float = 60.0,
    ) -> None:
        if not 1 <= batch_max <= MAX_BATCH:
            raise ValueError(f"a batch has 1 to {MAX_BATCH} items")
        if not 0 < window < 180:
            raise ValueError("the window is under NPPA's 180 s")
        self.client = client
        self.queue = queue
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.metrics = metrics
        self.window = window
        self.batch_max = batch_max
        self.block = block
        self.claim_idle = claim_idle
        self.backoff = backoff
        self.backoff_max = backoff_max
        self._failures = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Send until `stop` is set. Redis errors are logged and waited out."""
        while not stop.is_set():
            try:
                outcome = await self.run_once()
            except Exception as exc:  # Redis down: nothing is lost, the entries stay in the stream
                LOG.warning("nppa sender: %s; retrying", type(exc).__name__)
                outcome = Outcome(wait=self._next_backoff())
            if outcome.wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), outcome.wait)

    async def run_once(self) -> Outcome:
        # Its own unsettled entries first, then a dead sender's, then new ones; blocks only when idle.
        entries = await self.queue.read_own_pending(self.consumer, self.batch_max)
        if len(entries) < self.batch_max:
            claimed = await self.queue.claim(
                self.consumer, int(self.claim_idle * 1000), self.batch_max - len(entries)
            )
            seen = {e.id for e in entries}
            entries += [e for e in claimed if e.id not in seen]
        if len(entries) < self.batch_max:
            block = None if entries else int(self.block * 1000)
            entries += await self.queue.read_new(self.consumer, self.batch_max - len(entries), block)
        outcome = await self._send(entries) if entries else Outcome()
        if outcome.kept:
            outcome = outcome + Outcome(wait=self._next_backoff())
        elif outcome.sent or outcome.dead:
            self._failures = 0
        await self.observe()
        return outcome

    async def observe(self) -> None:
        """Update the queue depth and lag gauges."""
        if self.metrics is None:
            return
        self.metrics.queue_depth.set(await self.queue.depth())
        oldest = await self.queue.oldest_ot()
        now = self.client.timestamp_ms() / 1000
        self.metrics.lag.set(0 if oldest is None else max(0.0, now - oldest))

    async def _send(self, entries: list[Entry]) -> Outcome:
        malformed = [
            (e, "malformed", "the entry is not a behaviour event") for e in entries if e.event is None
        ]
        good = [e for e in entries if e.event is not None]
        if malformed:
            await self.queue.settle([], malformed)
            self._count_failed("malformed", "dead", len(malformed))
        if not good:
            return Outcome(dead=len(malformed))
        return await self._send_batch(good) + Outcome(dead=len(malformed))

    async def _send_batch(self, entries: list[Entry]) -> Outcome:
        events = [e.event for e in entries if e.event is not None]
        stamp = self.client.timestamp_ms()
        before = await self.queue.attempts([e.id for e in entries])
        ots = plan_ots(
            [(ev.si, ev.ot) for ev in events], [before.get(e.id) for e in entries], stamp, self.window
        )
        items = [ev.item(no, ot) for no, (ev, ot) in enumerate(zip(events, ots, strict=True), start=1)]
        if self.metrics is not None:
            self.metrics.adjusted.inc(sum(ev.ot != ot for ev, ot in zip(events, ots, strict=True)))
        # Recorded before sending: if this process dies mid-request, the next sender still shifts from here.
        await self.queue.record_attempts(
            {e.id: Attempt(stamp, ot) for e, ot in zip(entries, ots, strict=True)}
        )
        try:
            result = await self.client.loginout(items, timestamp_ms=stamp)
        except NppaError as exc:
            return await self._batch_failed(entries, exc)
        failed = {r.no: r for r in result.failed}
        accepted = [e.id for no, e in enumerate(entries, start=1) if no not in failed]
        dead: list[tuple[Entry, str, str]] = []
        kept = 0
        for no, entry in enumerate(entries, start=1):
            if (item := failed.get(no)) is None:
                continue
            if item.code in ITEM_TRANSIENT:
                kept += 1
                self._count_failed(str(item.raw_code), "retry")
            else:
                dead.append((entry, str(item.raw_code), _reason(item.raw_code)))
                self._count_failed(str(item.raw_code), "dead")
        await self.queue.settle(accepted, dead)
        if self.metrics is not None:
            self.metrics.sent.inc(len(accepted))
        return Outcome(sent=len(accepted), dead=len(dead), kept=kept)

    async def _batch_failed(self, entries: list[Entry], exc: NppaError) -> Outcome:
        if exc.code in ITEM_CODES:
            if len(entries) > 1:  # one bad item refused the batch: halve until it is alone
                middle = len(entries) // 2
                return await self._send_batch(entries[:middle]) + await self._send_batch(entries[middle:])
            await self.queue.settle([], [(entries[0], exc.label, _reason(exc.raw_code))])
            self._count_failed(exc.label, "dead")
            return Outcome(dead=1)
        self._count_failed(exc.label, "retry", len(entries))
        LOG.warning("nppa sender: %d items kept queued after %s", len(entries), exc.label)
        if exc.retry_after is not None:  # 1006 (a minute), or the local rate limit
            return Outcome(kept=len(entries), wait=exc.retry_after)
        if exc.code in CONFIGURATION:  # nothing will pass until a person fixes the set-up
            return Outcome(kept=len(entries), wait=self.backoff_max)
        return Outcome(kept=len(entries))  # network, 5xx, 1001, 1007: exponential backoff

    def _next_backoff(self) -> float:
        self._failures += 1
        return float(min(self.backoff_max, self.backoff * 2 ** (self._failures - 1)))

    def _count_failed(self, code: str, outcome: str, n: int = 1) -> None:
        if self.metrics is not None:
            self.metrics.failed.labels(code, outcome).inc(n)


def _reason(raw_code: int | None) -> str:
    code = NppaCode.parse(raw_code) if raw_code is not None else None
    return code.meaning if code is not None else f"errcode {raw_code}"
