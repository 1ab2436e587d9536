"""Identity verification on top of the client: pending ("认证中") results and the sidecar's answer.

`verify_identity` is what `POST /v1/identity/verify` calls: it checks the ID number's GB 11643 check
character before NPPA sees it, calls check, optionally waits a little for a pending result, and answers
status, pi and the birth date decoded from pi. The name and ID number are used for that one call and go
nowhere else: not into the answer, logs, metrics or exceptions.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from minorguard.adapters.nppa.client import LOG, NppaClient
from minorguard.adapters.nppa.codes import NppaError
from minorguard.adapters.nppa.models import AuthResult, AuthStatus

PENDING_HORIZON = 48 * 3600.0  # NPPA keeps a pending result queryable for 48 h


class PendingExpired(Exception):
    """The 48 hours in which NPPA answers for a pending ai have passed without a final result."""


def poll_delays(first: float = 5.0, factor: float = 2.0, cap: float = 600.0) -> Iterator[float]:
    """Seconds to wait before each query of a pending result: 5, 10, 20, … then every 10 minutes."""
    delay = first
    while True:
        yield delay
        delay = min(cap, delay * factor)


async def poll_pending(
    client: NppaClient,
    ai: str,
    *,
    started_at: float | None = None,
    budget: float | None = None,
    first_delay: float = 5.0,
    max_delay: float = 600.0,
    horizon: float = PENDING_HORIZON,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AuthResult:
    """Query a pending ai with backoff until it is SUCCESS or FAILED.

    `started_at` is when check answered "in progress" (default: now); NPPA answers for 48 h from then,
    after which PendingExpired. With `budget` (seconds) the poll gives up earlier and returns the last,
    still IN_PROGRESS, result — for callers that cannot wait (a request handler), which poll again later.
    Transient errors (network, 5xx, 1001, throttling) are waited out; others raise NppaError.
    """
    start = clock() if started_at is None else started_at
    give_up = start + horizon if budget is None else min(start + horizon, clock() + budget)
    last = AuthResult(AuthStatus.IN_PROGRESS)
    for delay in poll_delays(first_delay, cap=max_delay):
        now = clock()
        if now >= give_up:
            break
        await sleep(min(delay, give_up - now))
        if clock() >= start + horizon:
            break
        try:
            last = await client.query(ai)
        except NppaError as exc:
            if not exc.transient:
                raise
            LOG.info("nppa pending poll: transient %s, will poll again", exc.label)
            continue
        if last.status is not AuthStatus.IN_PROGRESS:
            return last
    if clock() >= start + horizon:
        raise PendingExpired("no final NPPA result within 48 h of the check")
    return last


async def verify_identity(
    client: NppaClient, name: str, id_num: str, ai: str, *, wait: float = 0.0
) -> dict[str, Any]:
    """Verify a player: `{"ai", "status": "success"|"in_progress"|"failed", "code": 0|1|2, "pi",
    "birthdate": "YYYY-MM-DD"|None}`.

    Raises InvalidIdentity (a ValueError; nothing was sent) for a bad name, ID number or ai, and NppaError
    when NPPA gives no usable answer. With `wait` > 0 a pending result is polled for up to `wait` seconds;
    otherwise the caller polls later with `query_identity` (NPPA answers for 48 h). While pending, the
    player may play (FAQ #117, #143) but is not reported to loginout until a pi exists (FAQ #211).
    """
    result = await client.check(ai, name, id_num)
    if result.status is AuthStatus.IN_PROGRESS and wait > 0:
        result = await poll_pending(client, ai, budget=wait, first_delay=min(1.0, wait))
    return {"ai": ai, **result.as_dict()}


async def query_identity(client: NppaClient, ai: str) -> dict[str, Any]:
    """The current result of an earlier verification, in `verify_identity`'s shape."""
    return {"ai": ai, **(await client.query(ai)).as_dict()}


def error_response(exc: Exception) -> tuple[int, dict[str, Any]]:
    """An HTTP status and JSON body for an exception of `verify_identity` / `query_identity`: 400 for bad
    input, 503 (with retry_after) when NPPA is unreachable or throttling, 502 when it refused the call.
    (FAQ #99: when NPPA is down, let players play; do not lock them out.)"""
    if isinstance(exc, ValueError):  # InvalidIdentity and the other input checks
        return 400, {"error": "invalid_input", "detail": str(exc)}
    if isinstance(exc, NppaError):
        body: dict[str, Any] = {"error": "nppa_unavailable" if exc.transient else "nppa_refused"}
        body["nppa_code"] = exc.label
        if exc.retry_after is not None:
            body["retry_after"] = exc.retry_after
        return (503 if exc.transient else 502), body
    raise exc
