"""Tests of the statutory holiday calendar and its operator override files.

Known data comes from the State Council's notices (国务院办公厅关于2025年/2026年部分节假日安排的通知) as
transcribed by the chinesecalendar package; the assertions double as evidence for the reading of the
package data described in minorguard/adapters/calendars.py.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minorguard.adapters import calendars, statutory
from minorguard.adapters.calendars import PACKAGE_SOURCE, StatutoryCalendar, load_override_file
from minorguard.errors import PolicyError
from minorguard.types import DayInfo, DayType

DATA = Path(__file__).parent / "data"
ERRORS = DATA / "calendar_errors"
SAMPLE = DATA / "override-2027-sample.yaml"
PACKAGE_FIRST = dt.date(2004, 1, 1)
PACKAGE_LAST = dt.date(2026, 12, 31)

# Built once at import: hypothesis refuses function-scoped fixtures, and the calendar is immutable.
CALENDAR = StatutoryCalendar()


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def days(first: str, last: str) -> list[dt.date]:
    start, end = day(first), day(last)
    return [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]


def info(text: str, calendar: StatutoryCalendar = CALENDAR) -> DayInfo:
    return calendar.day_info(day(text))


def statutory_in(calendar: StatutoryCalendar, year: int) -> list[dt.date]:
    return [d for d in days(f"{year}-01-01", f"{year}-12-31") if calendar.day_info(d).statutory]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- package years: known days ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("date", "name"),
    [
        ("2025-01-26", "Spring Festival"),
        ("2025-02-08", "Spring Festival"),
        ("2025-04-27", "Labour Day"),
        ("2025-09-28", "National Day"),
        ("2025-10-11", "National Day"),
        ("2026-01-04", "New Year's Day"),
        ("2026-02-14", "Spring Festival"),
        ("2026-02-28", "Spring Festival"),
        ("2026-05-09", "Labour Day"),
        ("2026-09-20", "National Day"),
        ("2026-10-10", "National Day"),
    ],
)
def test_weekend_makeup_workdays(date: str, name: str) -> None:
    assert day(date).weekday() >= 5
    assert info(date) == DayInfo(day(date), DayType.MAKEUP_WORKDAY, statutory=False, name=name)


def test_2025_national_day_block() -> None:
    assert info("2025-09-30").day_type is DayType.WORKING_DAY
    block = days("2025-10-01", "2025-10-08")
    assert all(CALENDAR.day_info(d).day_type is DayType.HOLIDAY for d in block)
    # National Day 10-01..03 and Mid-Autumn 10-06 (Monday); 10-04/05 weekend, 10-07/08 in lieu of 调休
    assert [d for d in block if CALENDAR.day_info(d).statutory] == [
        day("2025-10-01"),
        day("2025-10-02"),
        day("2025-10-03"),
        day("2025-10-06"),
    ]
    assert info("2025-10-06").name == "Mid-autumn Festival"
    assert {CALENDAR.day_info(d).name for d in block if d != day("2025-10-06")} == {"National Day"}
    assert info("2025-10-09").day_type is DayType.WORKING_DAY


def test_2026_spring_festival_block() -> None:
    assert info("2026-02-13").day_type is DayType.WORKING_DAY
    assert info("2026-02-14").day_type is DayType.MAKEUP_WORKDAY
    block = days("2026-02-15", "2026-02-23")  # 腊月二十八 (Sunday) .. 正月初七 (Monday), 9 days
    assert {CALENDAR.day_info(d).day_type for d in block} == {DayType.HOLIDAY}
    assert {CALENDAR.day_info(d).name for d in block} == {"Spring Festival"}
    # since 2025: 除夕 (02-16) and 初一..初三; 02-15/21/22 weekend days, 02-20/23 in lieu
    assert [d for d in block if CALENDAR.day_info(d).statutory] == days("2026-02-16", "2026-02-19")
    assert info("2026-02-24").day_type is DayType.WORKING_DAY
    assert info("2026-02-28").day_type is DayType.MAKEUP_WORKDAY


def test_weekend_days_inside_a_block_are_holidays_statutory_only_on_the_statutory_date() -> None:
    # the package lists the weekend days of "10月1日至7日放假调休" among its holidays
    assert day("2026-10-03") in chinese_calendar.holidays
    assert info("2026-10-03") == DayInfo(day("2026-10-03"), DayType.HOLIDAY, True, "National Day")
    assert info("2026-10-04") == DayInfo(day("2026-10-04"), DayType.HOLIDAY, False, "National Day")


def test_festival_on_a_saturday_is_statutory_and_its_compensating_monday_is_not() -> None:
    # 2025 Dragon Boat Festival: 5月31日（周六）至6月2日（周一）放假, the festival itself on Saturday
    assert info("2025-05-31") == DayInfo(day("2025-05-31"), DayType.HOLIDAY, True, "Dragon Boat Festival")
    assert info("2025-06-01").statutory is False
    assert info("2025-06-02") == DayInfo(day("2025-06-02"), DayType.HOLIDAY, False, "Dragon Boat Festival")
    # why is_in_lieu alone cannot decide: it marks 调休 days, not this 补休 day
    assert not chinese_calendar.is_in_lieu(day("2025-06-02"))


def test_in_lieu_days_are_holidays_and_not_statutory_but_one_package_error() -> None:
    for date in chinese_calendar.in_lieu_days:
        assert CALENDAR.day_info(date).day_type is DayType.HOLIDAY
    statutory = [d for d in sorted(chinese_calendar.in_lieu_days) if CALENDAR.day_info(d).statutory]
    # 2022-02-03 is 正月初三 (Spring Festival 2022-02-01), statutory by the decree. The 2022 notice
    # ("1月31日至2月6日放假调休", 1月29日、30日上班) puts the two 调休 days on 01-31 and 02-04; the
    # package marks 02-03 and 02-04, so its in-lieu list is not evidence of what is statutory.
    assert statutory == [day("2022-02-03")]
    assert day("2022-01-31") not in chinese_calendar.in_lieu_days
    assert info("2022-01-31") == DayInfo(day("2022-01-31"), DayType.HOLIDAY, False, "Spring Festival")


def test_a_day_joined_with_the_weekend_leaves_the_weekend_a_weekend() -> None:
    # 2024: "端午节：6月10日放假，与周末连休"
    assert info("2024-06-08").day_type is DayType.WEEKEND
    assert info("2024-06-09").day_type is DayType.WEEKEND
    assert info("2024-06-10") == DayInfo(day("2024-06-10"), DayType.HOLIDAY, True, "Dragon Boat Festival")


@pytest.mark.parametrize(
    ("date", "name", "statutory"),
    [
        ("2011-06-05", "Dragon Boat Festival", False),  # Sunday between the block's Saturday and Monday
        ("2012-06-23", "Dragon Boat Festival", True),  # the festival itself, missing from the package
        ("2015-06-21", "Dragon Boat Festival", False),
        ("2015-09-05", "Anti-Fascist 70th Day", False),  # "9月3日至5日调休放假"
    ],
)
def test_package_gaps_are_filled(date: str, name: str, statutory: bool) -> None:
    assert day(date) not in chinese_calendar.holidays
    assert info(date) == DayInfo(day(date), DayType.HOLIDAY, statutory, name)


def test_2015_victory_day_block() -> None:
    assert info("2015-09-03") == DayInfo(day("2015-09-03"), DayType.HOLIDAY, True, "Anti-Fascist 70th Day")
    assert info("2015-09-04").statutory is False  # 调休
    assert info("2015-09-06").day_type is DayType.MAKEUP_WORKDAY


@pytest.mark.parametrize(
    ("year", "count"),
    [
        (2004, 10),  # 1999 decree: New Year 1, Spring Festival 3, Labour Day 3, National Day 3
        (2007, 10),
        (2008, 11),  # 2007 revision: Labour Day 1; Qingming, Dragon Boat, Mid-Autumn added
        (2013, 11),
        (2014, 11),  # 2013 revision: Spring Festival 初一..初三 instead of 除夕..初二
        (2015, 12),  # + 2015-09-03
        (2020, 10),  # Mid-Autumn fell on National Day (10-01): one date, two festivals
        (2024, 11),
        (2025, 13),  # 2024 revision: 除夕 and Labour Day 05-02 added
        (2026, 13),
    ],
)
def test_statutory_days_per_year(year: int, count: int) -> None:
    assert len(statutory_in(CALENDAR, year)) == count


def test_spring_festival_statutory_days_follow_the_decree_in_force() -> None:
    assert statutory_names(2013, "Spring Festival") == days("2013-02-09", "2013-02-11")  # 除夕..初二
    assert statutory_names(2014, "Spring Festival") == days("2014-01-31", "2014-02-02")  # 初一..初三
    assert statutory_names(2025, "Spring Festival") == days("2025-01-28", "2025-01-31")  # 除夕..初三


def statutory_names(year: int, name: str) -> list[dt.date]:
    return [d for d in statutory_in(CALENDAR, year) if CALENDAR.day_info(d).name == name]


# Gregorian dates of the lunar festivals as the package's blocks show them (春节 正月初一, 端午 五月初五,
# 中秋 八月十五): the reference the lunar library is checked against.
LUNAR_NEW_YEAR = {
    2004: (1, 22), 2005: (2, 9), 2006: (1, 29), 2007: (2, 18), 2008: (2, 7), 2009: (1, 26),
    2010: (2, 14), 2011: (2, 3), 2012: (1, 23), 2013: (2, 10), 2014: (1, 31), 2015: (2, 19),
    2016: (2, 8), 2017: (1, 28), 2018: (2, 16), 2019: (2, 5), 2020: (1, 25), 2021: (2, 12),
    2022: (2, 1), 2023: (1, 22), 2024: (2, 10), 2025: (1, 29), 2026: (2, 17),
}  # fmt: skip
DRAGON_BOAT = {
    2008: (6, 8), 2009: (5, 28), 2010: (6, 16), 2011: (6, 6), 2012: (6, 23), 2013: (6, 12),
    2014: (6, 2), 2015: (6, 20), 2016: (6, 9), 2017: (5, 30), 2018: (6, 18), 2019: (6, 7),
    2020: (6, 25), 2021: (6, 14), 2022: (6, 3), 2023: (6, 22), 2024: (6, 10), 2025: (5, 31),
    2026: (6, 19),
}  # fmt: skip
MID_AUTUMN = {
    2008: (9, 14), 2009: (10, 3), 2010: (9, 22), 2011: (9, 12), 2012: (9, 30), 2013: (9, 19),
    2014: (9, 8), 2015: (9, 27), 2016: (9, 15), 2017: (10, 4), 2018: (9, 24), 2019: (9, 13),
    2020: (10, 1), 2021: (9, 21), 2022: (9, 10), 2023: (9, 29), 2024: (9, 17), 2025: (10, 6),
    2026: (9, 25),
}  # fmt: skip


@pytest.mark.parametrize(
    ("table", "lunar", "name"),
    [
        (LUNAR_NEW_YEAR, (1, 1), "Spring Festival"),
        (DRAGON_BOAT, (5, 5), "Dragon Boat Festival"),
        (MID_AUTUMN, (8, 15), "Mid-autumn Festival"),
    ],
)
def test_the_lunar_festivals_agree_with_the_package_blocks(
    table: dict[int, tuple[int, int]], lunar: tuple[int, int], name: str
) -> None:
    """lunar-python gives each festival on the date the State Council's blocks hold it, 2004-2026."""
    for year, (month, day_of_month) in table.items():
        date = dt.date(year, month, day_of_month)
        assert statutory.lunar_date(year, *lunar) == date
        found = CALENDAR.day_info(date)
        assert (found.day_type, found.statutory) == (DayType.HOLIDAY, True), date
        assert found.name in {name, "National Day"}, date  # 2020-10-01 is both festivals
        assert date in chinese_calendar.holidays or date == dt.date(2012, 6, 23), date


