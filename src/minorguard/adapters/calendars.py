"""The statutory holiday calendar of mainland China: what kind of day a local date is.

Why it matters: the NPPA notice 国新出发〔2021〕14号 §1 allows online games to serve minors only on
Fridays, Saturdays, Sundays and statutory holidays (法定节假日), 20:00-21:00. Whether a date is a
holiday, a weekend or a make-up working day (调休: a Saturday or Sunday declared a working day, on which
the weekend window does not apply) therefore decides the play window. The policy layer decides what to do
with each day type, and with days the calendar has no data for; this module only answers.

Sources:

- the `chinesecalendar` package (PyPI), transcribing the State Council's annual notices
  (国务院办公厅关于YYYY年部分节假日安排的通知), 2004-2026 at version 1.11;
- the 全国年节及纪念日放假办法 (State Council decree 270, 1999; revised by decrees 513 (2007), 644
  (2013) and 795 (2024)) for which days of a block are the statutory days themselves;
- operator override files (`minorguard.adapters.calendar_file`) for later years or corrections.

Day types (`minorguard.types.DayType`):

- HOLIDAY: every day off of an official block: statutory days, weekend days inside the block and
  weekdays given off in exchange for make-up days (调休) or for a festival on a weekend (补休).
  `statutory` is True only for the statutory days, whatever the weekday: 2025-05-31 (Dragon Boat
  Festival, a Saturday) is statutory, 2025-06-02 (its Monday 补休) is not.
- MAKEUP_WORKDAY: a Saturday or Sunday the notice declares a working day.
- WEEKEND, WORKING_DAY: every other Saturday/Sunday, Monday-Friday.

Reading the package data (checked against it, see tests/adapters/test_calendars.py):

- `chinese_calendar.holidays` lists the days off of each block, weekend days included when the notice
  names them ("10月1日至7日放假调休": 2026-10-03, a Saturday, is listed). When a notice gives one day off
  "与周末连休" (joined with the weekend, e.g. 2024-06-10) it lists only that day, and the weekend stays a
  WEEKEND here too: the NPPA windows treat both alike, and the notice does not call it a holiday.
- `chinese_calendar.in_lieu_days` marks only the 调休 weekdays (2025-10-07/08), not 补休 days
  (2025-06-02), and once the wrong weekday (2022-02-03, 正月初三, instead of 2022-01-31), so it cannot
  tell statutory days from the others; the statutory days are computed from the decree in force each
  year and the festival dates below, and `is_in_lieu` is not used.
- Three gaps are filled: a weekend day enclosed by days off of the same block (2011-06-05, 2015-06-21),
  a statutory day missing from the list (2012-06-23, Dragon Boat Festival, "6月22日至24日放假"), and
  2015-09-05, which the State Council notice of 2015-05-13 includes ("9月3日至5日调休放假，共3天").
"""

# ruff: noqa: RUF002  (the docstrings quote official Chinese titles verbatim: 〔2021〕, full-width commas)

from __future__ import annotations

import datetime as dt
import functools
import itertools
import os
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Final

import chinese_calendar

from minorguard.adapters.calendar_file import OverrideYear, load_override_file
from minorguard.errors import PolicyError, Problem
from minorguard.types import DayInfo, DayType

__all__ = ["PACKAGE_SOURCE", "StatutoryCalendar", "load_override_file"]

PACKAGE_SOURCE: Final = f"chinesecalendar {chinese_calendar.__version__}"

_NAMES = chinese_calendar.Holiday  # the package's festival names, so both sources name days alike
_ONE_DAY = dt.timedelta(days=1)
_CACHE_LIMIT = 50_000  # > every covered day; bounds memory if callers ask about arbitrary dates

