"""The wire level of `resp.LeanRedis`: commands packed as RESP2, error replies turned into redis-py's
exception classes, and `Connection`, one socket's protocol: commands out in order, replies in in the
same order, each call's deadline kept by one timer per connection.
"""

from __future__ import annotations

import asyncio
import copy
import math
from collections import deque
from collections.abc import Sequence
from typing import Any, Final, TypeAlias, cast

import hiredis
from redis import exceptions as rx

Arg: TypeAlias = str | bytes | int | float

# RESP error prefixes and the redis-py classes for them (redis._parsers.base.BaseParser): a reply of
# a listed prefix loses the prefix, as in redis-py, so messages read alike from both clients.
_PREFIXES: Final[dict[str, type[rx.ResponseError] | type[rx.ConnectionError]]] = {
    "NOSCRIPT": rx.NoScriptError,
    "WRONGPASS": rx.AuthenticationError,
    "NOAUTH": rx.AuthenticationError,
    "NOPERM": rx.NoPermissionError,
    "READONLY": rx.ReadOnlyError,
    "LOADING": rx.BusyLoadingError,
    "OOM": rx.OutOfMemoryError,
    "EXECABORT": rx.ExecAbortError,
    "MASTERDOWN": rx.MasterDownError,
    "CLUSTERDOWN": rx.ClusterDownError,
    "CROSSSLOT": rx.ClusterCrossSlotError,
    "TRYAGAIN": rx.TryAgainError,
    "MOVED": rx.MovedError,
    "ASK": rx.AskError,
}
_ERR_MESSAGES: Final[dict[str, type[rx.RedisError]]] = {
    "max number of clients reached": rx.ConnectionError,
    "invalid password": rx.AuthenticationError,
    "Client sent AUTH, but no password is set": rx.AuthenticationError,
    "AUTH <password> called without any password configured for the default user. Are you sure "
    "your configuration is correct?": rx.AuthenticationError,
}


NEVER: Final = math.inf  # the deadline of a call without a timeout
_SLACK: Final = 1e-4  # seconds: a timer may fire a hair before its deadline (clock resolution)


class ConnectionLostError(rx.ConnectionError):
    """The connection closed (or was dropped) before the reply came: the command may have run."""


def reply_error(text: str) -> rx.RedisError:
    """The exception for an error reply, as redis-py builds it. hiredis calls this for every error
    reply and hands back the object as the reply."""
    code, _, rest = text.partition(" ")
    if code == "ERR":
        return _ERR_MESSAGES.get(rest, rx.ResponseError)(rest)
    cls = _PREFIXES.get(code)
    if cls is None:
        return rx.ResponseError(text)
    try:
        return cls(rest)
    except Exception:  # MOVED/ASK parse their text; a malformed one is still an error reply
        return rx.ResponseError(text)


def pack(args: Sequence[Arg]) -> bytes:
    """A command as a RESP2 array of bulk strings, packed by hiredis in C (about half the CPU of
    packing it in Python). What hiredis refuses goes through `_pack_any`, which raises redis-py's
    DataError for a value that is no Redis value (a bool, None)."""
    command: Any = args if type(args) is tuple else tuple(args)  # hiredis's stubs vary by release
    try:
        packed: bytes = hiredis.pack_command(command)
    except TypeError:
        return _pack_any(args)
    return packed


def _pack_any(args: Sequence[Arg]) -> bytes:
    return b"*%d\r\n%s" % (len(args), b"".join([b"$%d\r\n%s\r\n" % _bulk(arg) for arg in args]))


def _bulk(arg: Arg) -> tuple[int, bytes]:
    if isinstance(arg, bytes):
        data = arg
    elif isinstance(arg, str):
        data = arg.encode()
    elif isinstance(arg, bool) or not isinstance(arg, int | float):
        # as redis-py: a bool or None in a command is a bug of the caller, not a value
        raise rx.DataError(f"invalid argument of type {type(arg).__name__}: use bytes, str, int or float")
    else:
        data = repr(arg).encode()
    return len(data), data


