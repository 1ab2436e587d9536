"""When minors may play: the curfew (LAW Art 75) and the stricter play windows (N21 §1) by day type.

Everything that can be worked out at policy load is: a day's allowed intervals depend only on its
"day class" (day type, weekday, statutory flag), so intervals are computed once per class and the class
of each date is cached. Intervals are seconds from local midnight, half-open [start, end).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from minorguard.policy.schema import CalendarMode, Curfew, DayName, PlayWindows
from minorguard.policy.values import minutes_of
from minorguard.types import DayInfo, DayType, Mode

Interval = tuple[int, int]
Intervals = tuple[Interval, ...]
DAY = 86400
WHOLE_DAY: Intervals = ((0, DAY),)
_WEEKDAYS = (
    DayName.MONDAY,
    DayName.TUESDAY,
    DayName.WEDNESDAY,
    DayName.THURSDAY,
    DayName.FRIDAY,
    DayName.SATURDAY,
    DayName.SUNDAY,
)
DayLookup = Callable[[dt.date], DayInfo]


def intersect(a: Intervals, b: Intervals) -> Intervals:
    out = []
    for a_start, a_end in a:
        for b_start, b_end in b:
            start, end = max(a_start, b_start), min(a_end, b_end)
            if start < end:
                out.append((start, end))
    return tuple(sorted(out))


def curfew_allowed(curfew: Curfew) -> Intervals:
    """The complement of the curfew within one local day."""
    start, end = minutes_of(curfew.start) * 60, minutes_of(curfew.end) * 60
    if start > end:  # crosses midnight, as 22:00-08:00 does
        return ((end, start),)
    return tuple(i for i in ((0, start), (end, DAY)) if i[0] < i[1])


def is_play_day(info: DayInfo, days: frozenset[DayName], mode: CalendarMode) -> bool:
    """N21 §1: "周五、周六、周日和法定节假日". practice: a make-up working day is a working day, and every
    day of a holiday block is a holiday; literal: the weekday names, plus statutory holiday days only."""
    weekday = _WEEKDAYS[info.date.weekday()]
    if mode is CalendarMode.LITERAL:
        return weekday in days or (DayName.HOLIDAY in days and info.statutory)
    if info.day_type is DayType.MAKEUP_WORKDAY:
        return False
    if info.day_type is DayType.HOLIDAY:
        return DayName.HOLIDAY in days
    return weekday in days


@dataclass(frozen=True, slots=True)
class Schedule:
    """The compiled curfew and windows of one policy. `enforced` says which of them deny."""

    curfew: Intervals | None  # allowed intervals outside the curfew; None when the rule is off
    curfew_enforced: bool
    windows: Intervals | None  # allowed hours on a play day; None when the rule is off
    windows_enforced: bool
    play_days: frozenset[DayName]
    calendar_mode: CalendarMode

    @classmethod
    def compile(cls, curfew: Curfew, windows: PlayWindows, calendar_mode: CalendarMode) -> Schedule:
        hours = tuple(sorted((minutes_of(h.start) * 60, minutes_of(h.end) * 60) for h in windows.hours))
        return cls(
            curfew=curfew_allowed(curfew) if curfew.mode is not Mode.OFF else None,
            curfew_enforced=curfew.mode is Mode.ENFORCE,
            windows=hours if windows.mode is not Mode.OFF else None,
            windows_enforced=windows.mode is Mode.ENFORCE,
            play_days=frozenset(windows.days),
            calendar_mode=calendar_mode,
        )

    def window_intervals(self, info: DayInfo) -> Intervals:
        if self.windows is None:
            return WHOLE_DAY
        return _window_intervals(self, info.date.weekday(), info.day_type, info.statutory)

    def allowed(self, info: DayInfo, *, enforced_only: bool) -> Intervals:
        """Allowed intervals of a day under the curfew and windows (only the enforced ones, or all)."""
        result = WHOLE_DAY
        if self.curfew is not None and (self.curfew_enforced or not enforced_only):
            result = intersect(result, self.curfew)
        if self.windows is not None and (self.windows_enforced or not enforced_only):
            result = intersect(result, self.window_intervals(info))
        return result


@lru_cache(maxsize=256)
def _window_intervals(schedule: Schedule, weekday: int, day_type: DayType, statutory: bool) -> Intervals:
    info = DayInfo(dt.date(2001, 1, 1 + weekday), day_type, statutory)  # 2001-01-01 was a Monday
    if not is_play_day(info, schedule.play_days, schedule.calendar_mode):
        return ()
    return schedule.windows or ()


def containing(intervals: Intervals, second: int) -> Interval | None:
    for interval in intervals:
        if interval[0] <= second < interval[1]:
            return interval
    return None
