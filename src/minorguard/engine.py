"""The engine: rules + counter store + modes + failure policy, in one place.

Every front door (the ASGI middleware, the sidecar) calls `Engine.decide`. The stateless rules run
first; at most ONE store call settles a stateful check; adults, exempt activities and stateless denies
never touch the store. Store failures are applied here and nowhere else: a rule whose failure policy is
`open` allows (and says so in the decision), `closed` denies with `store_unavailable`.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from minorguard.adapters.base import CounterStore, subject_key
from minorguard.counters import NO_LEASE, LeaseArgs, PlayResult, SettleResult, SpendDenial, Usage
from minorguard.errors import StoreError, StoreErrorKind
from minorguard.rules.age import ADULT_AGE, age_reached_at
from minorguard.rules.compiled import CompiledPolicy, Instant
from minorguard.rules.evaluate import StatefulCheck, evaluate_at
from minorguard.rules.game import GuestCheck, check_game, finish_guest, finish_play
from minorguard.rules.guardian import GuardianSettings
from minorguard.rules.livestream import ConsentCheck, finish_consent
from minorguard.rules.person import Person
from minorguard.rules.playcheck import PlayCheck
from minorguard.rules.spendcheck import SpendCheck
from minorguard.rules.spending import finish_spend
from minorguard.settling import Retries, SettleCall, SettleObserver, Settler, settle_call
from minorguard.types import (
    Activity,
    AgeBand,
    Decision,
    Facts,
    FailurePolicy,
    Finding,
    Mode,
    Outcome,
    Reason,
    Subject,
)

Clock = Callable[[], float]
PLAY_KEY_TTL = 2 * 86400  # a day's play counter outlives its day by one: yesterday's split still lands
_MAX_KEYS = 65536
_MAX_MEMO = 32768  # game verdicts kept for the current minute (a few hundred bytes each)
# A refusal a guardian could lift (their own limit or hours, a policy limit they may raise, a rest they
# may exempt from) is answered from the blocked-until cache for at most this long: a guardian's change
# applies within this many seconds, through every process (each asks the store again after it).
GUARDIAN_FRESH_SECONDS = 5
# the guardian feed is read from this long before the previous read: a change whose writer's clock
# is behind this process's by less is still seen (seeing one again only costs one store call)
FEED_OVERLAP_SECONDS = 10
NO_LIMIT = 10**9  # the limit a heartbeat is given when only guardian settings or the rest reminder apply
_LIFTABLE = (Reason.GUARDIAN_LIMIT, Reason.REST_REQUIRED)
# no rule limits adults here (tips have adult caps)
UNLIMITED_FOR_ADULTS = (Activity.GAME, Activity.PURCHASE)
ADULT_ALLOWED = Decision(Outcome.ALLOW, Reason.ALLOWED, AgeBand.ADULT)


@dataclass(slots=True)
class _Lease:
    """Play time the store charged ahead for a subject, up to `end` (see LeaseArgs): heartbeats up to
    it are answered here, from what the store answered, less the part still ahead."""

    end: int
    played: PlayResult  # as the store answered: used and session count up to `end`
    seen: int  # the latest heartbeat answered under it
    revision: str
    day_start: int  # the local day it was charged to (one ending at midnight answers none after)
    stale: bool = False  # the guardian changed something: ask the store (and give back) next time


@dataclass(slots=True)
class _Kept:
    """A subject's stateless game verdict, kept for its minute, and the decision of the latest heartbeat
    this engine counted with it, with the second it was counted at."""

    subject: Subject
    verdict: Decision | PlayCheck
    second: int = -1
    counted: Decision | None = None


class EngineObserver(SettleObserver, Protocol):
    """Told about what metrics count; the middleware and sidecar pass their Prometheus-backed one."""

    def store_failed(self, activity: str, kind: StoreErrorKind, failure: FailurePolicy) -> None: ...


class Engine:
    def __init__(
        self,
        policy: CompiledPolicy,
        store: CounterStore,
        *,
        subject_secret: bytes,
        clock: Clock = time.time,
        observer: EngineObserver | None = None,
        retries: Retries | None = None,
        lease_seconds: int = 0,
        feed_seconds: float = GUARDIAN_FRESH_SECONDS,
    ) -> None:
        """`lease_seconds` > 0 turns play-time leases on (LeaseArgs): a heartbeat charges up to that
        much play ahead and the ones under it are answered without the store; the guardian feed is
        then read every `feed_seconds`, so a guardian's change applies within that bound."""
        self.policy = policy
        self.store = store
        self.clock = clock
        self.observer = observer
        self.settler = Settler(store, clock, observer, Retries() if retries is None else retries)
        self._secret = subject_secret
        self._keys: dict[str, str] = {}
        self._adults: dict[dt.date, float] = {}
        self._adults_of: CompiledPolicy | None = None
        # the stateless game verdicts of this minute, by (id(subject), facts)
        self._memo: dict[tuple[int, Facts], _Kept] = {}
        self._memo_of: tuple[CompiledPolicy, int] | None = None
        self._blocked: dict[tuple[str, str], tuple[float, Decision]] = {}  # (revision, user) -> until
        self._settings: dict[str, GuardianSettings] = {}  # stored guardian settings, parsed, by value
        self._lease_seconds = lease_seconds
        self._owner = ("", 0)  # this process, as the owner of its leases, and its pid (see `owner`)
        self._leases: dict[str, _Lease] = {}
        self._feed_seconds = feed_seconds
        self._feed_read = 0.0  # when the guardian feed was last read (epoch s)
        self._feed_busy = False

    def user_key(self, subject_id: str) -> str:
        """The store key of a subject (a keyed hash; never the raw id), cached."""
        key = self._keys.get(subject_id)
        if key is None:
            if len(self._keys) >= _MAX_KEYS:
                self._keys.clear()
            key = self._keys[subject_id] = subject_key(self._secret, subject_id)
        return key

    def evaluate(self, subject: Subject, facts: Facts, at: float | None = None) -> Decision | StatefulCheck:
        """The stateless part alone: a Decision, or the one stateful check the store must settle."""
        cp = self.policy
        epoch = self.clock() if at is None else at
        if self.adult_allows(subject, facts.activity, epoch):
            return ADULT_ALLOWED
        now = cp.instant(epoch)
        if facts.activity is Activity.GAME:
            return self._game(cp, subject, facts, now)
        person = Person.at(subject, now.date, cp.policy.spec.birthday, cp.zone)
        return evaluate_at(cp, person, facts, now)

    def adult_allows(self, subject: Subject, activity: Activity, epoch: float) -> bool:
        """The hot path of most traffic: no rule limits a verified adult's game or purchase."""
        since = self.adult_since(subject, activity)
        return since is not None and epoch >= since

    def adult_since(self, subject: Subject, activity: Activity) -> float | None:
        """The epoch from which no rule limits `subject` on `activity` (their 18th birthday, by the
        policy's birthday rule and zone), or None when rules always apply (unverified, or an activity
        with adult rules)."""
        birthdate = subject.birthdate
        if activity not in UNLIMITED_FOR_ADULTS or not subject.verified or birthdate is None:
            return None
        cp = self.policy
        if self._adults_of is not cp:  # a reload may change the birthday rule or the zone
            self._adults.clear()
            self._adults_of = cp
        adult_from = self._adults.get(birthdate)
        if adult_from is None:
            if len(self._adults) >= _MAX_KEYS:
                self._adults.clear()
            adult_from = self._adults[birthdate] = age_reached_at(
                birthdate, ADULT_AGE, cp.policy.spec.birthday, cp.zone
            ).timestamp()
        return adult_from

    def _game(
        self, cp: CompiledPolicy, subject: Subject, facts: Facts, now: Instant
    ) -> Decision | StatefulCheck:
        """The stateless game rules read the subject, the facts, the local date and the wall clock, whose
        boundaries are whole minutes (policy times are "HH:MM"). So a deny, or the heartbeat a minor
        must make, holds for the rest of the minute: later requests of the minute reuse it.

        The store counts play time in whole seconds: once a heartbeat at second S is counted, another
        at S adds nothing (each adds the time since the latest one, and that is S). So the decision
        of a heartbeat this engine counted at S is the decision of every later request of the
        subject at S, and is answered without the store (see `settle`). Exact within one process;
        across processes it is behind by at most their clock skew (a process whose clock is ahead
        may count S+1 meanwhile), the bound every multi-process count of play time has anyway."""
        minute = now.epoch - now.second % 60
        if self._memo_of is None or self._memo_of[0] is not cp or self._memo_of[1] != minute:
            self._memo.clear()
            self._memo_of = (cp, minute)
        key = (id(subject), facts)
        kept = self._memo.get(key)
        if kept is not None and kept.subject is subject:  # the memo holds the subject: its id is unique
            verdict = kept.verdict
            if isinstance(verdict, Decision):
                return verdict
            if kept.second == now.epoch and kept.counted is not None:
                return kept.counted
            return verdict.at(now)
        person = Person.at(subject, now.date, cp.policy.spec.birthday, cp.zone)
        result = check_game(cp, person, facts, now)
        # an allow without a heartbeat carries the seconds left in the window: not kept
        if isinstance(result, PlayCheck) or (isinstance(result, Decision) and not result.allowed):
            if len(self._memo) >= _MAX_MEMO:
                self._memo.clear()
            self._memo[key] = _Kept(subject, result)
            if isinstance(result, PlayCheck):
                return result.at(now)  # the kept one stays unused: finish_play may add findings
        return result

    async def decide(
        self, subject: Subject, facts: Facts, *, idempotency_key: str | None = None, at: float | None = None
    ) -> Decision:
        result = self.evaluate(subject, facts, at)
        if isinstance(result, Decision):
            return result
        return await self.settle(subject, facts, result, idempotency_key)

    async def settle(
        self, subject: Subject, facts: Facts, check: StatefulCheck, idempotency_key: str | None = None
    ) -> Decision:
        """The one store call of a stateful check, with the failure policy applied."""
        try:
            decision = await self._settle(subject, check, idempotency_key)
        except StoreError as exc:
            return self._store_failed(facts, check, exc)
        if isinstance(check, PlayCheck):
            self._counted(subject, facts, check, decision)
        return decision

    def _counted(self, subject: Subject, facts: Facts, check: PlayCheck, decision: Decision) -> None:
        """Keep the decision of a counted heartbeat for the rest of its second (see `_game`), if the
        memo still holds the verdict the check came from (not one of a later minute or policy)."""
        kept = self._memo.get((id(subject), facts))
        if kept is not None and kept.subject is subject:
            verdict = kept.verdict
            if isinstance(verdict, PlayCheck) and verdict.person is check.person:
                kept.second, kept.counted = check.instant.epoch, decision

    async def _settle(self, subject: Subject, check: StatefulCheck, idempotency_key: str | None) -> Decision:
        now = check.instant
        if isinstance(check, PlayCheck):
            return await self._heartbeat(self.user_key(subject.subject_id), check)
        if isinstance(check, GuestCheck):
            guest = await self.store.guest_heartbeat(
                check.device,
                now=now.epoch,
                max_gap=check.max_gap,
                window_seconds=check.window_seconds,
                limit_seconds=check.limit_seconds,
            )
            return finish_guest(self.policy, check, guest)
        user = self.user_key(subject.subject_id)
        if isinstance(check, ConsentCheck):
            raw = await self.store.guardian_settings(user, now=now.epoch)
            return finish_consent(self.policy, check, self.guardian_of(raw))
        return await self._reserve(user, check, idempotency_key)

    async def _heartbeat(self, user: str, check: PlayCheck) -> Decision:
        """The one store call of a counted heartbeat: play time, the session of the rest reminder and
        the child's guardian settings, all in one."""
        cp, now = self.policy, check.instant
        blocked = self._blocked.get((cp.policy.revision, user))
        if blocked is not None and now.epoch < blocked[0]:
            return blocked[1]  # the day's limit is used up (or a refusal to keep a few seconds)
        held = self._leases.get(user)
        if (
            held is not None
            and now.epoch <= held.end
            and now.day_start == held.day_start
            and await self._lease_holds(held, now.epoch)
        ):
            return self._under_lease(user, check, held)
        day, prev_day, letter = cp.day_names(now.date)
        limit = check.limit_seconds
        lease = self._lease_args(check, held)
        played = await self.store.play_heartbeat(
            user,
            now=now.epoch,
            day=day,
            prev_day=prev_day,
            day_start=now.day_start,
            max_gap=check.max_gap,
            limit_seconds=NO_LIMIT if limit is None else limit,
            ttl_seconds=PLAY_KEY_TTL,
            guardian_day=letter,
            minute=now.second // 60,
            rest=cp.rest,
            lease=lease,
        )
        if played.last_seen > now.epoch:  # under a lease, ours or another process's
            held = _Lease(played.last_seen, played, now.epoch, cp.policy.revision, now.day_start)
            if lease is not NO_LEASE:  # kept to answer under; without leases, only read right
                if len(self._leases) >= _MAX_KEYS:
                    self._forget_leases(now.epoch)
                self._leases[user] = held
            return self._under_lease(user, check, held)
        if held is not None and self._leases.get(user) is held:  # (another request may have replaced it)
            del self._leases[user]
        return self._finish(user, check, played)

    def _forget_leases(self, epoch: int) -> None:
        """Make room: first the leases that ended (their players paused or left), then, if still
        full, all. A lease forgotten is never given back: its unused tail stays counted (an
        over-count of one lease at most per player, never an under-count)."""
        for user in [user for user, lease in self._leases.items() if lease.end < epoch]:
            del self._leases[user]
        if len(self._leases) >= _MAX_KEYS:
            self._leases.clear()

    def _finish(self, user: str, check: PlayCheck, played: PlayResult) -> Decision:
        raw = played.guardian
        decision = finish_play(self.policy, check, played, self.guardian_of(raw) if raw else None)
        if not decision.allowed:
            self._remember_block(user, decision, check)
        return decision

    def _lease_args(self, check: PlayCheck, held: _Lease | None) -> LeaseArgs:
        """What this heartbeat asks for: a lease no longer than a gap the store counts in full or a
        break, within the window and the day; and the lease it holds, to give its unused tail back."""
        if not self._lease_seconds:
            return NO_LEASE
        cp, now = self.policy, check.instant
        seconds = min(self._lease_seconds, check.max_gap)
        if cp.rest.break_seconds:
            seconds = min(seconds, cp.rest.break_seconds)
        until = cp.day_end(now)
        if check.window_remaining is not None:
            until = min(until, now.epoch + check.window_remaining)
        if held is None:
            return LeaseArgs(seconds, until, self.owner())
        return LeaseArgs(seconds, until, self.owner(), held.end, held.seen)

    def owner(self) -> str:
        """This process's name as the owner of leases: random, and made again in a forked child
        (workers forked after the engine was built must not give back each other's leases)."""
        name, pid = self._owner
        if pid != os.getpid():
            name, pid = secrets.token_hex(4), os.getpid()
            self._owner = (name, pid)
            self._leases.clear()  # the parent's: this process did not answer under them
        return name

    def _under_lease(self, user: str, check: PlayCheck, held: _Lease) -> Decision:
        """A heartbeat answered from a lease: the store's answer, less the part still ahead."""
        t = check.instant.epoch
        held.seen = max(held.seen, t)
        played, ahead = held.played, held.end - t
        used = played.used_seconds - ahead
        limit = check.limit_seconds
        session = max(played.session_seconds - ahead, 0)
        now_played = PlayResult(
            used, limit is not None and used >= limit, played.guardian, session, t, played.counted
        )
        return self._finish(user, check, now_played)

    async def _lease_holds(self, held: _Lease, epoch: int) -> bool:
        """Whether a heartbeat may be answered under `held`: same policy, no guardian change since
        (the feed is read when due; a read that fails sends every heartbeat to the store)."""
        if held.stale or held.revision != self.policy.policy.revision:
            return False
        if epoch - self._feed_read >= self._feed_seconds and not self._feed_busy:
            self._feed_busy = True
            try:
                since = int(self._feed_read) - FEED_OVERLAP_SECONDS
                changed = await self.store.guardian_changes(since, now=epoch)
            except StoreError:
                return False
            finally:
                self._feed_busy = False
            self._feed_read = epoch
            self._guardian_changed(changed)
        return not held.stale

    def _guardian_changed(self, users: tuple[str, ...]) -> None:
        """Children whose guardian changed something: their next heartbeat asks the store."""
        revision = self.policy.policy.revision
        for user in users:
            lease = self._leases.get(user)
            if lease is not None:
                lease.stale = True
            self._blocked.pop((revision, user), None)

    def guardian_of(self, raw: str) -> GuardianSettings | None:
        """The settings of a stored value (parsed once per distinct value; None when there are none).
        A value the guardian service never writes is a StoreError (RESPONSE): the failure policy of
        the activity decides, visibly."""
        if not raw:
            return None
        found = self._settings.get(raw)
        if found is None:
            try:
                found = GuardianSettings.decode(raw)
            except ValueError as exc:
                raise StoreError(StoreErrorKind.RESPONSE, f"unreadable guardian settings: {exc}") from None
            if len(self._settings) >= _MAX_KEYS:
                self._settings.clear()
            self._settings[raw] = found
        return found

    async def _reserve(self, user: str, check: SpendCheck, idempotency_key: str | None) -> Decision:
        """The reservation of a purchase or tip. Its id is made here, before the store call: when
        that call fails, the id is cancelled in the background, as the call may have been (or may
        yet be) carried out although nobody learned of it."""
        reservation_id = secrets.token_hex(16)
        now = check.instant.epoch
        try:
            reserved = await self.store.reserve(
                user,
                kind=check.kind,
                amount=check.amount,
                single_cap=check.single_cap,
                buckets=check.buckets,
                reservation_id=reservation_id,
                idempotency_key=idempotency_key,
                now=now,
                reservation_ttl=check.reservation_ttl,
                guardian=check.guardian,
            )
        except StoreError as exc:
            # A refused login (CONFIGURATION) never ran the script: nothing to cancel. Anything else
            # (a timeout, a connection lost mid-call, an odd reply) may have reserved.
            if exc.kind is not StoreErrorKind.CONFIGURATION:
                self.settler.cancel_later(
                    user, reservation_id, now=now, reservation_ttl=check.reservation_ttl
                )
            raise
        self.settler.lapsed(user, reserved.lapsed)
        if reserved.denial is SpendDenial.RELEASED:  # a fresh id cannot have been released: a store fault
            raise StoreError(StoreErrorKind.RESPONSE, "a new reservation id was refused as released")
        return finish_spend(check, reserved, self.guardian_of(reserved.guardian))

    def _remember_block(self, user: str, decision: Decision, check: PlayCheck) -> None:
        """Play refused until a known instant stays refused until then: later heartbeats before it are
        answered here. Keyed by policy revision, so a reload that raises a limit applies at once. A
        refusal a guardian could lift is kept GUARDIAN_FRESH_SECONDS at most."""
        reason, again = decision.reason, decision.allowed_again_at
        if again is None or (reason is not Reason.DAILY_PLAY_LIMIT and reason not in _LIFTABLE):
            return
        until = again.timestamp()
        cp = self.policy
        liftable = reason is Reason.GUARDIAN_LIMIT or (reason is Reason.REST_REQUIRED and cp.rest.exemptable)
        if liftable or (cp.guardian_on and cp.may_raise_play(check.person.band)):
            until = min(until, check.instant.epoch + GUARDIAN_FRESH_SECONDS)
        if len(self._blocked) >= _MAX_KEYS:
            self._blocked.clear()
        self._blocked[(cp.policy.revision, user)] = (until, decision)

    def _store_failed(self, facts: Facts, check: StatefulCheck, exc: StoreError) -> Decision:
        failure = check.on_store_error
        if self.observer is not None:
            self.observer.store_failed(facts.activity.value, exc.kind, failure)
        found = check.findings
        if failure is FailurePolicy.OPEN:
            return found.allow()._replace(failed_open=True)
        rule = _rule_of(check)
        return found.deny(
            Finding(
                Reason.STORE_UNAVAILABLE,
                rule,
                check.legal_basis,
                Mode.ENFORCE,
                None,
                f"the {rule} counters are unavailable ({exc.kind.value})",
            )
        )

    async def commit(self, subject_id: str, reservation_id: str, *, at: float | None = None) -> SettleResult:
        return await self.settle_key("commit", self.user_key(subject_id), reservation_id, at=at)

    async def release(self, subject_id: str, reservation_id: str, *, at: float | None = None) -> SettleResult:
        return await self.settle_key("release", self.user_key(subject_id), reservation_id, at=at)

    async def refund(self, subject_id: str, reservation_id: str, *, at: float | None = None) -> SettleResult:
        return await self.settle_key("refund", self.user_key(subject_id), reservation_id, at=at)

    async def settle_key(
        self, action: str, user_key: str, reservation_id: str, *, at: float | None = None
    ) -> SettleResult:
        """Commit, release or refund a reservation of the user whose store key is `user_key` (the sidecar
        hands out reservation ids that carry it, so an upstream can settle without the user's token).
        One store call: a StoreError propagates (see `settle_reservation` for the retried form)."""
        call = self._settle_call(action, user_key, reservation_id)
        result = await call(self._now(at))
        self.settler.lapsed(user_key, result.lapsed)
        return result

    async def settle_reservation(self, action: str, user_key: str, reservation_id: str) -> SettleResult:
        """What a door calls once the backend answered: `commit` when the purchase went ahead,
        `release` when it did not, `refund` later. A failed store call is tried again (by default 3
        tries within about 2 s). When none succeeds, the failure is counted
        (`minorguard_settlement_failures_total`) and logged for audit, and the last StoreError is
        raised: a commit is then still counted, as the reservation lapses as spent at its deadline;
        a release leaves the amount counted (an over-count, never an under-count); a refund is not
        applied. `action` outside commit|release|refund is a ValueError."""
        call = self._settle_call(action, user_key, reservation_id)
        return await self.settler.retried(action, user_key, reservation_id, call)

    def _settle_call(self, action: str, user_key: str, reservation_id: str) -> SettleCall:
        restore = self.policy.policy.spec.purchase.refund_restores_quota
        return settle_call(self.store, action, user_key, reservation_id, restore_quota=restore)

    async def close(self) -> None:
        """Stop background work (cancels of failed reserves, each logged as abandoned). Call it
        before closing the store; `settler.drain(timeout)` first lets them finish."""
        await self.settler.close()

    def _now(self, at: float | None) -> int:
        return int(self.clock() if at is None else at)

    async def usage(self, subject_id: str, at: float | None = None) -> Usage:
        now = self.policy.instant(self.clock() if at is None else at)
        month = now.date.isoformat()[:7]
        return await self.store.usage(
            self.user_key(subject_id), day=now.date.isoformat(), month=month, now=now.epoch
        )


def _rule_of(check: StatefulCheck) -> str:
    if isinstance(check, PlayCheck):
        return "game.play_time"
    if isinstance(check, GuestCheck):
        return "game.guest"
    return check.rule  # SpendCheck, ConsentCheck