class Connection(asyncio.Protocol):
    """One socket: commands out in order, replies in in the same order. `_pending` holds, per command
    sent, its future and deadline; a future already done there was abandoned by its caller (timed
    out or cancelled) and only waits for its reply to be dropped."""

    def __init__(self, loop: asyncio.AbstractEventLoop, stall_timeout: float) -> None:
        self.loop = loop  # the only loop its futures, timers and transport work in
        self._reader = hiredis.Reader(replyError=reply_error)
        self._pending: deque[tuple[asyncio.Future[Any], float]] = deque()
        self._transport: asyncio.Transport | None = None
        self._corked: list[bytes] = []
        # One timer per connection for every call's deadline: a timer per call (asyncio.timeout)
        # costs more CPU than the rest of the call.
        self._alarm: asyncio.TimerHandle | None = None
        self._alarm_at = NEVER
        self._stall_timeout = stall_timeout
        self._sent = 0  # commands written, and replies read: the watchdog compares them
        self._answered = 0
        self._watchdog: asyncio.TimerHandle | None = None
        self.open = False
        self._closing = False  # close once every call sent has its reply (close_when_idle)
        self.lost: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport, though not always an asyncio.Transport subclass (uvloop's is not)
        self._transport = cast(asyncio.Transport, transport)
        self.open = True

    def send(self, packed: bytes, deadline: float = NEVER) -> asyncio.Future[Any]:
        """Queue one command; its reply (or error, or TimeoutError at `deadline`) goes to the future.
        With nothing in flight the command is written at once; otherwise it is corked until the end
        of this event-loop turn, so the turn's commands go out in one write: one system call instead
        of one per command, the largest CPU cost of a call after packing."""
        future = self.loop.create_future()
        if not self.open:  # lost since the caller picked it: nothing would ever answer
            future.set_exception(ConnectionLostError("connection to Redis closed"))
            return future
        if not self._pending:  # then nothing is corked either: every corked command is pending
            self._transport.write(packed)  # type: ignore[union-attr]  # set before `open` is
        else:
            if not self._corked:
                self.loop.call_soon(self._flush)
            self._corked.append(packed)
        self._pending.append((future, deadline))
        self._sent += 1
        if deadline < self._alarm_at:  # rarely: deadlines mostly grow in the order of sending
            self._set_alarm(deadline)
        return future

    def _flush(self) -> None:
        if self._corked and self.open:  # else dropped: _fail failed their futures
            self._transport.write(b"".join(self._corked))  # type: ignore[union-attr]
        self._corked.clear()

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        pending = self._pending
        reader.feed(data)
        try:
            reply = reader.gets()
            while reply is not False:  # RESP2 has no boolean: False means "no full reply yet"
                future = pending.popleft()[0]
                self._answered += 1
                if not future.done():
                    if isinstance(reply, rx.RedisError):
                        future.set_exception(reply)
                    else:
                        future.set_result(reply)
                reply = reader.gets()
        except hiredis.ProtocolError as exc:
            self.drop(rx.InvalidResponse(f"protocol error from Redis: {exc}"))
        except IndexError:  # a reply nobody asked for: the stream can no longer be trusted
            self.drop(rx.InvalidResponse("unexpected reply from Redis"))
            return
        if self._closing and not pending:
            self.close_when_idle()

    def close_when_idle(self) -> None:
        """Close now if no reply is awaited, else as soon as the last one is read."""
        self._closing = True
        if not self._pending and self._transport is not None:
            self.open = False
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        reason = f": {exc}" if exc is not None else ""
        self._fail(ConnectionLostError(f"connection to Redis closed{reason}"))
        if not self.lost.done():
            self.lost.set_result(None)

    def _set_alarm(self, when: float) -> None:
        if self._alarm is not None:
            self._alarm.cancel()
        self._alarm = self.loop.call_at(when, self._expire)
        self._alarm_at = when

    def _expire(self) -> None:
        """Fail the calls past their deadline (their futures stay queued for the late replies), and
        set the alarm for the next deadline. The queue is at most max_in_flight plus the abandoned."""
        self._alarm, self._alarm_at = None, NEVER
        now = self.loop.time() + _SLACK
        soonest = NEVER
        expired = False
        for future, deadline in self._pending:
            if future.done() or deadline == NEVER:
                continue
            if deadline <= now:
                future.set_exception(TimeoutError("no answer from Redis in time"))
                expired = True
            else:
                soonest = min(soonest, deadline)
        if soonest < NEVER:
            self._set_alarm(soonest)
        if expired:
            self.abandoned()

    def abandoned(self) -> None:
        """A caller stopped waiting. Unless Redis answers everything sent so far within
        `stall_timeout`, drop the connection."""
        if self._watchdog is None and self.open:
            self._watchdog = self.loop.call_later(self._stall_timeout, self._check, self._sent)

    def _check(self, awaited: int) -> None:
        self._watchdog = None
        if self._answered < awaited:
            self.drop(ConnectionLostError(f"Redis did not answer within {self._stall_timeout} s"))
        elif any(future.done() for future, _ in self._pending):
            self.abandoned()  # abandoned since: watch those too

    def drop(self, error: rx.RedisError) -> None:
        """Close at once, failing the pending calls with `error` (connection_lost finds none left)."""
        self._fail(error)
        if self._transport is not None:
            self._transport.abort()

    async def close(self, timeout: float) -> None:
        if self._transport is None:
            return
        # Fail the pending calls now, with an error not retried on another connection: after close.
        self._fail(rx.ConnectionError("the client closed the connection"))
        self._transport.close()
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(self.lost)
        except TimeoutError:
            self._transport.abort()  # unsent data to a server that does not read it

    def _fail(self, error: rx.RedisError) -> None:
        self.open = False
        for timer in (self._alarm, self._watchdog):
            if timer is not None:
                timer.cancel()
        self._alarm, self._alarm_at, self._watchdog = None, NEVER, None
        pending, self._pending = self._pending, deque()
        self._corked.clear()
        for future, _ in pending:
            if not future.done():  # an exception each: one raised in many tasks would grow its traceback
                future.set_exception(copy.copy(error))
