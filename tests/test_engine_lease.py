"""Play-time leases in the engine (issue 16): a player sending a request a second costs about two
store calls a minute, every answer is the one the engine gives without leases, several processes on
one store never under-count, a lost process over-counts by one lease at most, and a guardian's change
reaches a process that answers under a lease within the feed's period."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import Iterator
from typing import Any

import pytest

from minorguard.adapters.memory import MemoryCounterStore
from minorguard.engine import Engine
from minorguard.errors import StoreError, StoreErrorKind
from minorguard.explain import compile_policy
from minorguard.guardians import Actor, GuardianService
from minorguard.types import Activity, Facts, Reason, Subject
from test_engine import CountingStore, beijing

KID = Subject("kid-lease", dt.date(2011, 5, 1), True)  # 15 in November 2026
GAME = Facts(Activity.GAME)
LEASE = 30
FRIDAY_8PM = beijing("2026-11-20T20:00:00")  # nppa-2021: Fridays 20:00-21:00
SATURDAY_9AM = beijing("2026-11-21T09:00:00")  # minor-mode-2024: 2 h on weekends, rest reminder


def engine(
    store: Any, *, lease: int = LEASE, preset: str = "nppa-2021", feed: float = 5, at: float | None = None
) -> Engine:
    cp = compile_policy(preset)
    clock = (lambda: at) if at is not None else None
    return Engine(
        cp,
        store,
        subject_secret=b"test-secret",
        lease_seconds=lease,
        feed_seconds=feed,
        **({"clock": clock} if clock else {}),
    )


async def played(engine: Engine, at: float) -> int:
    return (await engine.usage(KID.subject_id, at=at)).played_seconds


async def test_a_request_a_second_costs_two_store_calls_a_minute() -> None:
    counting = CountingStore()
    leased = engine(counting)
    for second in range(600):
        assert (await leased.decide(KID, GAME, at=FRIDAY_8PM + second)).allowed
    heartbeats = counting.calls.count("play_heartbeat")
    feed_reads = counting.calls.count("guardian_changes")
    assert heartbeats <= 2 * 10 + 1, heartbeats
    assert feed_reads <= 600 // 5 + 1  # the feed is read per process, however many players
    assert await played(leased, FRIDAY_8PM + 599) == 599


@pytest.mark.parametrize(("preset", "start"), [("nppa-2021", FRIDAY_8PM), ("minor-mode-2024", SATURDAY_9AM)])
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_every_answer_is_the_one_given_without_leases(preset: str, start: float, seed: int) -> None:
    """Requests mostly a second apart, with pauses (some longer than a break or the counted gap),
    past the limit, the window's end and (minor-mode) the rest reminder: the same decisions."""
    rng = random.Random(seed)
    leased, plain = (
        engine(MemoryCounterStore(), preset=preset),
        engine(MemoryCounterStore(), lease=0, preset=preset),
    )
    at = start
    for step in range(2_500):
        at += rng.choice((0, 1, 1, 1, 1, 2, 3)) if rng.random() > 0.01 else rng.choice((31, 299, 301, 700))
        got, expected = await leased.decide(KID, GAME, at=at), await plain.decide(KID, GAME, at=at)
        assert got == expected, (step, at - start)
    # the tail of the last lease is given back at the player's next heartbeat; none came after the
    # window closed: counted until the lease's end at most
    assert 0 <= await played(leased, at) - await played(plain, at) <= LEASE


def requests_with_pauses(rng: random.Random, n: int) -> Iterator[tuple[float, bool]]:
    """A player's request times from Friday 20:00, one or two seconds apart, with a pause (longer
    than the counted gap) now and then; and whether a pause came before each."""
    at = FRIDAY_8PM
    for _ in range(n):
        paused = rng.random() <= 0.02
        at += rng.choice((301, 700)) if paused else rng.choice((1, 1, 2))
        yield at, paused


