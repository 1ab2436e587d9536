"""Days the holiday data does not cover (2027 with chinesecalendar 1.11): flagged `calendar_known:
false`; with `missing_data: weekday_rule` judged by their weekday alone, with `missing_data: deny` no
game service on them under a policy whose rules need the calendar. The default, `provisional`, is in
test_rules_provisional.py."""

from __future__ import annotations

import pytest
from rulekit import bj, custom, decide, decide_json, iso, person, preset

from minorguard.rules.compiled import CompiledPolicy
from minorguard.types import Activity, Outcome, Reason

AGE_15 = person("2011-05-01")


@pytest.fixture(scope="module")
def deny_2021(tmp_path_factory: pytest.TempPathFactory) -> CompiledPolicy:
    body = "extends: nppa-2021\ncalendar: {missing_data: deny}\n"
    return custom(tmp_path_factory.mktemp("deny-2021"), "nppa-2021-strict", body)


@pytest.fixture(scope="module")
def weekday_2021(tmp_path_factory: pytest.TempPathFactory) -> CompiledPolicy:
    body = "extends: nppa-2021\ncalendar: {missing_data: weekday_rule}\n"
    return custom(tmp_path_factory.mktemp("weekday-2021"), "nppa-2021-weekday", body)


@pytest.fixture(scope="module")
def weekday_2019(tmp_path_factory: pytest.TempPathFactory) -> CompiledPolicy:
    body = 'extends: nppa-2019\ncalendar: {missing_data: weekday_rule}\ngame: {guest: {mode: "off"}}\n'
    return custom(tmp_path_factory.mktemp("weekday-2019"), "nppa-2019-weekday", body)


@pytest.fixture(scope="module")
def deny_law(tmp_path_factory: pytest.TempPathFactory) -> CompiledPolicy:
    body = "extends: law-minimum\ncalendar: {missing_data: deny}\n"
    return custom(tmp_path_factory.mktemp("deny-law"), "law-minimum-strict", body)


@pytest.mark.parametrize(
    ("at", "outcome", "day_type"),
    [
        ("2027-01-04 20:30:00", "deny", "working_day"),  # Monday
        ("2027-01-08 20:30:00", "allow", "working_day"),  # Friday
        ("2027-01-09 20:30:00", "allow", "weekend"),  # Saturday
        ("2027-10-04 20:30:00", "deny", "working_day"),  # a Monday; its holidays are not known yet
    ],
)
def test_a_day_without_calendar_data_is_judged_by_its_weekday(
    at: str, outcome: str, day_type: str, weekday_2021: CompiledPolicy
) -> None:
    """nppa-2021 with weekday_rule plays Fri/Sat/Sun of 2027 and says the calendar was unknown."""
    result = decide_json(weekday_2021, AGE_15, bj(at))
    assert result["outcome"] == outcome
    assert result["day_type"] == day_type
    assert result["calendar_known"] is False
    if outcome == "deny":
        assert result["reason"] == "outside_play_window"


@pytest.mark.parametrize(
    ("name", "at"), [("weekday_2021", "2027-01-08 20:30:00"), ("weekday_2019", "2027-01-04 10:00:00")]
)
def test_an_allow_on_a_day_without_calendar_data_warns_calendar_no_data(
    name: str, at: str, request: pytest.FixtureRequest
) -> None:
    """missing_data: weekday_rule judges the day by its weekday *and warns*: the allow carries a
    calendar_no_data warning (policies whose windows or play time need the calendar)."""
    result = decide_json(request.getfixturevalue(name), AGE_15, bj(at))
    assert result["outcome"] == "allow"
    assert [w["code"] for w in result["warnings"]] == ["calendar_no_data"]  # type: ignore[attr-defined]


def test_an_allow_on_a_day_with_calendar_data_has_no_calendar_warning() -> None:
    """A covered day (2026) carries no calendar_no_data warning."""
    assert decide(preset("nppa-2021"), AGE_15, bj("2026-11-20 20:30:00")).warnings == ()


def test_a_day_with_calendar_data_is_known() -> None:
    """2026 is covered: calendar_known is true and holidays have their day type."""
    result = decide_json(preset("nppa-2021"), AGE_15, bj("2026-10-05 20:30:00"))
    assert (result["outcome"], result["day_type"], result["calendar_known"]) == ("allow", "holiday", True)


def test_nppa_2019_uses_the_working_day_limit_on_an_unknown_holiday(weekday_2019: CompiledPolicy) -> None:
    """With weekday_rule, 2027-10-01 (a Friday, National Day in fact) is a working day: 90 minutes."""
    decision = decide(weekday_2019, AGE_15, bj("2027-10-01 10:00:00"), played=5400)
    assert decision.reason is Reason.DAILY_PLAY_LIMIT


@pytest.mark.parametrize("clock", ["20:30:00", "10:00:00", "23:00:00"])
def test_missing_data_deny_refuses_game_on_a_day_without_data(clock: str, deny_2021: CompiledPolicy) -> None:
    """With `missing_data: deny` a minor gets calendar_no_data on a 2027 Friday, whatever the hour."""
    decision = decide(deny_2021, AGE_15, bj(f"2027-01-08 {clock}"))
    assert (decision.outcome, decision.reason, decision.rule) == (
        Outcome.DENY,
        Reason.CALENDAR_NO_DATA,
        "calendar",
    )
    assert decision.allowed_again_at is None


def test_missing_data_deny_does_not_promise_a_window_on_a_day_without_data(deny_2021: CompiledPolicy) -> None:
    """After the last 2026 window every later play day lacks data: the only promise left is the 18th
    birthday (adults need no calendar)."""
    decision = decide(deny_2021, AGE_15, bj("2026-12-27 21:00:00"))
    assert decision.reason is Reason.OUTSIDE_PLAY_WINDOW
    assert iso(decision.allowed_again_at) == "2029-05-01T00:00:00+08:00"
    assert decide(deny_2021, AGE_15, bj("2029-05-01 00:00:00")).allowed


def test_missing_data_deny_leaves_known_days_alone(deny_2021: CompiledPolicy) -> None:
    """2026 has data: a Friday window is served as usual."""
    assert decide(deny_2021, AGE_15, bj("2026-11-20 20:30:00")).allowed


def test_missing_data_deny_does_not_touch_adults_or_payments(deny_2021: CompiledPolicy) -> None:
    """Adults play and minors pay on a day without data: neither needs the holiday calendar."""
    assert decide(deny_2021, person("1990-01-01"), bj("2027-01-08 20:30:00")).allowed
    assert decide(deny_2021, AGE_15, bj("2027-01-08 12:00:00"), Activity.PURCHASE, amount=100).allowed


def test_missing_data_deny_needs_a_rule_that_uses_the_calendar(deny_law: CompiledPolicy) -> None:
    """law-minimum has neither windows nor play time: a 2027 weekday morning is served; the curfew stays."""
    assert decide(deny_law, AGE_15, bj("2027-01-04 10:00:00")).allowed
    assert decide(deny_law, AGE_15, bj("2027-01-04 23:00:00")).reason is Reason.CURFEW
