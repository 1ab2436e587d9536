"""One entry point for every activity: `evaluate` runs the stateless rules and either decides or hands
back the one stateful check the store must settle; `explain` settles it from given usage instead."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from minorguard.counters import GuestResult, PlayResult, SpendKind
from minorguard.rules.birthdate import birthdate_problem
from minorguard.rules.compiled import CompiledPolicy, Instant
from minorguard.rules.game import GuestCheck, check_game, finish_guest, finish_play
from minorguard.rules.guardian import GuardianSettings
from minorguard.rules.livestream import ConsentCheck, check_publisher, finish_consent
from minorguard.rules.person import Person
from minorguard.rules.playcheck import PlayCheck
from minorguard.rules.spendcheck import SpendCheck
from minorguard.rules.spending import check_purchase, check_tip, finish_spend, simulate_reserve
from minorguard.types import Activity, AgeBand, Decision, Facts, Outcome, Reason, Subject

StatefulCheck = PlayCheck | GuestCheck | SpendCheck | ConsentCheck


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
    return check_publisher(cp, person, now)


@dataclass(frozen=True, slots=True)
class KnownUsage:
    """Usage given by a person (CLI explain, table cases) instead of read from a store."""

    played_seconds: int = 0
    month_spent_fen: int = 0
    day_tipped_fen: int = 0
    guest_used_seconds: int = 0
    continuous_seconds: int = 0  # played without a break, for the rest reminder
    day_spent_fen: int = 0  # purchases of the day, for daily caps


def explain(
    cp: CompiledPolicy,
    subject: Subject,
    facts: Facts,
    at: dt.datetime | float,
    usage: KnownUsage,
    guardian: GuardianSettings | None = None,
) -> Decision:
    """The decision for `subject` at `at` given `usage` (and the child's guardian settings), with no
    store involved. A birth date no token could carry gets the token's answer, identity_invalid."""
    epoch = at.timestamp() if isinstance(at, dt.datetime) else at
    problem = None if subject.birthdate is None else birthdate_problem(subject.birthdate, epoch)
    if problem is not None:
        return Decision(
            Outcome.DENY, Reason.IDENTITY_INVALID, AgeBand.UNVERIFIED, rule="identity", detail=problem
        )
    result = evaluate(cp, subject, facts, at)
    if isinstance(result, Decision):
        return result
    guardian = guardian if cp.guardian_on else None
    if isinstance(result, PlayCheck):
        now = result.instant.epoch
        played = PlayResult(usage.played_seconds, False, "", usage.continuous_seconds, now)
        return finish_play(cp, result, played, guardian)
    if isinstance(result, GuestCheck):
        used = usage.guest_used_seconds
        ends = result.instant.epoch + result.window_seconds
        return finish_guest(cp, result, GuestResult(used, used >= result.limit_seconds, ends))
    if isinstance(result, ConsentCheck):
        return finish_consent(cp, result, guardian)
    spent = {b.period: _spent(result, b.period, usage) for b in result.buckets}
    return finish_spend(result, simulate_reserve(result, spent, guardian), guardian)


def _spent(check: SpendCheck, period: str, usage: KnownUsage) -> int:
    if len(period) != 10:
        return usage.month_spent_fen
    return usage.day_spent_fen if check.kind is SpendKind.PURCHASE else usage.day_tipped_fen
