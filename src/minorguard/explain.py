"""Decisions without a store, for people: `minorguard policy explain` and the table cases.

This is a composition root of its own: it wires the policy, the holiday calendar and the pure rules.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from minorguard.adapters.calendars import StatutoryCalendar
from minorguard.policy.cases import Case, LoadedCases, parse_at
from minorguard.policy.guardiansettings import GuardianSettingsInput
from minorguard.policy.loader import load_policy
from minorguard.policy.schema import MissingCalendarData
from minorguard.rules.compiled import CompiledPolicy
from minorguard.rules.evaluate import KnownUsage, explain
from minorguard.rules.guardian import GuardianSettings
from minorguard.rules.guardianbounds import beyond, settings_json, to_settings
from minorguard.rules.person import Person
from minorguard.types import Decision, Facts, Reason, Subject


def compile_policy(source: str | Path, extra_calendars: tuple[Path, ...] = ()) -> CompiledPolicy:
    """Load a policy file or preset and compile it with the statutory calendar and its override files."""
    policy = load_policy(source)
    provisional = policy.spec.calendar.missing_data is MissingCalendarData.PROVISIONAL
    calendar = StatutoryCalendar((*policy.calendar_files, *extra_calendars), provisional=provisional)
    return CompiledPolicy.build(policy, calendar.day_info, calendar.days_of_data_left)


def guardian_settings(
    cp: CompiledPolicy, given: bytes | GuardianSettingsInput, at: dt.datetime
) -> GuardianSettings:
    """A guardian's settings as the service would store them at `at`; ValueError naming each problem
    (malformed, or beyond what the policy lets a guardian set), or when the policy reads none."""
    if not cp.guardian_on:
        raise ValueError(f"the policy {cp.name} reads no guardian settings (guardian.enabled is false)")
    if isinstance(given, bytes):
        try:
            given = GuardianSettingsInput.model_validate_json(given, strict=True)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or '(settings)'}: {e['msg']}" for e in exc.errors()
            )
            raise ValueError(f"guardian settings: {problems}") from None
    past = beyond(given, cp)
    if past:
        problems = "; ".join(f"{b.field}: {b.message}" for b in past)
        raise ValueError(f"guardian settings beyond what {cp.name} lets a guardian set: {problems}")
    keep = cp.policy.spec.guardian.keep_days * 86400
    return to_settings(given, now=int(at.timestamp()), keep_seconds=keep)


def decision_json(
    cp: CompiledPolicy,
    decision: Decision,
    at: dt.datetime,
    subject: Subject,
    guardian: GuardianSettings | None = None,
) -> dict[str, Any]:
    now = cp.instant(at)
    person = Person.at(subject, now.date, cp.policy.spec.birthday, cp.zone)
    age = None if decision.reason is Reason.IDENTITY_INVALID else person.age
    day = cp.day(now.date)
    return {
        "outcome": decision.outcome.value,
        "reason": decision.reason.value,
        "rule": decision.rule,
        "legal_basis": decision.legal_basis,
        "detail": decision.detail,
        "allowed_again_at": _iso(decision.allowed_again_at),
        "remaining_seconds": decision.remaining_seconds,
        "remaining_budget_fen": decision.remaining_budget_fen,
        "warnings": [{"code": w.code.value, "message": w.message} for w in decision.warnings],
        "report_only": [
            {
                "reason": f.reason.value,
                "rule": f.rule,
                "legal_basis": f.legal_basis,
                "detail": f.detail,
                "allowed_again_at": _iso(f.allowed_again_at),
            }
            for f in decision.report_only
        ],
        "band": decision.band.value,
        "age": age,
        "at": now.local.isoformat(),
        "day_type": day.day_type.value,
        "calendar_known": day.known,
        "calendar_provisional": not day.known
        and cp.policy.spec.calendar.missing_data is MissingCalendarData.PROVISIONAL,
        "policy": cp.policy.name,
        "revision": cp.policy.revision,
        "guardian": None if guardian is None else settings_json(guardian),
    }


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True, slots=True)
class CaseResult:
    file: str
    line: int
    name: str
    failures: tuple[str, ...]


def case_subject(case: Case) -> Subject:
    birthdate = None if case.unverified or case.birthdate is None else dt.date.fromisoformat(case.birthdate)
    return Subject("case", birthdate, birthdate is not None, frozenset(case.guardian_consent), case.device)


def run_cases(loaded: LoadedCases, cache: dict[str, CompiledPolicy]) -> list[CaseResult]:
    cp = cache.get(loaded.policy) or cache.setdefault(loaded.policy, compile_policy(loaded.policy))
    results = []
    for case, line in zip(loaded.cases, loaded.lines, strict=True):
        failures = _run(cp, case)
        results.append(CaseResult(loaded.file, line, case.name, tuple(failures)))
    return results


def _run(cp: CompiledPolicy, case: Case) -> list[str]:
    try:
        at = parse_at(case.at, cp.zone)
        subject = case_subject(case)
        facts = Facts(case.activity, case.amount, case.game_id, case.game_rating)
        usage = KnownUsage(
            case.played, case.month_spent, case.day_tipped, case.guest_used, case.continuous, case.day_spent
        )
        guardian = None if case.guardian is None else guardian_settings(cp, case.guardian, at)
        got = decision_json(cp, explain(cp, subject, facts, at, usage, guardian), at, subject, guardian)
    except ValueError as exc:
        return [f"cannot run: {exc}"]
    failures = []
    for key, want in case.expect.model_dump(exclude_none=True).items():
        expected, actual = _comparable(key, want, got[key], cp)
        if actual != expected:
            failures.append(f"{key}: expected {expected!r}, got {actual!r}")
    if failures and got["detail"]:
        failures.append(f"(decision: {got['reason']} — {got['detail']})")
    return failures


def _comparable(key: str, want: Any, have: Any, cp: CompiledPolicy) -> tuple[Any, Any]:
    """Expected and actual values in one form: enum values, warning codes, instants with offsets."""
    if key == "warnings":
        return [str(getattr(w, "value", w)) for w in want], [w["code"] for w in have]
    if key == "allowed_again_at":
        if want == "none":
            return None, have
        expected = parse_at(str(want), cp.zone)
        actual = None if have is None else dt.datetime.fromisoformat(have)
        return expected.isoformat(), None if actual is None else actual.astimezone(
            expected.tzinfo
        ).isoformat()
    return getattr(want, "value", want), have
