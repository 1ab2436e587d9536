"""The async NPPA client: real-name `check`, result `query` and behaviour `loginout`.

Each attempt takes ONE timestamp (milliseconds, as a string), signs exactly the header values and the
body bytes it then sends, and encrypts the body with a fresh IV. Retries (bounded, with backoff) happen on
network errors, HTTP 5xx and errcodes 1001 / 1007 / 4001, each with a new timestamp and signature; a 1006
(over the rate limit) is never retried: the game is throttled for a minute, so the client refuses to send
for that minute. Names, ID numbers, pis and the secret key never appear in logs, reprs or exceptions.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Literal, Self

import httpx

from minorguard.adapters.nppa.codes import Failure, NppaCode, NppaError
from minorguard.adapters.nppa.crypto import SecretKey, encrypted_body, sign
from minorguard.adapters.nppa.idnumber import validate_id_number, validate_name
from minorguard.adapters.nppa.models import (
    MAX_BATCH,
    AuthResult,
    Endpoints,
    LoginoutItem,
    LoginoutResult,
    validate_ai,
)
from minorguard.adapters.nppa.ratelimit import RateLimiter, Throttled

LOG = logging.getLogger("minorguard.nppa")
Interface = Literal["check", "query", "loginout"]
CONTENT_TYPE = "application/json; charset=utf-8"
# Answers that reached NPPA and may have been processed: a retried check can then meet its own ai (2004).
_AMBIGUOUS = (
    httpx.ReadError,
    httpx.ReadTimeout,
    httpx.RemoteProtocolError,
    httpx.WriteError,
    httpx.WriteTimeout,
)


class NppaClient:
    """One game's client (one appId/bizId/secretKey). Use `async with` or call `aclose()`."""

    def __init__(
        self,
        endpoints: Endpoints,
        *,
        app_id: str,
        biz_id: str,
        secret_key: SecretKey,
        http: httpx.AsyncClient | None = None,
        timeout: float = 5.0,
        retries: int = 2,
        backoff: float = 0.25,
        limiter: RateLimiter | None = None,
        max_rate_wait: float = 5.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_answer: Callable[[str, str], None] | None = None,
    ) -> None:
        if not app_id or not biz_id:
            raise ValueError("appId and bizId are required")
        self.endpoints = endpoints
        self.app_id = app_id
        self.biz_id = biz_id
        self._key = secret_key
        self._own_http = http is None
        # 5 s: NPPA's suggested client timeout, and the validity of a timestamp.
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self.retries = retries
        self.backoff = backoff
        self.limiter = limiter or RateLimiter()
        self.max_rate_wait = max_rate_wait
        self._clock = clock
        self._sleep = sleep
        self._on_answer = on_answer

    def __repr__(self) -> str:
        return f"NppaClient(app_id={self.app_id!r}, biz_id={self.biz_id!r}, check={self.endpoints.check!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    def timestamp_ms(self) -> int:
        return int(self._clock() * 1000)

    async def check(self, ai: str, name: str, id_num: str) -> AuthResult:
        """Real-name authentication. The ID number's check digit is verified first (InvalidIdNumber)."""
        payload = {"ai": validate_ai(ai), "name": validate_name(name), "idNum": validate_id_number(id_num)}
        try:
            answer = await self._call("check", "POST", self.endpoints.check, payload=payload)
        except NppaError as exc:
            # A retry after an attempt whose answer was lost may find the first attempt's record: ask for it.
            if exc.code is NppaCode.AI_IN_USE and exc.after_ambiguous:
                LOG.info("nppa check: ai already in use after a lost answer; querying its result")
                return await self.query(ai)
            raise
        return _auth_result(answer, "check")

    async def query(self, ai: str) -> AuthResult:
        """The result of an earlier check (pending results stay queryable for 48 h)."""
        answer = await self._call("query", "GET", self.endpoints.query, query={"ai": validate_ai(ai)})
        return _auth_result(answer, "query")

    async def loginout(
        self, items: Iterable[LoginoutItem], *, timestamp_ms: int | None = None
    ) -> LoginoutResult:
        """Report a batch of 1..128 behaviour items. With `timestamp_ms` the request carries that
        timestamp and is tried ONCE: the caller chose each `ot` against it (see reporting.py), so a retry
        needs new `ot` values, which only the caller can compute."""
        batch = [item.wire() for item in items]
        if not 1 <= len(batch) <= MAX_BATCH:
            raise ValueError(f"a loginout batch has 1 to {MAX_BATCH} items")
        if len({item["no"] for item in batch}) != len(batch):
            raise ValueError("item numbers `no` are unique within a batch")
        answer = await self._call(
            "loginout",
            "POST",
            self.endpoints.loginout,
            payload={"collections": batch},
            timestamp_ms=timestamp_ms,
            accept=frozenset({NppaCode.PARTIAL_FAILURE}),
        )
        try:
            return LoginoutResult.from_answer(int(answer["errcode"]), answer.get("data"))
        except ValueError as exc:
            raise NppaError(Failure.RESPONSE, f"NPPA loginout: {exc}") from None

    async def _call(
        self,
        interface: Interface,
        method: str,
        url: str,
        *,
        query: Mapping[str, str] | None = None,
        payload: Mapping[str, Any] | None = None,
        timestamp_ms: int | None = None,
        accept: frozenset[NppaCode] = frozenset(),
    ) -> dict[str, Any]:
        attempts = 1 if timestamp_ms is not None else 1 + max(0, self.retries)
        ambiguous = False
        last: NppaError | None = None
        for attempt in range(attempts):
            if attempt:
                await self._sleep(self.backoff * 2 ** (attempt - 1) * (1 + random.random()))
            try:  # the slot is held until the answer is back (ratelimit.py)
                async with self.limiter.slot(self.biz_id, interface, max_wait=self.max_rate_wait):
                    answer = await self._attempt(interface, method, url, query or {}, payload, timestamp_ms)
                code = NppaCode.parse(answer["errcode"])
                if code is NppaCode.OK or code in accept:
                    return answer
                raise NppaError.from_answer(int(answer["errcode"]), answer.get("errmsg"), what=interface)
            except Throttled as exc:  # nothing was sent
                message = f"NPPA {interface}: {exc}"
                raise NppaError(Failure.THROTTLED, message, retry_after=exc.retry_after) from None
            except NppaError as exc:
                exc.after_ambiguous = ambiguous
                ambiguous = ambiguous or _maybe_processed(exc)
                if exc.code is NppaCode.OVER_RATE_LIMIT:  # throttled for a minute: do not hammer
                    self.limiter.block(self.biz_id, interface)
                    raise
                if not exc.transient:
                    raise
                LOG.warning("nppa %s attempt %d/%d failed: %s", interface, attempt + 1, attempts, exc.label)
                last = exc
        assert last is not None
        raise last

    async def _attempt(
        self,
        interface: str,
        method: str,
        url: str,
        query: Mapping[str, str],
        payload: Mapping[str, Any] | None,
        timestamp_ms: int | None,
    ) -> dict[str, Any]:
        # One timestamp per attempt, signed exactly as sent; a fresh IV for every body.
        stamp = str(timestamp_ms if timestamp_ms is not None else self.timestamp_ms())
        body = encrypted_body(self._key, payload) if payload is not None else b""
        headers = {"appId": self.app_id, "bizId": self.biz_id, "timestamps": stamp}
        headers["sign"] = sign(self._key, {**headers, **query}, body)
        if method == "POST":
            headers["Content-Type"] = CONTENT_TYPE
        try:
            response = await self._http.request(
                method, url, params=dict(query) or None, content=body or None, headers=headers
            )
        except httpx.TransportError as exc:
            self._answered(interface, "network")
            raise NppaError(Failure.NETWORK, f"NPPA {interface}: {type(exc).__name__}") from exc
        if response.status_code != 200:
            self._answered(interface, f"http_{response.status_code}")
            status = response.status_code
            raise NppaError(Failure.HTTP, f"NPPA {interface}: HTTP {status}", http_status=status)
        try:
            answer = response.json()
            if not isinstance(answer, dict):
                raise TypeError
            int(answer["errcode"])
        except (ValueError, TypeError, KeyError):
            self._answered(interface, "response")
            message = f"NPPA {interface}: the answer is not the documented JSON"
            raise NppaError(Failure.RESPONSE, message) from None
        self._answered(interface, str(int(answer["errcode"])))
        return answer

    def _answered(self, interface: str, label: str) -> None:
        if self._on_answer is not None:
            self._on_answer(interface, label)


def _maybe_processed(error: NppaError) -> bool:
    """The request may have reached NPPA and been processed although no usable answer came back."""
    if error.failure is Failure.NETWORK:
        return isinstance(error.__cause__, _AMBIGUOUS)
    if error.failure is Failure.HTTP:
        return (error.http_status or 0) >= 500
    return error.code in (NppaCode.SYS_ERROR, NppaCode.TEST_SYSTEM_ERROR)


def _auth_result(answer: Mapping[str, Any], what: str) -> AuthResult:
    try:
        return AuthResult.from_data(answer.get("data"))
    except ValueError as exc:
        raise NppaError(Failure.RESPONSE, f"NPPA {what}: {exc}") from None
