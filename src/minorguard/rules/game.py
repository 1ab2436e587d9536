"""The `game` activity: identity, age rating, curfew and play windows, then daily play time.

The stateless checks come first; when play time applies, the result is a PlayCheck (or a GuestCheck for
a guest device) that the engine settles with ONE store call and `finish_play` / `finish_guest`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from minorguard.counters import GuestResult, PlayResult
from minorguard.policy.schema import MissingCalendarData
from minorguard.rules.age import ADULT_AGE
from minorguard.rules.compiled import CompiledPolicy, Instant
from minorguard.rules.guardian import GuardianSettings
from minorguard.rules.nextplay import again_for, allowed_from, next_allowed
from minorguard.rules.outcome import Findings, finding
from minorguard.rules.person import Person
from minorguard.rules.playcheck import PlayCheck
from minorguard.rules.playlimits import guardian_denial, limit_denial, rest_answer
from minorguard.rules.schedule import containing
from minorguard.types import (
    AgeBand,
    DayInfo,
    DayType,
    Decision,
    Facts,
    FailurePolicy,
    Mode,
    Reason,
    Warning,
    WarningCode,
)

SCAN_DAYS = 400  # how far ahead "allowed again at" looks before it gives up (a year and a bit)


@dataclass(slots=True)
class GuestCheck:
    """A guest device's heartbeat (N19 §1): then `finish_guest` decides."""

    findings: Findings
    instant: Instant
    device: str
    mode: Mode
    on_store_error: FailurePolicy
    limit_seconds: int
    max_gap: int
    window_seconds: int
    window_remaining: int | None
    warn_before: tuple[int, ...]
    legal_basis: str


def check_game(
    cp: CompiledPolicy, person: Person, facts: Facts, now: Instant
) -> Decision | PlayCheck | GuestCheck:
    spec = cp.policy.spec
    found = Findings(person.band)
    if person.band is AgeBand.ADULT:
        return found.allow()
    guest = spec.game.guest
    device = person.subject.device_id
    if person.band is AgeBand.UNVERIFIED and (guest.mode is Mode.OFF or device is None):
        return found.deny(
            finding(
                Reason.IDENTITY_UNVERIFIED,
                "identity",
                spec.identity.legal_basis,
                Mode.ENFORCE,
                "play needs a verified identity",
            )
        )
    denied = _rating(cp, person, facts, found) or _schedule(cp, person, now, found)
    if denied is not None:
        return denied
    window_remaining = _window_remaining(cp, now)
    play = spec.game.play_time
    warn_before = cp.warn_before
    if device is not None and person.band is AgeBand.UNVERIFIED:
        return GuestCheck(
            found,
            now,
            device,
            guest.mode,
            guest.on_store_error,
            guest.minutes * 60,
            play.max_gap_seconds,
            guest.cooldown_days * 86400,
            window_remaining,
            warn_before,
            guest.legal_basis,
        )
    limit = cp.daily_limit(person.band, cp.day(now.date)) if play.mode is not Mode.OFF else None
    if limit is None and not cp.guardian_on and not cp.rest_after:
        return found.allow(
            remaining_seconds=window_remaining, warnings=play_warnings(window_remaining, warn_before)
        )
    if limit == 0 and not (cp.guardian_on and cp.may_raise_play(person.band)):
        again = again_for(cp, person, next_allowed(cp, now, person.band, from_next_day=True))
        denied = found.check(
            play.mode,
            finding(
                Reason.DAILY_PLAY_LIMIT,
                "game.play_time",
                play.legal_basis,
                play.mode,
                "no play time on this day",
                again,
            ),
        )
        if denied is not None:
            return denied
    return PlayCheck(
        found,
        now,
        play.mode,
        play.on_store_error,
        limit,
        play.max_gap_seconds,
        window_remaining,
        person,
        warn_before,
        play.legal_basis,
    )


def finish_play(
    cp: CompiledPolicy, check: PlayCheck, played: PlayResult, guardian: GuardianSettings | None = None
) -> Decision:
    """Decide once the store has counted the heartbeat: the guardian's hours, the daily limit (the
    policy's, or the guardian's where it is stricter or a loosening the policy allows), then the rest
    reminder."""
    found = check.findings
    limit, left = check.limit_seconds, None
    if guardian is not None:
        denied, limit, left = guardian_denial(cp, check, played, guardian)
        if denied is not None:
            return denied
    used = played.used_seconds
    if limit is not None and used >= limit:
        return limit_denial(cp, check, limit)
    remaining = check.window_remaining if limit is None else _least(limit - used, check.window_remaining)
    if left is not None:
        remaining = _least(left, remaining)
    warnings = play_warnings(remaining, check.warn_before)
    if cp.rest_after and played.session_seconds >= cp.rest_after:
        rest = rest_answer(cp, check, played, guardian)
        if isinstance(rest, Decision):
            return rest
        warnings = (*warnings, *rest)
    return found.allow(remaining_seconds=remaining, warnings=warnings)