def test_every_statutory_day_of_the_package_years_lies_in_a_package_block() -> None:
    """The decree's days, computed, are days off in every year the State Council's data covers."""
    for year in range(PACKAGE_FIRST.year, PACKAGE_LAST.year + 1):
        for date in statutory.statutory_days(year):
            assert date in chinese_calendar.holidays or date in {dt.date(2012, 6, 23)}, date


def check_consistent_with_package(date: dt.date) -> None:
    found = CALENDAR.day_info(date)
    assert found.date == date
    assert found.known
    workday = chinese_calendar.is_workday(date)
    assert workday == (found.day_type in (DayType.WORKING_DAY, DayType.MAKEUP_WORKDAY)), found
    weekend = date.weekday() >= 5
    if found.day_type is DayType.MAKEUP_WORKDAY or found.day_type is DayType.WEEKEND:
        assert weekend, found
    if found.day_type is DayType.WORKING_DAY:
        assert not weekend, found
    if found.statutory:
        assert found.day_type is DayType.HOLIDAY, found
    assert (found.name is None) == (found.day_type in (DayType.WORKING_DAY, DayType.WEEKEND)), found


@settings(max_examples=500, deadline=None)
@given(st.dates(min_value=PACKAGE_FIRST, max_value=PACKAGE_LAST))
def test_property_day_type_agrees_with_chinese_calendar(date: dt.date) -> None:
    check_consistent_with_package(date)


