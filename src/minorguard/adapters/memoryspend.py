"""One user's spending in the memory store: buckets, reservations and idempotency answers, each with
its own expiry (in callers' epoch seconds). It mirrors the Redis layout field for field (see
`lua/_spend.lua`), so both stores give the same answers; `MemoryCounterStore` holds one per user."""

from __future__ import annotations

from dataclasses import dataclass, field

from minorguard.adapters.base import (
    Bucket,
    BucketTotals,
    ReservationStatus,
    ReserveResult,
    SettleResult,
    SpendKind,
)
from minorguard.adapters.storecommon import keep_ttl

_Status = ReservationStatus

# target -> (states it moves from, the state that repeats it)
_MOVES = {
    _Status.COMMITTED: (None, _Status.COMMITTED),
    _Status.RELEASED: (None, _Status.RELEASED),
    _Status.REFUNDED: (_Status.COMMITTED, _Status.REFUNDED),
}


@dataclass(slots=True)
class _Bucket:
    expires_at: int
    ttl: int
    committed: int = 0
    pending: int = 0


@dataclass(slots=True)
class _Reservation:
    expires_at: int  # while pending: its deadline; once settled: the end of its retention
    status: ReservationStatus | None  # None while pending
    kind: SpendKind
    amount: int
    keep_ttl: int
    periods: tuple[str, ...]


@dataclass(slots=True)
class Spending:
    buckets: dict[tuple[SpendKind, str], _Bucket] = field(default_factory=dict)
    reservations: dict[str, _Reservation] = field(default_factory=dict)
    answers: dict[tuple[SpendKind, str], tuple[int, ReserveResult]] = field(default_factory=dict)
    next_sweep: int | None = None  # no expiry of anything above is earlier

    def sweep(self, now: int) -> None:
        """Drop what expired; an expired pending reservation gives its amount back first."""
        if self.next_sweep is None or now < self.next_sweep:
            return
        for rid, res in list(self.reservations.items()):
            if res.expires_at <= now:
                if res.status is None:
                    self._add(res, now, pending=-res.amount, refresh=False)
                del self.reservations[rid]
        self.answers = {k: v for k, v in self.answers.items() if v[0] > now}
        self.buckets = {k: b for k, b in self.buckets.items() if b.expires_at > now}
        times = [r.expires_at for r in self.reservations.values()]
        times += [a[0] for a in self.answers.values()] + [b.expires_at for b in self.buckets.values()]
        self.next_sweep = min(times, default=None)

    def answer(self, kind: SpendKind, digest: str) -> ReserveResult | None:
        found = self.answers.get((kind, digest))
        return found[1] if found is not None else None

    def live(self, reservation_id: str | None, now: int) -> bool:
        """Pending (and not lapsed), committed or refunded: a purchase that went, or may still go, ahead."""
        found = self.reservations.get(reservation_id) if reservation_id is not None else None
        if found is None:
            return False
        if found.status is None:
            return found.expires_at > now
        return found.status is not ReservationStatus.RELEASED

    def has(self, reservation_id: str) -> bool:
        return reservation_id in self.reservations

    def totals(self, kind: SpendKind, buckets: tuple[Bucket, ...], now: int) -> tuple[BucketTotals, ...]:
        return tuple(self.snapshot(kind, b.period, now) for b in buckets)

    def snapshot(self, kind: SpendKind, period: str, now: int) -> BucketTotals:
        """Totals as a sweep would leave them, without sweeping (usage is read-only)."""
        bucket = self._live(kind, period, now)
        if bucket is None:
            return BucketTotals(period, 0, 0)
        expired = sum(
            r.amount
            for r in self.reservations.values()
            if r.status is None and r.expires_at <= now and r.kind == kind and period in r.periods
        )
        return BucketTotals(period, bucket.committed, max(bucket.pending - expired, 0))

    def hold(
        self, kind: SpendKind, amount: int, buckets: tuple[Bucket, ...], rid: str, now: int, ttl: int
    ) -> None:
        for b in buckets:
            bucket = self._live(kind, b.period, now) or _Bucket(0, b.ttl_seconds)
            bucket.pending += amount
            bucket.ttl = b.ttl_seconds
            bucket.expires_at = max(bucket.expires_at, now + b.ttl_seconds)
            self.buckets[kind, b.period] = bucket
            self._note(bucket.expires_at)
        periods = tuple(b.period for b in buckets)
        self.reservations[rid] = _Reservation(now + ttl, None, kind, amount, keep_ttl(buckets, ttl), periods)
        self._note(now + ttl)

    def remember(self, kind: SpendKind, digest: str, until: int, result: ReserveResult) -> None:
        self.answers[kind, digest] = (until, result)
        self._note(until)

    def settle(
        self, rid: str, now: int, target: ReservationStatus, *, restore: bool
    ) -> tuple[SettleResult, int]:
        """Move a reservation to `target`; returns the answer and the latest expiry it wrote."""
        self.sweep(now)
        res = self.reservations.get(rid)
        if res is None:
            return SettleResult(_Status.UNKNOWN, False), 0
        source, repeat = _MOVES[target]
        if res.status == repeat:
            return SettleResult(target, False, res.amount), 0
        if res.status != source:
            return SettleResult(_Status.CONFLICT, False, res.amount), 0
        if target is _Status.COMMITTED:
            self._add(res, now, pending=-res.amount, committed=res.amount, create=True)
        elif target is _Status.RELEASED:
            self._add(res, now, pending=-res.amount)
        elif restore:
            self._add(res, now, committed=-res.amount)
        if target is not _Status.REFUNDED:  # a refund keeps the retention its commit gave
            res.expires_at = now + res.keep_ttl
        res.status = target
        self._note(res.expires_at)
        return SettleResult(target, True, res.amount), res.expires_at

    def _add(
        self,
        res: _Reservation,
        now: int,
        *,
        pending: int = 0,
        committed: int = 0,
        create: bool = False,
        refresh: bool = True,
    ) -> None:
        """Change the reservation's buckets; counters never go below zero (a bucket may have expired
        and come back in between). Only a commit brings back a bucket that expired."""
        for period in res.periods:
            bucket = self._live(res.kind, period, now)
            if bucket is None:
                if not create:
                    continue
                bucket = self.buckets[res.kind, period] = _Bucket(0, res.keep_ttl)
            bucket.pending = max(bucket.pending + pending, 0)
            bucket.committed = max(bucket.committed + committed, 0)
            if refresh:
                bucket.expires_at = max(bucket.expires_at, now + bucket.ttl)
                self._note(bucket.expires_at)

    def _live(self, kind: SpendKind, period: str, now: int) -> _Bucket | None:
        bucket = self.buckets.get((kind, period))
        return bucket if bucket is not None and bucket.expires_at > now else None

    def _note(self, expires_at: int) -> None:
        if self.next_sweep is None or expires_at < self.next_sweep:
            self.next_sweep = expires_at
