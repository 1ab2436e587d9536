"""Helpers of the middleware tests: a settable clock, deployment files in tmp_path, real tokens, a small
Starlette backend that shows what reached it, and raw ASGI calls (lifespan, disconnects, websockets).

Every app is built through `MinorGuardMiddleware.from_config`, the way a backend mounts minorguard.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import shutil
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from minorguard.adapters.identity import issue_token
from minorguard.middleware import MinorGuardMiddleware
from minorguard.types import Decision

REPO = Path(__file__).resolve().parents[2]
DEMO_POLICY = REPO / "policies" / "examples" / "demo.yaml"
BJ = dt.timezone(dt.timedelta(hours=8))
SECRET = "middleware-tests-hs256-secret-0123456789abcdef"  # 46 bytes: over HS256's 32
SUBJECT_SECRET = "middleware-tests-subject-secret"
ISSUER = "https://id.minorguard.test"
AUDIENCE = "minorguard-tests"
PROBLEM_JSON = "application/problem+json"

# birth dates for a clock in November 2026
UNDER_8 = dt.date(2019, 6, 15)  # 7; turns 8 on 2027-06-15
AGE_15 = dt.date(2011, 5, 1)  # 15; 16 on 2027-05-01, 18 on 2029-05-01
AGE_17 = dt.date(2009, 3, 10)  # 17; 18 on 2027-03-10
ADULT = dt.date(1990, 1, 1)

ROUTES: list[dict[str, Any]] = [
    {"method": "GET", "path": "/game/ping", "activity": "game", "game_id": {"from": "query", "name": "game"}},
    {"method": "GET", "path": "/game/ws", "activity": "game"},
    {
        "method": "POST",
        "path": "/shop/{what}",
        "activity": "purchase",
        "amount": {"from": "body", "name": "amount_fen"},
    },
    {"method": "POST", "path": "/live/publishers", "activity": "livestream_publisher_registration"},
    {
        "method": "POST",
        "path": "/live/rooms/{room}/tips",
        "activity": "livestream_tip",
        "amount": {"from": "body", "name": "amount_fen"},
    },
]
EXEMPT = ["/healthz", "/metrics", "/static/*"]


def bj(text: str) -> float:
    """Epoch seconds of a Beijing wall-clock time, e.g. bj("2026-11-20 20:00:00")."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=BJ).timestamp()


def bj_dt(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=BJ)


@dataclass
class Clock:
    """The engine's clock: a mutable instant (epoch seconds) the test moves."""

    now: float

    def __call__(self) -> float:
        return self.now

    def set(self, text: str) -> None:
        self.now = bj(text)


def write_deployment(
    folder: Path,
    *,
    policy: str = "demo",
    store: str = "memory://",
    routes: list[dict[str, Any]] | None = None,
    identity: dict[str, Any] | None = None,
    name: str = "deployment.yaml",
    **settings: Any,
) -> Path:
    """A deployment config in `folder`. `policy="demo"` copies the demo policy next to it; a preset
    name or a file name already in the folder is used as it is."""
    if policy == "demo":
        shutil.copy(DEMO_POLICY, folder / "demo.yaml")
        policy = "demo.yaml"
    config: dict[str, Any] = {
        "policy": policy,
        "store": store,
        "subject_secret": {"value": SUBJECT_SECRET},
        "identity": identity
        or {
            "algorithms": ["HS256"],
            "issuer": ISSUER,
            "audience": AUDIENCE,
            "hs_secret": {"value": SECRET},
        },
        "routes": routes or ROUTES,
        "exempt_paths": EXEMPT,
        **settings,
    }
    path = folder / name
    path.write_text("# written by the middleware tests\n" + json.dumps(config, indent=2) + "\n")
    return path


def token(
    subject: str,
    birthdate: dt.date | None,
    *,
    verified: bool = True,
    consent: Iterable[str] = (),
    **overrides: Any,
) -> str:
    """A real HS256 token (signed now, on the real clock: the verifier checks exp against it)."""
    options: dict[str, Any] = {
        "secret_or_private_key": SECRET,
        "algorithm": "HS256",
        "issuer": ISSUER,
        "audience": AUDIENCE,
        **overrides,
    }
    return issue_token(
        subject=subject,
        birthdate=birthdate,
        verified=verified,
        guardian_consent=tuple(consent),
        **options,
    )


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def summary(decision: Decision | None) -> dict[str, Any] | None:
    if decision is None:
        return None
    return {
        "outcome": decision.outcome.value,
        "reason": decision.reason.value,
        "band": decision.band.value,
        "remaining_seconds": decision.remaining_seconds,
        "remaining_budget_fen": decision.remaining_budget_fen,
        "warnings": [[w.code.value, w.threshold_seconds] for w in decision.warnings],
    }


@dataclass
class Backend:
    """What the wrapped app saw: the decisions on request.state, the bodies it read, lifespan events."""

    decisions: list[Decision] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    lifespan: list[str] = field(default_factory=list)
    hang_started: asyncio.Event = field(default_factory=asyncio.Event)


class Boom(Exception):
    """Raised by the backend when asked to (`?raise=1`)."""