def test_every_covered_day_agrees_with_chinese_calendar() -> None:
    for date in days(PACKAGE_FIRST.isoformat(), PACKAGE_LAST.isoformat()):
        check_consistent_with_package(date)


# -- days without data --------------------------------------------------------------------------


def test_a_2027_day_without_data_follows_the_weekday_rule() -> None:
    assert info("2027-03-01") == DayInfo(day("2027-03-01"), DayType.WORKING_DAY, known=False)  # Monday
    assert info("2027-03-06") == DayInfo(day("2027-03-06"), DayType.WEEKEND, known=False)  # Saturday
    assert info("2003-12-31") == DayInfo(day("2003-12-31"), DayType.WORKING_DAY, known=False)


@given(st.dates())
def test_property_day_info_never_raises(date: dt.date) -> None:
    found = CALENDAR.day_info(date)
    assert found.date == date
    if not PACKAGE_FIRST <= date <= PACKAGE_LAST:
        weekday_rule = DayType.WEEKEND if date.weekday() >= 5 else DayType.WORKING_DAY
        assert found == DayInfo(date, weekday_rule, known=False)


def test_datetime_is_answered_as_its_date_and_answers_are_cached() -> None:
    found = CALENDAR.day_info(dt.datetime(2025, 10, 1, 20, 30))
    assert type(found.date) is dt.date
    assert found is CALENDAR.day_info(day("2025-10-01"))


