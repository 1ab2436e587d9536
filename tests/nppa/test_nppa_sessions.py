"""Sessions from heartbeats (online at the first, offline after a gap / log-out / cut-off), and the
FAQ #201 `ot` adjustment of late items."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest
from nppafake import PIS

from minorguard.adapters.nppa import BehaviourType, UserType
from minorguard.adapters.nppa.queue import Attempt
from minorguard.adapters.nppa.reporting import plan_ots
from minorguard.adapters.nppa.sessions import BehaviourEvent, Player, SessionTracker

T0 = 1_800_000_000.0


class ListSink:
    def __init__(self) -> None:
        self.events: list[BehaviourEvent] = []
        self.down = False

    async def put(self, events: Sequence[BehaviourEvent]) -> None:
        if self.down:
            raise ConnectionError("sink down")
        self.events.extend(events)


def _kinds(events: list[BehaviourEvent]) -> list[tuple[str, BehaviourType, int]]:
    return [(e.si, e.bt, e.ot) for e in events]


async def test_online_at_first_heartbeat_offline_after_a_gap() -> None:
    sink = ListSink()
    tracker = SessionTracker(sink, max_gap=300)
    alice = Player.verified(PIS[0])
    si = await tracker.heartbeat(alice, T0)
    assert re.fullmatch(r"[0-9a-f]{32}", si)
    assert await tracker.heartbeat(alice, T0 + 120) == si
    assert await tracker.heartbeat(alice, T0 + 400) == si  # 280 s after the last: same session
    assert _kinds(sink.events) == [(si, BehaviourType.ONLINE, int(T0))]
    si2 = await tracker.heartbeat(alice, T0 + 1000)  # 600 s gap: offline at the last heartbeat, new session
    assert si2 != si
    assert _kinds(sink.events)[1:] == [
        (si, BehaviourType.OFFLINE, int(T0 + 400)),
        (si2, BehaviourType.ONLINE, int(T0 + 1000)),
    ]
    assert all(e.ct is UserType.VERIFIED and e.ident == PIS[0] for e in sink.events)


async def test_sweep_logout_and_cut_off() -> None:
    sink = ListSink()
    tracker = SessionTracker(sink, max_gap=300)
    a, b, c = (
        Player.verified(PIS[1]),
        Player.guest("device-b"),
        Player.guest("0123456789abcdef0123456789ABCDEF"),
    )
    for player in (a, b, c):
        await tracker.heartbeat(player, T0)
    await tracker.heartbeat(b, T0 + 250)
    assert await tracker.logout(c, T0 + 30)
    assert not await tracker.logout(c, T0 + 31)  # already closed
    assert await tracker.sweep(T0 + 320) == 1  # a: silent for 320 s; b heard at 250
    assert await tracker.cut_off(b, T0 + 330)  # curfew
    offline = [(e.ident, e.ot) for e in sink.events if e.bt is BehaviourType.OFFLINE]
    assert offline == [(c.ident, int(T0 + 30)), (PIS[1], int(T0)), (b.ident, int(T0 + 330))]
    assert tracker.open_sessions == 0
    assert b.ct is UserType.GUEST
    assert re.fullmatch(r"[0-9a-f]{32}", b.ident)
    assert c.ident == "0123456789abcdef0123456789ABCDEF"  # already 32: kept
    for si in {e.si for e in sink.events}:  # every session: one online, then one offline
        assert [e.bt for e in sink.events if e.si == si] == [BehaviourType.ONLINE, BehaviourType.OFFLINE]


async def test_events_refused_by_the_sink_are_kept_in_order() -> None:
    sink = ListSink()
    tracker = SessionTracker(sink, max_gap=60)
    sink.down = True
    p = Player.guest("d1")
    await tracker.heartbeat(p, T0)
    await tracker.logout(p, T0 + 10)
    assert tracker.unsent == 2
    assert sink.events == []
    sink.down = False
    await tracker.sweep(T0 + 20)
    assert [e.bt for e in sink.events] == [BehaviourType.ONLINE, BehaviourType.OFFLINE]
    assert tracker.unsent == 0


def test_invalid_pi_is_refused_without_echo() -> None:
    with pytest.raises(ValueError, match="38 characters") as raised:
        Player.verified("1fffbj-not-a-pi")
    assert "1fffbj-not-a-pi" not in str(raised.value)


def test_events_round_trip_through_stream_fields() -> None:
    event = BehaviourEvent("a" * 32, BehaviourType.OFFLINE, 1_800_000_000, UserType.VERIFIED, PIS[2])
    assert BehaviourEvent.from_fields(event.fields()) == event
    assert event.item(3).wire() == {
        "no": 3,
        "si": "a" * 32,
        "bt": 0,
        "ot": 1_800_000_000,
        "ct": 0,
        "pi": PIS[2],
    }


# --- the FAQ #201 adjustment -------------------------------------------------------------------------
T_MS = 1_800_000_000_500  # the report's `timestamps` (ms)
T = T_MS // 1000


def test_items_inside_the_window_are_sent_unchanged() -> None:
    assert plan_ots([("s1", T - 5), ("s2", T - 169)], [None, None], T_MS) == [T - 5, T - 169]


def test_late_retry_is_shifted_by_the_offset_between_report_timestamps() -> None:
    """Attempted at T0 with ot0 (then NPPA was down); now, 600 s later, ot0 + 600: the same distance to
    `timestamps` as at the first report."""
    first_ms = T_MS - 600_000
    previous = Attempt(first_ms, first_ms // 1000 - 30)
    (sent,) = plan_ots([("s1", first_ms // 1000 - 30)], [previous], T_MS)
    assert sent == previous.ot + 600
    assert T_MS - sent * 1000 < 180_000


def test_late_item_never_attempted_goes_to_the_window_edge() -> None:
    assert plan_ots([("s1", T - 3600)], [None], T_MS) == [T + 1 - 170]


def test_a_session_never_goes_backwards_and_nothing_reaches_timestamps() -> None:
    online_late, offline_fresh = ("s", T - 3600), ("s", T - 200)
    online, offline = plan_ots([online_late, offline_fresh], [None, None], T_MS)
    assert online <= offline
    assert plan_ots([("s", T + 5)], [None], T_MS) == [T]  # a future ot is clamped before `timestamps`
    assert plan_ots([("s", T)], [None], T * 1000) == [T - 1]  # ot * 1000 < timestamps, strictly
    for ot in plan_ots([(f"s{i}", T - 50 * i) for i in range(100)], [None] * 100, T_MS):
        assert 0 < T_MS - ot * 1000 < 180_000
