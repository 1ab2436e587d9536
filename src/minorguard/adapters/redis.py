"""The Redis counter store: one Lua script, so one round trip, per operation.

Key layout (every key has a TTL; the braces are a cluster hash tag, so each script touches one slot):
  mg:{<user>}:u          a user's hash: play time of the day and the day before, spend buckets,
                         reservations and idempotency answers (fields: lua/heartbeat.lua, lua/_spend.lua),
                         and the guardian settings of a child (field g: lua/_guardian.lua)
  mg:{g:<device>}:g      a guest device's window (lua/guest.lua)
  mg:{guardian-feed}:f   the children whose guardian settings changed in the last hour (lua/feed.lua)
One hash per user keeps memory small (a key costs ~130 bytes before its first field); fields that
must expire sooner than the hash carry their own expiry, swept by the spend scripts.

Build one with `minorguard.adapters.stores.open_store`: every Redis URL gets the project's own client
(`resp.LeanRedis`, `respcluster.LeanCluster`, `respsentinel.LeanSentinel`: a fraction of redis-py's
CPU per call). A `redis.asyncio.Redis` works too: the contract tests run the store on it as the
reference implementation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

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
    SpendKind,
    Usage,
)
from minorguard.adapters.redisscripts import guarded, script, store_error, timed_store_error
from minorguard.adapters.storecommon import (
    DENIALS_BY_LETTER,
    KIND_LETTERS,
    KINDS_BY_LETTER,
    answer_digest,
    answer_ttl,
    check_reserve,
    check_ttl,
    period_letter,
    rest_args,
    tombstone_ttl,
)
from minorguard.counters import NO_LEASE, NO_REST
from minorguard.errors import StoreError

if TYPE_CHECKING:
    from minorguard.adapters.redisscripts import RedisClient

T = TypeVar("T")

DEFAULT_TIMEOUT = 0.02  # seconds per call: a request should not wait longer for its counters
DEFAULT_MAX_IN_FLIGHT = 64

_STATUS = {
    "c": ReservationStatus.COMMITTED,
    "r": ReservationStatus.RELEASED,
    "f": ReservationStatus.REFUNDED,
    "x": ReservationStatus.CONFLICT,
    "u": ReservationStatus.UNKNOWN,
}


class _Closable(Protocol):
    async def aclose(self) -> None: ...


@runtime_checkable
class _TimedScripts(Protocol):
    """A client that bounds a script call by a timeout on its own (resp.LeanRedis), with no timer per
    call: asyncio.timeout costs about as much CPU as the lean client's whole call."""

    async def run_script(
        self, sha: str, script: str, keys: Sequence[str], args: Sequence[str | int], *, timeout: float | None
    ) -> Any: ...


_log = logging.getLogger("minorguard.store")


def user_key(user: str) -> str:
    return f"mg:{{{user}}}:u"


FEED_KEY = "mg:{guardian-feed}:f"


def guest_key(device: str) -> str:
    return f"mg:{{g:{device}}}:g"