def test_construction_is_cheap() -> None:
    """Hot reload builds a calendar: the package's years are read once per process, and a calendar keeps
    only the special days (holidays, make-up days), never a table of every date. Counted, not timed."""
    calendars._package_years.cache_clear()
    StatutoryCalendar([SAMPLE])
    StatutoryCalendar([SAMPLE])
    built = calendars._package_years.cache_info()
    assert (built.misses, built.hits) == (1, 1)
    calendar = StatutoryCalendar([SAMPLE])
    for days in calendar._years.values():
        assert len(days) < 60  # about 30 days off and 5 make-up days a year; 365 would be a table
    assert calendar._cache == {}


def test_a_single_path_is_refused() -> None:
    with pytest.raises(TypeError, match="sequence of paths"):
        StatutoryCalendar(str(SAMPLE))


# -- coverage -----------------------------------------------------------------------------------


def test_coverage_of_the_package() -> None:
    assert CALENDAR.first_covered_date == PACKAGE_FIRST
    assert CALENDAR.last_covered_date == PACKAGE_LAST
    assert CALENDAR.covered_years == tuple(range(2004, 2027))
    assert CALENDAR.is_covered(day("2026-12-31"))
    assert not CALENDAR.is_covered(day("2027-01-01"))
    assert CALENDAR.source_of(2025) == PACKAGE_SOURCE
    assert CALENDAR.source_of(2027) is None
    assert CALENDAR.days_of_data_left(day("2026-12-01")) == 30
    assert CALENDAR.days_of_data_left(day("2026-12-31")) == 0
    assert CALENDAR.days_of_data_left(day("2027-01-01")) == 0


def test_coverage_with_overrides_stops_at_the_first_gap(tmp_path: Path) -> None:
    later = write(tmp_path, "2029.yaml", "year: 2029\nholidays: []\n")
    calendar = StatutoryCalendar([SAMPLE, later])
    assert calendar.last_covered_date == dt.date(2029, 12, 31)
    assert calendar.covered_years == (*range(2004, 2028), 2029)
    assert calendar.days_of_data_left(day("2026-12-01")) == 30 + 365  # through 2027-12-31
    assert calendar.days_of_data_left(day("2029-12-30")) == 1
    assert info("2028-03-01", calendar).known is False


# -- override files -----------------------------------------------------------------------------


