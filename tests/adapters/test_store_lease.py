"""The play-time lease part of the CounterStore contract (LeaseArgs), on every store: play charged
ahead up to the lease's bounds, heartbeats under it adding nothing from any process, the unused tail
given back only by its owner and only while nobody else was told of it, and usage counting up to now."""

from __future__ import annotations

import pytest
from storekit import MIDNIGHT, T
from storekit import play as beat

from minorguard.adapters.base import CounterStore, LeaseArgs, RestArgs
from minorguard.rules.guardian import GuardianSettings
from minorguard.types import DayType

pytestmark = pytest.mark.asyncio(loop_scope="session")

DAY = "2026-11-22"
FAR = MIDNIGHT + 86_400  # the day's end


def ask(owner: str = "a", seconds: int = 30, until: int = FAR, held: int = 0, seen: int = 0) -> LeaseArgs:
    return LeaseArgs(seconds, until, owner, held, seen)


async def played(store: CounterStore, user: str, now: int) -> int:
    return (await store.usage(user, day=DAY, month="2026-11", now=now)).played_seconds


async def test_a_lease_charges_ahead_and_answers_its_end(store: CounterStore, user: str) -> None:
    await beat(store, user, T)
    got = await beat(store, user, T + 10, ask())
    assert (got.used_seconds, got.last_seen, got.counted) == (10 + 30, T + 40, True)
    assert await played(store, user, T + 25) == 25  # usage counts up to now, not the lease's end


async def test_heartbeats_under_a_lease_add_nothing_from_any_process(store: CounterStore, user: str) -> None:
    await beat(store, user, T)
    await beat(store, user, T + 10, ask("a"))
    other = await beat(store, user, T + 20, ask("b"))
    assert (other.used_seconds, other.last_seen, other.counted) == (40, T + 40, False)
    plain = await beat(store, user, T + 39)
    assert plain.used_seconds == 40


async def test_the_owner_gives_back_the_unused_tail(store: CounterStore, user: str) -> None:
    await beat(store, user, T)
    await beat(store, user, T + 10, ask())  # charged to T + 40
    # the player's last request under the lease was at T + 15; next at T + 100: counted from T + 15
    got = await beat(store, user, T + 100, ask(held=T + 40, seen=T + 15))
    assert got.used_seconds == 15 + 85 + 30
    assert got.last_seen == T + 130


async def test_a_shared_lease_is_not_given_back(store: CounterStore, user: str) -> None:
    await beat(store, user, T)
    await beat(store, user, T + 10, ask("a"))
    await beat(store, user, T + 12, ask("b"))  # b was told of a's lease and answers under it
    got = await beat(store, user, T + 100, ask("a", held=T + 40, seen=T + 15))
    assert got.used_seconds == 40 + 60 + 30  # from the lease's end: over-counted, never under


async def test_a_lost_lease_over_counts_by_its_length_at_most(store: CounterStore, user: str) -> None:
    await beat(store, user, T)
    await beat(store, user, T + 10, ask("crashed"))
    got = await beat(store, user, T + 200, ask("b"))
    assert got.used_seconds - 30 == 40 + 120  # the gap from the lease's end, capped at max_gap


async def test_a_give_back_must_match_the_lease_in_the_store(store: CounterStore, user: str) -> None:
    await beat(store, user, T)
    await beat(store, user, T + 10, ask())
    forged = await beat(store, user, T + 100, ask(held=T + 41, seen=T + 11))  # not the lease's end
    assert forged.used_seconds == 40 + 60 + 30
    await beat(store, user, T + 500)
    too_much = await beat(store, user, T + 510, ask(seconds=30))  # charged to T + 540
    got = await beat(store, user, T + 600, ask(seconds=30, held=T + 540, seen=T + 400))  # > a lease back
    assert got.used_seconds == too_much.used_seconds + 60 + 30


async def test_a_lease_stops_at_until_the_limit_and_never_below_zero(store: CounterStore, user: str) -> None:
    await beat(store, user, T)
    got = await beat(store, user, T + 10, ask(until=T + 20))
    assert got.last_seen == T + 20
    got = await beat(store, user, T + 30, ask(), limit=35)
    assert (got.used_seconds, got.last_seen) == (35, T + 35)
    got = await beat(store, user, T + 50, ask(), limit=35)
    assert (got.used_seconds, got.last_seen, got.limit_reached) == (50, T + 50, True)


async def test_a_lease_stops_where_the_guardians_hours_end_or_limit_is(
    store: CounterStore, user: str
) -> None:
    settings = GuardianSettings(
        minutes={DayType.WEEKEND: 1}, hours={DayType.WEEKEND: ((600, 601),)}, keep_seconds=86_400
    )
    await store.set_guardian_settings(user, settings.encode(), now=T, keep_seconds=86_400)
    await beat(store, user, T, letter="e")  # 10:00:00, hours 10:00-10:01
    got = await beat(store, user, T + 50, ask(), letter="e")
    assert got.last_seen == T + 60  # the hours end at 10:01 (and the guardian's minute is used up)


async def test_a_lease_stops_where_an_enforced_rest_starts(store: CounterStore, user: str) -> None:
    rest = RestArgs(break_seconds=300, enforce_after=100)
    await beat(store, user, T, rest=rest)
    got = await beat(store, user, T + 90, ask(), rest=rest)
    assert (got.last_seen, got.session_seconds) == (T + 100, 100)


async def test_a_give_back_lands_even_when_the_heartbeat_is_refused(store: CounterStore, user: str) -> None:
    rest = RestArgs(break_seconds=300, enforce_after=100)
    await beat(store, user, T, rest=rest)
    await beat(store, user, T + 60, ask(), rest=rest)  # charged to T + 90
    got = await beat(store, user, T + 400, ask(held=T + 90, seen=T + 61), rest=rest)
    assert got.counted
    assert got.used_seconds == 61 + 120 + 30  # given back to T + 61, then the capped gap, then a lease


async def test_guardian_changes_are_answered_since_a_time(store: CounterStore, user: str) -> None:
    other = "f" * 32
    await store.set_guardian_settings(
        user, GuardianSettings(tips_off=True).encode(), now=T, keep_seconds=86_400
    )
    await store.set_guardian_settings(other, None, now=T + 5, keep_seconds=86_400)
    assert set(await store.guardian_changes(T, now=T + 5)) >= {user}
    assert user not in await store.guardian_changes(T + 1, now=T + 5)


async def test_a_caller_without_leases_shares_the_lease_too(store: CounterStore, user: str) -> None:
    """During a rolling change of play_lease_seconds: a heartbeat of a process without leases lies
    in the lease too, so the owner gives nothing back (else a pause would lose that heartbeat)."""
    await beat(store, user, T)
    await beat(store, user, T + 10, ask("a"))  # charged to T + 40
    await beat(store, user, T + 39)  # a process without leases, under it
    got = await beat(store, user, T + 200, ask("a", held=T + 40, seen=T + 10))
    assert got.used_seconds - (got.last_seen - (T + 200)) >= 39 + 120  # never under the plain count
