"""`minorguard demo`: a small game and live-streaming backend with the middleware mounted, on the
in-memory store and the demo signing key, so every rule can be seen acting with curl.

`--start-at` starts the demo's clock at an instant (it then runs on), so a curfew can be shown at any
time of day. Never use the demo key in production: anyone can mint tokens with it.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from minorguard.adapters.identity import issue_token
from minorguard.deployment import load_deployment
from minorguard.engine import Clock
from minorguard.middleware import MinorGuardMiddleware
from minorguard.sidecar.credentials import Credentials
from minorguard.sidecar.guardianapi import GuardianApi
from minorguard.types import Decision

DEMO_SECRET = b"minorguard-demo-signing-key-not-for-production"
# the demo config's service credentials (presets/examples/demo-deployment.yaml), public like its key
DEMO_BACKEND_TOKEN = "demo-backend-token-not-for-production"
DEMO_SUPPORT_TOKEN = "demo-support-token-not-for-production-0123456789"
DEMO_ISSUER = DEMO_AUDIENCE = "minorguard-demo"


def demo_config() -> Path:
    return Path(str(resources.files("minorguard") / "presets" / "examples" / "demo-deployment.yaml"))


def sidecar_demo_config() -> Path:
    """The demo's config with the amounts in the X-Amount-Fen header: proxies forward no body."""
    return Path(str(resources.files("minorguard") / "presets" / "examples" / "sidecar-demo-deployment.yaml"))


def demo_token(
    subject: str,
    birthdate: dt.date | None,
    *,
    verified: bool = True,
    consent: tuple[str, ...] = (),
    expires_in: int = 7 * 86400,
    now: float | None = None,
    guardian_of: tuple[str, ...] = (),
) -> str:
    return issue_token(
        secret_or_private_key=DEMO_SECRET,
        algorithm="HS256",
        subject=subject,
        birthdate=birthdate,
        verified=verified,
        guardian_consent=consent,
        issuer=DEMO_ISSUER,
        audience=DEMO_AUDIENCE,
        expires_in=expires_in,
        now=now,
        extra={"guardian_of": list(guardian_of)} if guardian_of else None,
    )


@dataclass(frozen=True, slots=True)
class Persona:
    name: str
    subject: str
    birthdate: dt.date | None
    verified: bool = True
    consent: tuple[str, ...] = ()
    guardian_of: tuple[str, ...] = ()


def personas(today: dt.date) -> list[Persona]:
    def born(years: int) -> dt.date:
        return today.replace(year=today.year - years) - dt.timedelta(days=30)

    return [
        Persona("adult", "demo-adult", born(30)),
        Persona("15-year-old", "demo-teen-15", born(15)),
        Persona(
            "17-year-old with guardian consent", "demo-teen-17", born(17), consent=("livestream_publisher",)
        ),
        Persona("7-year-old", "demo-child-7", born(7)),
        Persona("unverified", "demo-unverified", None, verified=False),
        Persona("guardian of the 15-year-old", "demo-guardian", born(42), guardian_of=("demo-teen-15",)),
    ]


def _decision(request: Request) -> dict[str, object]:
    decision: Decision | None = request.scope.get("state", {}).get("minorguard")
    if decision is None:
        return {}
    return {
        "band": decision.band.value,
        "remaining_seconds": decision.remaining_seconds,
        "remaining_budget_fen": decision.remaining_budget_fen,
        "warnings": [w.code.value for w in decision.warnings],
    }


async def ping(request: Request) -> JSONResponse:
    return JSONResponse({"game": "pong", "minorguard": _decision(request)})


async def purchase(request: Request) -> JSONResponse:
    body = await request.json()
    if body.get("fail"):  # lets the demo show a released reservation
        return JSONResponse({"error": "payment provider declined"}, status_code=502)
    return JSONResponse(
        {"purchased_fen": body["amount_fen"], "minorguard": _decision(request)}, status_code=201
    )


async def publisher(request: Request) -> JSONResponse:
    return JSONResponse({"publisher": "registered"}, status_code=201)


async def tip(request: Request) -> JSONResponse:
    body = await request.json()
    room = request.path_params["room"]
    return JSONResponse(
        {"room": room, "tipped_fen": body["amount_fen"], "minorguard": _decision(request)}, status_code=201
    )


