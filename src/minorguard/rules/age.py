"""Age and age band at an instant, in the policy's time zone.

A new year of age begins at local midnight of the birthday (or of the day after, by policy), so a
15-year-old becomes 16 at 00:00 Beijing time on the birthday whatever the server's zone. A 29 February
birthday falls on 1 March in other years. Bands (N19 §3; LAW Art 76): under 8, 8-15, 16-17, adult.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

from minorguard.policy.schema import BirthdayRule
from minorguard.types import AgeBand

ADULT_AGE = 18  # LAW Art 2: 未成年人是指未满十八周岁的公民
_BAND_EDGES = ((8, AgeBand.UNDER_8), (16, AgeBand.AGE_8_15), (ADULT_AGE, AgeBand.AGE_16_17))


def anniversary(birthdate: dt.date, years: int, rule: BirthdayRule) -> dt.date:
    """The local date on which the person is `years` old (0 on the day of birth, whatever the rule)."""
    if years <= 0:
        return birthdate
    year = birthdate.year + years
    try:
        day = birthdate.replace(year=year)
    except ValueError:  # 29 February in a common year
        day = dt.date(year, 3, 1)
    return day + dt.timedelta(days=1) if rule is BirthdayRule.DAY_AFTER else day


@lru_cache(maxsize=65536)
def age_on(birthdate: dt.date, local_date: dt.date, rule: BirthdayRule) -> int:
    years = local_date.year - birthdate.year
    if local_date < anniversary(birthdate, years, rule):
        years -= 1
    return max(years, 0)


def band_for_age(age: int) -> AgeBand:
    for edge, band in _BAND_EDGES:
        if age < edge:
            return band
    return AgeBand.ADULT


def age_reached_at(birthdate: dt.date, years: int, rule: BirthdayRule, zone: ZoneInfo) -> dt.datetime:
    """The instant (local midnight) at which the person turns `years`."""
    return dt.datetime.combine(anniversary(birthdate, years, rule), dt.time(0), tzinfo=zone)