class RedisCounterStore:
    """`CounterStore` on Redis. `timeout` bounds each call (waiting for a slot, connecting, the script
    and its reply), so a dead or stalled Redis costs a request at most that long. At most
    `max_in_flight` calls run at once (the client's pool must allow as many connections): a burst
    queues here instead of failing for want of connections or opening one per request.
    `owned` are closed by `close()`; by default the client itself."""

    def __init__(
        self,
        client: RedisClient,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        owned: Sequence[_Closable] | None = None,
    ) -> None:
        self._client = client
        self._timed = client if isinstance(client, _TimedScripts) else None
        self.timeout = timeout
        self._slots = asyncio.Semaphore(max_in_flight)
        self._ready = False
        self._ready_lock = asyncio.Lock()
        self._owned: Sequence[_Closable] = (client,) if owned is None else owned

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
        args = (now, day, prev_day, day_start, max_gap, limit_seconds, ttl_seconds, guardian_day, minute)
        leased = lease if lease.seconds else ()  # without a lease the script's defaults apply
        reply = await self._run("heartbeat", user_key(user), *args, *rest_args(rest), *leased)
        return _read(lambda: _play_result(reply))

    async def guest_heartbeat(
        self, device: str, *, now: int, max_gap: int, window_seconds: int, limit_seconds: int
    ) -> GuestResult:
        check_ttl(window_seconds)
        args = (now, max_gap, window_seconds, limit_seconds)
        reply = await self._run("guest", guest_key(device), *args)
        return _read(lambda: GuestResult(int(reply[0]), bool(int(reply[1])), int(reply[2])))

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
        digest = answer_digest(idempotency_key, amount) if idempotency_key is not None else ""
        args: list[str | int] = [now, KIND_LETTERS[kind], amount, _cap(single_cap), reservation_id, digest]
        args += [reservation_ttl, answer_ttl(reservation_ttl), int(guardian)]
        for b in buckets:
            args += [b.period, _cap(b.cap), b.ttl_seconds, period_letter(b.period)]
        reply = await self._run("reserve", user_key(user), *args)
        return _read(lambda: _reserve_result(reply))

    async def guardian_settings(self, user: str, *, now: int) -> str:
        reply = await self._run("guardian", user_key(user), "get")
        return _read(lambda: _text(reply))

    async def set_guardian_settings(
        self, user: str, settings: str | None, *, now: int, keep_seconds: int
    ) -> str:
        check_ttl(keep_seconds)
        if settings is None:
            reply = await self._run("guardian", user_key(user), "clear")
        else:
            reply = await self._run("guardian", user_key(user), "set", settings, keep_seconds)
        before = _read(lambda: _text(reply))
        try:  # the feed lives in a slot of its own: a second call (see CounterStore.guardian_changes)
            await self._run("feed", FEED_KEY, "add", now, user)
        except StoreError as exc:
            _log.warning("guardian change not recorded in the feed (applies when leases end): %s", exc)
        return before

    async def guardian_changes(self, since: int, *, now: int) -> tuple[str, ...]:
        reply = await self._run("feed", FEED_KEY, "since", since)
        return _read(lambda: tuple(_text(user) for user in reply))

    async def commit(self, user: str, reservation_id: str, *, now: int) -> SettleResult:
        return await self._settle("commit", user, now, reservation_id)

    async def release(self, user: str, reservation_id: str, *, now: int) -> SettleResult:
        return await self._settle("release", user, now, reservation_id, 0)

    async def cancel(self, user: str, reservation_id: str, *, now: int, reservation_ttl: int) -> SettleResult:
        check_ttl(reservation_ttl)
        return await self._settle("release", user, now, reservation_id, tombstone_ttl(reservation_ttl))

    async def refund(self, user: str, reservation_id: str, *, now: int, restore_quota: bool) -> SettleResult:
        return await self._settle("refund", user, now, reservation_id, int(restore_quota))

    async def usage(self, user: str, *, day: str, month: str, now: int) -> Usage:
        purchase, tip = KIND_LETTERS[SpendKind.PURCHASE], KIND_LETTERS[SpendKind.TIP]
        fields = (f"b{purchase}{month}", f"b{tip}{day}", f"b{tip}{month}")
        reply = await self._run("usage", user_key(user), now, day, *fields)

        def build() -> Usage:
            n = [int(x) for x in reply]
            return Usage(n[0], n[1] if n[1] >= 0 else None, n[2], n[3], n[4], n[5])

        return _read(build)

    async def ping(self) -> None:
        await guarded(self._client.ping(), self.timeout)

    async def close(self) -> None:
        for item in self._owned:
            await item.aclose()

    async def _settle(self, name: str, user: str, now: int, *args: str | int) -> SettleResult:
        reply = await self._run(name, user_key(user), now, *args)
        return _read(
            lambda: SettleResult(
                _STATUS[_text(reply[0])], bool(int(reply[1])), int(reply[2]), _lapsed(reply[3])
            )
        )

    async def _run(self, name: str, key: str, *args: str | int) -> Any:
        if self._timed is not None and not self._slots.locked():
            return await self._run_timed(self._timed, name, key, args)
        return await guarded(self._call(name, key, *args), self.timeout)

    async def _run_timed(
        self, client: _TimedScripts, name: str, key: str, args: tuple[str | int, ...]
    ) -> Any:
        """`_run` when a slot is free (none is waited for) and the client bounds the call by the
        timeout itself, dialing included: no asyncio.timeout, which costs about as much CPU as the
        rest of the call. A call that has to wait for a slot goes through `guarded`."""
        lua = script(name)
        try:
            async with self._slots:
                return await client.run_script(lua.sha, lua.source, (key,), args, timeout=self.timeout)
        except Exception as exc:
            raise timed_store_error(exc, self.timeout) from exc

    async def _call(self, name: str, key: str, *args: str | int) -> Any:
        async with self._slots:
            if not self._ready:
                await self._initialize()
            return await script(name).run(self._client, key, *args)

    async def _initialize(self) -> None:
        """Let one call discover a cluster's nodes while the others wait: redis-py's RedisCluster
        breaks connections in use when many calls start it at once."""
        async with self._ready_lock:
            if not self._ready:
                await self._client.initialize()
                self._ready = True


def _cap(cap: int | None) -> int:
    return -1 if cap is None else cap


def _text(value: bytes | str | int) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _play_result(reply: list[Any]) -> PlayResult:
    used, session, last = int(reply[0]), int(reply[3]), int(reply[4])
    return PlayResult(used, bool(int(reply[1])), _text(reply[2]), session, last, bool(int(reply[5])))


def _reserve_result(reply: list[Any]) -> ReserveResult:
    ok, tag, replayed = bool(int(reply[0])), _text(reply[1]), bool(int(reply[2]))
    lapsed, guardian = _lapsed(reply[3]), _text(reply[4])
    rest = reply[5:]
    totals = tuple(
        BucketTotals(_text(rest[i]), int(rest[i + 1]), int(rest[i + 2])) for i in range(0, len(rest), 3)
    )
    if ok:
        return ReserveResult(True, tag, None, totals, replayed, lapsed, guardian)
    return ReserveResult(False, None, DENIALS_BY_LETTER[tag], totals, replayed, lapsed, guardian)


def _lapsed(reply: list[Any]) -> tuple[Lapsed, ...]:
    """The lapsed ids a spend script answers: kind letter + reservation id, sorted."""
    if not isinstance(reply, list):
        raise TypeError(f"expected a list of lapsed ids, got {type(reply).__name__}")
    return tuple(Lapsed(KINDS_BY_LETTER[t[:1]], t[1:]) for t in map(_text, reply))


def _read(build: Callable[[], T]) -> T:
    """Turn a script's reply into a result; a reply of the wrong shape is a RESPONSE error."""
    try:
        return build()
    except StoreError:
        raise
    except Exception as exc:
        raise store_error(exc) from exc