def backend_app(seen: Backend) -> ASGIApp:
    """A Starlette game/shop/live backend. `/shop/hang` is raw ASGI: it waits for the client to go
    away (receive -> http.disconnect) and then returns without answering."""

    def state_decision(request: Request) -> Decision | None:
        decision = getattr(request.state, "minorguard", None)
        if decision is not None:
            seen.decisions.append(decision)
        return decision

    async def ping(request: Request) -> JSONResponse:
        seen.calls.append("ping")
        return JSONResponse({"game": "pong", "minorguard": summary(state_decision(request))})

    async def shop(request: Request) -> Response:
        seen.calls.append("shop")
        state_decision(request)
        body = await request.body()
        seen.bodies.append(body)
        if delay := request.query_params.get("delay"):
            await asyncio.sleep(float(delay))  # keeps reservations pending while others arrive
        if request.query_params.get("raise"):
            raise Boom("the payment provider blew up")
        status = int(request.query_params.get("status", "201"))
        return Response(body, status_code=status, media_type="application/json; charset=utf-8")

    async def publishers(request: Request) -> JSONResponse:
        seen.calls.append("publisher")
        return JSONResponse({"publisher": "registered", "minorguard": summary(state_decision(request))}, 201)

    async def tips(request: Request) -> JSONResponse:
        seen.calls.append("tip")
        body = await request.json()
        return JSONResponse(
            {"room": request.path_params["room"], "tipped_fen": body["amount_fen"]},
            status_code=int(request.query_params.get("status", "201")),
        )

    async def plain(request: Request) -> PlainTextResponse:
        seen.calls.append(request.url.path)
        return PlainTextResponse("ok")

    async def game_ws(websocket: WebSocket) -> None:
        seen.calls.append("ws")
        await websocket.accept()
        await websocket.send_json({"game": "connected"})
        await websocket.close()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        seen.lifespan.append("startup")
        yield
        seen.lifespan.append("shutdown")

    starlette_app = Starlette(
        routes=[
            Route("/game/ping", ping, methods=["GET", "POST"]),
            Route("/shop/{what}", shop, methods=["POST"]),
            Route("/live/publishers", publishers, methods=["POST"]),
            Route("/live/rooms/{room}/tips", tips, methods=["POST"]),
            WebSocketRoute("/game/ws", game_ws),
            Route("/healthz", plain),
            Route("/static/{name:path}", plain),
            Route("/unrouted", plain),
        ],
        lifespan=lifespan,
    )

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/shop/hang":
            seen.calls.append("hang")
            decision = scope.get("state", {}).get("minorguard")
            if decision is not None:
                seen.decisions.append(decision)
            first = await receive()
            seen.bodies.append(first.get("body", b""))
            seen.hang_started.set()
            while (await receive())["type"] != "http.disconnect":
                pass
            return  # the client went away: no answer
        await starlette_app(scope, receive, send)

    return app


def build(
    config: Path, clock: Clock, *, registry: CollectorRegistry | None = None, app: ASGIApp | None = None
) -> tuple[MinorGuardMiddleware, Backend, CollectorRegistry]:
    seen = Backend()
    registry = registry if registry is not None else CollectorRegistry()
    wrapped = MinorGuardMiddleware.from_config(
        app if app is not None else backend_app(seen), config, registry=registry, clock=clock
    )
    return wrapped, seen, registry


def client(app: ASGIApp, **kwargs: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mg.test", **kwargs)


def retry_after(again: dt.datetime, now: float) -> int:
    return max(math.ceil(again.timestamp() - now), 1)


def assert_problem(
    response: httpx.Response,
    status: int,
    reason: str,
    *,
    rule: str | None,
    legal_basis: str | None,
    again: dt.datetime | None,
    now: float,
) -> dict[str, Any]:
    """A deny answer: status, problem+json body, Minorguard-* headers and Retry-After, all consistent."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["status"] == status
    assert body["type"] == f"urn:minorguard:reason:{reason}"
    assert body["reason"] == reason
    assert body["rule"] == rule
    assert body["legal_basis"] == legal_basis
    assert response.headers["minorguard-reason"] == reason
    if rule is not None:
        assert response.headers["minorguard-rule"] == rule
    if again is None:
        assert body["allowed_again_at"] is None
        assert "minorguard-allowed-again-at" not in response.headers
        if reason != "store_unavailable":
            assert "retry-after" not in response.headers
    else:
        assert dt.datetime.fromisoformat(body["allowed_again_at"]) == again
        assert dt.datetime.fromisoformat(response.headers["minorguard-allowed-again-at"]) == again
        assert response.headers["retry-after"] == str(retry_after(again, now))
    assert int(response.headers["content-length"]) == len(response.content)
    return body


# -- raw ASGI calls -------------------------------------------------------------------------------


@dataclass
class Sent:
    messages: list[Message] = field(default_factory=list)

    async def __call__(self, message: Message) -> None:
        self.messages.append(message)

    @property
    def status(self) -> int | None:
        for message in self.messages:
            if message["type"] == "http.response.start":
                return int(message["status"])
        return None


def http_scope(
    method: str, path: str, headers: dict[str, str] | None = None, query: bytes = b""
) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 50000),
        "server": ("mg.test", 80),
    }


def scripted_receive(messages: list[Message], then: Callable[[], Any] | None = None) -> Receive:
    """Gives `messages` in order, then waits on `then()` (an awaitable factory) forever or until it
    returns a message."""
    queue = list(messages)

    async def receive() -> Message:
        if queue:
            return queue.pop(0)
        if then is not None:
            return await then()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    return receive
