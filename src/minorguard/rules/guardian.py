"""A guardian's settings for one child: the value kept in the counter store, and how it applies.

Stored as one compact JSON field of the child's user hash (`g`, beside the counters), written only by
the guardian service and read by the very store call that counts play time or reserves money:

    {"v": 1, "at": 1795017600, "k": 34560000,              format, when set, seconds to keep
     "m": {"w": 30, "e": 60},                                minutes of play per day type
     "h": {"w": [[1140, 1200]], "e": []},                    allowed minutes [start, end) per day type
     "c": {"s": 1000, "d": 2000, "m": 5000},                 purchase caps in fen: single, day, month
     "t": 0, "p": true, "r": 1}                              tipping off, publisher consent, rest exempt

Day types are letters (w working day, e weekend, h holiday, m make-up workday); a day type not named
keeps the policy's value, and `[]` hours mean no play that day type. The Lua scripts read `h`, `c`,
`t`, `r` and `k` themselves (cjson), so the caps apply atomically with the reservation.

Settings hold limits only: no identity data (the hash key is the keyed hash of the child's id). They
are re-clamped to the policy in force at each decision: a guardian's play time above the policy's own
limit applies only up to `guardian.may_loosen.daily_minutes` of the band, and never when the policy
no longer allows it; every other setting can only make the policy's rule stricter.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from minorguard.rules.compiled import _LETTERS, CompiledPolicy, Instant
from minorguard.types import AgeBand, DayType

FORMAT = 1
LETTERS: Mapping[DayType, str] = _LETTERS  # compiled.py names them for heartbeats
DAY_TYPES: Mapping[str, DayType] = {letter: day_type for day_type, letter in LETTERS.items()}
MAX_PERIODS = 8
MAX_FEN = 10**12
SCAN_DAYS = 30  # how far "allowed again at" looks for a day both the policy and the guardian allow

Period = tuple[int, int]  # minutes from local midnight, [start, end)


@dataclass(frozen=True, slots=True)
class GuardianSettings:
    """A child's guardian settings, normalized: every absent value keeps the policy's."""

    minutes: Mapping[DayType, int] = field(default_factory=dict)
    hours: Mapping[DayType, tuple[Period, ...]] = field(default_factory=dict)
    single: int | None = None
    daily: int | None = None
    monthly: int | None = None
    tips_off: bool = False
    consent: bool | None = None  # to a live-stream publisher account: given, withdrawn, or not said
    rest_exempt: bool = False
    updated_at: int = 0
    keep_seconds: int = 0

    def encode(self) -> str:
        data: dict[str, Any] = {"v": FORMAT, "at": self.updated_at, "k": self.keep_seconds}
        if self.minutes:
            data["m"] = {LETTERS[t]: m for t, m in self.minutes.items()}
        if self.hours:
            data["h"] = {LETTERS[t]: [list(p) for p in periods] for t, periods in self.hours.items()}
        caps = {
            k: v for k, v in (("s", self.single), ("d", self.daily), ("m", self.monthly)) if v is not None
        }
        if caps:
            data["c"] = caps
        if self.tips_off:
            data["t"] = 0
        if self.consent is not None:
            data["p"] = self.consent
        if self.rest_exempt:
            data["r"] = 1
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    @classmethod
    def decode(cls, raw: str) -> GuardianSettings:
        """The settings of a stored value; ValueError when it is not one this format writes."""
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            raise ValueError("guardian settings are not JSON") from None
        if not isinstance(data, dict) or data.get("v") != FORMAT:
            raise ValueError("guardian settings of an unknown format")
        if set(data) - {"v", "at", "k", "m", "h", "c", "t", "p", "r"}:
            raise ValueError("guardian settings with unknown fields")
        caps = _mapping(data.get("c", {}), {"s", "d", "m"})
        consent = data.get("p")
        if consent is not None and not isinstance(consent, bool):
            raise ValueError("guardian consent is not true or false")
        return cls(
            minutes={DAY_TYPES[k]: _int(v, 1440) for k, v in _mapping(data.get("m", {}), DAY_TYPES).items()},
            hours={DAY_TYPES[k]: _periods(v) for k, v in _mapping(data.get("h", {}), DAY_TYPES).items()},
            single=_optional(caps.get("s")),
            daily=_optional(caps.get("d")),
            monthly=_optional(caps.get("m")),
            tips_off=data.get("t", 1) == 0,
            consent=consent,
            rest_exempt=data.get("r", 0) == 1,
            updated_at=_int(data.get("at", 0), 2**40),
            keep_seconds=_int(data.get("k", 0), 2**40),
        )

    @property
    def caps(self) -> dict[str, int]:
        """The purchase caps set, by the letter of their kind: s single, d day, m month."""
        pairs = (("s", self.single), ("d", self.daily), ("m", self.monthly))
        return {k: v for k, v in pairs if v is not None}


def _mapping(value: object, keys: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not set(value) <= set(keys):
        raise ValueError("guardian settings with a malformed group")
    return value


def _int(value: object, most: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= most:
        raise ValueError("guardian settings with a number out of range")
    return value


def _optional(value: object) -> int | None:
    return None if value is None else _int(value, MAX_FEN)


def _periods(value: object) -> tuple[Period, ...]:
    if not isinstance(value, list) or len(value) > MAX_PERIODS:
        raise ValueError("guardian hours are not a short list")
    periods = []
    for item in value:
        if not isinstance(item, list) or len(item) != 2:
            raise ValueError("guardian period is not [start, end]")
        start, end = _int(item[0], 1440), _int(item[1], 1440)
        if start >= end:
            raise ValueError("guardian period ends before it starts")
        periods.append((start, end))
    return tuple(sorted(periods))


# -- applied at decision time -------------------------------------------------------------------------


def play_limit(
    cp: CompiledPolicy, settings: GuardianSettings | None, band: AgeBand, day_type: DayType
) -> tuple[int | None, bool]:
    """Seconds of play allowed on a day of `day_type`, and whether the guardian's own number decides
    it (else the policy's, or the policy's bound on what a guardian may allow)."""
    policy = cp.daily_limit_of(band, day_type)
    minutes = None if settings is None else settings.minutes.get(day_type)
    if minutes is None:
        return policy, False
    wanted = minutes * 60
    if policy is None or wanted < policy:
        return wanted, True
    bound = cp.guardian_bounds.get(band)
    if wanted == policy or bound is None or bound <= policy:
        return policy, False
    if wanted <= bound:
        return wanted, True
    return bound, False


def hours_of(settings: GuardianSettings | None, day_type: DayType) -> tuple[Period, ...] | None:
    """The guardian's periods of a day type in seconds, or None when the guardian did not narrow it."""
    if settings is None:
        return None
    periods = settings.hours.get(day_type)
    return None if periods is None else tuple((s * 60, e * 60) for s, e in periods)


def period_left(periods: tuple[Period, ...] | None, second: int) -> int | None:
    """Seconds until the guardian's period that holds `second` ends (None: not narrowed); -1 when no
    period holds it (outside the guardian's hours)."""
    if periods is None:
        return None
    for start, end in periods:
        if start <= second < end:
            return end - second
    return -1


def next_allowed(
    cp: CompiledPolicy, settings: GuardianSettings, band: AgeBand, now: Instant, *, from_next_day: bool
) -> dt.datetime | None:
    """The first instant after `now` at which both the policy's hours and the guardian's allow play, on
    a day with play time left by both (from the next day on, after a daily limit); None within
    SCAN_DAYS."""
    for offset in range(0 if not from_next_day else 1, SCAN_DAYS):
        date = now.date + dt.timedelta(days=offset)
        day_type = cp.day(date).day_type
        if offset and play_limit(cp, settings, band, day_type)[0] == 0:
            continue
        guardian = hours_of(settings, day_type)
        after = now.second if offset == 0 else -1
        for start, end in cp.allowed(date):
            for g_start, g_end in ((0, 86400),) if guardian is None else guardian:
                begin = max(start, g_start)
                if begin < min(end, g_end) and begin > after:
                    return cp.at_second(date, begin)
    return None
