"""The Lua scripts of the Redis store, and the mapping of redis-py exceptions onto `StoreError`.

Scripts ship as package data (`adapters/lua/*.lua`); the spend scripts get `_spend.lua` prepended, and
the scripts that read guardian settings (heartbeat, reserve) `_guardian.lua`.
Each is sent by SHA1 (EVALSHA: one round trip, no script text on the wire); a server that does not
know it (new, restarted, failed over) answers NOSCRIPT and gets the full text once by EVAL, which
also caches it there.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from redis import exceptions as rx

from minorguard.errors import StoreError, StoreErrorKind

if TYPE_CHECKING:
    from redis.asyncio import Redis, RedisCluster

    from minorguard.adapters.resp import LeanRedis
    from minorguard.adapters.respcluster import LeanCluster
    from minorguard.adapters.respsentinel import LeanSentinel

    RedisClient: TypeAlias = Redis | RedisCluster | LeanRedis | LeanCluster | LeanSentinel

T = TypeVar("T")

_SPEND = ("reserve", "commit", "release", "refund", "usage")
_GUARDIAN = ("heartbeat", "reserve")


@dataclass(frozen=True, slots=True)
class LuaScript:
    name: str
    source: str
    sha: str

    async def run(self, client: RedisClient, key: str, *args: str | int) -> Any:
        """One EVALSHA on the slot of `key`; EVAL once more if the server lost its script cache."""
        try:
            return await client.evalsha(self.sha, 1, key, *args)
        except rx.NoScriptError:
            return await client.eval(self.source, 1, key, *args)


@cache
def script(name: str) -> LuaScript:
    folder = files("minorguard.adapters") / "lua"
    source = (folder / f"{name}.lua").read_text(encoding="utf-8")
    if name in _SPEND:
        source = (folder / "_spend.lua").read_text(encoding="utf-8") + "\n" + source
    if name in _GUARDIAN:
        source = (folder / "_guardian.lua").read_text(encoding="utf-8") + "\n" + source
    return LuaScript(name, source, hashlib.sha1(source.encode()).hexdigest())


# Order matters: subclasses before their bases (AuthenticationError is a ConnectionError, ReadOnlyError
# a ResponseError, ...).
_KINDS: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], StoreErrorKind], ...] = (
    ((TimeoutError, rx.TimeoutError), StoreErrorKind.TIMEOUT),
    ((rx.AuthenticationError, rx.AuthorizationError, rx.NoPermissionError), StoreErrorKind.CONFIGURATION),
    # A replica that was the master, a cluster resharding or down: the next call may well succeed.
    (
        (rx.ConnectionError, rx.ReadOnlyError, rx.ClusterError, rx.TryAgainError, rx.AskError, OSError),
        StoreErrorKind.CONNECTION,
    ),
    (rx.RedisClusterException, StoreErrorKind.CONNECTION),
    (rx.NoScriptError, StoreErrorKind.SCRIPT),
    ((rx.ResponseError, rx.InvalidResponse, ValueError, LookupError, TypeError), StoreErrorKind.RESPONSE),
)


def store_error(exc: BaseException) -> StoreError:
    """The StoreError for an exception from redis-py or from reading its reply. The message names
    the exception class and Redis' text; it never holds a key (and so no user hash)."""
    kind = next((k for types, k in _KINDS if isinstance(exc, types)), StoreErrorKind.OTHER)
    text = str(exc)
    if kind is StoreErrorKind.RESPONSE and isinstance(exc, rx.ResponseError) and "script" in text.lower():
        kind = StoreErrorKind.SCRIPT  # a Lua runtime error ("ERR user_script:12: ...")
    return StoreError(kind, f"{type(exc).__name__}: {text}"[:300])


async def guarded(call: Awaitable[T], timeout: float) -> T:
    """Await `call` within `timeout` seconds; every failure comes out as a StoreError."""
    try:
        async with asyncio.timeout(timeout):
            return await call
    except StoreError:
        raise
    except Exception as exc:
        raise timed_store_error(exc, timeout) from exc


def timed_store_error(exc: Exception, timeout: float) -> StoreError:
    """`store_error`, where a TimeoutError means the call ran out of its `timeout` seconds."""
    if isinstance(exc, TimeoutError):
        return StoreError(StoreErrorKind.TIMEOUT, f"no answer from Redis within {timeout} s")
    return store_error(exc)
