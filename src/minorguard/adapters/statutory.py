"""The statutory holiday days (法定节假日) of a year, computed from the decree and the calendars.

The 全国年节及纪念日放假办法 fixes which days are statutory holidays (State Council decree 270, 1999;
revised by decrees 513 (2007), 644 (2013) and 795 (2024)). Three of them are lunar dates (春节 正月初一,
端午 五月初五, 中秋 八月十五), from `borax`'s lunar table; 清明 is a solar term, from `chinesecalendar`. The
State Council's yearly notice then adds the days given in lieu and the make-up working days (调休),
which no formula predicts: a year without its notice has only these days, and they are provisional.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Final

import chinese_calendar
from borax.calendars.lunardate import LunarDate

_NAMES = chinese_calendar.Holiday  # the package's festival names, so every source names days alike
_ONE_DAY = dt.timedelta(days=1)
FIRST_YEAR, LAST_YEAR = 1901, 2099  # within both libraries' tables

# One-off statutory day: 国务院关于中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日调休放假的通知 (2015).
_SPECIAL: Final = {dt.date(2015, 9, 3): "Anti-Fascist 70th Day"}


def lunar_date(year: int, month: int, day: int) -> dt.date:
    """The Gregorian date of a lunar date (`year` is the lunar year, which starts at 正月初一)."""
    solar = LunarDate(year, month, day).to_solar_date()
    return dt.date(solar.year, solar.month, solar.day)


@functools.cache
def statutory_days(year: int) -> dict[dt.date, str]:
    """The statutory days of `year` under the decree then in force: 1999: New Year 1, Spring Festival 3
    (初一-初三), Labour Day 3, National Day 3; 2008: Spring Festival 除夕-初二, Labour Day 1, plus
    Qingming, Dragon Boat, Mid-Autumn; 2014: Spring Festival 初一-初三; 2025: Spring Festival 除夕-初三
    and Labour Day 05-02, 13 days a year. Empty outside FIRST_YEAR..LAST_YEAR."""
    if not FIRST_YEAR <= year <= LAST_YEAR:
        return {}
    days: dict[dt.date, str] = {dt.date(year, 1, 1): _NAMES.new_years_day.value}
    new_year = lunar_date(year, 1, 1)
    first, count = (0, 3) if year < 2008 or 2014 <= year < 2025 else (-1, 3 if year < 2014 else 4)
    for offset in range(first, first + count):
        days[new_year + offset * _ONE_DAY] = _NAMES.spring_festival.value
    labour_days = 3 if year < 2008 else 1 if year < 2025 else 2
    for day in range(1, labour_days + 1):
        days[dt.date(year, 5, day)] = _NAMES.labour_day.value
    if year >= 2008:
        days[_qingming(year)] = _NAMES.tomb_sweeping_day.value
        days[lunar_date(year, 5, 5)] = _NAMES.dragon_boat_festival.value
        days.setdefault(lunar_date(year, 8, 15), _NAMES.mid_autumn_festival.value)
    for day in range(1, 4):
        days[dt.date(year, 10, day)] = _NAMES.national_day.value  # wins over a Mid-Autumn on Oct 1-3
    days.update({d: name for d, name in _SPECIAL.items() if d.year == year})
    return days


def _qingming(year: int) -> dt.date:
    terms = chinese_calendar.get_solar_terms(dt.date(year, 4, 1), dt.date(year, 4, 30))
    qingming: dt.date = next(day for day, name in terms if name == "清明")
    return qingming
