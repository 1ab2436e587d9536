"""MinorGuardMiddleware: the in-process front door for Starlette and FastAPI backends (pure ASGI).

A thin door around the gate: the ASGI scope becomes an `Inquiry` (the decoded path Starlette routes,
the raw headers, the body on demand), the `Verdict` becomes either a call of the app (with the
Minorguard-* headers added to its answer) or the deny the gate shaped. A reservation is settled by the
app's status: commit on 2xx, release otherwise (exceptions and disconnects included). The app finds
the decision in `request.state.minorguard`. No per-request state lives on `self`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from minorguard.deployment import load_deployment
from minorguard.engine import Clock
from minorguard.errors import StoreError
from minorguard.gate.gate import Gate, Inquiry
from minorguard.gate.verdicts import MIDDLEWARE, Verdict
from minorguard.web.answers import Answer
from minorguard.web.body import AsgiBody
from minorguard.wiring import build_gate, nppa_client

if TYPE_CHECKING:
    from minorguard.adapters.nppa.client import NppaClient

LOG = logging.getLogger("minorguard")


class MinorGuardMiddleware:
    def __init__(self, app: ASGIApp, *, gate: Gate, nppa: NppaClient | None = None) -> None:
        self.app = app
        self.gate = gate
        self.nppa = nppa  # closed at shutdown: the gate's behaviour reporting sends through it

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
        deployment = load_deployment(config)
        nppa = nppa_client(deployment)
        gate = build_gate(deployment, registry=registry, clock=clock, nppa=nppa)
        if gate.reloader is not None:
            gate.reloader.install_sighup()
        return cls(app, gate=gate, nppa=nppa)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            if kind == "lifespan":
                receive = self._lifespan(receive)
            await self.app(scope, receive, send)
            return
        gate = self.gate
        path = _route_path(scope) if scope.get("root_path") else scope["path"]
        method = scope.get("method", "GET")
        verdict = gate.screen(MIDDLEWARE, method, path, scope["headers"])
        if not isinstance(verdict, Verdict):  # no fast path answered: read what the check needs
            body = AsgiBody(receive) if kind == "http" else None
            query = scope.get("query_string", b"")
            inquiry = Inquiry(method, path, scope["headers"], query.decode("latin-1") if query else "", body)
            verdict = await gate.complete(MIDDLEWARE, inquiry, verdict)
            if body is not None:
                receive = body.receive  # replays a body the gate read
        if verdict.decision is not None:
            scope.setdefault("state", {})["minorguard"] = verdict.decision
        if not verdict.forward:
            if kind == "websocket":
                # before accept: the server turns this into an HTTP 403 for the handshake (ASGI spec)
                await send({"type": "websocket.close", "code": 1008})
            else:
                await _send_answer(send, verdict.answer)
            return
        extra = verdict.answer.headers if kind == "http" else []
        if verdict.reservation is not None:
            await self._run_reserved(scope, receive, send, verdict.reservation, extra)
        else:
            await self.app(scope, receive, _adding(send, extra) if extra else send)

    async def _run_reserved(
        self, scope: Scope, receive: Receive, send: Send, reservation: str, extra: list[tuple[bytes, bytes]]
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
            await self._settle("release", reservation)
            raise
        await self._settle("commit" if 200 <= status < 300 else "release", reservation)

    async def _settle(self, action: str, reservation: str) -> None:
        metrics = self.gate.metrics
        try:
            result = await self.gate.settle(reservation, action)
        except StoreError as exc:
            # retried and audited by the engine; a lost commit still counts: the reservation lapses
            # as spent at its deadline, and a lost release leaves its amount counted
            LOG.error("could not %s reservation %s: %s", action, reservation, exc)
            if metrics is not None:
                metrics.settlements.labels(action, "error").inc()
            return
        if metrics is not None and result is not None:
            metrics.settlements.labels(action, result.status.value).inc()

    def _lifespan(self, receive: Receive) -> Receive:
        """The app's lifespan, with the gate's background work started and stopped around it."""

        async def watching() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.gate.start()
            elif message["type"] == "lifespan.shutdown":
                await self.gate.close()
                if self.nppa is not None:
                    await self.nppa.aclose()
            return message

        return watching


def _route_path(scope: Scope) -> str:
    """The path the app routes on: behind a prefix (uvicorn --root-path) the server's path includes the
    prefix, which Starlette strips before routing, and so must we, or nothing would match."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


def _adding(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    async def adding(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return adding


async def _send_answer(send: Send, answer: Answer) -> None:
    await send({"type": "http.response.start", "status": answer.status, "headers": answer.headers})
    await send({"type": "http.response.body", "body": answer.body})
