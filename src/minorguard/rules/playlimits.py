"""What a counted heartbeat decides after the policy's stateless rules: the guardian's hours and daily
limit (where they are stricter, or a loosening the policy allows), the policy's daily limit, and the
rest reminder of continuous play (G24)."""

from __future__ import annotations

import datetime as dt

from minorguard.counters import PlayResult
from minorguard.rules.compiled import CompiledPolicy
from minorguard.rules.guardian import GuardianSettings, hours_of, next_allowed, period_left, play_limit
from minorguard.rules.nextplay import again_for
from minorguard.rules.nextplay import next_allowed as policy_next_allowed
from minorguard.rules.outcome import finding
from minorguard.rules.playcheck import PlayCheck
from minorguard.types import Decision, Mode, Reason, Warning, WarningCode


def guardian_denial(
    cp: CompiledPolicy, check: PlayCheck, played: PlayResult, guardian: GuardianSettings
) -> tuple[Decision | None, int | None, int | None]:
    """A deny by the guardian's hours or daily limit (always enforced: a guardian's choice is no
    trial), else None with the daily limit in force and the seconds left in the guardian's period."""
    now, person = check.instant, check.person
    day_type = cp.day(now.date).day_type
    left = period_left(hours_of(guardian, day_type), now.second)
    if left == -1:
        again = again_for(cp, person, next_allowed(cp, guardian, person.band, now, from_next_day=False))
        return (
            _denied(cp, check, "guardian.hours", "outside the hours your guardian allows", again),
            None,
            None,
        )
    limit, by_guardian = play_limit(cp, guardian, person.band, day_type)
    if by_guardian and limit is not None and played.used_seconds >= limit:
        again = again_for(cp, person, next_allowed(cp, guardian, person.band, now, from_next_day=True))
        detail = f"the daily play time of {limit // 60} minutes your guardian set is used up"
        return _denied(cp, check, "guardian.play_time", detail, again), limit, left
    return None, limit, left


def _denied(
    cp: CompiledPolicy, check: PlayCheck, rule: str, detail: str, again: dt.datetime | None
) -> Decision:
    basis = cp.policy.spec.guardian.legal_basis
    return check.findings.deny(finding(Reason.GUARDIAN_LIMIT, rule, basis, Mode.ENFORCE, detail, again))


def limit_denial(cp: CompiledPolicy, check: PlayCheck, limit: int) -> Decision:
    """The policy's daily limit is used up (`limit`: the policy's, or the most it lets a guardian allow)."""
    found, person = check.findings, check.person
    again = again_for(cp, person, policy_next_allowed(cp, check.instant, person.band, from_next_day=True))
    denied = found.check(
        check.mode,
        finding(
            Reason.DAILY_PLAY_LIMIT,
            "game.play_time",
            check.legal_basis,
            check.mode,
            f"the daily play time of {limit // 60} minutes is used up",
            again,
        ),
    )
    if denied is not None:
        return denied
    return found.allow(remaining_seconds=check.window_remaining)


def rest_answer(
    cp: CompiledPolicy, check: PlayCheck, played: PlayResult, guardian: GuardianSettings | None
) -> Decision | tuple[Warning, ...]:
    """Continuous play reached the reminder: a warning, or (enforce) a deny until a break has passed;
    nothing when the guardian exempted the child and the policy lets them."""
    rest = cp.rest
    if rest.exemptable and guardian is not None and guardian.rest_exempt:
        return ()
    minutes = cp.rest_after // 60
    if not rest.enforce_after:
        return (
            Warning(WarningCode.REST_REMINDER, f"{minutes} minutes of continuous play: time for a break"),
        )
    rule = cp.policy.spec.game.rest_reminder
    again = dt.datetime.fromtimestamp(played.last_seen + rest.break_seconds + 1, cp.zone)
    detail = f"a break of {rule.break_minutes} minutes is due after {minutes} minutes of continuous play"
    return check.findings.deny(
        finding(Reason.REST_REQUIRED, "game.rest_reminder", rule.legal_basis, Mode.ENFORCE, detail, again)
    )
