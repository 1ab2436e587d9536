"""Values exchanged with counter stores: what a heartbeat or a reservation returned.

They live outside `adapters` so the pure rules can read them (rules import no adapter).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple


class RestArgs(NamedTuple):
    """What a heartbeat tracks for the rest reminder (G24): a gap over `break_seconds` starts a new
    session (0: no tracking); while a session has lasted `enforce_after` seconds (0: never), heartbeats
    are not counted until a break, unless the guardian exempted the child and `exemptable`."""

    break_seconds: int = 0
    enforce_after: int = 0
    exemptable: bool = False


NO_REST = RestArgs()


class LeaseArgs(NamedTuple):
    """A play-time lease (issue 16): the heartbeat also charges up to `seconds` of play ahead, never
    past `until` (epoch s: the end of the allowed window or of the local day), the limit, the
    guardian's hours or an enforced rest; the hash's last heartbeat moves to the lease's end, so every
    heartbeat up to it, from any process, adds nothing and is answered by the caller alone.

    `owner` names the calling process. `held` (the end of a lease this process took, 0: none) and
    `seen` (the latest heartbeat it answered alone under it) give back the unused tail [seen, held)
    when the lease is still the hash's and no other process was told of it; a shared lease (another
    process answered under it) or a lost one (a crash) is never given back: play time is only ever
    over-counted, by at most `seconds`."""

    seconds: int = 0
    until: int = 0
    owner: str = ""
    held: int = 0
    seen: int = 0


NO_LEASE = LeaseArgs()


class PlayResult(NamedTuple):
    """A NamedTuple, not a frozen dataclass: one is built per counted heartbeat (the hot path)."""

    used_seconds: int  # seconds played on the local day of `now`, after this heartbeat
    limit_reached: bool  # used_seconds >= limit_seconds
    guardian: str = ""  # the child's guardian settings as stored ("": none, or not asked for)
    session_seconds: int = 0  # continuous play up to the latest counted heartbeat (rest tracking)
    last_seen: int = 0  # the latest counted heartbeat (epoch s; 0: none)
    counted: bool = True  # False: outside the guardian's hours, during an enforced rest, or a repeat


@dataclass(frozen=True, slots=True)
class GuestResult:
    used_seconds: int  # seconds used in the device's current guest window
    limit_reached: bool
    window_ends_at: int  # epoch seconds when the device's window (and its cool-down) ends


class SpendKind(StrEnum):
    PURCHASE = "purchase"
    TIP = "tip"


class SpendDenial(StrEnum):
    SINGLE_CAP = "single_cap"
    DAILY_CAP = "daily_cap"
    MONTHLY_CAP = "monthly_cap"
    GUARDIAN_SINGLE = "guardian_single_cap"  # the caps a guardian set (stricter than the policy's)
    GUARDIAN_DAILY = "guardian_daily_cap"
    GUARDIAN_MONTHLY = "guardian_monthly_cap"
    GUARDIAN_TIPS = "guardian_tips_off"
    # the reservation id was released or cancelled before this reserve arrived: it never holds quota
    RELEASED = "released"


@dataclass(frozen=True, slots=True)
class Bucket:
    """A calendar bucket a spend counts in, e.g. period "2026-11" (month) or "2026-11-22" (day)."""

    period: str
    cap: int | None  # fen; None counts without a limit
    ttl_seconds: int  # how long the bucket's key lives after its last write


@dataclass(frozen=True, slots=True)
class BucketTotals:
    period: str
    committed: int
    pending: int


@dataclass(frozen=True, slots=True)
class Lapsed:
    """A reservation nobody settled by its deadline, which a store call found and counted as spent."""

    kind: SpendKind
    reservation_id: str


@dataclass(frozen=True, slots=True)
class ReserveResult:
    ok: bool
    reservation_id: str | None  # set when ok
    denial: SpendDenial | None  # set when not ok
    totals: tuple[BucketTotals, ...]  # per bucket, in the order given, after this call
    replayed: bool = False  # True when an idempotency key answered with its earlier result
    lapsed: tuple[Lapsed, ...] = ()  # the user's reservations this call found lapsed (see Lapsed)
    guardian: str = ""  # the child's guardian settings as stored, when asked for ("": none)


class ReservationStatus(StrEnum):
    COMMITTED = "committed"
    RELEASED = "released"
    REFUNDED = "refunded"
    UNKNOWN = "unknown"  # never made (or cancelled before it was), or past its retention
    CONFLICT = "conflict"  # e.g. commit after release, refund of a pending reservation


@dataclass(frozen=True, slots=True)
class SettleResult:
    status: ReservationStatus
    changed: bool  # False when the call repeated an earlier one (idempotent) or was refused
    amount: int = 0
    lapsed: tuple[Lapsed, ...] = ()  # the user's reservations this call found lapsed (see Lapsed)


@dataclass(frozen=True, slots=True)
class Usage:
    """A read-only snapshot of one user's counters, for explain and support staff."""

    played_seconds: int
    last_seen: int | None
    month_committed: int
    month_pending: int
    tips_day_committed: int
    tips_month_committed: int
