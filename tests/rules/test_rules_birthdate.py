"""Implausible birth dates (issue 14 item 8; issue 18 item 6): one rule for tokens and for `explain`.
Before 1900-01-01 or after today in UTC+14 is refused; `explain` answers identity_invalid, as a token
carrying the date would get."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from rulekit import bj, decide, person, preset

from minorguard.explain import run_cases
from minorguard.policy.cases import load_cases
from minorguard.rules.birthdate import birthdate_problem
from minorguard.types import Outcome, Reason

NOON_UTC = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC).timestamp()  # 2026-11-21 02:00 in UTC+14


@pytest.mark.parametrize(
    ("birthdate", "problem"),
    [
        ("0001-01-01", "the birth date is before 1900-01-01, so no living person's"),
        ("1800-01-01", "the birth date is before 1900-01-01, so no living person's"),
        ("1899-12-31", "the birth date is before 1900-01-01, so no living person's"),
        ("1900-01-01", None),
        ("1901-01-01", None),  # the NPPA test identities
        ("2026-11-21", None),  # today in UTC+14, though still the 20th in Beijing
        ("2026-11-22", "the birth date is in the future"),
        ("2030-01-01", "the birth date is in the future"),
    ],
)
def test_the_floor_and_the_future_are_the_edges(birthdate: str, problem: str | None) -> None:
    """1900-01-01 and today somewhere on Earth are plausible; a day beyond either is not."""
    assert birthdate_problem(dt.date.fromisoformat(birthdate), NOON_UTC) == problem


@pytest.mark.parametrize("birthdate", ["2030-01-01", "1800-01-01", "0001-01-01"])
def test_explain_answers_identity_invalid_for_a_date_no_token_could_carry(birthdate: str) -> None:
    """Not "age 0 ... ALLOW": the refusal a token with this date gets at every door."""
    decision = decide(preset("nppa-2021"), person(birthdate), bj("2026-11-20 20:30:00"))
    assert (decision.outcome, decision.reason, decision.rule) == (
        Outcome.DENY,
        Reason.IDENTITY_INVALID,
        "identity",
    )


def test_a_table_case_with_such_a_date_expects_the_refusal(tmp_path: Path) -> None:
    """Cases judge birth dates the same way."""
    cases = tmp_path / "x.cases.yaml"
    cases.write_text(
        "policy: nppa-2021\ncases:\n  - name: a date in the future is refused as a token would be\n"
        "    activity: game\n    birthdate: 2030-01-01\n    at: 2026-11-20 20:30\n"
        "    expect: {outcome: deny, reason: identity_invalid}\n",
        encoding="utf-8",
    )
    [result] = run_cases(load_cases(cases), {})
    assert result.failures == ()
