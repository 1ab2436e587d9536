"""NPPA 2021 play windows (Fri/Sat/Sun and statutory holidays, 20:00-21:00) on the 2025 and 2026
calendars, in both readings: `practice` (make-up working days are not play days, every day of a holiday
block is) and `literal` (Fri/Sat/Sun always, plus the statutory holiday days only)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from rulekit import bj, custom, decide, iso, person, preset

from minorguard.rules.compiled import CompiledPolicy
from minorguard.types import Outcome, Reason

FIFTEEN = person("2010-06-15")  # 14-16 years old throughout 2025-2026, a minor all along

MAKEUP_WORKDAYS = [
    "2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11",
    "2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10",
]  # fmt: skip

HOLIDAY_BLOCKS = [
    ("2025-01-01", "2025-01-01"), ("2025-01-28", "2025-02-04"), ("2025-04-04", "2025-04-06"),
    ("2025-05-01", "2025-05-05"), ("2025-05-31", "2025-06-02"), ("2025-10-01", "2025-10-08"),
    ("2026-01-01", "2026-01-03"), ("2026-02-15", "2026-02-23"), ("2026-04-04", "2026-04-06"),
    ("2026-05-01", "2026-05-05"), ("2026-06-19", "2026-06-21"), ("2026-09-25", "2026-09-27"),
    ("2026-10-01", "2026-10-07"),
]  # fmt: skip

# Monday-Thursday days off inside the blocks that are not statutory days: play days only in practice.
IN_LIEU_WEEKDAYS = {
    "2025-02-03", "2025-02-04", "2025-05-05", "2025-06-02", "2025-10-07", "2025-10-08",
    "2026-02-23", "2026-04-06", "2026-05-04", "2026-05-05", "2026-10-05", "2026-10-06", "2026-10-07",
}  # fmt: skip

# (date, play day in practice, play day in literal)
ORDINARY_DAYS = [
    ("2025-03-06", False, False),  # Thursday
    ("2025-03-07", True, True),  # Friday
    ("2025-03-08", True, True),  # Saturday
    ("2025-03-09", True, True),  # Sunday
    ("2025-03-10", False, False),  # Monday
    ("2025-01-27", False, False),  # Monday before the Spring Festival block
    ("2025-10-09", False, False),  # Thursday after the National Day block
    ("2026-02-24", False, False),  # Tuesday after the Spring Festival block
    ("2026-11-19", False, False),  # Thursday
    ("2026-11-20", True, True),  # Friday
    ("2026-11-21", True, True),  # Saturday
    ("2026-11-22", True, True),  # Sunday
    ("2026-11-23", False, False),  # Monday
]


def _days(first: str, last: str) -> list[str]:
    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return [(start + dt.timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


HOLIDAY_DAYS = [
    (day, True, day not in IN_LIEU_WEEKDAYS) for first, last in HOLIDAY_BLOCKS for day in _days(first, last)
]
PLAY_DAY_TABLE = ORDINARY_DAYS + [(day, False, True) for day in MAKEUP_WORKDAYS] + HOLIDAY_DAYS


@pytest.fixture(scope="module")
def literal(tmp_path_factory: pytest.TempPathFactory) -> CompiledPolicy:
    """nppa-2021 read word for word: `calendar: {mode: literal}`."""
    directory: Path = tmp_path_factory.mktemp("literal")
    return custom(directory, "nppa-2021-literal", "extends: nppa-2021\ncalendar: {mode: literal}\n")


def policy_for(mode: str, literal: CompiledPolicy) -> CompiledPolicy:
    return preset("nppa-2021") if mode == "practice" else literal


def test_the_preset_reads_the_calendar_in_practice_and_the_tmp_policy_literally(
    literal: CompiledPolicy,
) -> None:
    """nppa-2021 uses the practice reading; the file extending it switches only the calendar mode."""
    assert preset("nppa-2021").policy.spec.calendar.mode.value == "practice"
    assert literal.policy.spec.calendar.mode.value == "literal"
    assert literal.policy.spec.game.play_windows == preset("nppa-2021").policy.spec.game.play_windows


@pytest.mark.parametrize("mode", ["practice", "literal"])
@pytest.mark.parametrize(
    ("day", "practice_play", "literal_play"), PLAY_DAY_TABLE, ids=[r[0] for r in PLAY_DAY_TABLE]
)
def test_a_minor_plays_at_20_30_exactly_on_play_days(
    day: str, practice_play: bool, literal_play: bool, mode: str, literal: CompiledPolicy
) -> None:
    """At 20:30 Beijing time a minor is served on a play day of the calendar mode, and refused otherwise."""
    cp = policy_for(mode, literal)
    decision = decide(cp, FIFTEEN, bj(f"{day} 20:30:00"))
    play_day = practice_play if mode == "practice" else literal_play
    if play_day:
        assert decision.outcome is Outcome.ALLOW, decision.detail
        assert decision.remaining_seconds == 30 * 60
    else:
        assert decision.outcome is Outcome.DENY
        assert decision.reason is Reason.OUTSIDE_PLAY_WINDOW
        assert decision.rule == "game.play_windows"
        assert decision.allowed_again_at is not None
        assert decision.allowed_again_at > bj(f"{day} 20:30:00")
        assert decision.allowed_again_at.isoformat()[10:] == "T20:00:00+08:00"


@pytest.mark.parametrize("mode", ["practice", "literal"])
@pytest.mark.parametrize(
    ("clock", "outcome", "remaining"),
    [
        ("19:59:59", "deny", None),
        ("20:00:00", "allow", 3600),
        ("20:59:59", "allow", 1),
        ("21:00:00", "deny", None),
    ],
)
def test_the_window_is_20_00_to_21_00_on_a_play_day(
    clock: str, outcome: str, remaining: int | None, mode: str, literal: CompiledPolicy
) -> None:
    """On a Friday the window opens at 20:00:00 and closes at 21:00:00 (half-open), in both modes."""
    decision = decide(policy_for(mode, literal), FIFTEEN, bj(f"2026-11-20 {clock}"))
    assert decision.outcome is Outcome(outcome)
    assert decision.remaining_seconds == remaining
    if outcome == "deny":
        assert decision.reason is Reason.OUTSIDE_PLAY_WINDOW


NEXT_WINDOW = [
    ("practice", "2026-11-23 20:30:00", "2026-11-27T20:00:00+08:00"),  # Monday -> Friday
    ("practice", "2026-11-20 21:00:00", "2026-11-21T20:00:00+08:00"),  # Friday after the window -> Saturday
    ("practice", "2026-11-22 21:00:00", "2026-11-27T20:00:00+08:00"),  # Sunday -> next Friday
    ("practice", "2026-11-20 19:59:59", "2026-11-20T20:00:00+08:00"),  # the same evening
    ("practice", "2025-01-26 20:30:00", "2025-01-28T20:00:00+08:00"),  # make-up Sunday -> 除夕 (Tuesday)
    ("practice", "2025-09-28 20:30:00", "2025-10-01T20:00:00+08:00"),  # make-up Sunday -> National Day
    ("practice", "2025-10-11 20:30:00", "2025-10-12T20:00:00+08:00"),  # make-up Saturday -> Sunday
    ("practice", "2026-01-04 20:30:00", "2026-01-09T20:00:00+08:00"),  # make-up Sunday -> Friday
    ("practice", "2026-02-13 21:00:00", "2026-02-15T20:00:00+08:00"),  # Friday -> skips make-up Saturday
    ("practice", "2026-02-14 20:30:00", "2026-02-15T20:00:00+08:00"),  # make-up Saturday -> holiday Sunday
    ("practice", "2026-10-10 20:30:00", "2026-10-11T20:00:00+08:00"),  # make-up Saturday -> Sunday
    ("practice", "2026-12-31 20:30:00", "2027-01-01T20:00:00+08:00"),  # Thursday -> a Friday without data
    ("literal", "2026-02-13 21:00:00", "2026-02-14T20:00:00+08:00"),  # Friday -> make-up Saturday plays
    ("literal", "2025-10-07 20:30:00", "2025-10-10T20:00:00+08:00"),  # in-lieu Tuesday -> Friday
    ("literal", "2026-02-23 20:30:00", "2026-02-27T20:00:00+08:00"),  # in-lieu Monday -> Friday
    ("literal", "2026-10-05 20:30:00", "2026-10-09T20:00:00+08:00"),  # in-lieu Monday -> Friday
    ("literal", "2026-09-30 21:00:00", "2026-10-01T20:00:00+08:00"),  # Wednesday -> statutory Thursday
]


@pytest.mark.parametrize(("mode", "at", "again"), NEXT_WINDOW, ids=[f"{m}@{a}" for m, a, _ in NEXT_WINDOW])
def test_outside_the_window_allowed_again_at_is_the_next_play_days_20_00(
    mode: str, at: str, again: str, literal: CompiledPolicy
) -> None:
    """A deny outside the window names 20:00 of the next play day of the calendar mode."""
    decision = decide(policy_for(mode, literal), FIFTEEN, bj(at))
    assert decision.outcome is Outcome.DENY
    assert decision.reason in (Reason.OUTSIDE_PLAY_WINDOW, Reason.CURFEW)
    assert iso(decision.allowed_again_at) == again