def test_override_covers_2027() -> None:
    calendar = StatutoryCalendar([SAMPLE])
    assert calendar.last_covered_date == dt.date(2027, 12, 31)
    assert calendar.source_of(2027) == str(SAMPLE)
    assert info("2027-02-06", calendar) == DayInfo(
        day("2027-02-06"), DayType.HOLIDAY, True, "Spring Festival"
    )
    assert info("2027-02-09", calendar) == DayInfo(
        day("2027-02-09"), DayType.HOLIDAY, False, "Spring Festival"
    )
    assert info("2027-01-31", calendar).day_type is DayType.MAKEUP_WORKDAY
    assert info("2027-04-03", calendar).day_type is DayType.HOLIDAY  # quoted dates in the file
    assert info("2027-03-01", calendar) == DayInfo(day("2027-03-01"), DayType.WORKING_DAY)  # known
    assert info("2027-03-06", calendar) == DayInfo(day("2027-03-06"), DayType.WEEKEND)
    assert len(statutory_in(calendar, 2027)) == 13
    assert info("2026-10-01", calendar) == info("2026-10-01")  # package years untouched


def test_load_override_file_returns_the_blocks() -> None:
    loaded = load_override_file(SAMPLE)
    assert loaded.year == 2027
    assert loaded.file == str(SAMPLE)
    assert loaded.source == "synthetic test fixture (tests/adapters/test_calendars.py)"
    assert [b.name for b in loaded.holidays][:2] == ["New Year's Day", "Spring Festival"]
    assert loaded.holidays[2].start == day("2027-04-03")
    assert loaded.holidays[1].statutory == frozenset(days("2027-02-05", "2027-02-08"))
    assert [m.date for m in loaded.makeup_workdays][:2] == [day("2027-01-31"), day("2027-02-20")]
    assert (loaded.year_line, loaded.year_column) == (5, 7)


def test_override_replaces_a_package_year(tmp_path: Path) -> None:
    text = "year: 2026\nholidays:\n  - {name: Correction, from: 2026-03-02, to: 2026-03-02}\n"
    path = write(tmp_path, "2026.yaml", text)
    calendar = StatutoryCalendar([path])
    assert calendar.source_of(2026) == str(path)
    assert info("2026-03-02", calendar) == DayInfo(day("2026-03-02"), DayType.HOLIDAY, False, "Correction")
    assert info("2026-10-01", calendar) == DayInfo(day("2026-10-01"), DayType.WORKING_DAY)
    assert info("2026-02-14", calendar) == DayInfo(day("2026-02-14"), DayType.WEEKEND)
    assert info("2025-10-01", calendar) == info("2025-10-01")


def test_one_file_per_year() -> None:
    with pytest.raises(PolicyError) as raised:
        StatutoryCalendar([SAMPLE, SAMPLE])
    assert str(raised.value) == (
        f"{SAMPLE}:5:7  year  year 2027 is already covered by {SAMPLE}; use one file per year\n"
        "1 problem in 1 file"
    )


def test_problems_of_all_files_are_reported_together() -> None:
    first, second = ERRORS / "bad_year.yaml", ERRORS / "from_after_to.yaml"
    with pytest.raises(PolicyError) as raised:
        StatutoryCalendar([first, SAMPLE, second])
    assert str(raised.value) == (
        f"{first}:1:7  year  expected a year between 2000 and 2100; got 207\n"
        f"{second}:5:9  holidays[0].to  'to' 2027-05-01 is before 'from' 2027-05-05\n"
        "2 problems in 2 files"
    )


def test_missing_file() -> None:
    path = ERRORS / "no-such-file.yaml"
    with pytest.raises(PolicyError) as raised:
        load_override_file(path)
    assert [str(p) for p in raised.value.problems] == [
        f"{path}:1:1  (top)  cannot read the file: No such file or directory"
    ]


def test_several_problems_in_one_file_are_all_reported_in_file_order() -> None:
    path = ERRORS / "many_problems.yaml"
    with pytest.raises(PolicyError) as raised:
        load_override_file(path)
    assert str(raised.value) == "\n".join(
        [
            f"{path}:6:41  holidays[0].statutory[2]  "
            "statutory day 2027-10-08 is outside its block 2027-10-01..2027-10-07",
            f"{path}:9:9  holidays[1].to  'to' 2027-02-05 is before 'from' 2027-02-13",
            f"{path}:11:12  makeup_workdays[0].date  2027-10-02 is both a make-up workday and a day off "
            "of holidays[0] (National Day 2027-10-01..2027-10-07)",
            f"{path}:12:12  makeup_workdays[1].date  "
            "2027-10-11 is a Monday; a make-up workday (调休) is a Saturday or Sunday",
            f"{path}:13:6  makeup_workdays[2].dat  unknown key 'dat'; did you mean 'date'?",
            "5 problems in 1 file",
        ]
    )


