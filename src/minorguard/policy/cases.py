"""The table-case format (`*.cases.yaml`): given a person, an activity, an instant and usage, expect an
outcome. Policy staff write these; `minorguard policy test` runs them.

    policy: nppa-2021                 # a preset, or a policy file relative to this one
    cases:
      - name: a 15-year-old may play on Friday at 20:59 Beijing time
        activity: game
        birthdate: 2011-05-01
        at: 2026-11-20 20:59          # no offset: the policy's time zone
        played: 30m
        expect: {outcome: allow, remaining_seconds: 60}
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from minorguard.errors import PolicyError, Problem
from minorguard.policy.guardiansettings import GuardianSettingsInput
from minorguard.policy.loader import problem_of
from minorguard.policy.yamlfile import load_document
from minorguard.types import Activity, Outcome, Reason, WarningCode

_DURATION = re.compile(r"^(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?$")


def parse_duration(value: object) -> int:
    """Seconds from 5400, "90m", "1h30m" or "45s"."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    match = _DURATION.match(str(value).strip()) if isinstance(value, str) else None
    if not match or not any(match.groups()):
        raise PydanticCustomError(
            "duration",
            'write a duration like "90m", "1h30m", "45s" or whole seconds (got {value})',
            {"value": repr(value)},
        )
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


Duration = Annotated[int, BeforeValidator(parse_duration)]
Fen = Annotated[int, Field(ge=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Expect(_Strict):
    outcome: Outcome
    reason: Reason | None = None
    rule: str | None = None
    allowed_again_at: str | None = None  # ISO 8601; "none" expects no such time
    remaining_seconds: int | None = None
    remaining_budget_fen: int | None = None
    warnings: list[WarningCode] | None = None


class Case(_Strict):
    name: str = Field(min_length=1)
    activity: Activity
    birthdate: str | None = None  # YYYY-MM-DD; absent with unverified: true
    unverified: bool = False
    at: str
    played: Duration = 0
    guest_used: Duration = 0
    device: str | None = None
    amount: Fen | None = None
    month_spent: Fen = 0
    day_spent: Fen = 0
    day_tipped: Fen = 0
    continuous: Duration = 0
    guardian_consent: list[str] = Field(default_factory=list)
    guardian: GuardianSettingsInput | None = None  # the child's guardian settings, as a guardian sends them
    game_id: str | None = None
    game_rating: int | None = Field(default=None, ge=0, le=18)
    expect: Expect


class CaseFile(_Strict):
    policy: str
    cases: list[Case] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class LoadedCases:
    file: str
    policy: str  # a preset name or an absolute path
    cases: list[Case]
    lines: list[int]  # the line of each case, for failure reports


def load_cases(path: Path) -> LoadedCases:
    doc = load_document(path)
    problems = list(doc.problems)
    if doc.data is None:
        raise PolicyError(problems or [Problem(str(path), 1, 1, "", "the file is empty")])
    try:
        parsed = CaseFile.model_validate_json(json.dumps(doc.data), strict=True)
    except ValidationError as exc:
        problems.extend(problem_of(CaseFile, error, {}, doc) for error in exc.errors())
        raise PolicyError(problems) from None
    if problems:
        raise PolicyError(problems)
    policy = parsed.policy
    candidate = (path.parent / policy).resolve()
    if candidate.exists():
        policy = str(candidate)
    lines = [doc.mark(("cases", i)).line for i in range(len(parsed.cases))]
    return LoadedCases(str(path), policy, parsed.cases, lines)


def parse_at(text: str, zone: dt.tzinfo) -> dt.datetime:
    """An ISO 8601 instant; without an offset it is local time in the policy's zone."""
    try:
        value = dt.datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        raise ValueError(
            f"not an ISO 8601 date and time: {text!r} (like 2026-11-20T20:59:00+08:00)"
        ) from None
    return value.replace(tzinfo=zone) if value.tzinfo is None else value