async def test_processes_sharing_a_player_never_under_count() -> None:
    """Two processes on one store take turns at random; one is lost mid-lease and a new one starts:
    the count is never below the true play time. Above it: a shared lease is never given back, so
    each pause costs the unused tail of the lease in force at most, and the lost lease one more."""
    rng = random.Random(7)
    store = MemoryCounterStore()
    pods = [engine(store), engine(store)]
    truth = engine(MemoryCounterStore(), lease=0)
    pauses = 0
    for step, (at, paused) in enumerate(requests_with_pauses(rng, 1_500)):
        pauses += paused
        if step == 700:
            pods[0] = engine(store)  # the first process is lost with its lease
        await rng.choice(pods).decide(KID, GAME, at=at)
        await truth.decide(KID, GAME, at=at)
        counted, true = await played(pods[1], at), await played(truth, at)
        assert counted >= true, (step, counted, true)
        assert counted <= true + (pauses + 2) * LEASE, (step, counted, true, pauses)


async def test_one_process_per_player_gives_every_lease_back() -> None:
    """Sticky routing (a player's requests reach one process): leases are given back exactly, so
    the count is never more than the tail of the lease in force ahead, however many pauses."""
    rng = random.Random(8)
    pod, truth = engine(MemoryCounterStore()), engine(MemoryCounterStore(), lease=0)
    pauses = 0
    for step, (at, paused) in enumerate(requests_with_pauses(rng, 1_500)):
        pauses += paused
        await pod.decide(KID, GAME, at=at)
        await truth.decide(KID, GAME, at=at)
        counted, true = await played(pod, at), await played(truth, at)
        assert 0 <= counted - true <= LEASE, (step, counted, true)
    assert pauses > 10


async def test_a_lost_process_over_counts_by_one_lease_at_most() -> None:
    store = MemoryCounterStore()
    lost, heir = engine(store), engine(store)
    await lost.decide(KID, GAME, at=FRIDAY_8PM)
    await lost.decide(KID, GAME, at=FRIDAY_8PM + 1)  # a lease to +31, then the process is gone
    for second in range(100, 200):
        await heir.decide(KID, GAME, at=FRIDAY_8PM + second)
    # played: 0-1 under the lost process, then 100-199; the lease's 30 s and the gap from its end
    # (capped at the counted gap, 300 s) count too: at most one lease more than without leases
    plain = engine(MemoryCounterStore(), lease=0)
    for second in (0, 1, *range(100, 200)):
        await plain.decide(KID, GAME, at=FRIDAY_8PM + second)
    assert 0 <= await played(heir, FRIDAY_8PM + 199) - await played(plain, FRIDAY_8PM + 199) <= LEASE


async def test_a_guardians_change_reaches_a_leased_process_within_the_feed_period() -> None:
    store, preset, start = MemoryCounterStore(), "minor-mode-2024", SATURDAY_9AM
    pod = engine(store, preset=preset)
    for second in range(0, 600):
        assert (await pod.decide(KID, GAME, at=start + second)).allowed
    service_side = engine(store, preset=preset, at=start + 600)  # another process: the sidecar's API
    body = b'{"daily_play_minutes": {"default": 5}}'
    changed = await GuardianService(service_side).replace(KID.subject_id, body, Actor.cli("test"))
    assert isinstance(changed, dict), changed
    answers = [await pod.decide(KID, GAME, at=start + 600 + s) for s in range(1, 10)]
    refused = [s for s, d in enumerate(answers, 1) if d.reason is Reason.GUARDIAN_LIMIT]
    assert refused, [d.reason for d in answers]
    assert refused[0] <= 5, [d.reason for d in answers]


class FeedDown(CountingStore):
    """A store whose guardian feed cannot be read."""

    async def guardian_changes(self, since: int, *, now: int) -> tuple[str, ...]:
        raise StoreError(StoreErrorKind.CONNECTION, "feed down")


async def test_an_unreadable_feed_sends_every_heartbeat_to_the_store() -> None:
    store = FeedDown()
    pod = engine(store, feed=1)
    for second in range(0, 20):
        assert (await pod.decide(KID, GAME, at=FRIDAY_8PM + second)).allowed
    assert store.calls.count("play_heartbeat") >= 18