async def game_ws(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({"game": "connected"})
    await websocket.close()


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def build_demo_app(
    *, clock: Clock = time.time, registry: CollectorRegistry | None = None, config: Path | None = None
) -> MinorGuardMiddleware:
    registry = registry if registry is not None else CollectorRegistry()
    config = config or demo_config()
    guardian = _Late()

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app = Starlette(
        routes=[
            Route("/game/ping", ping),
            Route("/shop/purchases", purchase, methods=["POST"]),
            Route("/live/publishers", publisher, methods=["POST"]),
            Route("/live/rooms/{room}/tips", tip, methods=["POST"]),
            WebSocketRoute("/game/ws", game_ws),
            Route("/healthz", healthz),
            Route("/metrics", metrics),
            Route(GUARDIAN_ROUTE, guardian, methods=["GET", "PUT", "DELETE"]),
        ]
    )
    middleware = MinorGuardMiddleware.from_config(app, config, registry=registry, clock=clock)
    credentials = Credentials(load_deployment(config).credentials())
    guardian.app = GuardianApi.of(middleware.gate, credentials)
    return middleware


GUARDIAN_ROUTE = "/v1/guardian/children/{subject:path}/settings"


class _Late:
    """The guardian endpoint inside the app: it needs the gate the middleware around the app builds."""

    app: GuardianApi | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.app is None:
            raise RuntimeError("the guardian endpoint is not wired to a gate yet")
        await self.app(scope, receive, send)


def print_tour(base_url: str, now: float, *, sidecar: bool = False) -> None:
    today = dt.datetime.fromtimestamp(now, dt.timezone(dt.timedelta(hours=8))).date()
    what = "sidecar" if sidecar else "demo"
    print(f"minorguard {what} on {base_url} (policy: demo = nppa-2021 + live-streaming rules)")
    print(f"demo clock: {dt.datetime.fromtimestamp(now, dt.timezone(dt.timedelta(hours=8))).isoformat()}\n")
    for persona in personas(today):
        # minted on the real clock: the verifier checks exp against real time, whatever the demo clock says
        token = demo_token(
            persona.subject,
            persona.birthdate,
            verified=persona.verified,
            consent=persona.consent,
            guardian_of=persona.guardian_of,
        )
        born = persona.birthdate.isoformat() if persona.birthdate else "unknown"
        variable = "TOKEN_" + persona.subject.upper().replace("-", "_")
        print(f"# {persona.name} (born {born})\nexport {variable}={token}\n")
    lines = _sidecar_lines(base_url) if sidecar else _demo_lines(base_url)
    for title, command in lines:
        print(f"# {title}\n{command}\n")
    print(
        "Try --start-at 2026-11-20T20:50:00+08:00 (a Friday evening) to see play allowed, the 15-minute "
        "warning and the window closing at 21:00."
    )


_AUTH = 'curl -s -H "Authorization: Bearer $TOKEN_{}" '


def _demo_lines(base_url: str) -> list[tuple[str, str]]:
    auth = _AUTH
    return [
        (
            "a 15-year-old plays (allowed only Fri/Sat/Sun/holidays 20:00-21:00)",
            auth.format("DEMO_TEEN_15") + f"{base_url}/game/ping",
        ),
        ("an adult plays at any time", auth.format("DEMO_ADULT") + f"{base_url}/game/ping"),
        (
            "a 15-year-old tops up ¥50.01: over the single cap",
            auth.format("DEMO_TEEN_15") + f"-X POST {base_url}/shop/purchases -d '{{\"amount_fen\": 5001}}'",
        ),
        (
            "a 7-year-old may not pay at all",
            auth.format("DEMO_CHILD_7") + f"-X POST {base_url}/shop/purchases -d '{{\"amount_fen\": 100}}'",
        ),
        (
            "a 17-year-old may not tip",
            auth.format("DEMO_TEEN_17")
            + f"-X POST {base_url}/live/rooms/7/tips -d '{{\"amount_fen\": 100}}'",
        ),
        (
            "a 17-year-old with guardian consent registers as a publisher",
            auth.format("DEMO_TEEN_17") + f"-X POST {base_url}/live/publishers",
        ),
        ("a 15-year-old may not", auth.format("DEMO_TEEN_15") + f"-X POST {base_url}/live/publishers"),
        ("no token: 401", f"curl -s {base_url}/game/ping"),
        (
            "answers in English",
            auth.format("DEMO_UNVERIFIED") + f"-H 'Accept-Language: en' {base_url}/game/ping",
        ),
        *guardian_lines(base_url),
        ("metrics", f"curl -s {base_url}/metrics | grep ^minorguard_decisions"),
    ]


def guardian_lines(base_url: str, *, amount_header: bool = False) -> list[tuple[str, str]]:
    """The guardian persona sets a stricter limit, the 15-year-old meets it, a loosening beyond the
    policy's bounds is refused, and the settings are cleared."""
    settings = f"{base_url}/v1/guardian/children/demo-teen-15/settings"
    guardian = 'curl -s -H "Authorization: Bearer $TOKEN_DEMO_GUARDIAN" '
    if amount_header:
        purchase = (
            _AUTH.format("DEMO_TEEN_15")
            + f"-i -X POST -H 'X-Amount-Fen: 2000' {base_url}/v1/authz/envoy/shop/purchases"
        )
    else:
        purchase = (
            _AUTH.format("DEMO_TEEN_15") + f"-X POST {base_url}/shop/purchases -d '{{\"amount_fen\": 2000}}'"
        )
    return [
        (
            "the 15-year-old's guardian (their own token names the child in guardian_of) lowers the cap of "
            "one top-up to ¥10",
            guardian + f'-X PUT {settings} -d \'{{"purchase_caps": {{"single": 1000}}}}\'',
        ),
        ('the next ¥20 top-up is refused: guardian_limit, "your guardian set ..."', purchase),
        (
            "a guardian may not loosen past the policy: 600 minutes a day is refused (422, field and bound)",
            guardian + f'-X PUT {settings} -d \'{{"daily_play_minutes": {{"default": 600}}}}\'',
        ),
        (
            "the guardian clears the settings: the policy's limits apply again",
            guardian + f"-X DELETE {settings}",
        ),
    ]


def _sidecar_lines(base_url: str) -> list[tuple[str, str]]:
    auth = _AUTH
    return [
        (
            "the decision API: may a 15-year-old top up ¥50.01?",
            f'curl -s {base_url}/v1/decisions -d \'{{"token": "\'$TOKEN_DEMO_TEEN_15\'", '
            f'"activity": "purchase", "amount_fen": 5001}}\'',
        ),
        (
            "the decision API, classified by the routes: the original method and path",
            f'curl -s {base_url}/v1/decisions -d \'{{"token": "\'$TOKEN_DEMO_TEEN_15\'", '
            f'"method": "GET", "path": "/game/ping"}}\'',
        ),
        (
            "nginx auth_request: only the status and Minorguard-* headers matter",
            auth.format("DEMO_TEEN_15") + f"-i -H 'X-Original-URI: /game/ping' -H 'X-Original-Method: GET' "
            f"{base_url}/v1/authz/nginx",
        ),
        (
            "Traefik ForwardAuth: a deny's body reaches the client",
            auth.format("DEMO_TEEN_15")
            + f"-i -H 'X-Forwarded-Method: POST' -H 'X-Forwarded-Uri: /live/publishers' "
            f"{base_url}/v1/authz/traefik",
        ),
        (
            "Envoy ext_authz (HTTP service): the original path after the prefix",
            auth.format("DEMO_ADULT") + f"-i {base_url}/v1/authz/envoy/game/ping",
        ),
        (
            "proxies forward no body: a purchase's amount comes in X-Amount-Fen (¥50.01, over the cap)",
            auth.format("DEMO_TEEN_15")
            + f"-i -X POST -H 'X-Amount-Fen: 5001' {base_url}/v1/authz/envoy/shop/purchases",
        ),
        (
            "a 15-year-old's ¥20 top-up reserves its amount; the backend then commits it with its own "
            "service credential (anonymous commits and refunds are refused)",
            f'RESERVATION_ID=$(curl -s {base_url}/v1/decisions -d \'{{"token": "\'$TOKEN_DEMO_TEEN_15\'", '
            f'"activity": "purchase", "amount_fen": 2000}}\' '
            f'| sed -E \'s/.*"reservation_id": "([^"]+)".*/\\1/\')\n'
            f'curl -s -X POST -H "Authorization: Bearer {DEMO_BACKEND_TOKEN}" '
            f"{base_url}/v1/reservations/$RESERVATION_ID/commit",
        ),
        *guardian_lines(base_url, amount_header=True),
        ("the policy in force", f"curl -s {base_url}/v1/policy | head -c 300"),
        ("metrics", f"curl -s {base_url}/metrics | grep ^minorguard_decisions"),
    ]
