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
    NO_LEASE,
    NO_REST,
    Bucket,
    BucketTotals,
    GuestResult,
    Lapsed,
    LeaseArgs,
    PlayResult,
    ReservationStatus,
    ReserveResult,
    RestArgs,
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
    "Lapsed",
    "LeaseArgs",
    "PlayResult",
    "ReservationStatus",
    "ReserveResult",
    "RestArgs",
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
        guardian_day: str = "",
        minute: int = 0,
        rest: RestArgs = NO_REST,
        lease: LeaseArgs = NO_LEASE,
    ) -> PlayResult:
        """Add min(now - last_seen, max_gap) to the play time of local day `day` (whose local midnight is
        `day_start`); the part of the interval before `day_start` goes to `prev_day`. A heartbeat whose
        `now` is not after the last one adds nothing. The first heartbeat of a user adds nothing.

        With `guardian_day` (the letter of the day's type, rules/guardian.py) the child's guardian
        settings are read and answered, and a heartbeat outside the guardian's hours at wall-clock
        `minute` is not counted. `rest` tracks play sessions for the rest reminder (RestArgs): a
        heartbeat while an enforced rest is due is not counted either. Every heartbeat of a child with
        settings keeps the hash for the settings' keep time (refreshed at most daily).

        With `lease` (LeaseArgs) play is charged ahead: `last_seen` answers the lease's end (after
        `now`) and `used_seconds` and `session_seconds` count up to it; the caller answers the
        heartbeats up to that end alone, subtracting the part still ahead. A heartbeat that finds
        another process's lease (its `now` is not after the last) answers it the same way, and marks
        the lease shared so its owner gives nothing back."""
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
        guardian: bool = False,
    ) -> ReserveResult:
        """Reserve `amount` only if amount <= single_cap and, for every bucket with a cap,
        committed + pending + amount <= cap; with `guardian`, then also within the caps the child's
        guardian set (single, and the day and month buckets by their period) and, for a tip, only if
        the guardian did not turn tipping off: a denial of the guardian's is a GUARDIAN_* one, and the
        settings read are answered in `guardian`. The reservation is pending until commit, release, or its
        deadline `now + reservation_ttl`: then it *lapses*, counted as spent (committed) in its buckets,
        never given back silently: when unsure, the cap is a ceiling.

        The same idempotency key (per user, kind and amount) answers the first call's result
        (`replayed`) and never reserves twice, while that reservation is pending, committed, lapsed or
        refunded; after a release the key reserves afresh. A reservation id that exists answers as a
        replay of itself (a retried call), except a released or cancelled one (see `cancel`): that is
        denied with `SpendDenial.RELEASED` and holds nothing. `lapsed` lists the user's reservations
        this call found past their deadline (every spend call but `usage` reports them)."""
        ...

    async def commit(self, user: str, reservation_id: str, *, now: int) -> SettleResult:
        """The purchase went ahead: pending -> committed. A lapsed reservation (already counted)
        becomes committed, so no release can undo it. Idempotent; after release or refund: CONFLICT."""
        ...

    async def release(self, user: str, reservation_id: str, *, now: int) -> SettleResult:
        """The purchase did not happen: the amount is given back (from pending, or from committed
        when the reservation lapsed meanwhile). Idempotent; after commit or refund: CONFLICT."""
        ...

    async def cancel(self, user: str, reservation_id: str, *, now: int, reservation_ttl: int) -> SettleResult:
        """Release a reservation whose reserve call failed on the caller's side (a timeout, a lost
        connection): the caller does not know whether it was made and handed it to nobody. Made:
        released like `release` (RELEASED). Not made (yet): UNKNOWN, and a tombstone refuses a reserve
        of the id that arrives later (a delayed copy), for a day at least. Handed out meanwhile by an
        idempotency replay, committed or refunded: CONFLICT, left alone (whoever got it settles it,
        or it lapses as spent)."""
        ...

    async def refund(self, user: str, reservation_id: str, *, now: int, restore_quota: bool) -> SettleResult:
        """A committed or lapsed purchase was paid back; with `restore_quota` its amount counts no
        more. Idempotent; of a pending or released reservation: CONFLICT."""
        ...

    async def guardian_changes(self, since: int, *, now: int) -> tuple[str, ...]:
        """The users whose guardian settings changed at or after `since` (epoch s), as far back as
        an hour: processes that answer heartbeats under a lease ask every few seconds and stop
        answering alone for them. `set_guardian_settings` records each change."""
        ...

    async def guardian_settings(self, user: str, *, now: int) -> str:
        """The child's guardian settings as stored ("" when none)."""
        ...

    async def set_guardian_settings(
        self, user: str, settings: str | None, *, now: int, keep_seconds: int
    ) -> str:
        """Replace the child's guardian settings (None clears them) and answer the ones before ("":
        none). A set keeps the user's hash at least `keep_seconds`. The change is recorded for
        `guardian_changes` (on Redis a second call, to the feed's own key: should that one fail, the
        change still applies at the end of the leases in force)."""
        ...

    async def usage(self, user: str, *, day: str, month: str, now: int) -> Usage:
        """A read-only snapshot (no sweep): reservations past their deadline count as committed."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
