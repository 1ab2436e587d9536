"""Helpers shared by the rule tests: compiled presets, instants in two notations, one-call decisions.

Every decision is asked twice, once with `at` in UTC and once with `at` in +08:00; the two must agree
(the rules see instants, never the notation), and the agreed decision is returned.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from zoneinfo import ZoneInfo

from minorguard.explain import compile_policy, decision_json
from minorguard.rules.compiled import CompiledPolicy
from minorguard.rules.evaluate import KnownUsage, explain
from minorguard.types import Activity, Decision, Facts, Subject

UTC = dt.UTC
PLUS8 = dt.timezone(dt.timedelta(hours=8))
BEIJING = ZoneInfo("Asia/Shanghai")
PRESETS_WITH_CURFEW = ("law-minimum", "nppa-2019", "nppa-2021", "minor-mode-2024", "livestream-2022")


@functools.cache
def preset(name: str) -> CompiledPolicy:
    """A bundled preset compiled with the statutory calendar (compiled once per process)."""
    return compile_policy(name)


def custom(directory: Path, name: str, body: str) -> CompiledPolicy:
    """A policy written to `directory/name.yaml` and compiled."""
    path = directory / f"{name}.yaml"
    path.write_text(f"name: {name}\n{body}", encoding="utf-8")
    return compile_policy(path)


def bj(text: str) -> dt.datetime:
    """A Beijing wall-clock time ("2026-11-20 20:59:59") as an aware datetime in +08:00."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=PLUS8)


def iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def person(birthdate: str | None, *, consent: tuple[str, ...] = (), device: str | None = None) -> Subject:
    """A verified person born on `birthdate`, or an unverified one (birthdate None)."""
    born = None if birthdate is None else dt.date.fromisoformat(birthdate)
    return Subject("t", born, born is not None, frozenset(consent), device)


def decide(
    cp: CompiledPolicy,
    subject: Subject,
    at: dt.datetime,
    activity: Activity = Activity.GAME,
    *,
    amount: int | None = None,
    played: int = 0,
    month_spent: int = 0,
    day_tipped: int = 0,
    guest_used: int = 0,
    game_id: str | None = None,
    game_rating: int | None = None,
) -> Decision:
    """The decision at `at`, asked in UTC and in +08:00; both must be the same."""
    facts = Facts(activity, amount, game_id, game_rating)
    usage = KnownUsage(played, month_spent, day_tipped, guest_used)
    in_utc = explain(cp, subject, facts, at.astimezone(UTC), usage)
    in_beijing = explain(cp, subject, facts, at.astimezone(PLUS8), usage)
    assert in_utc == in_beijing, f"UTC and +08:00 disagree at {at.isoformat()}"
    return in_utc


def decide_json(
    cp: CompiledPolicy, subject: Subject, at: dt.datetime, activity: Activity = Activity.GAME, **kw: int
) -> dict[str, object]:
    """`decision_json` of `decide`, also compared between UTC and +08:00."""
    decision = decide(cp, subject, at, activity, **kw)
    in_utc = decision_json(cp, decision, at.astimezone(UTC), subject)
    in_beijing = decision_json(cp, decision, at.astimezone(PLUS8), subject)
    assert in_utc == in_beijing
    return in_utc


def codes(decision: Decision) -> list[str]:
    return [w.code.value for w in decision.warnings]
