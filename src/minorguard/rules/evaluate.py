"""One entry point for every activity: `evaluate` runs the stateless rules and either decides or hands
back the one stateful check the store must settle; `explain` settles it from given usage instead."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from minorguard.counters import GuestResult
from minorguard.rules.birthdate import birthdate_problem
from minorguard.rules.compiled import CompiledPolicy, Instant
from minorguard.rules.game import GuestCheck, PlayCheck, check_game, finish_guest, finish_play
from minorguard.rules.livestream import check_publisher
from minorguard.rules.person import Person
from minorguard.rules.spending import SpendCheck, check_purchase, check_tip, finish_spend, simulate_reserve
from minorguard.types import Activity, AgeBand, Decision, Facts, Outcome, Reason, Subject

StatefulCheck = PlayCheck | GuestCheck | SpendCheck


def evaluate(
    cp: CompiledPolicy, subject: Subject, facts: Facts, at: dt.datetime | float
) -> Decision | StatefulCheck:
    now = cp.instant(at)
    person = Person.at(subject, now.date, cp.policy.spec.birthday, cp.zone)
    return evaluate_at(cp, person, facts, now)


def evaluate_at(cp: CompiledPolicy, person: Person, facts: Facts, now: Instant) -> Decision | StatefulCheck:
    activity = facts.activity
    if activity is Activity.GAME:
        return check_game(cp, person, facts, now)
    if activity is Activity.PURCHASE:
        return check_purchase(cp, person, facts, now)
    if activity is Activity.LIVESTREAM_TIP:
        return check_tip(cp, person, facts, now)
    return check_publisher(cp, person)


@dataclass(frozen=True, slots=True)
class KnownUsage:
    """Usage given by a person (CLI explain, table cases) instead of read from a store."""

    played_seconds: int = 0
    month_spent_fen: int = 0
    day_tipped_fen: int = 0
    guest_used_seconds: int = 0


def explain(
    cp: CompiledPolicy, subject: Subject, facts: Facts, at: dt.datetime | float, usage: KnownUsage
) -> Decision:
    """The decision for `subject` at `at` given `usage`, with no store involved. A birth date no token
    could carry gets the token's answer, identity_invalid."""
    epoch = at.timestamp() if isinstance(at, dt.datetime) else at
    problem = None if subject.birthdate is None else birthdate_problem(subject.birthdate, epoch)
    if problem is not None:
        return Decision(
            Outcome.DENY, Reason.IDENTITY_INVALID, AgeBand.UNVERIFIED, rule="identity", detail=problem
        )
    result = evaluate(cp, subject, facts, at)
    if isinstance(result, Decision):
        return result
    if isinstance(result, PlayCheck):
        return finish_play(cp, result, usage.played_seconds)
    if isinstance(result, GuestCheck):
        used = usage.guest_used_seconds
        ends = result.instant.epoch + result.window_seconds
        return finish_guest(cp, result, GuestResult(used, used >= result.limit_seconds, ends))
    spent = {
        b.period: (usage.day_tipped_fen if len(b.period) == 10 else usage.month_spent_fen)
        for b in result.buckets
    }
    return finish_spend(result, simulate_reserve(result, spent))