# Gregorian dates of the lunar festivals (春节 = 正月初一, 端午 = 五月初五, 中秋 = 八月十五). Each one lies
# in the package block of that festival (tested), which is how this table was checked. A newer package
# covering a later year still loads without an entry here: that year's lunar festival days are then
# HOLIDAY but not flagged statutory (the cautious side) until the table grows; a test fails meanwhile.
_LUNAR_NEW_YEAR: Final = {
    2004: (1, 22), 2005: (2, 9), 2006: (1, 29), 2007: (2, 18), 2008: (2, 7), 2009: (1, 26),
    2010: (2, 14), 2011: (2, 3), 2012: (1, 23), 2013: (2, 10), 2014: (1, 31), 2015: (2, 19),
    2016: (2, 8), 2017: (1, 28), 2018: (2, 16), 2019: (2, 5), 2020: (1, 25), 2021: (2, 12),
    2022: (2, 1), 2023: (1, 22), 2024: (2, 10), 2025: (1, 29), 2026: (2, 17),
}  # fmt: skip
_DRAGON_BOAT: Final = {
    2008: (6, 8), 2009: (5, 28), 2010: (6, 16), 2011: (6, 6), 2012: (6, 23), 2013: (6, 12),
    2014: (6, 2), 2015: (6, 20), 2016: (6, 9), 2017: (5, 30), 2018: (6, 18), 2019: (6, 7),
    2020: (6, 25), 2021: (6, 14), 2022: (6, 3), 2023: (6, 22), 2024: (6, 10), 2025: (5, 31),
    2026: (6, 19),
}  # fmt: skip
_MID_AUTUMN: Final = {
    2008: (9, 14), 2009: (10, 3), 2010: (9, 22), 2011: (9, 12), 2012: (9, 30), 2013: (9, 19),
    2014: (9, 8), 2015: (9, 27), 2016: (9, 15), 2017: (10, 4), 2018: (9, 24), 2019: (9, 13),
    2020: (10, 1), 2021: (9, 21), 2022: (9, 10), 2023: (9, 29), 2024: (9, 17), 2025: (10, 6),
    2026: (9, 25),
}  # fmt: skip

# One-off statutory day: 国务院关于中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日调休放假的通知 (2015).
_SPECIAL_STATUTORY: Final = {dt.date(2015, 9, 3): "Anti-Fascist 70th Day"}
# Days off the notices name but chinesecalendar 1.11 omits (same notice: "9月3日至5日调休放假").
_PACKAGE_OMISSIONS: Final = {dt.date(2015, 9, 5): "Anti-Fascist 70th Day"}


def _statutory_days(year: int) -> dict[dt.date, str]:
    """The statutory days of `year` under the version of the 全国年节及纪念日放假办法 then in force:
    1999 (decree 270): New Year 1, Spring Festival 3 (初一-初三), Labour Day 3, National Day 3;
    2008 (decree 513): Spring Festival 除夕-初二, Labour Day 1, plus Qingming, Dragon Boat, Mid-Autumn;
    2014 (decree 644): Spring Festival 初一-初三; 2025 (decree 795): Spring Festival 除夕-初三 and
    Labour Day 2, 13 days a year."""
    days: dict[dt.date, str] = {dt.date(year, 1, 1): _NAMES.new_years_day.value}
    if year in _LUNAR_NEW_YEAR:
        new_year = dt.date(year, *_LUNAR_NEW_YEAR[year])
        first, count = (0, 3) if year < 2008 or 2014 <= year < 2025 else (-1, 3 if year < 2014 else 4)
        for offset in range(first, first + count):
            days[new_year + offset * _ONE_DAY] = _NAMES.spring_festival.value
    labour_days = 3 if year < 2008 else 1 if year < 2025 else 2
    for day in range(1, labour_days + 1):
        days[dt.date(year, 5, day)] = _NAMES.labour_day.value
    if year >= 2008:
        days[_qingming(year)] = _NAMES.tomb_sweeping_day.value
    if year >= 2008 and year in _DRAGON_BOAT:
        days[dt.date(year, *_DRAGON_BOAT[year])] = _NAMES.dragon_boat_festival.value
    if year >= 2008 and year in _MID_AUTUMN:
        days.setdefault(dt.date(year, *_MID_AUTUMN[year]), _NAMES.mid_autumn_festival.value)
    for day in range(1, 4):
        days[dt.date(year, 10, day)] = _NAMES.national_day.value  # wins over a Mid-Autumn on Oct 1-3
    days.update({d: name for d, name in _SPECIAL_STATUTORY.items() if d.year == year})
    return days


def _qingming(year: int) -> dt.date:
    """清明 is a solar term; the package computes solar terms (with its table of corrections)."""
    terms = chinese_calendar.get_solar_terms(dt.date(year, 4, 1), dt.date(year, 4, 30))
    qingming: dt.date = next(day for day, name in terms if name == "清明")
    return qingming


def _fill_enclosed_weekends(days_off: dict[dt.date, str]) -> None:
    """Add the weekend days lying between two days off of the same block (2011-06-05 between the
    Saturday and Monday of the Dragon Boat block): the package sometimes leaves them out."""
    for before, after in itertools.pairwise(sorted(days_off)):
        gap = [before + n * _ONE_DAY for n in range(1, (after - before).days)]
        if not gap or len(gap) > 2 or days_off[before] != days_off[after]:
            continue
        if all(d.weekday() >= 5 and d not in chinese_calendar.workdays for d in gap):
            days_off.update(dict.fromkeys(gap, days_off[before]))


