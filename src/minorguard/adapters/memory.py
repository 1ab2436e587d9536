"""An in-process counter store: the embedded default for demos, tests and single-process services.

Every method is a synchronous critical section behind an `async def` with no `await` inside, so each
call is atomic on its event loop, like one Lua script on Redis. Time is the callers' `now`: an entry
lives until its `expires_at`, exactly where the Redis store's key would expire, and is dropped then.
Memory stays bounded: every `sweep_every` calls the entries whose time passed (found through a heap
ordered by expiry) are evicted, and `max_entries` caps the number of users plus guest devices.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field, replace

from minorguard.adapters.base import (
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
from minorguard.adapters.memoryguardian import guardian_denial, kept, lease_ahead, readable, within_hours
from minorguard.adapters.memoryspend import Spending
from minorguard.adapters.storecommon import (
    answer_digest,
    answer_ttl,
    cap_denial,
    check_reserve,
    check_ttl,
    keep_ttl,
    split_gap,
    tombstone_ttl,
)
from minorguard.counters import NO_LEASE, NO_REST
from minorguard.errors import StoreError, StoreErrorKind
from minorguard.rules.guardian import GuardianSettings

FEED_SECONDS = 3600  # how long a guardian change stays in the feed (lua/feed.lua)


@dataclass(slots=True)
class _User:
    expires_at: int = 0  # the latest expiry of anything below: the user is forgotten then
    queued_at: int = 0  # the time under which this entry sits in the eviction heap
    last_seen: int | None = None
    play_expires: int = 0
    days: dict[str, int] = field(default_factory=dict)  # only the day and the day before are kept
    session_start: int | None = None  # the first heartbeat after a break (the rest reminder)
    day: str = ""  # the day of the latest counted heartbeat (a lease lies within it)
    lease_owner: str = ""  # the process whose lease ends at last_seen ("*": shared; field o)
    spending: Spending = field(default_factory=Spending)
    guardian: str = ""  # the child's guardian settings, as the Redis store keeps them (field g)


@dataclass(slots=True)
class _Guest:
    expires_at: int = 0  # the end of the device's window
    queued_at: int = 0
    last_seen: int = 0
    used: int = 0


class MemoryCounterStore:
    """`CounterStore` in a dict. Not shared between processes: use Redis when more than one runs."""

    def __init__(self, *, max_entries: int | None = 1_000_000, sweep_every: int = 1024) -> None:
        self._entries: dict[str, _User | _Guest] = {}
        self._heap: list[tuple[int, str]] = []
        self._max_entries = max_entries
        self._sweep_every = max(sweep_every, 1)
        self._clock = 0  # the latest `now` a caller passed; the store reads no clock of its own
        self._calls = 0
        self._feed: dict[str, int] = {}  # user -> latest guardian change, oldest first

    def __len__(self) -> int:
        return len(self._entries)

    # --- play time -------------------------------------------------------------------------------

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
        check_ttl(ttl_seconds)
        state = self._user(user, now)
        live = state.play_expires > now
        if live and _gives_back(state, lease, now):  # the owner's unused tail (heartbeat.lua)
            back = lease.held - lease.seen
            state.days[state.day] = max(state.days.get(state.day, 0) - back, 0)
            state.last_seen, state.lease_owner = lease.seen, ""
        last = state.last_seen if live else None
        start = state.session_start if live else None
        days = state.days if live else {}
        used = days.get(day, 0)
        raw = state.guardian if guardian_day else ""
        settings = readable(raw) if raw else None
        if settings is not None:
            state.expires_at = kept(state.expires_at, settings, now)
        if last is not None and now <= last:  # a repeat, or under another process's lease: shared
            owner = state.lease_owner
            if owner and owner not in (lease.owner, "*"):  # a caller without leases too
                state.lease_owner = "*"
            return PlayResult(used, used >= limit_seconds, raw, _session(last, start), last, False)
        refused = (settings is not None and not within_hours(settings, guardian_day, minute)) or (
            rest.enforce_after and _resting(rest, last, start, now, settings)
        )
        if refused:  # outside the guardian's hours, or while a rest is due: not counted
            return PlayResult(used, used >= limit_seconds, raw, _session(last, start), last or 0, False)
        to_prev, to_day = split_gap(now, last, max_gap, day_start)
        used += to_day
        if rest.break_seconds and (last is None or start is None or now - last > rest.break_seconds):
            start = now
        exempt = rest.exemptable and settings is not None and settings.rest_exempt
        rest_end = None
        if rest.enforce_after and rest.break_seconds and start is not None and not exempt:
            rest_end = start + rest.enforce_after
        ahead = lease_ahead(lease, now, used, limit_seconds, settings, guardian_day, minute, rest_end)
        state.days = {prev_day: days.get(prev_day, 0) + to_prev, day: used + ahead}
        state.day = day
        state.session_start = start if rest.break_seconds else None
        state.lease_owner = lease.owner if ahead else ""
        used, last = used + ahead, now + ahead
        state.last_seen = last
        if not live or state.play_expires < now + ttl_seconds - min(3600, ttl_seconds // 24):
            state.play_expires = now + ttl_seconds  # refreshed as heartbeat.lua does: seldom
            state.expires_at = max(state.expires_at, state.play_expires)
        return PlayResult(used, used >= limit_seconds, raw, _session(last, state.session_start), last, True)

    async def guest_heartbeat(
        self, device: str, *, now: int, max_gap: int, window_seconds: int, limit_seconds: int
    ) -> GuestResult:
        check_ttl(window_seconds)
        self._tick(now)
        key = "g:" + device
        guest = self._get(key, now)
        if not isinstance(guest, _Guest):
            guest = _Guest(expires_at=now + window_seconds, last_seen=now)
            self._add(key, guest)
        elif now > guest.last_seen:
            guest.used += sum(split_gap(now, guest.last_seen, max_gap, 0))
            guest.last_seen = now
        return GuestResult(guest.used, guest.used >= limit_seconds, guest.expires_at)

    # --- spending --------------------------------------------------------------------------------

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
        check_reserve(amount, buckets, reservation_id, reservation_ttl)
        state = self._user(user, now)
        raw = state.guardian if guardian else ""
        settings = readable(raw) if raw else None
        if settings is not None:
            state.expires_at = kept(state.expires_at, settings, now)
        spending = state.spending
        lapsed = self._swept(state, now)
        digest = answer_digest(idempotency_key, amount) if idempotency_key is not None else None
        earlier = spending.replay(kind, digest) if digest is not None else None
        if earlier is not None:
            return replace(earlier, lapsed=lapsed, guardian=raw)
        totals = spending.totals(kind, buckets, now)
        known = spending.known(reservation_id)
        if known is not None:  # a retried call whose first answer was lost, or a cancelled id
            if known:
                return ReserveResult(True, reservation_id, None, totals, True, lapsed, raw)
            return ReserveResult(False, None, SpendDenial.RELEASED, totals, lapsed=lapsed, guardian=raw)
        denial = _denial(amount, single_cap, buckets, totals)
        if denial is None and settings is not None:
            denial = guardian_denial(settings, kind, amount, buckets, totals)
        if denial is None:
            spending.hold(kind, amount, buckets, reservation_id, now, reservation_ttl)
            totals = spending.totals(kind, buckets, now)
            expiry = now + max(keep_ttl(buckets, reservation_ttl), reservation_ttl)
            state.expires_at = max(state.expires_at, expiry)
        result = ReserveResult(
            denial is None, reservation_id if denial is None else None, denial, totals, lapsed=lapsed
        )
        if digest is not None:
            until = now + answer_ttl(reservation_ttl)
            spending.remember(kind, digest, until, result)
            state.expires_at = max(state.expires_at, until)
        return replace(result, guardian=raw) if raw else result

    async def guardian_settings(self, user: str, *, now: int) -> str:
        state = self._get("u:" + user, now)
        return state.guardian if isinstance(state, _User) else ""

    async def set_guardian_settings(
        self, user: str, settings: str | None, *, now: int, keep_seconds: int
    ) -> str:
        check_ttl(keep_seconds)
        if settings is None:
            found = self._get("u:" + user, now)
            if not isinstance(found, _User):
                return ""
            before, found.guardian = found.guardian, ""
            self._changed(user, now)
            return before
        state = self._user(user, now)
        before, state.guardian = state.guardian, settings
        state.expires_at = max(state.expires_at, now + keep_seconds)
        self._changed(user, now)
        return before

    async def guardian_changes(self, since: int, *, now: int) -> tuple[str, ...]:
        return tuple(user for user, at in self._feed.items() if at >= since)

    def _changed(self, user: str, now: int) -> None:
        """Record a change for `guardian_changes`; forget those more than an hour old (lua/feed.lua)."""
        self._feed.pop(user, None)
        self._feed[user] = now
        while self._feed:
            oldest, at = next(iter(self._feed.items()))
            if at >= now - FEED_SECONDS:
                break
            del self._feed[oldest]

    async def commit(self, user: str, reservation_id: str, *, now: int) -> SettleResult:
        return self._settle(user, reservation_id, now, ReservationStatus.COMMITTED, restore=False)

    async def release(self, user: str, reservation_id: str, *, now: int) -> SettleResult:
        return self._settle(user, reservation_id, now, ReservationStatus.RELEASED, restore=False)

    async def cancel(self, user: str, reservation_id: str, *, now: int, reservation_ttl: int) -> SettleResult:
        check_ttl(reservation_ttl)
        state = self._user(user, now)  # a tombstone may be the user's first entry
        result, expiry = state.spending.cancel(reservation_id, now, tombstone_ttl(reservation_ttl))
        state.expires_at = max(state.expires_at, expiry)
        return result

    async def refund(self, user: str, reservation_id: str, *, now: int, restore_quota: bool) -> SettleResult:
        return self._settle(user, reservation_id, now, ReservationStatus.REFUNDED, restore=restore_quota)

    async def usage(self, user: str, *, day: str, month: str, now: int) -> Usage:
        state = self._get("u:" + user, now)
        if not isinstance(state, _User):
            return Usage(0, None, 0, 0, 0, 0)
        live = state.play_expires > now
        purchase = state.spending.snapshot(SpendKind.PURCHASE, month, now)
        tip_day = state.spending.snapshot(SpendKind.TIP, day, now)
        tip_month = state.spending.snapshot(SpendKind.TIP, month, now)
        played, last = (state.days.get(day, 0), state.last_seen) if live else (0, None)
        if last is not None and last > now:  # a lease charged ahead: played up to now (usage.lua)
            if state.day == day:
                played = max(played - (last - now), 0)
            last = now
        return Usage(
            played_seconds=played,
            last_seen=last,
            month_committed=purchase.committed,
            month_pending=purchase.pending,
            tips_day_committed=tip_day.committed,
            tips_month_committed=tip_month.committed,
        )

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._entries.clear()
        self._heap.clear()

    # --- internals -------------------------------------------------------------------------------

    def _settle(
        self, user: str, reservation_id: str, now: int, target: ReservationStatus, *, restore: bool
    ) -> SettleResult:
        self._tick(now)
        state = self._get("u:" + user, now)
        if not isinstance(state, _User):
            return SettleResult(ReservationStatus.UNKNOWN, False)
        result, expiry = state.spending.settle(reservation_id, now, target, restore=restore)
        state.expires_at = max(state.expires_at, expiry)
        return result

    @staticmethod
    def _swept(state: _User, now: int) -> tuple[Lapsed, ...]:
        lapsed, latest = state.spending.sweep(now)
        state.expires_at = max(state.expires_at, latest)
        return lapsed

    def _user(self, user: str, now: int) -> _User:
        self._tick(now)
        key = "u:" + user
        state = self._get(key, now)
        if isinstance(state, _User):
            return state
        state = _User(expires_at=now + 1)
        self._add(key, state)
        return state

    def _get(self, key: str, now: int) -> _User | _Guest | None:
        entry = self._entries.get(key)
        if entry is not None and entry.expires_at <= now:
            del self._entries[key]
            return None
        return entry

    def _add(self, key: str, entry: _User | _Guest) -> None:
        if self._max_entries is not None and len(self._entries) >= self._max_entries:
            self._evict()
            if len(self._entries) >= self._max_entries:
                # Evicting live counters would silently hand a minor fresh quota: refuse instead,
                # so the engine's failure policy decides, visibly.
                raise StoreError(StoreErrorKind.OTHER, f"memory store full ({self._max_entries} entries)")
        self._entries[key] = entry
        entry.queued_at = entry.expires_at
        heapq.heappush(self._heap, (entry.queued_at, key))

    def _tick(self, now: int) -> None:
        self._clock = max(self._clock, now)
        self._calls += 1
        if self._calls % self._sweep_every == 0:
            self._evict()

    def _evict(self) -> None:
        """Drop entries whose time passed. An entry sits in the heap once, under the time it was
        queued at; when that comes and its expiry has moved on, it is queued again."""
        while self._heap and self._heap[0][0] <= self._clock:
            queued_at, key = heapq.heappop(self._heap)
            entry = self._entries.get(key)
            if entry is None or entry.queued_at != queued_at:
                continue  # stale: the entry was dropped, or replaced and queued anew
            if entry.expires_at <= self._clock:
                del self._entries[key]
            else:
                entry.queued_at = entry.expires_at
                heapq.heappush(self._heap, (entry.queued_at, key))


def _gives_back(state: _User, lease: LeaseArgs, now: int) -> bool:
    """The caller's own lease, told to nobody else, has an unused tail to give back (heartbeat.lua)."""
    back = lease.held - lease.seen
    return (
        bool(lease.owner)
        and state.lease_owner == lease.owner
        and lease.held > 0
        and state.last_seen == lease.held
        and lease.seen < now
        and 0 < back <= lease.seconds
    )


def _session(last: int | None, start: int | None) -> int:
    return last - start if last is not None and start is not None else 0


def _resting(
    rest: RestArgs, last: int | None, start: int | None, now: int, settings: GuardianSettings | None
) -> bool:
    """An enforced rest is due: the session reached it and no break has passed since, and the child
    is not exempt (heartbeat.lua)."""
    if last is None or start is None or (rest.exemptable and settings is not None and settings.rest_exempt):
        return False
    return last - start >= rest.enforce_after and now - last <= rest.break_seconds


def _denial(
    amount: int, single_cap: int | None, buckets: tuple[Bucket, ...], totals: tuple[BucketTotals, ...]
) -> SpendDenial | None:
    if single_cap is not None and amount > single_cap:
        return SpendDenial.SINGLE_CAP
    for bucket, total in zip(buckets, totals, strict=True):
        if bucket.cap is not None and total.committed + total.pending + amount > bucket.cap:
            return cap_denial(bucket.period)
    return None