ERROR_CASES = [
    (
        "yaml_syntax.yaml",
        "6:1  (top)  not valid YAML: expected ',' or ']', but got '<stream end>' "
        "(while parsing a flow sequence at line 5, column 9)",
    ),
    (
        "duplicate_key.yaml",
        '3:1  (top)  not valid YAML: found duplicate key "year" with value "2028" '
        '(original value: "2027") (while constructing a mapping at line 1, column 1)',
    ),
    ("empty.yaml", "1:1  (top)  the file is empty; expected the keys year, holidays, makeup_workdays"),
    (
        "not_a_mapping.yaml",
        "1:1  (top)  expected a mapping with the keys year, holidays, makeup_workdays; got a list",
    ),
    ("unknown_top_key.yaml", "2:1  holiday  unknown key 'holiday'; did you mean 'holidays'?"),
    ("unknown_key.yaml", "4:5  holidays[0].form  unknown key 'form'; did you mean 'from'?"),
    ("missing_key.yaml", "3:5  holidays[0]  missing required key 'to'"),
    ("bad_year.yaml", "1:7  year  expected a year between 2000 and 2100; got 207"),
    ("impossible_date.yaml", "4:11  holidays[0].from  expected a date (YYYY-MM-DD); got '2027-02-30'"),
    ("not_a_date.yaml", "4:11  holidays[0].from  expected a date (YYYY-MM-DD); got '5 Feb 2027'"),
    (
        "date_with_time.yaml",
        "4:11  holidays[0].from  expected a date without a time of day; got 2027-02-05 08:00:00",
    ),
    (
        "date_outside_year.yaml",
        "4:11  holidays[0].from  2026-12-31 is not in 2027; a file covers one calendar year",
    ),
    ("from_after_to.yaml", "5:9  holidays[0].to  'to' 2027-05-01 is before 'from' 2027-05-05"),
    (
        "makeup_not_weekend.yaml",
        "4:12  makeup_workdays[0].date  "
        "2027-02-08 is a Monday; a make-up workday (调休) is a Saturday or Sunday",
    ),
    (
        "holiday_and_makeup.yaml",
        "7:12  makeup_workdays[0].date  2027-02-06 is both a make-up workday and a day off of holidays[0] "
        "(Spring Festival 2027-02-05..2027-02-13)",
    ),
    (
        "statutory_outside_block.yaml",
        "6:29  holidays[0].statutory[1]  "
        "statutory day 2027-05-06 is outside its block 2027-05-01..2027-05-05",
    ),
    (
        "overlapping_blocks.yaml",
        "10:11  holidays[2].from  block 2027-10-06..2027-10-09 overlaps holidays[0] "
        "(National Day 2027-10-01..2027-10-07)",
    ),
    (
        "duplicate_block.yaml",
        "7:11  holidays[1].from  block 2027-05-01..2027-05-05 repeats holidays[0] "
        "(Labour Day 2027-05-01..2027-05-05)",
    ),
    (
        "duplicate_makeup.yaml",
        "5:12  makeup_workdays[1].date  2027-02-20 is listed twice (also makeup_workdays[0])",
    ),
    (
        "duplicate_statutory.yaml",
        "6:29  holidays[0].statutory[1]  2027-05-01 is listed twice (also statutory[0])",
    ),
    ("empty_name.yaml", "3:11  holidays[0].name  expected non-empty text; got ''"),
]


@pytest.mark.parametrize(("name", "expected"), ERROR_CASES, ids=[name for name, _ in ERROR_CASES])
def test_bad_file_is_reported_exactly(name: str, expected: str) -> None:
    path = ERRORS / name
    with pytest.raises(PolicyError) as raised:
        load_override_file(path)
    assert str(raised.value) == f"{path}:{expected}\n1 problem in 1 file"


def test_wrong_shapes_are_reported_at_their_place() -> None:
    path = ERRORS / "wrong_shapes.yaml"
    with pytest.raises(PolicyError) as raised:
        load_override_file(path)
    assert [str(p) for p in raised.value.problems] == [
        f"{path}:3:5  holidays[0]  "
        "expected a mapping with the keys name, from, to, statutory; got 2027-05-01",
        f"{path}:4:1  makeup_workdays  expected a list (write [] for none); got nothing",
    ]


def test_every_error_fixture_is_tested() -> None:
    tested = {name for name, _ in ERROR_CASES} | {"many_problems.yaml", "wrong_shapes.yaml"}
    assert {p.name for p in ERRORS.glob("*.yaml")} == tested
