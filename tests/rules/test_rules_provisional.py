"""2027 and every year after (issue 18 item 3): until the State Council publishes a year, its statutory
days (the decree's 13, from the lunar calendar) are holidays, provisionally, and every answer on such a
day says so with a `calendar_provisional` warning, refusals included."""

from __future__ import annotations

import pytest
from rulekit import bj, custom, decide, decide_json, person, preset

from minorguard.rules.compiled import CompiledPolicy
from minorguard.types import Reason, WarningCode

AGE_15 = person("2011-05-01")
PROVISIONAL = WarningCode.CALENDAR_PROVISIONAL

# 2027: 除夕 02-05 (Fri) to 初三 02-08; 清明 04-05; 劳动 05-01/02; 端午 06-09; 中秋 09-15; 国庆 10-01..03
STATUTORY_2027 = [
    "2027-01-01", "2027-02-05", "2027-02-06", "2027-02-07", "2027-02-08", "2027-04-05", "2027-05-01",
    "2027-05-02", "2027-06-09", "2027-09-15", "2027-10-01", "2027-10-02", "2027-10-03",
]  # fmt: skip


@pytest.mark.parametrize("date", STATUTORY_2027)
def test_the_statutory_days_of_2027_are_provisional_holidays(date: str) -> None:
    """nppa-2021 serves a 15-year-old 20:00-21:00 on each of the 13 statutory days of 2027, a weekday
    among them, with the provisional flag."""
    result = decide_json(preset("nppa-2021"), AGE_15, bj(f"{date} 20:30:00"))
    assert (result["outcome"], result["day_type"], result["calendar_known"]) == ("allow", "holiday", False)
    assert [w["code"] for w in result["warnings"]] == ["calendar_provisional"]  # type: ignore[attr-defined]


def test_the_spring_festival_monday_of_2027_is_a_play_day_and_was_not_before() -> None:
    """The issue's case: 2027-02-08 (初三, a Monday) used to be refused as an ordinary Monday."""
    decision = decide(preset("nppa-2021"), AGE_15, bj("2027-02-08 20:30:00"))
    assert decision.allowed
    assert "Spring Festival" in decision.warnings[0].message


def test_a_refusal_on_a_provisional_day_carries_the_flag_too() -> None:
    """2027-02-09 (a Tuesday whose status the notice will settle) is refused, and the refusal says the
    calendar is provisional."""
    decision = decide(preset("nppa-2021"), AGE_15, bj("2027-02-09 20:30:00"))
    assert decision.reason is Reason.OUTSIDE_PLAY_WINDOW
    assert [w.code for w in decision.warnings] == [PROVISIONAL]


def test_nppa_2019_gives_three_hours_on_a_provisional_national_day() -> None:
    """N19 §2: 3 hours on statutory holidays, 2027-10-01 included."""
    cp = preset("nppa-2019")
    assert decide(cp, AGE_15, bj("2027-10-01 10:00:00"), played=5400).allowed
    assert decide(cp, AGE_15, bj("2027-10-01 10:00:00"), played=3 * 3600).reason is Reason.DAILY_PLAY_LIMIT


@pytest.mark.parametrize(
    ("date", "festival"), [("2028-01-25", "Spring Festival"), ("2035-02-07", "Spring Festival")]
)
def test_every_later_year_has_its_provisional_statutory_days(date: str, festival: str) -> None:
    """除夕 of 2028 (a Tuesday) and of 2035 (a Wednesday) are provisional holidays as well."""
    decision = decide(preset("nppa-2021"), person("2025-05-01"), bj(f"{date} 20:30:00"))
    assert decision.allowed
    assert festival in decision.warnings[0].message


def test_weekday_rule_keeps_the_old_reading(tmp_path_factory: pytest.TempPathFactory) -> None:
    """missing_data: weekday_rule does not compute holidays: 2027-02-08 is a Monday, refused."""
    cp: CompiledPolicy = custom(
        tmp_path_factory.mktemp("weekday"),
        "weekday",
        "extends: nppa-2021\ncalendar: {missing_data: weekday_rule}\n",
    )
    decision = decide(cp, AGE_15, bj("2027-02-08 20:30:00"))
    assert decision.reason is Reason.OUTSIDE_PLAY_WINDOW
    assert [w.code for w in decision.warnings] == [WarningCode.CALENDAR_NO_DATA]


def test_a_covered_year_has_no_provisional_flag() -> None:
    """2026 is in the official data: no warning."""
    assert decide(preset("nppa-2021"), AGE_15, bj("2026-10-05 20:30:00")).warnings == ()
