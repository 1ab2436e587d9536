"""Play sessions for NPPA behaviour reporting, derived from the heartbeats the engine already sees.

A session opens at a player's first heartbeat (an online event, bt=1, at that instant) and closes with an
offline event (bt=0) when
* heartbeats stop for more than `max_gap` seconds — noticed at the next heartbeat (offline at the last
  heartbeat, then a new session opens) or by the periodic `sweep(now)`;
* the player logs out (`logout`), or the caller cuts the player off at a curfew or limit (`cut_off`);
  both close at `now`.
Each session has its own `si` (32 hex characters); online and offline of a session share it.

Only verified players (with a pi: ct=0) and guests (device id: ct=2) are reported; a player whose
verification is still pending is not (FAQ #211). The tracker keeps its sessions in this process's memory:
route a player's heartbeats to one tracker, and call `close_all` at shutdown if open sessions should be
closed rather than lost.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from minorguard.adapters.nppa.models import BehaviourType, LoginoutItem, UserType
from minorguard.adapters.nppa_pi import birthdate_from_pi

LOG = logging.getLogger("minorguard.nppa")
_DI = re.compile(r"[0-9A-Za-z]{32}", re.ASCII)
MAX_UNSENT = 100_000


@dataclass(frozen=True, slots=True)
class Player:
    """Who is reported: a verified player by pi (ct=0) or a guest by a 32-character device id (ct=2)."""

    ct: UserType
    ident: str = field(repr=False)

    @classmethod
    def verified(cls, pi: str) -> Player:
        birthdate_from_pi(pi)  # ValueError (without the pi) when it is not one
        return cls(UserType.VERIFIED, pi)

    @classmethod
    def guest(cls, device_id: str) -> Player:
        """A guest's device. An id that is not already 32 letters/digits is hashed to 32 hex characters."""
        if not device_id:
            raise ValueError("a guest needs a device id")
        di = device_id if _DI.fullmatch(device_id) else hashlib.sha256(device_id.encode()).hexdigest()[:32]
        return cls(UserType.GUEST, di)


@dataclass(frozen=True, slots=True)
class BehaviourEvent:
    """An online or offline event, as queued: `ot` in whole seconds since the epoch."""

    si: str
    bt: BehaviourType
    ot: int
    ct: UserType
    ident: str = field(repr=False)  # pi for ct=0, di for ct=2

    def item(self, no: int, ot: int | None = None) -> LoginoutItem:
        """The loginout item numbered `no`, with `ot` replaced when the sender adjusted it."""
        pi, di = (self.ident, None) if self.ct is UserType.VERIFIED else (None, self.ident)
        return LoginoutItem(no, self.si, self.bt, self.ot if ot is None else ot, self.ct, pi=pi, di=di)

    def fields(self) -> dict[str, str]:
        return {
            "si": self.si,
            "bt": str(int(self.bt)),
            "ot": str(self.ot),
            "ct": str(int(self.ct)),
            "id": self.ident,
        }

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> BehaviourEvent:
        """ValueError/KeyError when the fields are not an event's."""
        return cls(
            fields["si"],
            BehaviourType(int(fields["bt"])),
            int(fields["ot"]),
            UserType(int(fields["ct"])),
            fields["id"],
        )


class EventSink(Protocol):
    """Where events go, in order (the Redis stream of `queue.BehaviourQueue`, or a list in tests)."""

    async def put(self, events: Sequence[BehaviourEvent]) -> None: ...


@dataclass(slots=True)
class _Session:
    si: str
    player: Player
    last_seen: float


class SessionTracker:
    def __init__(
        self, sink: EventSink, *, max_gap: float = 300.0, new_si: Callable[[], str] = lambda: uuid.uuid4().hex
    ) -> None:
        # 300 s: NPPA accepts a 5-minute error in log-out times (FAQ #195).
        self.sink = sink
        self.max_gap = max_gap
        self._new_si = new_si
        self._open: dict[Player, _Session] = {}
        self._unsent: list[BehaviourEvent] = []
        self._flush = asyncio.Lock()

    @property
    def open_sessions(self) -> int:
        return len(self._open)

    @property
    def unsent(self) -> int:
        """Events the sink refused (e.g. Redis down); they go out, in order, with the next ones."""
        return len(self._unsent)

    async def heartbeat(self, player: Player, now: float) -> str:
        """Record that `player` is playing at `now` (seconds since the epoch); the session id."""
        events: list[BehaviourEvent] = []
        session = self._open.get(player)
        if session is not None and now - session.last_seen > self.max_gap:
            events.append(self._end(session, session.last_seen))
            session = None
        if session is None:
            session = _Session(self._new_si(), player, now)
            self._open[player] = session
            events.append(_event(session, BehaviourType.ONLINE, now))
        else:
            session.last_seen = max(session.last_seen, now)
        if events:  # a plain heartbeat never waits on the sink; sweep() retries refused events
            await self._emit(events)
        return session.si

    async def logout(self, player: Player, now: float) -> bool:
        """The player logged out: offline at `now`. False when no session was open."""
        return await self._close(player, now)

    async def cut_off(self, player: Player, now: float) -> bool:
        """The caller ended play (curfew, time limit): offline at `now`. False when no session was open."""
        return await self._close(player, now)

    async def sweep(self, now: float) -> int:
        """Close the sessions whose heartbeats stopped more than max_gap ago (offline at the last
        heartbeat). Call it periodically, e.g. every minute; returns how many were closed."""
        stale = [s for s in self._open.values() if now - s.last_seen > self.max_gap]
        await self._emit([self._end(s, s.last_seen) for s in stale])
        return len(stale)

    async def close_all(self, now: float) -> int:
        """Close every open session at `now` (a shutdown that should not leave sessions open)."""
        sessions = list(self._open.values())
        await self._emit([self._end(s, min(now, s.last_seen + self.max_gap)) for s in sessions])
        return len(sessions)

    async def flush(self) -> None:
        """Send events the sink refused earlier; raises if it still refuses."""
        await self._emit([], swallow=False)

    async def _close(self, player: Player, now: float) -> bool:
        session = self._open.get(player)
        if session is None:
            return False
        end = now if now - session.last_seen <= self.max_gap else session.last_seen
        await self._emit([self._end(session, max(end, session.last_seen))])
        return True

    def _end(self, session: _Session, at: float) -> BehaviourEvent:
        del self._open[session.player]
        return _event(session, BehaviourType.OFFLINE, at)

    async def _emit(self, events: list[BehaviourEvent], *, swallow: bool = True) -> None:
        # The state changed before this await: events are queued in that order, whatever the sink does.
        self._unsent.extend(events)
        async with self._flush:
            if len(self._unsent) > MAX_UNSENT:
                dropped = len(self._unsent) - MAX_UNSENT
                LOG.error("nppa sessions: %d unsent events dropped (the sink is down for too long)", dropped)
                del self._unsent[:dropped]
            if not self._unsent:
                return
            batch = list(self._unsent)
            try:
                await self.sink.put(batch)
            except Exception as exc:
                if not swallow:
                    raise
                LOG.warning(
                    "nppa sessions: queueing %d events failed (%s); kept", len(batch), type(exc).__name__
                )
                return
            del self._unsent[: len(batch)]


def _event(session: _Session, bt: BehaviourType, at: float) -> BehaviourEvent:
    return BehaviourEvent(session.si, bt, math.floor(at), session.player.ct, session.player.ident)
