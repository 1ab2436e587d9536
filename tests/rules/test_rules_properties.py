"""Properties over any instant of 2025-2026 and any minor: the curfew is never broken, nppa-2021 serves
minors only inside its window on play days, and a deny's allowed_again_at is a real promise."""

from __future__ import annotations

import datetime as dt

import chinese_calendar
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from rulekit import PLUS8, PRESETS_WITH_CURFEW, UTC, custom, decide, person, preset

from minorguard.policy.schema import BirthdayRule
from minorguard.policy.values import minutes_of
from minorguard.rules.age import age_on, anniversary, band_for_age
from minorguard.rules.compiled import CompiledPolicy
from minorguard.types import Activity, AgeBand, Outcome, Reason, Subject

PROPERTY = settings(max_examples=200, deadline=None, derandomize=True)
FIRST, LAST = dt.date(2025, 1, 1), dt.date(2026, 12, 31)
GAME_PRESETS = ("law-minimum", "nppa-2019", "nppa-2021", "minor-mode-2024")
BAND_ORDER = {AgeBand.UNDER_8: 0, AgeBand.AGE_8_15: 1, AgeBand.AGE_16_17: 2, AgeBand.ADULT: 3}

# The 13 statutory holiday days of 2025 and of 2026 (全国年节及纪念日放假办法 as amended in 2024).
STATUTORY = {
    dt.date.fromisoformat(day)
    for day in (
        "2025-01-01", "2025-01-28", "2025-01-29", "2025-01-30", "2025-01-31", "2025-04-04", "2025-05-01",
        "2025-05-02", "2025-05-31", "2025-10-01", "2025-10-02", "2025-10-03", "2025-10-06",
        "2026-01-01", "2026-02-16", "2026-02-17", "2026-02-18", "2026-02-19", "2026-04-05", "2026-05-01",
        "2026-05-02", "2026-06-19", "2026-09-25", "2026-10-01", "2026-10-02", "2026-10-03",
    )
}  # fmt: skip


def practice_play_day(day: dt.date) -> bool:
    """regulations §2 (practice): a day off per the State Council schedule, or a Friday."""
    return not chinese_calendar.is_workday(day) or day.weekday() == 4


def literal_play_day(day: dt.date) -> bool:
    """N21 §1 word for word: Friday, Saturday, Sunday, or a statutory holiday day."""
    return day.weekday() >= 4 or day in STATUTORY


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return dt.date(day.year - years, 3, 1)


@st.composite
def beijing_instants(draw: st.DrawFn, seconds: st.SearchStrategy[int] | None = None) -> dt.datetime:
    """An instant of 2025-2026, written in +08:00 or in UTC."""
    day = draw(st.dates(FIRST, LAST))
    second = draw(seconds if seconds is not None else st.integers(0, 86399))
    local = dt.datetime.combine(day, dt.time(0), tzinfo=PLUS8) + dt.timedelta(seconds=second)
    return local.astimezone(UTC) if draw(st.booleans()) else local


@st.composite
def minors_at(draw: st.DrawFn, at: dt.datetime) -> Subject:
    """A verified person who is 0-17 years old on the Beijing date of `at` (each age about as likely)."""
    today = at.astimezone(PLUS8).date()
    age = draw(st.integers(0, 17))
    born = _years_before(today, age) - dt.timedelta(days=draw(st.integers(0, 364)))
    born = max(born, _years_before(today, 18) + dt.timedelta(days=1))
    return person(born.isoformat())


def curfew_seconds(cp: CompiledPolicy) -> st.SearchStrategy[int]:
    curfew = cp.policy.spec.game.curfew
    start, end = minutes_of(curfew.start) * 60, minutes_of(curfew.end) * 60
    assert start > end, "the presets' curfews cross midnight"
    return st.one_of(st.integers(start, 86399), st.integers(0, end - 1))


@PROPERTY
@given(name=st.sampled_from(PRESETS_WITH_CURFEW), data=st.data())
def test_no_instant_inside_a_curfew_is_ever_allowed_for_a_minor(name: str, data: st.DataObject) -> None:
    """Whatever the preset, the day, the minor and the play time so far: inside the curfew, a deny."""
    cp = preset(name)
    at = data.draw(beijing_instants(curfew_seconds(cp)), label="at")
    minor = data.draw(minors_at(at), label="minor")
    played = data.draw(st.integers(0, 4 * 3600), label="played")
    decision = decide(cp, minor, at, played=played)
    assert decision.outcome is Outcome.DENY
    assert decision.reason is Reason.CURFEW


