"""MinorGuardMiddleware: the in-process front door for Starlette and FastAPI backends (pure ASGI).

Per request: pass through what is not enforced (lifespan, exempt paths, unrouted paths); verify the
token; read the facts the route needs (the body at most once, bounded, replayed intact); ask the
engine; answer a deny itself, or call the app, and settle a reservation by the app's status (commit on
2xx, release otherwise, exceptions and disconnects included). No per-request state lives on `self`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from minorguard import decisionlog
from minorguard.adapters.identity import parse_bearer
from minorguard.engine import ADULT_ALLOWED, Clock, Engine
from minorguard.errors import StoreError
from minorguard.metrics import Metrics
from minorguard.middleware import messages
from minorguard.middleware.answers import Answer, allow_headers, bad_request, deny_answer, refuse_replay
from minorguard.middleware.body import BodyTooLarge, json_object, read_body
from minorguard.middleware.facts import BadFact, request_facts
from minorguard.middleware.hotpath import AdultPasses, cached_adult
from minorguard.middleware.reload import PolicyReloader
from minorguard.middleware.routes import Match, RouteTable, Where
from minorguard.middleware.verifier import Verifier, identify
from minorguard.types import Activity, Decision, Facts, Subject

LOG = logging.getLogger("minorguard")


class MinorGuardMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        engine: Engine,
        verifier: Verifier,
        routes: RouteTable,
        metrics: Metrics | None = None,
        reloader: PolicyReloader | None = None,
        max_body_bytes: int = 64 * 1024,
        default_language: int = 0,
        passes: AdultPasses | None = None,
    ) -> None:
        self.app = app
        self.engine = engine
        self.verifier = verifier
        self.routes = routes
        self.metrics = metrics
        self.reloader = reloader
        self.max_body_bytes = max_body_bytes
        self.default_language = default_language
        self.passes = AdultPasses() if passes is None else passes

    @classmethod
    def from_config(
        cls,
        app: ASGIApp,
        config: str | Path,
        *,
        registry: CollectorRegistry | None = None,
        clock: Clock = time.time,
    ) -> MinorGuardMiddleware:
        """Build from a deployment config file (policy, store URL, identity, routes, exempt paths)."""
        from minorguard.wiring import build_guard  # noqa: PLC0415  (wiring imports this module's package)

        guard = build_guard(config, registry=registry, clock=clock)
        guard.reloader.install_sighup()
        settings = guard.deployment.settings
        return cls(
            app,
            engine=guard.engine,
            verifier=guard.verifier,
            routes=guard.routes,
            metrics=guard.metrics,
            reloader=guard.reloader,
            max_body_bytes=settings.max_body_bytes,
            default_language=0 if settings.language == "zh-CN" else 1,
            passes=guard.passes,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        match = self.routes.judged(
            scope.get("method", "GET"), _route_path(scope) if scope.get("root_path") else scope["path"]
        )
        if match is None:  # exempt, or no route: not enforced
            await self.app(scope, receive, send)
            return
        reloader = self.reloader
        if reloader is not None and time.monotonic() >= reloader.due:
            reloader.maybe_reload(self.engine)
        auth = None
        for name, value in scope["headers"]:  # _header, inlined: this runs on every enforced request
            if name == b"authorization":
                auth = value
                break
        if self.passes.let_through(auth, match.plain, self.engine, self.metrics):
            scope.setdefault("state", {})["minorguard"] = ADULT_ALLOWED
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        subject, adult = cached_adult(
            self.passes, self.verifier, self.engine, self.metrics, auth, match.plain, started, _DOOR
        )
        if adult:
            scope.setdefault("state", {})["minorguard"] = ADULT_ALLOWED
            await self.app(scope, receive, send)
            return
        await self._guarded(scope, receive, send, match, subject, started)

    async def _guarded(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        match: Match,
        subject: Subject | None,
        started: float,
    ) -> None:
        """Every other request: identity (unless cached), facts, the engine, the answer. Headers are
        decoded only when read."""
        kind = scope["type"]
        engine = self.engine
        facts = match.plain
        raw = scope["headers"]
        if subject is None:
            auth = _header(raw, b"authorization")
            bearer = parse_bearer(None if auth is None else auth.decode("latin-1"))
            identified = await identify(self.verifier, bearer, self.metrics)
            if isinstance(identified, Decision):
                await self._refuse(scope, send, identified, match, started, None)
                return
            subject = identified
        if facts is None:
            facts_or_answer = await self._facts(scope, receive, _headers(raw, match), match)
            if isinstance(facts_or_answer, Answer):
                await _send_answer(send, facts_or_answer) if kind == "http" else await _close(send)
                return
            facts, receive = facts_or_answer
        # stateless first, without an await; only a stateful check goes to the store
        result = engine.evaluate(subject, facts)
        if not isinstance(result, Decision):
            key = _header(raw, b"idempotency-key")
            result = await engine.settle(
                subject, facts, result, None if key is None else key.decode("latin-1")
            )
        decision = result
        self._record(subject, facts.activity, decision, started)
        scope.setdefault("state", {})["minorguard"] = decision
        if not decision.allowed:
            await self._refuse(scope, send, decision, match, started, subject, recorded=True)
            return
        refused = refuse_replay(decision, facts.activity)
        if refused is not decision:
            await self._refuse(scope, send, refused, match, started, subject, recorded=True)
            return
        extra = allow_headers(decision) if kind == "http" else []
        if decision.reservation_id is not None and facts.activity.spends:
            await self._run_reserved(scope, receive, send, subject, decision.reservation_id, extra)
        else:
            await self.app(scope, receive, _adding(send, extra) if extra else send)

    async def _facts(
        self, scope: Scope, receive: Receive, headers: dict[str, str], match: Match
    ) -> tuple[Facts, Receive] | Answer:
        route = match.route
        language = headers.get("accept-language")
        body: dict[str, Any] | None = None
        if route.needs_body and scope["type"] == "http":
            declared = headers.get("content-length")
            try:
                raw, receive = await read_body(
                    receive, self.max_body_bytes, int(declared) if declared and declared.isdigit() else None
                )
            except BodyTooLarge:
                return bad_request(
                    413,
                    messages.BODY_TOO_LARGE,
                    f"the body may be at most {self.max_body_bytes} bytes",
                    language,
                    self.default_language,
                )
            body = json_object(raw)
            if body is None:
                return bad_request(
                    400, messages.BAD_BODY, "send a JSON object", language, self.default_language
                )
        query = scope.get("query_string", b"")
        try:
            return request_facts(route, match.params, headers, query, body), receive
        except BadFact as exc:
            field = route.amount.name if route.amount else None
            return bad_request(
                400, messages.BAD_AMOUNT, str(exc), language, self.default_language, field=field
            )

    async def _refuse(
        self,
        scope: Scope,
        send: Send,
        decision: Decision,
        match: Match,
        started: float,
        subject: Subject | None,
        *,
        recorded: bool = False,
    ) -> None:
        if not recorded:
            self._record(subject, match.route.activity, decision, started)
        if scope["type"] == "websocket":
            await _close(send)
            return
        accept = _header(scope["headers"], b"accept-language")
        language = None if accept is None else accept.decode("latin-1")
        now = self.engine.clock()
        await _send_answer(
            send, deny_answer(decision, language, now=now, default_language=self.default_language)
        )

    async def _run_reserved(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        subject: Subject,
        reservation_id: str,
        extra: list[tuple[bytes, bytes]],
    ) -> None:
        status = 0

        async def watching(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.app(scope, receive, watching)
        except BaseException:
            await self._settle("release", subject, reservation_id)
            raise
        await self._settle("commit" if 200 <= status < 300 else "release", subject, reservation_id)

    async def _settle(self, action: str, subject: Subject, reservation_id: str) -> None:
        engine = self.engine
        try:
            result = await engine.settle_reservation(
                action, engine.user_key(subject.subject_id), reservation_id
            )
        except StoreError as exc:
            # retried and audited by the engine; a lost commit still counts: the reservation lapses
            # as spent at its deadline, and a lost release leaves its amount counted
            LOG.error("could not %s reservation %s: %s", action, reservation_id, exc)
            if self.metrics is not None:
                self.metrics.settlements.labels(action, "error").inc()
            return
        if self.metrics is not None:
            self.metrics.settlements.labels(action, result.status.value).inc()

    def _record(
        self, subject: Subject | None, activity: Activity, decision: Decision, started: float
    ) -> None:
        subject_id = None if subject is None else subject.subject_id
        decisionlog.record(self.metrics, self.engine, subject_id, activity, decision, started, _DOOR)


def _route_path(scope: Scope) -> str:
    """The path the app routes on: behind a prefix (uvicorn --root-path) the server's path includes the
    prefix, which Starlette strips before routing, and so must we, or nothing would match."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


