"""The sidecar's ASGI app: a small dispatcher over the decision API, the proxy front doors,
reservations, health, metrics, policy and support endpoints. Pure ASGI, like the middleware: the
authz paths are the hot ones and pay for no framework."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.types import Receive, Scope, Send

from minorguard import __version__
from minorguard.errors import StoreError
from minorguard.metricsshare import exposition
from minorguard.middleware.body import BodyTooLarge, read_body
from minorguard.sidecar import doors, identity
from minorguard.sidecar.http import Request, json_answer, problem_answer, send_answer
from minorguard.sidecar.openapi import openapi_document
from minorguard.sidecar.reporting import build_reporter
from minorguard.wiring import Guard

LOG = logging.getLogger("minorguard")
Handler = Callable[[Request], Awaitable[None]]


class SidecarApp:
    def __init__(
        self,
        guard: Guard,
        *,
        registry: CollectorRegistry,
        admin_token: bytes | None = None,
        drain_seconds: float = 10.0,
    ) -> None:
        self.guard = guard
        self.registry = registry
        self.admin_token = admin_token
        self.drain_seconds = drain_seconds
        sidecar = guard.deployment.settings.sidecar
        self.envoy_prefix = sidecar.envoy_prefix.rstrip("/")
        self.nginx_uri_header = sidecar.original_uri_header.lower().encode("latin-1")
        self.nginx_method_header = sidecar.original_method_header.lower().encode("latin-1")
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._exact: dict[tuple[str, str], Handler] = {
            ("GET", "/healthz"): self._healthz,
            ("GET", "/readyz"): self._readyz,
            ("GET", "/metrics"): self._metrics,
            ("GET", "/openapi.json"): self._openapi,
            ("GET", "/v1/policy"): self._policy,
            ("POST", "/v1/decisions"): self._tracked(doors.decisions),
        }
        self._nginx = self._tracked(doors.nginx)
        self._traefik = self._tracked(doors.traefik)
        self._envoy = self._tracked(doors.envoy)
        self._reservation = self._tracked(doors.reservation)
        self.nppa = identity.nppa_client(guard.deployment)
        self.reporter = None
        if self.nppa is not None:
            max_gap = guard.engine.policy.policy.spec.game.play_time.max_gap_seconds
            self.reporter = build_reporter(guard.deployment, self.nppa, registry, guard.engine.clock, max_gap)
        self._exact["POST", "/v1/identity/verify"] = identity.verify

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request = Request(self, scope, receive, send)
        path, method = scope["path"], scope["method"]
        handler = self._nginx if path == "/v1/authz/nginx" else self._exact.get((method, path))
        if handler is None:
            handler = self._route(method, path)
        if handler is None:
            await send_answer(send, problem_answer(404, "Not found", f"no endpoint at {method} {path}"))
            return
        await handler(request)

    def _route(self, method: str, path: str) -> Handler | None:
        if path == "/v1/authz/nginx" or path.startswith("/v1/authz/nginx/"):
            return self._nginx
        if path == "/v1/authz/traefik" or path.startswith("/v1/authz/traefik/"):
            return self._traefik
        if path == self.envoy_prefix or path.startswith(self.envoy_prefix + "/"):
            return self._envoy
        if method == "POST" and path.startswith("/v1/reservations/"):
            return self._reservation
        if method == "GET" and path.startswith("/v1/subjects/") and path.endswith("/usage"):
            return self._usage
        if method == "GET" and path.startswith("/v1/identity/"):
            return identity.query
        return None

    def _tracked(self, handler: Callable[[Request], Awaitable[None]]) -> Handler:
        """Counts requests in flight, so a shutdown waits for their reservations to be settled."""

        async def tracked(request: Request) -> None:
            self.in_flight += 1
            self._idle.clear()
            try:
                await handler(request)
            finally:
                self.in_flight -= 1
                if self.in_flight == 0:
                    self._idle.set()

        return tracked

    async def body(self, request: Request) -> bytes | None:
        """The request body (bounded), or None after answering 413 itself."""
        limit = self.guard.deployment.settings.max_body_bytes
        declared = request.headers.get("content-length")
        try:
            raw, _ = await read_body(
                request.receive, limit, int(declared) if declared and declared.isdigit() else None
            )
        except BodyTooLarge:
            await send_answer(
                request.send,
                problem_answer(413, "Request body too large", f"the body may be at most {limit} bytes"),
            )
            return None
        return raw

    async def _healthz(self, request: Request) -> None:
        await send_answer(request.send, json_answer(200, {"status": "alive"}))

    async def _readyz(self, request: Request) -> None:
        policy = self.guard.engine.policy.policy
        try:
            await asyncio.wait_for(self.guard.store.ping(), timeout=1.0)
        except (StoreError, TimeoutError) as exc:
            await send_answer(
                request.send, problem_answer(503, "Not ready", f"the counter store is unreachable: {exc}")
            )
            return
        await send_answer(
            request.send,
            json_answer(200, {"status": "ready", "policy": policy.name, "revision": policy.revision}),
        )

    async def _metrics(self, request: Request) -> None:
        self.guard.refresh_gauges(self.guard.engine.clock())
        body = exposition(self.registry)  # with several workers, all of them (metricsshare.py)
        await request.send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", CONTENT_TYPE_LATEST.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await request.send({"type": "http.response.body", "body": body})

    async def _openapi(self, request: Request) -> None:
        await send_answer(request.send, json_answer(200, openapi_document(self.envoy_prefix)))

    async def _policy(self, request: Request) -> None:
        policy = self.guard.engine.policy.policy
        await send_answer(
            request.send,
            json_answer(
                200,
                {
                    "name": policy.name,
                    "revision": policy.revision,
                    "minorguard_version": __version__,
                    "sources": [str(s) for s in policy.sources],
                    "effective": policy.spec.model_dump(mode="json"),
                },
            ),
        )

    async def _usage(self, request: Request) -> None:
        if not self._admin(request):
            await send_answer(
                request.send,
                problem_answer(
                    401,
                    "Admin token required",
                    "send Authorization: Bearer <admin token>",
                    headers=[(b"www-authenticate", b'Bearer realm="admin"')],
                ),
            )
            return
        subject_id = request.path[len("/v1/subjects/") : -len("/usage")]
        try:
            usage = await self.guard.engine.usage(subject_id)
        except StoreError as exc:
            await send_answer(request.send, problem_answer(503, "Store unavailable", str(exc)))
            return
        await send_answer(
            request.send,
            json_answer(200, {"subject_key": self.guard.engine.user_key(subject_id), **usage_json(usage)}),
        )

    def _admin(self, request: Request) -> bool:
        if self.admin_token is None:
            return False
        given = request.headers.get("authorization", "")
        expected = b"Bearer " + self.admin_token
        return hmac.compare_digest(given.encode(), expected)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.guard.reloader.install_sighup()
                if self.reporter is not None:
                    self.reporter.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._drain()
                if self.reporter is not None:
                    await self.reporter.stop()
                await self.guard.close()
                if self.nppa is not None:
                    await self.nppa.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _drain(self) -> None:
        """Wait for in-flight decisions and settlements: no reservation is left half-made."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=self.drain_seconds)
        except TimeoutError:
            LOG.error("shutdown: %d requests still in flight after %.0fs", self.in_flight, self.drain_seconds)


def usage_json(usage: Any) -> dict[str, Any]:
    return {
        "played_seconds_today": usage.played_seconds,
        "last_seen": usage.last_seen,
        "month_committed_fen": usage.month_committed,
        "month_pending_fen": usage.month_pending,
        "tips_today_fen": usage.tips_day_committed,
        "tips_month_fen": usage.tips_month_committed,
    }
