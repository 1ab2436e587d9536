"""A policy compiled for fast decisions: the zone, the schedule and per-date facts worked out once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple
from zoneinfo import ZoneInfo

from minorguard.counters import NO_REST, RestArgs
from minorguard.policy.guardianrules import ReminderMode
from minorguard.policy.loader import Policy
from minorguard.policy.schema import DailyMinutes, MissingCalendarData
from minorguard.rules.schedule import DAY, DayLookup, Intervals, Schedule
from minorguard.types import AgeBand, DayInfo, DayType, Mode

_MAX_CACHED_DATES = 4096
# the letters of day types in the store's guardian settings (rules/guardian.py, lua/_guardian.lua)
_LETTERS = {DayType.WORKING_DAY: "w", DayType.WEEKEND: "e", DayType.HOLIDAY: "h", DayType.MAKEUP_WORKDAY: "m"}


class Instant(NamedTuple):
    """One moment seen in the policy's zone (a NamedTuple: one is built per request, and a frozen
    dataclass costs three times as much to build)."""

    epoch: int
    date: dt.date
    second: int  # wall-clock seconds since local midnight
    day_start: int  # epoch of local midnight
    zone: ZoneInfo

    @property
    def local(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.epoch, self.zone)


@dataclass(frozen=True, slots=True)
class _Day:
    """A local day whose wall clock runs evenly (no DST change): second = epoch - start."""

    date: dt.date
    start: int
    end: int


@dataclass(slots=True)
class CompiledPolicy:
    policy: Policy
    zone: ZoneInfo
    schedule: Schedule
    lookup: DayLookup
    limits: dict[tuple[AgeBand, DayType], int]  # seconds of play per band and day type
    warn_before: tuple[int, ...]  # warning thresholds in seconds, largest first
    coverage: Callable[[dt.date], int] | None = None  # days of holiday data left from a date
    guardian_on: bool = False  # guardian settings are read (policy `guardian.enabled`)
    guardian_bounds: dict[AgeBand, int] = field(default_factory=dict)  # most seconds a guardian may allow
    rest: RestArgs = NO_REST  # what heartbeats track for the rest reminder
    rest_after: int = 0  # seconds of continuous play that bring the reminder (0: off)
    _names: dict[dt.date, tuple[str, str, str]] = field(default_factory=dict)
    _days: dict[dt.date, DayInfo] = field(default_factory=dict)
    _allowed: dict[tuple[dt.date, bool], Intervals] = field(default_factory=dict)
    _today: _Day | None = None
    _next: dict[tuple[object, ...], dt.datetime | None] = field(default_factory=dict)

    @classmethod
    def build(
        cls, policy: Policy, lookup: DayLookup, coverage: Callable[[dt.date], int] | None = None
    ) -> CompiledPolicy:
        game = policy.spec.game
        schedule = Schedule.compile(game.curfew, game.play_windows, policy.spec.calendar.mode)
        play = game.play_time
        limits = {
            (AgeBand(band.value), day_type): _minutes_for(minutes, day_type) * 60
            for band, minutes in play.daily_minutes.items()
            for day_type in DayType
        }
        warn_before = tuple(sorted((m * 60 for m in play.warn_before_minutes), reverse=True))
        compiled = cls(policy, ZoneInfo(policy.spec.timezone), schedule, lookup, limits, warn_before)
        compiled.coverage = coverage
        guardian = policy.spec.guardian
        compiled.guardian_on = guardian.enabled
        if guardian.enabled:
            bounds = guardian.may_loosen.daily_minutes
            compiled.guardian_bounds = {AgeBand(band.value): m * 60 for band, m in bounds.items()}
        compiled.rest = _rest_args(policy, guardian.enabled and guardian.may_loosen.rest_reminder)
        rest = game.rest_reminder
        compiled.rest_after = 0 if rest.mode is ReminderMode.OFF else rest.after_minutes * 60
        return compiled

    @property
    def name(self) -> str:
        return self.policy.name

    def instant(self, at: dt.datetime | float) -> Instant:
        if isinstance(at, dt.datetime):
            if at.tzinfo is None:
                raise ValueError("a naive datetime has no zone: pass an aware datetime or epoch seconds")
            at = at.timestamp()
        epoch = int(at // 1)
        today = self._today
        if today is not None and today.start <= epoch < today.end:  # the hot path: no datetime work
            return Instant(epoch, today.date, epoch - today.start, today.start, self.zone)
        local = dt.datetime.fromtimestamp(epoch, self.zone)
        midnight = int(self.midnight(local.date()).timestamp())
        second = local.hour * 3600 + local.minute * 60 + local.second
        next_midnight = int(self.midnight(local.date() + dt.timedelta(days=1)).timestamp())
        if next_midnight - midnight == DAY:
            self._today = _Day(local.date(), midnight, next_midnight)
        return Instant(epoch, local.date(), second, midnight, self.zone)

    def day_end(self, now: Instant) -> int:
        """The epoch of the local midnight that ends the day of `now`."""
        today = self._today
        if today is not None and today.start == now.day_start:
            return today.end
        return int(self.midnight(now.date + dt.timedelta(days=1)).timestamp())

    def midnight(self, date: dt.date) -> dt.datetime:
        return dt.datetime.combine(date, dt.time(0), tzinfo=self.zone)

    def at_second(self, date: dt.date, second: int) -> dt.datetime:
        if second >= DAY:
            return self.midnight(date + dt.timedelta(days=1))
        return self.midnight(date) + dt.timedelta(seconds=second)

    def remember(
        self, key: tuple[object, ...], compute: Callable[[], dt.datetime | None]
    ) -> dt.datetime | None:
        """A per-policy memo for instants that depend only on the date (e.g. the next play window)."""
        if key in self._next:
            return self._next[key]
        if len(self._next) >= _MAX_CACHED_DATES:
            self._next.clear()
        value = self._next[key] = compute()
        return value

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
        """The allowed intervals of a local day, computed once per date."""
        key = (date, enforced_only)
        found = self._allowed.get(key)
        if found is None:
            if len(self._allowed) >= _MAX_CACHED_DATES:
                self._allowed.clear()
            info = self.day(date)
            blocked = self.calendar_blocks(info) and self.uses_calendar()
            found = self._allowed[key] = (
                () if blocked else self.schedule.allowed(info, enforced_only=enforced_only)
            )
        return found

    def daily_limit(self, band: AgeBand, info: DayInfo) -> int | None:
        """Seconds of play allowed on the day, or None when no limit applies to the band."""
        return self.limits.get((band, info.day_type))

    def daily_limit_of(self, band: AgeBand, day_type: DayType) -> int | None:
        """The policy's daily limit in force (None: none, or the play-time rule is off)."""
        if self.policy.spec.game.play_time.mode is Mode.OFF:
            return None
        return self.limits.get((band, day_type))

    def may_raise_play(self, band: AgeBand) -> bool:
        """Whether a guardian may allow the band more play than the policy's own limit."""
        return band in self.guardian_bounds

    def day_names(self, date: dt.date) -> tuple[str, str, str]:
        """The store's names of a local day and of the day before ("2026-11-20", "2026-11-19"), and
        the letter of the day's type a heartbeat gives the store when guardian settings are read
        ("" when they are not: rules/guardian.py LETTERS)."""
        names = self._names.get(date)
        if names is None:
            if len(self._names) >= _MAX_CACHED_DATES:
                self._names.clear()
            letter = _LETTERS[self.day(date).day_type] if self.guardian_on else ""
            before = (date - dt.timedelta(days=1)).isoformat()
            names = self._names[date] = (date.isoformat(), before, letter)
        return names


def _rest_args(policy: Policy, exemptable: bool) -> RestArgs:
    rest = policy.spec.game.rest_reminder
    if rest.mode is ReminderMode.OFF:
        return NO_REST
    enforce = rest.after_minutes * 60 if rest.mode is ReminderMode.ENFORCE else 0
    return RestArgs(rest.break_minutes * 60, enforce, exemptable)


def _minutes_for(minutes: DailyMinutes, day_type: DayType) -> int:
    specific: int | None = getattr(minutes, day_type.value)
    return minutes.default if specific is None else specific