_DOOR = "middleware"


def _header(raw: list[tuple[bytes, bytes]], wanted: bytes) -> bytes | None:
    """The first value of a header, as Starlette's request.headers gives it to the app (ASGI servers
    give names in lower case), undecoded."""
    for name, value in raw:
        if name == wanted:
            return value
    return None


_WANTED = frozenset((b"accept-language", b"content-length"))


def _headers(raw: list[tuple[bytes, bytes]], match: Match) -> dict[str, str]:
    """The headers reading a route's facts needs, decoded (not every header of every request)."""
    route = match.route
    wanted = _WANTED
    extra = [
        s.name.lower().encode()
        for s in (route.amount, route.game_id)
        if s is not None and s.where is Where.HEADER
    ]
    if extra:
        wanted = wanted | frozenset(extra)
    found: dict[str, str] = {}
    for name, value in raw:  # the first of repeated headers, as the app reads them (Starlette)
        if name in wanted:
            found.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return found


def _adding(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    async def adding(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return adding


async def _send_answer(send: Send, answer: Answer) -> None:
    await send({"type": "http.response.start", "status": answer.status, "headers": answer.headers})
    await send({"type": "http.response.body", "body": answer.body})


async def _close(send: Send) -> None:
    # before accept: the server turns this into an HTTP 403 for the handshake (ASGI spec)
    await send({"type": "websocket.close", "code": 1008})
