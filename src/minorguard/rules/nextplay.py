"""When a minor may play again: the first instant the schedule (curfew, play windows, days with play
time) allows, and never after they come of age."""

from __future__ import annotations

import datetime as dt

from minorguard.rules.age import ADULT_AGE
from minorguard.rules.compiled import CompiledPolicy, Instant
from minorguard.rules.person import Person
from minorguard.types import AgeBand

SCAN_DAYS = 400  # how far "allowed again at" looks before it gives up (a year and a bit)


def next_allowed(
    cp: CompiledPolicy,
    now: Instant,
    band: AgeBand,
    *,
    enforced_only: bool = True,
    from_next_day: bool = False,
) -> dt.datetime | None:
    """The first instant after `now` at which the schedule allows play; with `from_next_day` (after the
    daily limit) the first one on a later day that has play time. None when `now` is already allowed
    or nothing opens within SCAN_DAYS."""
    if not from_next_day:
        for start, end in cp.allowed(now.date, enforced_only=enforced_only):
            if start <= now.second < end:
                return None
            if start > now.second:
                return cp.at_second(now.date, start)
    limit_band = band if from_next_day and band.is_minor else None
    return cp.remember(
        ("first_after", now.date, enforced_only, limit_band),
        lambda: _first_after(cp, now.date, enforced_only, limit_band),
    )


def _first_after(
    cp: CompiledPolicy, date: dt.date, enforced_only: bool, band: AgeBand | None
) -> dt.datetime | None:
    for offset in range(1, SCAN_DAYS):
        day = date + dt.timedelta(days=offset)
        if band is not None and cp.daily_limit(band, cp.day(day)) == 0:
            continue  # a day without play time
        intervals = cp.allowed(day, enforced_only=enforced_only)
        if intervals:
            return cp.at_second(day, intervals[0][0])
    return None


def allowed_from(cp: CompiledPolicy, instant: dt.datetime | None, age: int) -> dt.datetime | None:
    """The first instant at or after `instant` (when the person turns `age`) at which the schedule lets
    them play: adults at once, minors in the next allowed interval."""
    if instant is None or age >= ADULT_AGE:
        return instant
    start = cp.instant(instant)
    return next_allowed(cp, start, AgeBand.AGE_8_15) or instant


def again_for(cp: CompiledPolicy, person: Person, candidate: dt.datetime | None) -> dt.datetime | None:
    """A minor who comes of age before `candidate` may play from the birthday on."""
    adult_at = person.turns(ADULT_AGE)
    if adult_at is None:
        return candidate
    if candidate is None:
        return adult_at
    return min(candidate, adult_at)