async def test_without_leases_every_heartbeat_asks_the_store() -> None:
    counting = CountingStore()
    plain = engine(counting, lease=0)
    for second in range(60):
        await plain.decide(KID, GAME, at=FRIDAY_8PM + second)
    assert counting.calls == ["play_heartbeat"] * 60


async def test_a_full_lease_book_forgets_ended_leases_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("minorguard.engine._MAX_KEYS", 4)
    counting = CountingStore()
    pod = engine(counting)
    kids = [Subject(f"kid-{i}", dt.date(2011, 5, 1), True) for i in range(5)]
    for kid in kids[:3]:
        await pod.decide(kid, GAME, at=FRIDAY_8PM)  # leases to +30
    await pod.decide(kids[3], GAME, at=FRIDAY_8PM + 20)  # a lease to +50: the book is full
    await pod.decide(kids[4], GAME, at=FRIDAY_8PM + 40)  # room is made by forgetting the ended three
    counting.calls.clear()
    await pod.decide(kids[3], GAME, at=FRIDAY_8PM + 41)
    await pod.decide(kids[4], GAME, at=FRIDAY_8PM + 41)
    assert counting.calls.count("play_heartbeat") == 0  # both leases in force were kept


async def test_a_process_without_leases_reads_another_s_lease_right() -> None:
    """During a rolling change of play_lease_seconds: a process with leases off answers a heartbeat
    under another's lease with the play time up to now, not up to the lease's end."""
    store = MemoryCounterStore()
    leased, plain = engine(store), engine(store, lease=0)
    await leased.decide(KID, GAME, at=FRIDAY_8PM)
    await leased.decide(KID, GAME, at=FRIDAY_8PM + 10)  # a lease to +40
    got = await plain.decide(KID, GAME, at=FRIDAY_8PM + 20)
    assert got.remaining_seconds == 3600 - 20


def no_curfew(tmp_path: Any) -> str:
    """nppa-2019 without its curfew: minors may play at any hour (90 minutes on a Friday)."""
    path = tmp_path / "no-curfew.yaml"
    path.write_text(
        'name: no-curfew\nextends: nppa-2019\ngame:\n  curfew:\n    mode: "off"\n'
        '    looser_than_law: {reason: a test of play across midnight}\n  guest: {mode: "off"}\n',
        encoding="utf-8",
    )
    return str(path)


async def test_a_lease_that_ends_at_midnight_answers_nothing_of_the_new_day(tmp_path: Any) -> None:
    """A policy that lets minors play at midnight: a lease ends there at the latest, and the first
    heartbeat of the new day is counted on the new day, as without leases."""
    policy = no_curfew(tmp_path)
    leased, plain = (
        engine(MemoryCounterStore(), preset=policy),
        engine(MemoryCounterStore(), lease=0, preset=policy),
    )
    start = beijing("2026-11-20T22:30:00")  # a Friday: 90 minutes, used up at midnight exactly
    for second in range(0, 5_520):  # to 00:02
        at = start + second
        assert await leased.decide(KID, GAME, at=at) == await plain.decide(KID, GAME, at=at), second


class Yielding(CountingStore):
    """The memory store, yielding to the loop before each heartbeat as a network store does."""

    async def play_heartbeat(self, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0)
        return await self.inner.play_heartbeat(*args, **kwargs)


async def test_concurrent_requests_of_one_player_past_the_limit_answer_both(tmp_path: Any) -> None:
    """Two requests of one player at once, just after the lease that used up the day: both go to
    the store, neither gets a lease, both are answered (the second must not trip on the first)."""
    pod = engine(Yielding(), preset=no_curfew(tmp_path))
    start = beijing("2026-11-20T10:00:00")  # 90 minutes: used up at 11:30
    for second in range(0, 5_399):
        assert (await pod.decide(KID, GAME, at=start + second)).allowed
    both = await asyncio.gather(*(pod.decide(KID, GAME, at=start + 5_401) for _ in range(2)))
    assert [d.reason for d in both] == [Reason.DAILY_PLAY_LIMIT] * 2


def test_a_forked_worker_takes_a_name_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    pod = engine(MemoryCounterStore())
    parent = pod.owner()
    monkeypatch.setattr("os.getpid", lambda: 999_999)
    assert pod.owner() != parent