@functools.cache
def _package_years() -> Mapping[int, Mapping[dt.date, DayInfo]]:
    """The holidays and make-up days of every year the package covers, per year. Built once per process:
    the package data never changes while it runs."""
    years = range(min(chinese_calendar.holidays).year, max(chinese_calendar.holidays).year + 1)
    statutory: dict[dt.date, str] = {}
    for year in years:
        statutory.update(_statutory_days(year))
    days_off = {**dict(chinese_calendar.holidays), **_PACKAGE_OMISSIONS}
    for day, name in statutory.items():
        days_off.setdefault(day, name)
    _fill_enclosed_weekends(days_off)
    # A stray entry in a year the package does not cover must not make that whole year "known"; and
    # a Monday-Friday "workday" entry is a plain working day, never a MAKEUP_WORKDAY.
    special: dict[int, dict[dt.date, DayInfo]] = {year: {} for year in years}
    for day, name in days_off.items():
        if day.year in special:
            special[day.year][day] = DayInfo(day, DayType.HOLIDAY, day in statutory, name)
    for day, name in chinese_calendar.workdays.items():
        if day.year in special and day.weekday() >= 5:
            special[day.year][day] = DayInfo(day, DayType.MAKEUP_WORKDAY, False, name)
    return MappingProxyType({year: MappingProxyType(days) for year, days in special.items()})


def _weekday_rule(day: dt.date, *, known: bool) -> DayInfo:
    day_type = DayType.WEEKEND if day.weekday() >= 5 else DayType.WORKING_DAY
    return DayInfo(day, day_type, known=known)


def _load_overrides(paths: Sequence[str | os.PathLike[str]]) -> list[OverrideYear]:
    """Load every file, collecting the problems of all of them; one file per year."""
    problems: list[Problem] = []
    by_year: dict[int, OverrideYear] = {}
    for path in paths:
        try:
            loaded = load_override_file(path)
        except PolicyError as exc:
            problems.extend(exc.problems)
            continue
        earlier = by_year.get(loaded.year)
        if earlier is not None:
            message = f"year {loaded.year} is already covered by {earlier.file}; use one file per year"
            problems.append(Problem(loaded.file, loaded.year_line, loaded.year_column, "year", message))
            continue
        by_year[loaded.year] = loaded
    if problems:
        raise PolicyError(problems)
    return list(by_year.values())


class StatutoryCalendar:
    """Day types from the `chinesecalendar` package, with override files replacing or adding years.

    `day_info` never raises: a date without data gets the weekday rule and `known=False`. Results are
    cached per date, so after the first call for a date an answer is one dict lookup.
    """

    def __init__(self, override_files: Sequence[str | os.PathLike[str]] = ()) -> None:
        if isinstance(override_files, str | os.PathLike):
            raise TypeError("override_files is a sequence of paths; put a single path in a list")
        years: dict[int, Mapping[dt.date, DayInfo]] = dict(_package_years())
        sources = dict.fromkeys(years, PACKAGE_SOURCE)
        for override in _load_overrides(override_files):
            years[override.year] = override.day_infos()  # a file replaces the package's whole year
            sources[override.year] = override.file
        self._years = years
        self._sources = sources
        self._cache: dict[dt.date, DayInfo] = {}

    def day_info(self, date: dt.date) -> DayInfo:
        if type(date) is not dt.date:  # a datetime is a date too, but must not become a cache key
            date = dt.date(date.year, date.month, date.day)
        info = self._cache.get(date)
        if info is None:
            info = self._lookup(date)
            if len(self._cache) < _CACHE_LIMIT:
                self._cache[date] = info
        return info

    def _lookup(self, date: dt.date) -> DayInfo:
        special = self._years.get(date.year)
        if special is None:
            return _weekday_rule(date, known=False)
        return special.get(date) or _weekday_rule(date, known=True)

    @property
    def first_covered_date(self) -> dt.date:
        return dt.date(min(self._years), 1, 1)

    @property
    def last_covered_date(self) -> dt.date:
        """The last date with data. Years between may lack data if override files leave a gap; see
        `days_of_data_left` for the run of data starting today."""
        return dt.date(max(self._years), 12, 31)

    @property
    def covered_years(self) -> tuple[int, ...]:
        return tuple(sorted(self._years))

    def is_covered(self, date: dt.date) -> bool:
        return date.year in self._years

    def source_of(self, year: int) -> str | None:
        """Where a year's data comes from: `PACKAGE_SOURCE` or the override file's path; None if none."""
        return self._sources.get(year)

    def days_of_data_left(self, today: dt.date) -> int:
        """How many days after `today` have data without a gap: 0 when today is the last covered day or
        has no data itself. Meant for a gauge that warns before the calendar runs out (each November)."""
        if today.year not in self._years:
            return 0
        year = today.year
        while year + 1 in self._years:
            year += 1
        return (dt.date(year, 12, 31) - today).days
