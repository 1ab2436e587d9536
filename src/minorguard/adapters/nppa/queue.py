"""The durable queue of behaviour events: a Redis stream with a consumer group.

Keys (one hash tag per game, so a Redis Cluster keeps them in one slot):
    {prefix}:{<bizId>}:events    the stream of unsent events (XADD; entries are XDEL'd once settled,
                                  so XLEN is the queue depth)
    {prefix}:{<bizId>}:dead      dead letters: the event's fields plus `code` and `reason`
    {prefix}:{<bizId>}:attempts  hash entry id -> "<timestamps ms>:<ot sent>" of the last report attempt
                                  that carried the entry (for the FAQ #201 adjustment of late retries)

Events stay in the stream until NPPA accepted or definitively refused them: a sender that dies leaves its
read entries in the group's pending list, where another sender claims them (XAUTOCLAIM).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from minorguard.adapters.nppa.sessions import BehaviourEvent

GROUP = "nppa-senders"
DEAD_MAXLEN = 100_000


@dataclass(frozen=True, slots=True)
class Entry:
    """A stream entry; `event` is None when its fields are not an event's (dead-lettered as malformed)."""

    id: str
    event: BehaviourEvent | None
    fields: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Attempt:
    timestamp_ms: int
    ot: int


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class BehaviourQueue:
    """The stream of one game (bizId). `put` is the SessionTracker's sink."""

    def __init__(
        self, redis: aioredis.Redis, biz_id: str, *, prefix: str = "minorguard:nppa", group: str = GROUP
    ) -> None:
        if not biz_id or "{" in biz_id or "}" in biz_id:
            raise ValueError("a bizId without braces is needed for the queue's keys")
        self.redis = redis
        base = f"{prefix}:{{{biz_id}}}"
        self.stream = f"{base}:events"
        self.dead = f"{base}:dead"
        self.attempts_key = f"{base}:attempts"
        self.group = group
        self._group_ready = False

    async def put(self, events: Sequence[BehaviourEvent]) -> None:
        """Append events in order (one round trip)."""
        if not events:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for event in events:
                pipe.xadd(self.stream, event.fields())  # type: ignore[arg-type]
            await pipe.execute()

    async def ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def read_own_pending(self, consumer: str, count: int) -> list[Entry]:
        """Entries already delivered to `consumer` and not settled (its earlier attempts failed)."""
        await self.ensure_group()
        with self._group_check():
            reply = await self.redis.xreadgroup(self.group, consumer, {self.stream: "0"}, count=count)
        return self._entries(reply)

    async def read_new(self, consumer: str, count: int, block_ms: int | None) -> list[Entry]:
        """New entries; waits up to `block_ms` when there are none (None: does not wait)."""
        await self.ensure_group()
        with self._group_check():
            reply = await self.redis.xreadgroup(
                self.group, consumer, {self.stream: ">"}, count=count, block=block_ms
            )
        return self._entries(reply)

    async def claim(self, consumer: str, min_idle_ms: int, count: int) -> list[Entry]:
        """Take over entries another (dead) sender read and left unsettled for `min_idle_ms`."""
        await self.ensure_group()
        with self._group_check():
            reply = await self.redis.xautoclaim(
                self.stream, self.group, consumer, min_idle_ms, "0-0", count=count
            )
        return [self._entry(entry_id, fields) for entry_id, fields in reply[1] if fields is not None]

    @contextlib.contextmanager
    def _group_check(self) -> Iterator[None]:
        """A stream or group deleted behind our back (FLUSHALL, a failover to a stale replica): create
        the group again on the next call instead of failing forever."""
        try:
            yield
        except ResponseError as exc:
            if "NOGROUP" in str(exc):
                self._group_ready = False
            raise

    async def attempts(self, ids: Sequence[str]) -> dict[str, Attempt]:
        if not ids:
            return {}
        values = await self.redis.hmget(self.attempts_key, list(ids))
        found: dict[str, Attempt] = {}
        for entry_id, value in zip(ids, values, strict=True):
            if value is not None:
                stamp, ot = _text(value).split(":")
                found[entry_id] = Attempt(int(stamp), int(ot))
        return found

    async def record_attempts(self, attempts: Mapping[str, Attempt]) -> None:
        if attempts:
            mapping = {k: f"{a.timestamp_ms}:{a.ot}" for k, a in attempts.items()}
            await self.redis.hset(self.attempts_key, mapping=mapping)  # type: ignore[arg-type]

    async def settle(self, ids: Sequence[str], dead: Sequence[tuple[Entry, str, str]] = ()) -> None:
        """Remove entries for good, atomically: `ids` were accepted; `dead` (entry, code, reason) go to the
        dead-letter stream with their reason."""
        all_ids = [*ids, *(entry.id for entry, _, _ in dead)]
        if not all_ids:
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            for entry, code, reason in dead:
                letter = {**entry.fields, "entry": entry.id, "code": code, "reason": reason}
                letter["at"] = str(int(time.time()))
                pipe.xadd(self.dead, letter, maxlen=DEAD_MAXLEN, approximate=True)  # type: ignore[arg-type]
            pipe.xack(self.stream, self.group, *all_ids)
            pipe.xdel(self.stream, *all_ids)
            pipe.hdel(self.attempts_key, *all_ids)
            await pipe.execute()

    async def depth(self) -> int:
        return int(await self.redis.xlen(self.stream))

    async def oldest_ot(self) -> int | None:
        """`ot` of the oldest unsettled event (None when the queue is empty)."""
        first = await self.redis.xrange(self.stream, "-", "+", count=1)
        if not first:
            return None
        fields = {_text(k): _text(v) for k, v in (first[0][1] or {}).items()}
        try:
            return int(fields["ot"])
        except (KeyError, ValueError):
            return None

    async def dead_letters(self, count: int = 100) -> list[dict[str, str]]:
        reply = await self.redis.xrange(self.dead, "-", "+", count=count)
        return [{_text(k): _text(v) for k, v in (fields or {}).items()} for _, fields in reply or []]

    def _entries(self, reply: Any) -> list[Entry]:
        # RESP2: [[stream, [(id, fields), ...]]]; RESP3: {stream: [[(id, fields), ...]]}
        if isinstance(reply, dict):
            streams = [
                entries[0] if entries and isinstance(entries[0], list) else entries
                for entries in reply.values()
            ]
        else:
            streams = [entries for _, entries in reply or []]
        return [
            self._entry(entry_id, fields) for entries in streams for entry_id, fields in entries if fields
        ]

    @staticmethod
    def _entry(entry_id: Any, raw: Any) -> Entry:
        fields = {_text(k): _text(v) for k, v in raw.items()}
        event: BehaviourEvent | None
        try:
            event = BehaviourEvent.from_fields(fields)
            event.item(1)  # fields that make no valid item (si, pi, di) must not stall the sender
        except (KeyError, ValueError):
            event = None
        return Entry(_text(entry_id), event, fields)
