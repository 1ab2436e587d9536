"""A child's guardian settings in the memory store, read as the Lua scripts read them (lua/_guardian.lua,
heartbeat.lua, reserve.lua), so both stores give the same answers."""

from __future__ import annotations

from minorguard.adapters.base import Bucket, BucketTotals, LeaseArgs, SpendDenial, SpendKind
from minorguard.adapters.storecommon import period_letter
from minorguard.errors import StoreError, StoreErrorKind
from minorguard.rules.guardian import DAY_TYPES, GuardianSettings

KEEP_REFRESH = 86_400  # the hash's keep time is refreshed once it has less than keep - this left


def readable(raw: str) -> GuardianSettings:
    """The stored settings; a value the guardian service never writes fails the call, as the script
    fails on it (the engine's failure policy then decides)."""
    try:
        return GuardianSettings.decode(raw)
    except ValueError as exc:
        raise StoreError(StoreErrorKind.SCRIPT, f"minorguard: unreadable guardian settings ({exc})") from None


def kept(expires_at: int, settings: GuardianSettings, now: int) -> int:
    """The user's expiry after a read of their settings: `keep_settings` of lua/_guardian.lua."""
    keep = settings.keep_seconds
    if keep > 0 and expires_at - now < keep - KEEP_REFRESH:
        return now + keep
    return expires_at


def within_hours(settings: GuardianSettings, letter: str, minute: int) -> bool:
    """Whether the guardian's hours of the day type (when narrowed) hold the wall-clock minute."""
    periods = settings.hours.get(DAY_TYPES[letter]) if letter in DAY_TYPES else None
    return periods is None or any(start <= minute < end for start, end in periods)


def guardian_denial(
    settings: GuardianSettings,
    kind: SpendKind,
    amount: int,
    buckets: tuple[Bucket, ...],
    totals: tuple[BucketTotals, ...],
) -> SpendDenial | None:
    """The guardian's step of reserve.lua, after the policy's caps passed."""
    if kind is SpendKind.TIP:
        return SpendDenial.GUARDIAN_TIPS if settings.tips_off else None
    if settings.single is not None and amount > settings.single:
        return SpendDenial.GUARDIAN_SINGLE
    for bucket, total in zip(buckets, totals, strict=True):
        letter = period_letter(bucket.period)
        cap = settings.daily if letter == "d" else settings.monthly if letter == "m" else None
        if cap is not None and total.committed + total.pending + amount > cap:
            return SpendDenial.GUARDIAN_DAILY if letter == "d" else SpendDenial.GUARDIAN_MONTHLY
    return None


def lease_ahead(
    lease: LeaseArgs,
    now: int,
    used: int,
    limit_seconds: int,
    settings: GuardianSettings | None,
    letter: str,
    minute: int,
    rest_end: int | None,
) -> int:
    """How much play a heartbeat charges ahead (heartbeat.lua): the lease's length, never past its
    `until`, the limit (the guardian's where lower), the end of the guardian's hours in force or the
    start of an enforced rest (`rest_end`)."""
    if not lease.seconds or not lease.owner:
        return 0
    most = limit_seconds
    day_type = DAY_TYPES.get(letter)
    if settings is not None and day_type is not None:
        minutes = settings.minutes.get(day_type)
        if minutes is not None:
            most = min(most, minutes * 60)
    ahead = min(lease.seconds, lease.until - now, most - used)
    periods = settings.hours.get(day_type) if settings is not None and day_type is not None else None
    for start, end in periods or ():
        if start <= minute < end:
            ahead = min(ahead, (end - minute) * 60 - now % 60)
    if rest_end is not None:
        ahead = min(ahead, rest_end - now)
    return max(ahead, 0)
