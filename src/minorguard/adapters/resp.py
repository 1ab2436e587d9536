"""A lean asyncio client for one Redis server, for the store's hot path (one EVALSHA per decision).

redis-py's asyncio client spends ~150 µs of CPU per call (connection pool, option handling, a
StreamReader per connection); this one spends a small fraction of that on the same work:

- a small fixed number of connections (default 1), each an `asyncio.Protocol` with a FIFO of
  futures, one per command sent (respwire.Connection). Calls never wait for each other's replies:
  the commands of one event-loop turn go out together (pipelining) and `hiredis.Reader` hands each
  reply to the oldest future.
- a call's timeout is a deadline kept by one timer per connection, not a timer per call. A call that
  times out (or is cancelled) leaves its future in the FIFO: the late reply is read and dropped, so
  the next caller still gets its own. A connection whose abandoned call got no answer within
  `stall_timeout` is dropped (a half-open TCP connection would otherwise time out every later call).
- a lost connection fails its pending calls with `ConnectionLostError`; the next call dials again (a
  restarted server is used at once). A command that lost its connection is sent once more, as
  redis-py's Retry(NoBackoff(), 1) does (every store script is safe to run twice).
- Redis error replies become the exception classes redis-py raises for them (NOSCRIPT is
  `NoScriptError`, WRONGPASS `AuthenticationError`, ...), so `redisscripts.store_error` maps both
  clients' failures onto the same `StoreError` kinds.

It does not bound in-flight calls: its caller does (`RedisCounterStore` runs at most
`max_in_flight` at once). Nothing connects before the first call.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from redis import exceptions as rx

from minorguard.adapters.respwire import NEVER, Arg, Connection, ConnectionLostError, pack

__all__ = ["ConnectionLostError", "LeanRedis", "ServerOptions", "deadline_after"]


class LeanRedis:
    """An asyncio client for one Redis server over `connections` pipelined connections (RESP2).

    `tls` turns on TLS (rediss://); `server_hostname` defaults to `host`. `connect_timeout` bounds
    dialing, TLS and the handshake (AUTH, SELECT, CLIENT SETNAME). A call with `timeout` raises
    TimeoutError when it has no reply that many seconds after it began (dialing included); a call
    may also be cancelled (asyncio.timeout around it). Either way the connection stays in step."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 6379,
        *,
        username: str | None = None,
        password: str | None = None,
        db: int = 0,
        tls: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        client_name: str | None = None,
        connections: int = 1,
        connect_timeout: float = 1.0,
        stall_timeout: float = 1.0,
        retry_lost: bool = True,
    ) -> None:
        if connections < 1:
            raise ValueError("connections must be at least 1")
        self.host, self.port, self.db = host, port, db
        self._username, self._password = username, password
        self._tls, self._server_hostname = tls, server_hostname
        self._client_name = client_name
        self._connect_timeout, self._stall_timeout = connect_timeout, stall_timeout
        self._retry_lost = retry_lost
        self._conns: list[Connection | None] = [None] * connections
        self._dialing: list[asyncio.Task[Connection] | None] = [None] * connections
        self._next = 0
        self._retired = False
        self._draining: list[Connection] = []  # retired, closing once their calls have replies

    def __repr__(self) -> str:
        return f"<LeanRedis {self.host}:{self.port}/{self.db}>"

    async def execute(self, *args: Arg, timeout: float | None = None) -> Any:
        """Send one command and return its reply (bytes, int, list, ...). An error reply raises."""
        return await self._call(pack(args), deadline_after(timeout))

    async def execute_until(self, args: Sequence[Arg], deadline: float) -> Any:
        """`execute` with a deadline on the loop's clock (`deadline_after`), for a caller that makes
        several calls within one budget (the cluster client)."""
        return await self._call(pack(args), deadline)

    async def evalsha(self, sha: str, numkeys: int, *keys_and_args: Arg, timeout: float | None = None) -> Any:
        return await self._call(pack(("EVALSHA", sha, numkeys, *keys_and_args)), deadline_after(timeout))

    async def eval(self, script: str, numkeys: int, *keys_and_args: Arg, timeout: float | None = None) -> Any:
        return await self._call(pack(("EVAL", script, numkeys, *keys_and_args)), deadline_after(timeout))

    async def script_load(self, script: str) -> str:
        sha: bytes = await self.execute("SCRIPT", "LOAD", script)
        return sha.decode()

    async def run_script(
        self, sha: str, script: str, keys: Sequence[Arg], args: Sequence[Arg], *, timeout: float | None = None
    ) -> Any:
        """EVALSHA, and EVAL once if the server does not know the script (new, restarted, flushed);
        `timeout` bounds both."""
        return await self.script_until(sha, script, keys, args, deadline_after(timeout))

    async def script_until(
        self,
        sha: str | None,
        script: str | None,
        keys: Sequence[Arg],
        args: Sequence[Arg],
        deadline: float,
        *,
        asking: bool = False,
    ) -> Any:
        """`run_script` with a deadline; either `sha` or `script` may be None (EVAL or EVALSHA only).
        `asking` sends ASKING first on the same connection (a cluster's ASK redirection)."""
        if sha is not None:
            try:
                return await self._call(pack(("EVALSHA", sha, len(keys), *keys, *args)), deadline, asking)
            except rx.NoScriptError:
                if script is None:
                    raise
        return await self._call(pack(("EVAL", script or "", len(keys), *keys, *args)), deadline, asking)

    async def ping(self, *, timeout: float | None = None) -> bool:
        reply = await self.execute("PING", timeout=timeout)
        return bool(reply == b"PONG")

    async def initialize(self) -> LeanRedis:
        """For `RedisCounterStore`, which initializes cluster clients; nothing to do until a call."""
        return self

    def open_connections(self) -> int:
        """Connections open now (sockets this client holds), for leak checks and metrics."""
        self._draining = [conn for conn in self._draining if not conn.lost.done()]
        return sum(1 for conn in self._conns if conn is not None and conn.open) + len(self._draining)

    def retire(self) -> None:
        """This server is no longer used (a replaced master, a node out of the slot map): each
        connection closes once the calls on it have their replies, so none is cut short, and a call
        that still reaches this client fails as a lost connection instead of dialing again."""
        self._retired = True
        for task in self._dialing:
            if task is not None:
                task.cancel()
        conns, self._conns = self._conns, [None] * len(self._conns)
        for conn in conns:
            if conn is not None:
                self._drain(conn)

    def _drain(self, conn: Connection) -> None:
        """Close `conn` once the calls on it have their replies; `open_connections` counts it till then."""
        conn.close_when_idle()
        self._draining.append(conn)

    async def aclose(self) -> None:
        """Close every connection; pending calls fail. A later call connects again.

        Dials under way (those a concurrent call starts meanwhile too) are cancelled and awaited: their
        sockets are closed when this returns, and one that had just connected lands in `_conns` before
        they are closed, instead of after."""
        loop = asyncio.get_running_loop()
        while dialing := [task for task in self._dialing if task is not None and task.get_loop() is loop]:
            for task in dialing:
                task.cancel()
            await asyncio.gather(*dialing, return_exceptions=True)
        for other in self._dialing:
            if other is not None:  # of an event loop that is gone or not running here
                other.cancel()
        conns, self._conns = self._conns, [None] * len(self._conns)
        draining, self._draining = self._draining, []
        for conn in [*conns, *draining]:
            if conn is not None:
                await conn.close(self._connect_timeout)

    async def _call(self, packed: bytes, deadline: float, asking: bool = False) -> Any:
        """Send on the next connection (dialing it if need be) and await the reply. A command that
        lost its connection is sent once more on a new one, as redis-py's Retry(NoBackoff(), 1).
        With `asking`, ASKING goes first on the same connection; its reply is dropped (the command
        after it answers for itself: MOVED if the node would not take it)."""
        retried = not self._retry_lost
        loop = asyncio.get_running_loop()
        while True:
            index = self._next
            self._next = (index + 1) % len(self._conns)
            conn = self._conns[index]
            if conn is None or not conn.open or conn.loop is not loop:
                if self._retired:
                    raise ConnectionLostError(f"{self!r} was retired (the server left the topology)")
                async with asyncio.timeout_at(None if deadline == NEVER else deadline):
                    conn = await self._connection(index, loop)
            if asking:
                conn.send(_ASKING, deadline).add_done_callback(_dropped)
            future = conn.send(packed, deadline)
            try:
                return await future
            except asyncio.CancelledError:
                conn.abandoned()
                raise
            except ConnectionLostError:
                if retried:
                    raise
                retried = True

    async def _connection(self, index: int, loop: asyncio.AbstractEventLoop) -> Connection:
        """The connection of slot `index`, dialed by one task that concurrent callers share. The task
        is shielded: a caller that times out must not cancel other callers' dial."""
        stale = self._conns[index]
        if stale is not None and stale.loop is not loop:
            # Left by an event loop that ran an earlier call (asyncio.run at startup, a test's loop):
            # it cannot be used from this one. Close it if that loop still lets us.
            self._conns[index] = None
            with contextlib.suppress(RuntimeError):
                stale.drop(ConnectionLostError("the connection belongs to another event loop"))
        task = self._dialing[index]
        if task is None or task.get_loop() is not loop:
            task = loop.create_task(self._dial())
            self._dialing[index] = task
            task.add_done_callback(lambda done: self._dialed(index, done))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and current is not None and not current.cancelling():
                raise ConnectionLostError("the client was closed while connecting") from None
            raise  # this caller was cancelled

    def _dialed(self, index: int, task: asyncio.Task[Connection]) -> None:
        if self._dialing[index] is task:
            self._dialing[index] = None
        if task.cancelled() or task.exception() is not None:  # also marks a failure as retrieved
            return
        if self._retired:  # retired while it dialed: no call will use it
            self._drain(task.result())
        else:
            self._conns[index] = task.result()

    async def _dial(self) -> Connection:
        loop = asyncio.get_running_loop()
        where = f"{self.host}:{self.port}"
        conn = Connection(loop, self._stall_timeout)
        try:
            async with asyncio.timeout(self._connect_timeout):
                await loop.create_connection(
                    lambda: conn, self.host, self.port, ssl=self._tls, server_hostname=self._hostname()
                )
                await self._handshake(conn)
        except TimeoutError as exc:
            conn.drop(ConnectionLostError("connect timed out"))
            raise rx.TimeoutError(f"timeout connecting to Redis at {where}") from exc
        except OSError as exc:  # refused, unreachable, TLS failures (ssl.SSLError is an OSError)
            conn.drop(ConnectionLostError("connect failed"))
            raise rx.ConnectionError(f"error connecting to Redis at {where}: {exc}") from exc
        except BaseException:  # an error reply to AUTH or SELECT, or cancelled by aclose
            conn.drop(ConnectionLostError("handshake failed"))
            raise
        return conn

    def _hostname(self) -> str | None:
        if self._tls is None:
            return None
        return self._server_hostname or self.host

    async def _handshake(self, conn: Connection) -> None:
        """AUTH, SELECT and CLIENT SETNAME as one pipeline; the first error reply fails the dial."""
        commands: list[tuple[Arg, ...]] = []
        if self._username or self._password:  # as redis-py: AUTH [username] password
            user = (self._username,) if self._username else ()
            commands.append(("AUTH", *user, self._password or ""))
        if self.db:
            commands.append(("SELECT", self.db))
        if self._client_name:
            commands.append(("CLIENT", "SETNAME", self._client_name))
        futures = [conn.send(pack(command)) for command in commands]
        results = await asyncio.gather(*futures, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result


@dataclass(frozen=True, slots=True)
class ServerOptions:
    """How the clients that manage several servers (`respcluster.LeanCluster`'s masters,
    `respsentinel.LeanSentinel`'s master) connect to each one: `LeanRedis`'s options but the address
    and the database."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    client_name: str | None = None
    connections: int = 1
    connect_timeout: float = 1.0
    stall_timeout: float = 1.0
    tls: ssl.SSLContext | None = None

    def client(self, host: str, port: int, db: int = 0) -> LeanRedis:
        return LeanRedis(
            host,
            port,
            username=self.username,
            password=self.password,
            db=db,
            tls=self.tls,
            client_name=self.client_name,
            connections=self.connections,
            connect_timeout=self.connect_timeout,
            stall_timeout=self.stall_timeout,
        )

    @property
    def lookup_timeout(self) -> float:
        """One server's share of a lookup (a slot map, a master's address): dial, then answer."""
        return self.connect_timeout + self.stall_timeout


DEFAULT_OPTIONS: Final = ServerOptions()


def deadline_after(timeout: float | None) -> float:
    """The deadline, on the running loop's clock, of a call that may take `timeout` seconds."""
    return NEVER if timeout is None else asyncio.get_running_loop().time() + timeout


_ASKING: Final = pack(("ASKING",))


def _dropped(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved, so asyncio does not log it
