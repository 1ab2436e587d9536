"""The Protocols the engine sees, and the values they return.

Every store operation is ONE atomic call (one Lua script on Redis, one critical section in memory).
The caller passes every time value (epoch seconds, local day and month names computed in the policy's
time zone) so a store never reads a clock of its own. `user` is always a keyed hash of the subject id
(see `subject_key`); no raw id or birth date ever reaches a store.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Protocol

from minorguard.counters import (
    Bucket,
    BucketTotals,
    GuestResult,
    PlayResult,
    ReservationStatus,
    ReserveResult,
    SettleResult,
    SpendDenial,
    SpendKind,
    Usage,
)

__all__ = [
    "Bucket",
    "BucketTotals",
    "CounterStore",
    "GuestResult",
    "PlayResult",
    "ReservationStatus",
    "ReserveResult",
    "SettleResult",
    "SpendDenial",
    "SpendKind",
    "Usage",
    "subject_key",
]


def subject_key(secret: bytes, subject_id: str) -> str:
    """The store key of a subject: HMAC-SHA256 of its id, 128 bits as hex. Not reversible without the
    secret, stable across processes that share it."""
    return hmac.new(secret, subject_id.encode(), hashlib.sha256).hexdigest()[:32]


class CounterStore(Protocol):
    """Counters of play time, spending, tipping and guest windows. Each method is one atomic call and
    raises `minorguard.errors.StoreError` (never a backend exception) when the store cannot answer."""

    async def play_heartbeat(
        self,
        user: str,
        *,
        now: int,
        day: str,
        prev_day: str,
        day_start: int,
        max_gap: int,
        limit_seconds: int,
        ttl_seconds: int,
    ) -> PlayResult:
        """Add min(now - last_seen, max_gap) to the play time of local day `day` (whose local midnight is
        `day_start`); the part of the interval before `day_start` goes to `prev_day`. A heartbeat whose
        `now` is not after the last one adds nothing. The first heartbeat of a user adds nothing."""
        ...

    async def guest_heartbeat(
        self, device: str, *, now: int, max_gap: int, window_seconds: int, limit_seconds: int
    ) -> GuestResult:
        """Like play_heartbeat, for a guest device: time adds up in a window of `window_seconds` opened by
        the device's first heartbeat; a new window opens only after it ends (nppa-2019: 60 min/15 days)."""
        ...

    async def reserve(
        self,
        user: str,
        *,
        kind: SpendKind,
        amount: int,
        single_cap: int | None,
        buckets: tuple[Bucket, ...],
        reservation_id: str,
        idempotency_key: str | None,
        now: int,
        reservation_ttl: int,
    ) -> ReserveResult:
        """Reserve `amount` only if amount <= single_cap and, for every bucket with a cap,
        committed + pending + amount <= cap. Expired reservations no longer count as pending. The same
        idempotency key (per user and kind) returns the first answer and never reserves twice."""
        ...

    async def commit(self, user: str, reservation_id: str, *, now: int) -> SettleResult: ...

    async def release(self, user: str, reservation_id: str, *, now: int) -> SettleResult: ...

    async def refund(
        self, user: str, reservation_id: str, *, now: int, restore_quota: bool
    ) -> SettleResult: ...

    async def usage(self, user: str, *, day: str, month: str, now: int) -> Usage: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