def finish_guest(cp: CompiledPolicy, check: GuestCheck, result: GuestResult) -> Decision:
    found = check.findings
    if result.limit_reached:
        again = dt.datetime.fromtimestamp(result.window_ends_at, cp.zone)
        denied = found.check(
            check.mode,
            finding(
                Reason.GUEST_LIMIT,
                "game.guest",
                check.legal_basis,
                check.mode,
                f"guest play on this device is limited to {check.limit_seconds // 60} minutes",
                again,
            ),
        )
        if denied is not None:
            return denied
        return found.allow(remaining_seconds=check.window_remaining)
    remaining = _least(check.limit_seconds - result.used_seconds, check.window_remaining)
    return found.allow(remaining_seconds=remaining, warnings=play_warnings(remaining, check.warn_before))


def play_warnings(remaining: int | None, warn_before: tuple[int, ...]) -> tuple[Warning, ...]:
    """One warning for the smallest threshold the remaining time is under (15 min, then 1 min)."""
    if remaining is None or not warn_before or remaining > warn_before[0]:  # most heartbeats
        return ()
    crossed = [t for t in warn_before if remaining <= t]
    if not crossed:
        return ()
    threshold = crossed[-1]
    return (
        Warning(WarningCode.PLAY_TIME_LOW, f"{threshold // 60} minute(s) or less of play left", threshold),
    )


def _rating(cp: CompiledPolicy, person: Person, facts: Facts, found: Findings) -> Decision | None:
    rule = cp.policy.spec.game.rating
    if rule.mode is Mode.OFF:
        return None
    rating = facts.game_rating
    if rating is None and facts.game_id is not None:
        rating = rule.games.get(facts.game_id)
    if not rating:
        return None
    if person.age is None:  # a guest's age is unknown: only adult-only games are refused
        if rating < ADULT_AGE:
            return None
        return found.check(
            rule.mode,
            finding(
                Reason.GAME_RATING,
                "game.rating",
                rule.legal_basis,
                rule.mode,
                f"the game is rated {rating}+ and the player's age is unknown",
            ),
        )
    if person.age >= rating:
        return None
    return found.check(
        rule.mode,
        finding(
            Reason.GAME_RATING,
            "game.rating",
            rule.legal_basis,
            rule.mode,
            f"the game is rated {rating}+",
            allowed_from(cp, person.turns(rating), rating),
        ),
    )


def _schedule(cp: CompiledPolicy, person: Person, now: Instant, found: Findings) -> Decision | None:
    spec = cp.policy.spec
    schedule = cp.schedule
    info = cp.day(now.date)
    if not info.known and cp.uses_calendar():
        if cp.calendar_blocks(info):
            return found.deny(
                finding(
                    Reason.CALENDAR_NO_DATA,
                    "calendar",
                    spec.game.play_windows.legal_basis,
                    Mode.ENFORCE,
                    f"the holiday calendar has no data for {info.date}",
                )
            )
        found.notes.append(_calendar_note(cp, info))
    curfew = spec.game.curfew
    if schedule.curfew is not None and containing(schedule.curfew, now.second) is None:
        again = again_for(
            cp, person, next_allowed(cp, now, person.band, enforced_only=curfew.mode is Mode.ENFORCE)
        )
        denied = found.check(
            curfew.mode,
            finding(
                Reason.CURFEW,
                "game.curfew",
                curfew.legal_basis,
                curfew.mode,
                f"no game service from {curfew.start} to {curfew.end}",
                again,
            ),
        )
        if denied is not None:
            return denied
    windows = spec.game.play_windows
    if schedule.windows is not None and containing(schedule.window_intervals(info), now.second) is None:
        enforced = windows.mode is Mode.ENFORCE
        again = again_for(cp, person, next_allowed(cp, now, person.band, enforced_only=enforced))
        hours = ", ".join(f"{h.start}-{h.end}" for h in windows.hours)
        return found.check(
            windows.mode,
            finding(
                Reason.OUTSIDE_PLAY_WINDOW,
                "game.play_windows",
                windows.legal_basis,
                windows.mode,
                f"minors may play only {hours} on play days",
                again,
            ),
        )
    return None


def _calendar_note(cp: CompiledPolicy, info: DayInfo) -> Warning:
    if cp.policy.spec.calendar.missing_data is MissingCalendarData.PROVISIONAL:
        what = (
            f"a statutory holiday ({info.name})" if info.day_type is DayType.HOLIDAY else info.day_type.value
        )
        note = (
            f"no official holiday schedule for {info.date.year} yet: {info.date} is provisionally {what} "
            "(the decree and the lunar calendar; days in lieu and make-up days are unknown)"
        )
        return Warning(WarningCode.CALENDAR_PROVISIONAL, note)
    return Warning(
        WarningCode.CALENDAR_NO_DATA, f"no holiday data for {info.date}: judged as a {info.day_type.value}"
    )


def _window_remaining(cp: CompiledPolicy, now: Instant) -> int | None:
    interval = containing(cp.allowed(now.date), now.second)
    if interval is None or (interval == (0, 86400)):
        return None  # nothing closes today
    return interval[1] - now.second


def _least(a: int, b: int | None) -> int:
    return a if b is None else min(a, b)
