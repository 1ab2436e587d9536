"""The sidecar's ASGI app: a small dispatcher over the decision API, the proxy front doors,
reservations, health, metrics, policy and support endpoints. Pure ASGI, like the middleware: the authz
paths are the hot ones and pay for no framework. Every handler is built here with what it needs."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.types import Receive, Scope, Send

from minorguard import __version__
from minorguard.deployment import LoadedDeployment, Permission
from minorguard.errors import StoreError
from minorguard.gate.gate import Gate
from minorguard.metricsshare import exposition, keep_writing
from minorguard.sidecar.api import DecisionApi
from minorguard.sidecar.credentials import Credentials, audit
from minorguard.sidecar.guardianapi import PREFIX as GUARDIAN_PREFIX
from minorguard.sidecar.guardianapi import GuardianApi
from minorguard.sidecar.http import Handler, Request, send_answer
from minorguard.sidecar.identity import IdentityEndpoints
from minorguard.sidecar.openapi import openapi_document
from minorguard.sidecar.proxies import ProxyDoors
from minorguard.sidecar.reservations import Reservations
from minorguard.sidecar.weekendpoint import WeekPage
from minorguard.web.answers import Answer, json_answer, problem_answer

if TYPE_CHECKING:
    from minorguard.adapters.nppa.client import NppaClient
    from minorguard.sidecar.grpcserver import GrpcListener

LOG = logging.getLogger("minorguard")


class SidecarApp:
    def __init__(
        self,
        gate: Gate,
        deployment: LoadedDeployment,
        *,
        registry: CollectorRegistry,
        nppa: NppaClient | None = None,
        drain_seconds: float = 10.0,
        draining: Path | None = None,
        metrics_folder: Path | None = None,
        grpc: tuple[str, int] | None = None,
    ) -> None:
        settings = deployment.settings
        self.gate = gate
        self.registry = registry
        self.nppa = nppa
        self.credentials = Credentials(deployment.credentials())
        self.drain_seconds = drain_seconds
        self.draining = draining  # exists once the process got SIGTERM (see serve.delay_sigterm)
        self.metrics_folder = metrics_folder  # several workers: each keeps a snapshot there
        self.logging = settings.logging
        self._background: list[asyncio.Task[None]] = []
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        limit = settings.max_body_bytes
        proxies = ProxyDoors(gate, settings.sidecar, max_body_bytes=limit)
        self.envoy_prefix = proxies.envoy_prefix
        identity = IdentityEndpoints(
            nppa,
            self.credentials,
            wait_seconds=settings.nppa.wait_seconds if settings.nppa else 0.0,
            max_body_bytes=limit,
        )
        self._exact: dict[tuple[str, str], Handler] = {
            ("GET", "/healthz"): self._healthz,
            ("GET", "/readyz"): self._readyz,
            ("GET", "/metrics"): self._metrics,
            ("GET", "/openapi.json"): self._openapi,
            ("GET", "/v1/policy"): self._policy,
            ("GET", "/v1/policy/week"): WeekPage(gate),
            ("POST", "/v1/decisions"): self._tracked(DecisionApi(gate, max_body_bytes=limit)),
            ("POST", "/v1/identity/verify"): identity.verify,
        }
        self._nginx = self._tracked(proxies.nginx)
        self._traefik = self._tracked(proxies.traefik)
        self._envoy = self._tracked(proxies.envoy)
        self._reservation = self._tracked(Reservations(gate, self.credentials))
        self._identity_query = identity.query
        self._guardian = self._tracked(GuardianApi.of(gate, self.credentials, max_body_bytes=limit).handle)
        self.grpc = None if grpc is None else grpc_listener(gate, grpc, max_body_bytes=limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request = Request(scope, receive, send)
        path, method = scope["path"], scope["method"]
        handler = self._nginx if path == "/v1/authz/nginx" else self._exact.get((method, path))
        if handler is None:
            handler = self._route(method, path)
        if handler is None:
            await send_answer(send, problem_answer(404, "Not found", f"no endpoint at {method} {path}"))
            return
        await handler(request)

    def _route(self, method: str, path: str) -> Handler | None:
        if path.startswith("/v1/authz/nginx/"):
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
            return self._identity_query
        if path.startswith(GUARDIAN_PREFIX):
            return self._guardian
        return None

    def _tracked(self, handler: Handler) -> Handler:
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

    async def _healthz(self, request: Request) -> None:
        await send_answer(request.send, json_answer(200, {"status": "alive"}))

    async def _readyz(self, request: Request) -> None:
        if self.draining is not None and self.draining.exists():
            answer = problem_answer(503, "Not ready", "shutting down: finishing the requests under way")
            await send_answer(request.send, answer)
            return
        unready = await self.gate.unready()
        if unready is not None:
            await send_answer(request.send, problem_answer(503, "Not ready", unready))
            return
        policy = self.gate.engine.policy.policy
        document = {"status": "ready", "policy": policy.name, "revision": policy.revision}
        await send_answer(request.send, json_answer(200, document))

    async def _metrics(self, request: Request) -> None:
        body = exposition(self.registry)  # with several workers, all of them (metricsshare.py)
        headers = [
            (b"content-type", CONTENT_TYPE_LATEST.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        await send_answer(request.send, Answer(200, headers, body))

    async def _openapi(self, request: Request) -> None:
        await send_answer(request.send, json_answer(200, openapi_document(self.envoy_prefix)))

    async def _policy(self, request: Request) -> None:
        policy = self.gate.engine.policy.policy
        document = {
            "name": policy.name,
            "revision": policy.revision,
            "minorguard_version": __version__,
            "sources": [str(s) for s in policy.sources],
            "effective": policy.spec.model_dump(mode="json"),
        }
        await send_answer(request.send, json_answer(200, document))

    async def _usage(self, request: Request) -> None:
        caller, refusal = self.credentials.refusal(request.raw_headers, Permission.USAGE)
        if refusal is not None:
            await send_answer(request.send, refusal)
            return
        subject_id = request.path[len("/v1/subjects/") : -len("/usage")]
        engine = self.gate.engine
        try:
            usage = await engine.usage(subject_id)
        except StoreError as exc:
            await send_answer(request.send, problem_answer(503, "Store unavailable", str(exc)))
            return
        subject_key = engine.user_key(subject_id)
        audit("usage", subject=subject_key, credential=caller)
        await send_answer(request.send, json_answer(200, {"subject_key": subject_key, **usage_json(usage)}))

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self.gate.reloader is not None:
                    self.gate.reloader.install_sighup()
                self.gate.start()
                if self.metrics_folder is not None:
                    self._background.append(
                        asyncio.create_task(keep_writing(self.registry, self.metrics_folder))
                    )
                failed = await self._start_grpc()
                if failed is not None:
                    await send({"type": "lifespan.startup.failed", "message": failed})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._drain()
                await self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _start_grpc(self) -> str | None:
        """Why the gRPC door could not start (None: it did, or there is none)."""
        if self.grpc is None:
            return None
        from minorguard.sidecar.grpcserver import GrpcBindError  # noqa: PLC0415  (grpc only when used)

        try:
            await self.grpc.start()
        except GrpcBindError as exc:
            LOG.error("%s", exc)
            await self.close()
            return str(exc)
        return None

    async def close(self) -> None:
        for task in self._background:  # keep_writing writes a last snapshot when cancelled
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.gate.close()
        if self.nppa is not None:
            await self.nppa.aclose()

    async def _drain(self) -> None:
        """Wait for in-flight decisions and settlements (no reservation is left half-made), then for
        the cancels of reserves whose answer was lost, so they finish instead of being abandoned."""
        started = time.monotonic()
        grpc = self.grpc
        grpc_stopped = None if grpc is None else asyncio.ensure_future(grpc.stop(self.drain_seconds))
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=self.drain_seconds)
        except TimeoutError:
            LOG.error("shutdown: %d requests still in flight after %.0fs", self.in_flight, self.drain_seconds)
        if grpc_stopped is not None:
            await grpc_stopped  # its checks under way are answered (or cut at drain_seconds)
        left = max(self.drain_seconds - (time.monotonic() - started), 0.5)
        await self.gate.engine.settler.drain(left)


def grpc_listener(gate: Gate, address: tuple[str, int], *, max_body_bytes: int) -> GrpcListener:
    from minorguard.sidecar.grpcserver import GrpcAddress, GrpcListener  # noqa: PLC0415  (see above)

    return GrpcListener(gate, GrpcAddress(*address), max_body_bytes=max_body_bytes)


def usage_json(usage: Any) -> dict[str, Any]:
    return {
        "played_seconds_today": usage.played_seconds,
        "last_seen": usage.last_seen,
        "month_committed_fen": usage.month_committed,
        "month_pending_fen": usage.month_pending,
        "tips_today_fen": usage.tips_day_committed,
        "tips_month_fen": usage.tips_month_committed,
    }
