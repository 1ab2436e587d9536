"""Behaviour reporting end to end: sessions -> a REAL Redis stream -> the sender -> the fake NPPA.
Nothing is lost or sent twice while NPPA is down, a new sender resumes a dead one's entries, late
retries get the FAQ #201 adjustment and pass the 180-second check, bad items are dead-lettered."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Sequence

import prometheus_client
from nppafake import PIS, Fake, ShiftClock
from prometheus_client import CollectorRegistry

from minorguard.adapters.nppa import BehaviourType, NppaClient, UserType
from minorguard.adapters.nppa.metrics import NppaMetrics
from minorguard.adapters.nppa.queue import BehaviourQueue
from minorguard.adapters.nppa.reporting import BehaviourSender
from minorguard.adapters.nppa.sessions import BehaviourEvent, Player, SessionTracker


def _sender(client: NppaClient, queue: BehaviourQueue, **options: object) -> BehaviourSender:
    defaults: dict[str, object] = {"block": 0.05, "backoff": 0.05, "backoff_max": 0.3, "claim_idle": 30.0}
    return BehaviourSender(client, queue, **{**defaults, **options})  # type: ignore[arg-type]


class Recording:
    """The tracker's sink: records what it queues, then queues it."""

    def __init__(self, queue: BehaviourQueue) -> None:
        self.queue = queue
        self.events: list[BehaviourEvent] = []

    async def put(self, events: Sequence[BehaviourEvent]) -> None:
        await self.queue.put(events)
        self.events.extend(events)


