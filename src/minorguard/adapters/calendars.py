"""The statutory holiday calendar of mainland China: what kind of day a local date is.

Why it matters: the NPPA notice 国新出发〔2021〕14号 §1 allows online games to serve minors only on
Fridays, Saturdays, Sundays and statutory holidays (法定节假日), 20:00-21:00. Whether a date is a
holiday, a weekend or a make-up working day (调休: a Saturday or Sunday declared a working day, on which
the weekend window does not apply) therefore decides the play window. The policy layer decides what to do
with each day type, and with days the calendar has no data for; this module only answers.

Sources:

- the `chinesecalendar` package (PyPI), transcribing the State Council's annual notices
  (国务院办公厅关于YYYY年部分节假日安排的通知), 2004-2026 at version 1.11;
- the 全国年节及纪念日放假办法 for which days of a block are the statutory days themselves
  (`minorguard.adapters.statutory`, with the lunar calendar);
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
from minorguard.adapters.statutory import statutory_days
from minorguard.errors import PolicyError, Problem
from minorguard.types import DayInfo, DayType

__all__ = ["PACKAGE_SOURCE", "StatutoryCalendar", "load_override_file"]

PACKAGE_SOURCE: Final = f"chinesecalendar {chinese_calendar.__version__}"

_ONE_DAY = dt.timedelta(days=1)
_CACHE_LIMIT = 50_000  # > every covered day; bounds memory if callers ask about arbitrary dates

# Days off the notices name but chinesecalendar 1.11 omits (notice of 2015-05-13: "9月3日至5日调休放假").
_PACKAGE_OMISSIONS: Final = {dt.date(2015, 9, 5): "Anti-Fascist 70th Day"}


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
        statutory.update(statutory_days(year))
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

    `day_info` never raises: a date without data gets `known=False` and the weekday rule; with
    `provisional`, the statutory days the decree and the lunar calendar give for its year are holidays
    (still `known=False`: the notice's days in lieu and make-up days are missing). Results are cached
    per date, so after the first call for a date an answer is one dict lookup.
    """

    def __init__(
        self, override_files: Sequence[str | os.PathLike[str]] = (), *, provisional: bool = False
    ) -> None:
        if isinstance(override_files, str | os.PathLike):
            raise TypeError("override_files is a sequence of paths; put a single path in a list")
        years: dict[int, Mapping[dt.date, DayInfo]] = dict(_package_years())
        sources = dict.fromkeys(years, PACKAGE_SOURCE)
        for override in _load_overrides(override_files):
            years[override.year] = override.day_infos()  # a file replaces the package's whole year
            sources[override.year] = override.file
        self._years = years
        self._sources = sources
        self._provisional = provisional
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
            name = statutory_days(date.year).get(date) if self._provisional else None
            if name is not None:  # the decree's day, without the notice's days in lieu and make-up days
                return DayInfo(date, DayType.HOLIDAY, True, name, known=False)
            return _weekday_rule(date, known=False)
        return special.get(date) or _weekday_rule(date, known=True)

    def is_provisional(self, date: dt.date) -> bool:
        """True when `date` has no official data and its statutory days are computed (provisional)."""
        return self._provisional and date.year not in self._years

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
