"""One user's spending in the memory store: buckets, reservations and idempotency answers, each with
its own expiry (in callers' epoch seconds). It mirrors the Redis layout field for field (see
`lua/_spend.lua`), so both stores give the same answers; `MemoryCounterStore` holds one per user."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum

from minorguard.adapters.base import (
    Bucket,
    BucketTotals,
    Lapsed,
    ReservationStatus,
    ReserveResult,
    SettleResult,
    SpendKind,
)
from minorguard.adapters.storecommon import keep_ttl, lapsed_order

_Status = ReservationStatus


class _State(Enum):
    PENDING = "p"
    COMMITTED = "c"
    LAPSED = "l"  # nobody settled it by its deadline: counted as spent then; a release may undo it
    RELEASED = "r"
    REFUNDED = "f"
    TOMBSTONE = "t"  # cancelled before any reserve of the id arrived: a late one reserves nothing


# target -> (states it moves from, the state that repeats it)
_MOVES = {
    _Status.COMMITTED: ((_State.PENDING, _State.LAPSED), _State.COMMITTED),
    _Status.RELEASED: ((_State.PENDING, _State.LAPSED), _State.RELEASED),
    _Status.REFUNDED: ((_State.COMMITTED, _State.LAPSED), _State.REFUNDED),
}
_TARGETS = {
    _Status.COMMITTED: _State.COMMITTED,
    _Status.RELEASED: _State.RELEASED,
    _Status.REFUNDED: _State.REFUNDED,
}


@dataclass(slots=True)
class _Bucket:
    expires_at: int
    ttl: int
    committed: int = 0
    pending: int = 0


@dataclass(slots=True)
class _Reservation:
    expires_at: int  # while pending: its deadline; else the end of its retention
    state: _State
    kind: SpendKind | None  # None for a tombstone
    amount: int
    keep_ttl: int
    periods: tuple[str, ...]


@dataclass(slots=True)
class _Answer:
    expires_at: int
    result: ReserveResult  # as a replay answers it (replayed=True, nothing lapsed)
    handed_out: bool = False  # replayed since: someone else may hold the reservation (see cancel)


@dataclass(slots=True)
class Spending:
    buckets: dict[tuple[SpendKind, str], _Bucket] = field(default_factory=dict)
    reservations: dict[str, _Reservation] = field(default_factory=dict)
    answers: dict[tuple[SpendKind, str], _Answer] = field(default_factory=dict)
    next_sweep: int | None = None  # no expiry of anything above is earlier

    def sweep(self, now: int) -> tuple[tuple[Lapsed, ...], int]:
        """Drop what expired; a pending reservation past its deadline lapses (counted as spent in
        its live buckets). Returns the lapsed reservations and the latest retention a lapse gave."""
        if self.next_sweep is None or now < self.next_sweep:
            return (), 0
        lapsed: list[Lapsed] = []
        latest = 0
        for rid, res in list(self.reservations.items()):
            if res.state is _State.PENDING and res.expires_at <= now and res.kind is not None:
                self._add(res, now, pending=-res.amount, committed=res.amount, refresh=False)
                lapsed.append(Lapsed(res.kind, rid))
                res.state, res.expires_at = _State.LAPSED, res.expires_at + res.keep_ttl
                latest = max(latest, res.expires_at)
            if res.expires_at <= now:
                del self.reservations[rid]
        self.answers = {k: a for k, a in self.answers.items() if a.expires_at > now}
        self.buckets = {k: b for k, b in self.buckets.items() if b.expires_at > now}
        times = [r.expires_at for r in self.reservations.values()]
        times += [a.expires_at for a in self.answers.values()] + [b.expires_at for b in self.buckets.values()]
        self.next_sweep = min(times, default=None)
        return tuple(sorted(lapsed, key=lapsed_order)), latest if latest > now else 0

    def replay(self, kind: SpendKind, digest: str) -> ReserveResult | None:
        """The earlier answer of an idempotency key, if it still stands: a denial, or a reservation
        that was not released (the key reserves afresh then: that try failed)."""
        found = self.answers.get((kind, digest))
        if found is None:
            return None
        rid = found.result.reservation_id
        if rid is not None:
            res = self.reservations.get(rid)
            if res is None or res.state in (_State.RELEASED, _State.TOMBSTONE):
                return None
            found.handed_out = True
        return found.result

    def known(self, reservation_id: str) -> bool | None:
        """None: no record of the id; True: it was reserved (a retry answers it again); False: it was
        released or cancelled, and never reserves again."""
        found = self.reservations.get(reservation_id)
        if found is None:
            return None
        return found.state not in (_State.RELEASED, _State.TOMBSTONE)

    def totals(self, kind: SpendKind, buckets: tuple[Bucket, ...], now: int) -> tuple[BucketTotals, ...]:
        return tuple(self.snapshot(kind, b.period, now) for b in buckets)

    def snapshot(self, kind: SpendKind, period: str, now: int) -> BucketTotals:
        """Totals as a sweep would leave them, without sweeping (usage is read-only)."""
        bucket = self._live(kind, period, now)
        if bucket is None:
            return BucketTotals(period, 0, 0)
        due = sum(
            r.amount
            for r in self.reservations.values()
            if r.state is _State.PENDING and r.expires_at <= now and r.kind == kind and period in r.periods
        )
        return BucketTotals(period, bucket.committed + due, max(bucket.pending - due, 0))

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
        self.reservations[rid] = _Reservation(
            now + ttl, _State.PENDING, kind, amount, keep_ttl(buckets, ttl), periods
        )
        self._note(now + ttl)

    def remember(self, kind: SpendKind, digest: str, until: int, result: ReserveResult) -> None:
        self.answers[kind, digest] = _Answer(until, replace(result, replayed=True, lapsed=()))
        self._note(until)

    def settle(
        self, rid: str, now: int, target: ReservationStatus, *, restore: bool
    ) -> tuple[SettleResult, int]:
        """Move a reservation to `target` (after a sweep); returns the answer and the latest expiry
        it wrote."""
        lapsed, latest = self.sweep(now)
        result, expiry = self._move(rid, now, target, restore=restore)
        return replace(result, lapsed=lapsed), max(latest, expiry)

    def cancel(self, rid: str, now: int, tombstone_ttl: int) -> tuple[SettleResult, int]:
        """`CounterStore.cancel`: release unless handed out; an unknown id leaves a tombstone."""
        lapsed, latest = self.sweep(now)
        res = self.reservations.get(rid)
        if res is None:
            until = now + tombstone_ttl
            self.reservations[rid] = _Reservation(until, _State.TOMBSTONE, None, 0, tombstone_ttl, ())
            self._note(until)
            return SettleResult(_Status.UNKNOWN, False, lapsed=lapsed), max(latest, until)
        if res.state in (_State.PENDING, _State.LAPSED) and self._handed_out(rid):
            return SettleResult(_Status.CONFLICT, False, res.amount, lapsed), latest
        result, expiry = self._move(rid, now, _Status.RELEASED, restore=False)
        return replace(result, lapsed=lapsed), max(latest, expiry)

    def _move(
        self, rid: str, now: int, target: ReservationStatus, *, restore: bool
    ) -> tuple[SettleResult, int]:
        res = self.reservations.get(rid)
        if res is None or res.state is _State.TOMBSTONE:
            return SettleResult(_Status.UNKNOWN, False), 0
        sources, repeat = _MOVES[target]
        if res.state is repeat:
            return SettleResult(target, False, res.amount), 0
        if res.state not in sources:
            return SettleResult(_Status.CONFLICT, False, res.amount), 0
        was = res.state
        res.state = _TARGETS[target]
        if target is _Status.COMMITTED:
            if was is _State.LAPSED:  # counted at its deadline already; keeps that retention
                return SettleResult(target, True, res.amount), 0
            self._add(res, now, pending=-res.amount, committed=res.amount, create=True)
        elif target is _Status.RELEASED:
            if was is _State.PENDING:
                self._add(res, now, pending=-res.amount)
            else:
                self._add(res, now, committed=-res.amount)
        elif restore:
            self._add(res, now, committed=-res.amount)
        if target is not _Status.REFUNDED:  # a refund keeps the retention its commit or lapse gave
            res.expires_at = now + res.keep_ttl
        self._note(res.expires_at)
        return SettleResult(target, True, res.amount), res.expires_at

    def _handed_out(self, rid: str) -> bool:
        return any(a.handed_out and a.result.reservation_id == rid for a in self.answers.values())

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
        kind = res.kind
        if kind is None:  # a tombstone has no buckets
            return
        for period in res.periods:
            bucket = self._live(kind, period, now)
            if bucket is None:
                if not create:
                    continue
                bucket = self.buckets[kind, period] = _Bucket(0, res.keep_ttl)
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