async def _drained(queue: BehaviourQueue, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while await queue.depth():
        assert time.monotonic() < deadline, f"{await queue.depth()} events still queued"
        await asyncio.sleep(0.05)


def _guest_online(ot: int) -> BehaviourEvent:
    return BehaviourEvent(uuid.uuid4().hex, BehaviourType.ONLINE, ot, UserType.GUEST, uuid.uuid4().hex)


async def test_nothing_lost_or_doubled_while_nppa_is_down(
    client: NppaClient, queue: BehaviourQueue, fake: Fake
) -> None:
    registry = CollectorRegistry()
    metrics = NppaMetrics(registry)
    recording = Recording(queue)
    tracker = SessionTracker(recording, max_gap=60)
    sender = _sender(client, queue, metrics=metrics)
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    players = [Player.guest(f"device-{i}") for i in range(10)] + [Player.verified(pi) for pi in PIS]
    try:
        for player in players[:9]:
            await tracker.heartbeat(player, time.time())
        for player in players[:4]:
            await tracker.logout(player, time.time())
        await asyncio.sleep(0.3)
        await asyncio.to_thread(fake.server.stop)  # NPPA goes away
        for player in players[9:]:
            await tracker.heartbeat(player, time.time())
        for player in players[4:14]:
            await tracker.cut_off(player, time.time())
        await asyncio.sleep(0.5)  # the sender fails meanwhile
        assert await queue.depth() == 9 + 10  # 9 online, 10 offline while down
        await asyncio.to_thread(fake.server.start)  # ... and comes back
        await _drained(queue)
    finally:
        stop.set()
        await task
    expected = {(e.si, int(e.bt)) for e in recording.events}
    assert len(expected) == len(recording.events) == 18 + 14  # 18 online, 14 offline
    assert set(fake.nppa.seen) == expected, "an event was lost"
    assert set(fake.nppa.seen.values()) == {1}, "an event was sent twice"
    assert fake.nppa.accepted == fake.nppa.seen
    assert await queue.dead_letters() == []
    assert registry.get_sample_value("minorguard_nppa_items_sent_total") == 32
    assert registry.get_sample_value("minorguard_nppa_queue_depth") == 0
    assert registry.get_sample_value("minorguard_nppa_report_lag_seconds") == 0
    assert registry.get_sample_value(
        "minorguard_nppa_items_failed_total", {"code": "network", "outcome": "retry"}
    )


async def test_a_new_sender_resumes_a_dead_senders_entries(
    client: NppaClient, queue: BehaviourQueue, fake: Fake
) -> None:
    now = int(time.time())
    await queue.put([_guest_online(now - 1) for _ in range(5)])
    await asyncio.to_thread(fake.server.stop)
    first = await _sender(client, queue, consumer="sender-a").run_once()
    assert first.kept == 5
    assert first.sent == 0
    pending = await queue.redis.xpending(queue.stream, queue.group)
    assert pending["pending"] == 5
    assert pending["consumers"][0]["name"] == "sender-a"
    await asyncio.to_thread(fake.server.start)
    # sender-a is gone (process died); a new process starts sender-b on the same stream
    await asyncio.sleep(0.1)
    second = await _sender(client, queue, consumer="sender-b", claim_idle=0.05).run_once()
    assert second.sent == 5
    assert (await queue.redis.xpending(queue.stream, queue.group))["pending"] == 0
    assert await queue.depth() == 0
    assert sum(fake.nppa.seen.values()) == 5
    assert set(fake.nppa.seen.values()) == {1}


async def test_late_retries_get_the_faq_201_adjustment(
    client: NppaClient, queue: BehaviourQueue, fake: Fake, clock: ShiftClock
) -> None:
    """NPPA is down for 10 minutes (a shared clock moves for the fake and the client): the retry shifts
    each ot by the offset between the report timestamps, and passes NPPA's 180-second check."""
    registry = CollectorRegistry()
    sender = _sender(client, queue, metrics=NppaMetrics(registry))
    now = int(clock())
    si, di = uuid.uuid4().hex, uuid.uuid4().hex
    await queue.put(
        [
            BehaviourEvent(si, BehaviourType.ONLINE, now - 30, UserType.GUEST, di),
            BehaviourEvent(si, BehaviourType.OFFLINE, now - 20, UserType.GUEST, di),
        ]
    )
    await asyncio.to_thread(fake.server.stop)
    assert (await sender.run_once()).kept == 2
    attempts = await queue.attempts([e.id for e in await queue.read_own_pending(sender.consumer, 10)])
    first = next(iter(attempts.values()))
    assert sorted(a.ot for a in attempts.values()) == [now - 30, now - 20]  # in the window: sent unchanged

    clock.offset += 600
    await asyncio.to_thread(fake.server.start)
    never_tried = BehaviourEvent(
        uuid.uuid4().hex, BehaviourType.ONLINE, int(clock()) - 3000, UserType.VERIFIED, PIS[0]
    )
    await queue.put([never_tried])
    outcome = await sender.run_once()
    assert outcome.sent == 3
    assert outcome.dead == 0
    stamp = int(fake.nppa.requests[-1]["headers"]["timestamps"])
    shift = math.ceil((stamp - first.timestamp_ms) / 1000)
    assert 600 <= shift <= 602
    sent = {(i["si"], i["bt"]): i["ot"] for i in fake.nppa.accepted_items}
    assert sent[(si, 1)] == now - 30 + shift
    assert sent[(si, 0)] == now - 20 + shift
    assert sent[(never_tried.si, 1)] == math.ceil(stamp / 1000) - 170
    assert all(0 < stamp - ot * 1000 < 180_000 for ot in sent.values())
    assert registry.get_sample_value("minorguard_nppa_items_adjusted_total") == 3


async def test_refused_items_are_dead_lettered_with_their_reason(
    client: NppaClient, queue: BehaviourQueue, fake: Fake
) -> None:
    now = int(time.time()) - 1
    good = BehaviourEvent(uuid.uuid4().hex, BehaviourType.ONLINE, now, UserType.VERIFIED, PIS[4])
    bad = BehaviourEvent(uuid.uuid4().hex, BehaviourType.ONLINE, now, UserType.VERIFIED, PIS[3])
    fake.nppa.reject_pis = {PIS[3]}
    await queue.put([good, bad])
    outcome = await _sender(client, queue).run_once()
    assert (outcome.sent, outcome.dead) == (1, 1)
    (letter,) = await queue.dead_letters()
    assert letter["code"] == "3010"
    assert "pi" in letter["reason"]
    assert letter["si"] == bad.si

    # the same refusal for the whole batch (top-level 3010): halved until the bad item is alone
    fake.nppa.reject_pi_batch = True
    others = [
        BehaviourEvent(uuid.uuid4().hex, BehaviourType.ONLINE, now, UserType.VERIFIED, PIS[5])
        for _ in range(6)
    ]
    bad2 = BehaviourEvent(uuid.uuid4().hex, BehaviourType.ONLINE, now, UserType.VERIFIED, PIS[3])
    await queue.put([*others[:3], bad2, *others[3:]])
    outcome = await _sender(client, queue).run_once()
    assert (outcome.sent, outcome.dead) == (6, 1)
    assert [d["si"] for d in await queue.dead_letters()] == [bad.si, bad2.si]
    assert await queue.depth() == 0


async def test_malformed_entries_and_over_limit(
    client: NppaClient, queue: BehaviourQueue, fake: Fake
) -> None:
    await queue.redis.xadd(queue.stream, {"garbage": "1"})
    short_si = BehaviourEvent("abc", BehaviourType.ONLINE, int(time.time()), UserType.GUEST, uuid.uuid4().hex)
    await queue.redis.xadd(queue.stream, short_si.fields())  # type: ignore[arg-type]
    outcome = await _sender(client, queue).run_once()
    assert outcome.dead == 2
    assert (await queue.dead_letters())[0]["code"] == "malformed"

    fake.nppa.limits["loginout"] = 0  # NPPA throttles this game
    await queue.put([_guest_online(int(time.time()) - 1)])
    outcome = await _sender(client, queue).run_once()
    assert outcome.kept == 1
    assert outcome.wait >= 60
    assert await queue.depth() == 1


def test_nothing_registers_at_import() -> None:
    names = {m.name for m in prometheus_client.REGISTRY.collect()}
    assert not any("nppa" in name for name in names)


async def test_a_deleted_stream_is_recreated(client: NppaClient, queue: BehaviourQueue, fake: Fake) -> None:
    sender = _sender(client, queue)
    await queue.put([_guest_online(int(time.time()) - 1)])
    assert (await sender.run_once()).sent == 1
    await queue.redis.delete(queue.stream)  # e.g. a FLUSHALL or a failover to an empty replica
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    try:
        await asyncio.sleep(0.2)  # the first read fails with NOGROUP; the next one recreates the group
        await queue.put([_guest_online(int(time.time()) - 1)])
        await _drained(queue, timeout=5)
    finally:
        stop.set()
        await task
    assert sum(fake.nppa.accepted.values()) == 2