@pytest.fixture(scope="module")
def literal(tmp_path_factory: pytest.TempPathFactory) -> CompiledPolicy:
    directory = tmp_path_factory.mktemp("literal-property")
    return custom(directory, "nppa-2021-literal", "extends: nppa-2021\ncalendar: {mode: literal}\n")


EVENING_BIASED = st.one_of(st.integers(0, 86399), st.integers(19 * 3600, 22 * 3600 - 1))
DAYTIME_BIASED = st.one_of(EVENING_BIASED, st.integers(6 * 3600, 22 * 3600 - 1))


@pytest.mark.parametrize("mode", ["practice", "literal"])
@PROPERTY
@given(data=st.data())
def test_nppa_2021_serves_a_minor_only_20_00_to_21_00_on_play_days(
    mode: str, literal: CompiledPolicy, data: st.DataObject
) -> None:
    """An allowed instant for a minor is inside 20:00-21:00 Beijing time on a play day of the mode, and
    with play time left every such instant is allowed."""
    cp = preset("nppa-2021") if mode == "practice" else literal
    play_day = practice_play_day if mode == "practice" else literal_play_day
    at = data.draw(beijing_instants(EVENING_BIASED), label="at")
    minor = data.draw(minors_at(at), label="minor")
    played = data.draw(st.integers(0, 3700), label="played")
    local = at.astimezone(PLUS8)
    in_window = 20 <= local.hour < 21 and play_day(local.date())
    decision = decide(cp, minor, at, played=played)
    if decision.allowed:
        assert in_window, f"allowed at {local.isoformat()} ({local:%A})"
        assert decision.remaining_seconds is not None
        assert (
            0
            < decision.remaining_seconds
            <= min(3600 - played, 21 * 3600 - local.hour * 3600 - local.minute * 60 - local.second)
        )
    elif in_window and played < 3600:
        pytest.fail(f"refused at {local.isoformat()} with {played} s played: {decision.reason}")


@pytest.mark.parametrize("mode", ["practice", "literal"])
@PROPERTY
@given(data=st.data())
def test_nppa_2021_never_serves_a_minor_after_one_hour_of_play(
    mode: str, literal: CompiledPolicy, data: st.DataObject
) -> None:
    """N21 §1 gives minors one hour (一小时) on a play day, holidays included: with 60 minutes played,
    every instant of the window is refused for the daily limit."""
    cp = preset("nppa-2021") if mode == "practice" else literal
    at = data.draw(beijing_instants(st.integers(20 * 3600, 21 * 3600 - 1)), label="at")
    minor = data.draw(minors_at(at), label="minor")
    played = data.draw(st.integers(3600, 4 * 3600), label="played")
    decision = decide(cp, minor, at, played=played)
    assert decision.outcome is Outcome.DENY, f"{played} s played, still allowed at {at.astimezone(PLUS8)}"
    assert decision.reason in (Reason.OUTSIDE_PLAY_WINDOW, Reason.DAILY_PLAY_LIMIT)


def _check_promise(
    cp: CompiledPolicy, minor: Subject, at: dt.datetime, played: int, rating: int | None
) -> None:
    decision = decide(cp, minor, at, played=played, game_rating=rating)
    event(f"{decision.reason.value}, allowed_again_at {'set' if decision.allowed_again_at else 'None'}")
    if decision.outcome is Outcome.ALLOW or decision.allowed_again_at is None:
        return
    again = decision.allowed_again_at
    assert again > at
    assert again.utcoffset() == dt.timedelta(hours=8)
    later = decide(cp, minor, again, played=0, game_rating=rating)
    if decision.reason is Reason.GAME_RATING:  # age-based: the promise lies on or after the birthday
        assert rating is not None
        assert minor.birthdate is not None
        assert age_on(minor.birthdate, again.astimezone(PLUS8).date(), cp.policy.spec.birthday) >= rating
    assert later.outcome is Outcome.ALLOW, (
        f"denied {decision.reason} at {at.isoformat()}, promised {again.isoformat()}, "
        f"but then denied {later.reason} ({later.detail})"
    )
    if again - dt.timedelta(seconds=1) > at:  # the promise is the earliest such instant
        earlier = decide(cp, minor, again - dt.timedelta(seconds=1), played=0, game_rating=rating)
        assert earlier.outcome is Outcome.DENY, f"already allowed 1 s before {again.isoformat()}"


