"""A picture of a policy's week: for each minor age band, each day and each slice of the day, what
`explain` answers for a game request made then (issue 18 item 5).

`week_grid` works the grid out by asking the rules themselves, cell by cell, so the picture can never
disagree with `policy explain`; the slices are as fine as the policy's times need (an hour for the
presets, 30 minutes for a window ending at 20:30), so every instant of a cell gets its cell's answer.
`minorguard.weekpage` renders it as a self-contained HTML page or as text. Pure: no I/O, no clock.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from minorguard.policy.schema import MissingCalendarData
from minorguard.policy.values import MinorBand, minutes_of
from minorguard.rules.compiled import CompiledPolicy
from minorguard.rules.evaluate import KnownUsage, explain
from minorguard.types import Activity, AgeBand, DayInfo, Facts, Mode, Subject

AGES = {MinorBand.UNDER_8: 7, MinorBand.AGE_8_15: 15, MinorBand.AGE_16_17: 17}  # one age stands for a band


@dataclass(frozen=True, slots=True)
class Cell:
    start: dt.datetime  # local time; the cell lasts `Week.step` minutes
    outcome: str  # "allow" / "deny"
    reason: str  # Reason value; "allowed" when allowed
    report_only: tuple[str, ...]  # reasons a report-only rule would have refused for

    @property
    def kind(self) -> str:
        """The cell's class in the picture: allow, report_only, or the reason of the refusal."""
        if self.outcome == "allow":
            return "report_only" if self.report_only else "allow"
        return self.reason


@dataclass(frozen=True, slots=True)
class Day:
    date: dt.date
    info: DayInfo
    provisional: bool
    minutes: int | None  # the daily play time of the band that day; None: no limit
    cells: tuple[Cell, ...]


@dataclass(frozen=True, slots=True)
class BandWeek:
    band: MinorBand
    age: int
    days: tuple[Day, ...]
    caps: tuple[int, int] | None  # purchase single / monthly cap in fen; None: not capped
    tips: bool  # tipping refused for minors


@dataclass(frozen=True, slots=True)
class Week:
    policy: str
    revision: str
    zone: str
    start: dt.date
    step: int  # minutes per cell, a divisor of 60
    bands: tuple[BandWeek, ...]


def week_grid(cp: CompiledPolicy, week_start: dt.date) -> Week:
    """The week of seven days from `week_start`, in the policy's zone."""
    step = cell_minutes(cp)
    dates = [week_start + dt.timedelta(days=n) for n in range(7)]
    bands = tuple(_band_week(cp, band, age, dates, step) for band, age in AGES.items())
    policy = cp.policy
    return Week(policy.name, policy.revision, policy.spec.timezone, week_start, step, bands)


def cell_minutes(cp: CompiledPolicy) -> int:
    """The largest divisor of 60 that every curfew and window boundary of the policy falls on."""
    game = cp.policy.spec.game
    times = [
        game.curfew.start,
        game.curfew.end,
        *(t for h in game.play_windows.hours for t in (h.start, h.end)),
    ]
    return math.gcd(60, *(minutes_of(t) % 60 for t in times))


def _band_week(cp: CompiledPolicy, band: MinorBand, age: int, dates: list[dt.date], step: int) -> BandWeek:
    subject = Subject(f"week-{band.value}", _born(dates[0], age), True)
    days = tuple(_day(cp, subject, AgeBand(band.value), date, step) for date in dates)
    purchase = cp.policy.spec.purchase
    cap = purchase.caps.get(band) if purchase.mode is not Mode.OFF else None
    tips = cp.policy.spec.livestream_tip.mode is Mode.ENFORCE
    return BandWeek(band, age, days, None if cap is None else (cap.single, cap.monthly), tips)


def _born(week_start: dt.date, age: int) -> dt.date:
    """A birth date that makes the person `age` during the whole week: the next birthday comes half a
    year after the week starts."""
    anchor = week_start + dt.timedelta(days=180)
    return dt.date(anchor.year - age - 1, anchor.month, min(anchor.day, 28))


def _day(cp: CompiledPolicy, subject: Subject, band: AgeBand, date: dt.date, step: int) -> Day:
    info = cp.day(date)
    provisional = not info.known and cp.policy.spec.calendar.missing_data is MissingCalendarData.PROVISIONAL
    limit = cp.daily_limit(band, info) if cp.policy.spec.game.play_time.mode is not Mode.OFF else None
    facts = Facts(Activity.GAME)
    cells = []
    for minute in range(0, 1440, step):
        start = cp.midnight(date) + dt.timedelta(minutes=minute)
        decision = explain(cp, subject, facts, start, KnownUsage())
        report_only = tuple(f.reason.value for f in decision.report_only)
        cells.append(Cell(start, decision.outcome.value, decision.reason.value, report_only))
    minutes = None if limit is None else limit // 60
    return Day(date, info, provisional, minutes, tuple(cells))
