"""What the memory and Redis counter stores share, so both answer exactly alike: argument checks, the
arithmetic of a heartbeat, the one-letter codes of spend kinds and denials, and idempotency digests."""

from __future__ import annotations

import hashlib
import re
from typing import Final

from minorguard.adapters.base import Bucket, Lapsed, SpendDenial, SpendKind
from minorguard.counters import RestArgs

# An idempotency answer is kept at least a day: clients retry a payment for hours, not for days.
ANSWER_MIN_TTL: Final = 86_400

KIND_LETTERS: Final = {SpendKind.PURCHASE: "p", SpendKind.TIP: "t"}
KINDS_BY_LETTER: Final = {letter: kind for kind, letter in KIND_LETTERS.items()}
DENIAL_LETTERS: Final = {
    SpendDenial.SINGLE_CAP: "s",
    SpendDenial.MONTHLY_CAP: "m",
    SpendDenial.DAILY_CAP: "d",
    SpendDenial.RELEASED: "r",
    SpendDenial.GUARDIAN_SINGLE: "S",  # a guardian's letter is the policy's in upper case (reserve.lua)
    SpendDenial.GUARDIAN_DAILY: "D",
    SpendDenial.GUARDIAN_MONTHLY: "M",
    SpendDenial.GUARDIAN_TIPS: "T",
}
DENIALS_BY_LETTER: Final = {letter: denial for denial, letter in DENIAL_LETTERS.items()}

_MONTH = re.compile(r"\d{4}-\d{2}")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def cap_denial(period: str) -> SpendDenial:
    """The denial a full bucket gives: its period names a month "YYYY-MM" or a day "YYYY-MM-DD"."""
    if _MONTH.fullmatch(period):
        return SpendDenial.MONTHLY_CAP
    if _DAY.fullmatch(period):
        return SpendDenial.DAILY_CAP
    raise ValueError(f"bucket period {period!r} is neither a month YYYY-MM nor a day YYYY-MM-DD")


def period_letter(period: str) -> str:
    """The letter of a bucket's period, as reserve.lua names caps and denials by it: d a day, m a
    month ('-' for anything else, which no cap may have)."""
    if _MONTH.fullmatch(period):
        return "m"
    if _DAY.fullmatch(period):
        return "d"
    return "-"


def rest_args(rest: RestArgs) -> tuple[int, int, int]:
    return rest.break_seconds, rest.enforce_after, int(rest.exemptable)


def answer_ttl(reservation_ttl: int) -> int:
    return max(reservation_ttl, ANSWER_MIN_TTL)


def tombstone_ttl(reservation_ttl: int) -> int:
    """How long a cancel of an id no reserve has made yet refuses a late reserve of it: as long as an
    idempotency answer. A reserve stuck in a stalled server or a dying connection arrives within
    seconds; a day is a wide margin, and tombstones are written only after failed reserve calls."""
    return answer_ttl(reservation_ttl)


def lapsed_order(item: Lapsed) -> str:
    """Stores list lapsed reservations sorted by kind letter and id (as the Lua sweep does)."""
    return KIND_LETTERS[item.kind] + item.reservation_id


def answer_digest(idempotency_key: str, amount: int) -> str:
    """Stores keep a digest, never the caller's key (it may be an order number): 64 bits are plenty
    among one user's keys of a day. The amount is part of it: a key reused for another amount is
    another purchase, reserved and counted, never a replay of the first one's answer."""
    return hashlib.sha256(f"{idempotency_key}\x00{amount}".encode()).hexdigest()[:16]


def keep_ttl(buckets: tuple[Bucket, ...], reservation_ttl: int) -> int:
    """How long a settled reservation is kept: as long as its longest-lived bucket, so a refund
    can still find it."""
    return max([reservation_ttl, *(b.ttl_seconds for b in buckets)])


def check_reserve(
    amount: int, buckets: tuple[Bucket, ...], reservation_id: str, reservation_ttl: int
) -> None:
    """Reject input that would corrupt counters; these are programming errors, not store failures."""
    if amount < 0:
        raise ValueError("amount must not be negative")
    if reservation_ttl < 1 or any(b.ttl_seconds < 1 for b in buckets):
        raise ValueError("reservation and bucket TTLs must be at least one second")
    if not reservation_id or ":" in reservation_id:
        raise ValueError("reservation_id must be a non-empty hex string")
    periods = [b.period for b in buckets]
    if len(set(periods)) != len(periods) or any(not p or ":" in p for p in periods):
        raise ValueError("bucket periods must be distinct, non-empty and without ':'")
    for bucket in buckets:
        if bucket.cap is not None:
            cap_denial(bucket.period)


def check_ttl(*ttls: int) -> None:
    for ttl in ttls:  # a loop, not any(generator): this runs on every store call
        if ttl < 1:
            raise ValueError("TTLs and windows must be at least one second")


def split_gap(now: int, last_seen: int | None, max_gap: int, day_start: int) -> tuple[int, int]:
    """Seconds a heartbeat adds to (previous day, day): the gap since the last heartbeat, capped at
    max_gap; the part of [now - gap, now) before local midnight belongs to the previous day."""
    if last_seen is None or now <= last_seen:
        return 0, 0
    gap = min(now - last_seen, max(max_gap, 0))
    before = min(max(day_start - (now - gap), 0), gap)
    return before, gap - before