@pytest.fixture(scope="module")
def day_after(tmp_path_factory: pytest.TempPathFactory) -> CompiledPolicy:
    directory = tmp_path_factory.mktemp("day-after-property")
    return custom(directory, "nppa-2021-day-after", "extends: nppa-2021\nbirthday: day_after\n")


@pytest.mark.parametrize("name", [*GAME_PRESETS, "nppa-2021-literal", "nppa-2021-day-after"])
@PROPERTY
@given(data=st.data())
def test_a_game_denys_allowed_again_at_is_later_and_then_allowed(
    name: str, literal: CompiledPolicy, day_after: CompiledPolicy, data: st.DataObject
) -> None:
    """A schedule, daily-limit or rating deny names a later instant at which the same minor, with nothing
    played yet, is allowed (and 1 s earlier is not); for a rating, one on or after the birthday."""
    cp = {"nppa-2021-literal": literal, "nppa-2021-day-after": day_after}.get(name) or preset(name)
    at = data.draw(beijing_instants(DAYTIME_BIASED), label="at")
    minor = data.draw(minors_at(at), label="minor")
    played = data.draw(st.sampled_from([0, 3600, 5400, 7200, 10800]), label="played")
    rating = data.draw(st.sampled_from([None] * 6 + [12, 16]), label="rating")
    _check_promise(cp, minor, at, played, rating)


@PROPERTY
@given(
    activity=st.sampled_from(
        [Activity.PURCHASE, Activity.LIVESTREAM_TIP, Activity.LIVESTREAM_PUBLISHER_REGISTRATION]
    ),
    data=st.data(),
)
def test_a_money_or_account_denys_allowed_again_at_is_later_and_then_allowed(
    activity: Activity, data: st.DataObject
) -> None:
    """Age-based denies (under 8 paying, under 16 registering, minors tipping) and monthly caps name an
    instant at which the same request, with nothing spent in the new month, is allowed."""
    cp = preset("nppa-2019" if activity is Activity.PURCHASE else "livestream-2022")
    at = data.draw(beijing_instants(), label="at")
    minor = data.draw(minors_at(at), label="minor")
    consenting = person(
        minor.birthdate.isoformat() if minor.birthdate else None, consent=("livestream_publisher",)
    )
    amount = data.draw(st.integers(1, 5000), label="amount")
    month_spent = data.draw(st.integers(15001, 45000), label="month_spent")
    decision = decide(cp, consenting, at, activity, amount=amount, month_spent=month_spent)
    event(f"{activity.value}: {decision.reason.value}")
    if decision.outcome is Outcome.ALLOW or decision.allowed_again_at is None:
        return
    again = decision.allowed_again_at
    assert again > at
    later = decide(cp, consenting, again, activity, amount=amount, month_spent=0)
    assert later.outcome is Outcome.ALLOW, f"{decision.reason} → {again.isoformat()} → {later.reason}"


@PROPERTY
@given(
    born=st.dates(dt.date(1990, 1, 1), dt.date(2026, 12, 31)),
    first=st.dates(dt.date(1990, 1, 1), dt.date(2030, 12, 31)),
    step=st.integers(0, 800),
    rule=st.sampled_from(list(BirthdayRule)),
)
def test_age_band_is_monotone_in_time(born: dt.date, first: dt.date, step: int, rule: BirthdayRule) -> None:
    """Later never means younger: age and band only grow, by one year at the anniversary's midnight."""
    if first <= born:  # from the day after birth on (the day of birth itself: see the newborn test)
        first = born + dt.timedelta(days=1)
    second = first + dt.timedelta(days=step)
    age1, age2 = age_on(born, first, rule), age_on(born, second, rule)
    assert 0 <= age1 <= age2
    assert BAND_ORDER[band_for_age(age1)] <= BAND_ORDER[band_for_age(age2)]
    turns = anniversary(born, age1 + 1, rule)
    assert turns > first
    assert age_on(born, turns, rule) == age1 + 1
    assert age_on(born, turns - dt.timedelta(days=1), rule) == age1


@pytest.mark.parametrize("rule", list(BirthdayRule))
def test_a_newborn_is_0_years_old_on_the_day_of_birth(rule: BirthdayRule) -> None:
    """On the day of birth the age is 0 under either birthday rule, never negative."""
    born = dt.date(2026, 3, 10)
    assert age_on(born, born, rule) == 0
    assert age_on(born, born + dt.timedelta(days=1), rule) == 0
