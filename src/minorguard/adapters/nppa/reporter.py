"""NPPA behaviour reporting from the game decisions of every front door (issue: every session's log-in
and log-out, for all players, adults included — FAQ #215).

Each allowed game decision of a player with a pi (verified) or a guest device is a heartbeat of that
player's session; a game deny by the curfew, the play windows or a time limit cuts the session off at
that instant. Sessions become online/offline events in a Redis stream, which a sender drains to NPPA in
batches within 180 s; a sweep closes sessions whose heartbeats stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from minorguard.adapters.nppa.queue import BehaviourQueue
from minorguard.adapters.nppa.reporting import BehaviourSender
from minorguard.adapters.nppa.sessions import Player, SessionTracker
from minorguard.types import Activity, Decision, Reason, Subject

LOG = logging.getLogger("minorguard.nppa")
CUT_OFF = (Reason.CURFEW, Reason.OUTSIDE_PLAY_WINDOW, Reason.DAILY_PLAY_LIMIT, Reason.GUEST_LIMIT)
SWEEP_SECONDS = 60.0
DRAIN_SECONDS = 5.0


class Reporter:
    def __init__(
        self,
        tracker: SessionTracker,
        sender: BehaviourSender,
        queue: BehaviourQueue,
        clock: Callable[[], float],
    ) -> None:
        self.tracker = tracker
        self.queue = queue
        self.sender = sender
        self.clock = clock
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def saw(self, subject: Subject, activity: Activity, decision: Decision) -> None:
        """Feed one judged request: only game decisions of reportable players count."""
        if activity is not Activity.GAME:
            return
        player = _player(subject)
        if player is None:
            return
        if decision.allowed:
            await self.tracker.heartbeat(player, self.clock())
        elif decision.reason in CUT_OFF:
            await self.tracker.cut_off(player, self.clock())

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self.sender.run(self._stop)), asyncio.create_task(self._sweeps())]

    async def stop(self) -> None:
        """Close open sessions (offline now), let the sender drain briefly, stop."""
        with contextlib.suppress(Exception):
            await self.tracker.close_all(self.clock())
            # send what is queued now; whatever is left stays in the stream for the next sender
            await asyncio.wait_for(self._drain(), timeout=DRAIN_SECONDS)
        self._stop.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, timeout=5.0)
        await self.queue.redis.aclose()

    async def _drain(self) -> None:
        while await self.queue.depth() > 0:
            outcome = await self.sender.run_once()
            if outcome.wait > 0:
                await asyncio.sleep(min(outcome.wait, 0.5))

    async def _sweeps(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), SWEEP_SECONDS)
            try:
                await self.tracker.sweep(self.clock())
            except Exception as exc:  # Redis down: the tracker keeps the events and retries
                LOG.warning("nppa sweep: %s", type(exc).__name__)


def _player(subject: Subject) -> Player | None:
    if subject.pi is not None:
        return Player.verified(subject.pi)
    if not subject.verified and subject.device_id is not None:
        return Player.guest(subject.device_id)
    return None  # verified without a pi yet (认证中): not reported until a pi exists (FAQ #211)
