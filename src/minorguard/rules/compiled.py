"""A policy compiled for fast decisions: the zone, the schedule and per-date facts worked out once."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from minorguard.policy.loader import Policy
from minorguard.policy.schema import DailyMinutes, MinorBand, MissingCalendarData
from minorguard.rules.schedule import DAY, DayLookup, Intervals, Schedule
from minorguard.types import AgeBand, DayInfo, DayType, Mode

_MAX_CACHED_DATES = 4096


@dataclass(frozen=True, slots=True)
class Instant:
    """One moment seen in the policy's zone."""

    local: dt.datetime
    epoch: int
    date: dt.date
    second: int  # seconds since local midnight
    day_start: int  # epoch of local midnight


@dataclass(slots=True)
class CompiledPolicy:
    policy: Policy
    zone: ZoneInfo
    schedule: Schedule
    lookup: DayLookup
    _days: dict[dt.date, DayInfo] = field(default_factory=dict)

    @classmethod
    def build(cls, policy: Policy, lookup: DayLookup) -> CompiledPolicy:
        game = policy.spec.game
        schedule = Schedule.compile(game.curfew, game.play_windows, policy.spec.calendar.mode)
        return cls(policy, ZoneInfo(policy.spec.timezone), schedule, lookup)

    @property
    def name(self) -> str:
        return self.policy.name

    def instant(self, at: dt.datetime | float) -> Instant:
        if isinstance(at, dt.datetime):
            if at.tzinfo is None:
                raise ValueError("a naive datetime has no zone: pass an aware datetime or epoch seconds")
            local = at.astimezone(self.zone)
        else:
            local = dt.datetime.fromtimestamp(at, self.zone)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        second = local.hour * 3600 + local.minute * 60 + local.second
        return Instant(local, int(local.timestamp()), local.date(), second, int(midnight.timestamp()))

    def midnight(self, date: dt.date) -> dt.datetime:
        return dt.datetime.combine(date, dt.time(0), tzinfo=self.zone)

    def at_second(self, date: dt.date, second: int) -> dt.datetime:
        if second >= DAY:
            return self.midnight(date + dt.timedelta(days=1))
        return self.midnight(date) + dt.timedelta(seconds=second)

    def day(self, date: dt.date) -> DayInfo:
        info = self._days.get(date)
        if info is None:
            if len(self._days) >= _MAX_CACHED_DATES:
                self._days.clear()
            info = self._days[date] = self.lookup(date)
        return info

    def calendar_blocks(self, info: DayInfo) -> bool:
        """True when the day has no calendar data and the policy says not to guess."""
        return not info.known and self.policy.spec.calendar.missing_data is MissingCalendarData.DENY

    def uses_calendar(self) -> bool:
        game = self.policy.spec.game
        return game.play_windows.mode is not Mode.OFF or game.play_time.mode is not Mode.OFF

    def allowed(self, date: dt.date, *, enforced_only: bool = True) -> Intervals:
        info = self.day(date)
        if self.calendar_blocks(info) and self.uses_calendar():
            return ()
        return self.schedule.allowed(info, enforced_only=enforced_only)

    def daily_limit(self, band: AgeBand, info: DayInfo) -> int | None:
        """Seconds of play allowed on the day, or None when no limit applies to the band."""
        minutes = self.policy.spec.game.play_time.daily_minutes.get(MinorBand(band.value))
        if minutes is None:
            return None
        return _minutes_for(minutes, info.day_type) * 60


def _minutes_for(minutes: DailyMinutes, day_type: DayType) -> int:
    specific: int | None = getattr(minutes, day_type.value)
    return minutes.default if specific is None else specific
