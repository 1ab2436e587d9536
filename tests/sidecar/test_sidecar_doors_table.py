"""One table of cases through every front door, each in front of a real backend that records what
reached it: (a) the ASGI middleware around the backend, (b) real nginx (docs/nginx.md's snippet),
(c) real Envoy with the HTTP ext_authz service and (d) with gRPC ext_authz (docs/envoy.md's
configuration), (e) real Traefik ForwardAuth (docs/traefik.md's). Every door must give the same outcome
(the backend reached or not) and the same reason, whatever the proxy's quirks: nginx speaks only
401/403 and headers, Envoy's gRPC filter takes a CheckResponse, Traefik passes the answer on verbatim.

The proxies start once for the module (about two seconds each); the sidecar runs in a thread of this
process (uvicorn, the gRPC door in its event loop) on a clock the test moves."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from proxykit import Envoy, Process, Traefik
from sidecarkit import (
    ADULT,
    AGE_15,
    AGE_17,
    AMOUNT_HEADER,
    FRIDAY_CURFEW,
    FRIDAY_IN_WINDOW,
    Clock,
    EchoUpstream,
    Nginx,
    ServerThread,
    bearer,
    bj,
    guardian_token,
    settings_url,
    token,
    write_config,
)
from starlette.types import Receive, Scope, Send

from minorguard.deployment import load_deployment
from minorguard.middleware import MinorGuardMiddleware
from minorguard.sidecar.app import SidecarApp
from minorguard.sidecar.credentials import Credentials
from minorguard.sidecar.guardianapi import PREFIX, GuardianApi
from minorguard.sidecar.serve import build_sidecar
from redis_servers import free_port

DOORS = ("middleware", "nginx", "envoy-http", "envoy-grpc", "traefik")
PROXIES = DOORS[1:]


@dataclass(frozen=True)
class Case:
    name: str
    when: str
    method: str
    path: str
    born: dt.date | None  # None: no token at all
    outcome: str  # "allow": the backend got the request; "deny": it did not
    reason: str
    headers: dict[str, str] = field(default_factory=dict)
    twice: bool = False  # send it twice (same Idempotency-Key); the second answer is judged


CASES = [
    Case("adult-game-at-curfew", FRIDAY_CURFEW, "GET", "/game/ping", ADULT, "allow", "allowed"),
    Case("minor-game-in-window", FRIDAY_IN_WINDOW, "GET", "/game/ping", AGE_15, "allow", "allowed"),
    Case("minor-game-at-curfew", FRIDAY_CURFEW, "GET", "/game/ping", AGE_15, "deny", "curfew"),
    Case(
        "purchase-under-the-single-cap",
        FRIDAY_IN_WINDOW,
        "POST",
        "/shop/purchases",
        AGE_15,
        "allow",
        "allowed",
        {AMOUNT_HEADER: "5000"},
    ),
    Case(
        "purchase-over-the-single-cap",
        FRIDAY_IN_WINDOW,
        "POST",
        "/shop/purchases",
        AGE_15,
        "deny",
        "purchase_single_cap",
        {AMOUNT_HEADER: "5001"},
    ),
    Case(
        "duplicate-idempotency-key",
        FRIDAY_IN_WINDOW,
        "POST",
        "/shop/purchases",
        AGE_15,
        "deny",
        "duplicate_request",
        {AMOUNT_HEADER: "300", "Idempotency-Key": "order-7781"},
        twice=True,
    ),
    Case("missing-token", FRIDAY_IN_WINDOW, "GET", "/game/ping", None, "deny", "identity_missing"),
    Case("percent-encoded-path", FRIDAY_CURFEW, "GET", "/%67ame/p%69ng", AGE_15, "deny", "curfew"),
    Case("unrouted-path", FRIDAY_CURFEW, "GET", "/news/today", AGE_15, "allow", "not_enforced"),
]


class Recorder:
    """The backend behind the middleware: records each request that reaches it, with the decision
    the middleware put in the scope."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        decision = scope.get("state", {}).get("minorguard")
        reason = "not_enforced" if decision is None else decision.reason.value
        self.seen.append({"path": scope["path"], "reason": reason})
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


class WithGuardianApi:
    """The middleware door's app: the guardian endpoint mounted beside the recording backend (the
    endpoint needs the gate the middleware builds around it)."""

    def __init__(self, backend: Recorder) -> None:
        self.backend = backend
        self.api: GuardianApi | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.api is not None and scope["type"] == "http" and scope["path"].startswith(PREFIX):
            await self.api(scope, receive, send)
        else:
            await self.backend(scope, receive, send)


@dataclass
class Doors:
    clock: Clock
    config: Path
    sidecar: ServerThread
    grpc_port: int
    upstream: EchoUpstream
    recorder: Recorder
    urls: dict[str, str]
    proxies: dict[str, Process | Nginx]
    http: httpx.Client

    def backend_seen(self, door: str) -> list[dict[str, Any]]:
        return self.recorder.seen if door == "middleware" else self.upstream.seen

    def guardian_api(self, door: str) -> str:
        """Where a guardian sets settings that act at `door`: the app behind the middleware mounts
        the endpoint; behind a proxy it is the sidecar's (their counters are the sidecar's)."""
        return self.urls["middleware"] if door == "middleware" else self.sidecar.url


def sidecar_with_grpc(config: Path, clock: Clock, grpc_port: int) -> SidecarApp:
    return build_sidecar(str(config), clock=clock, grpc=("127.0.0.1", grpc_port))


@pytest.fixture(scope="module")
def doors(nginx: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Doors]:
    folder = tmp_path_factory.mktemp("doors")
    clock = Clock(bj(FRIDAY_IN_WINDOW))
    config = write_config(folder / "config")
    grpc_port = free_port()
    recorder = Recorder()
    mounted = WithGuardianApi(recorder)
    middleware = MinorGuardMiddleware.from_config(mounted, config, clock=clock)
    mounted.api = GuardianApi.of(middleware.gate, Credentials(load_deployment(config).credentials()))
    with (
        ServerThread.running(sidecar_with_grpc(config, clock, grpc_port)) as server,
        ServerThread.running(middleware) as guarded,
        EchoUpstream.running() as upstream,
        httpx.Client(timeout=10) as http,
    ):
        ports = {"sidecar_port": server.port, "backend_port": upstream.port}
        proxies: dict[str, Process | Nginx] = {
            "nginx": Nginx(folder / "nginx", nginx, **ports),
            # Outcomes, not timing: under a loaded CI a decision can pass the guide's 0.25 s and fail
            # closed as sidecar_unavailable (a stopped sidecar is refused at once: tested below).
            "envoy-http": Envoy(
                folder / "envoy-http", grpc_port=grpc_port, http=True, decision_timeout="5s", **ports
            ),
            "envoy-grpc": Envoy(folder / "envoy-grpc", grpc_port=grpc_port, decision_timeout="5s", **ports),
            "traefik": Traefik(folder / "traefik", **ports),
        }
        started: list[Process | Nginx] = []
        try:
            for proxy in proxies.values():
                started.append(proxy.start())
            urls = {"middleware": guarded.url} | {name: p.url for name, p in proxies.items()}
            yield Doors(clock, config, server, grpc_port, upstream, recorder, urls, proxies, http)
        finally:
            for proxy in started:
                proxy.stop()


def judged(doors: Doors, door: str, case: Case) -> tuple[str, str, httpx.Response]:
    """What the client got through `door`: the outcome, the reason and the answer."""
    headers = dict(case.headers)
    if case.born is not None:
        headers |= bearer(token(f"table-{case.name}-{door}", case.born))
    url = doors.urls[door] + case.path
    seen = doors.backend_seen(door)
    for _ in range(2 if case.twice else 1):
        before = len(seen)
        response = doors.http.request(case.method, url, headers=headers)
    if len(seen) > before:
        assert response.status_code == 200, response.text
        arrived = seen[-1]
        if door == "middleware":
            return "allow", arrived["reason"], response
        decision = arrived["minorguard"].get("x-minorguard-decision")
        return "allow", {"allow": "allowed", "not-enforced": "not_enforced"}[decision], response
    return "deny", response.headers.get("minorguard-reason", f"status {response.status_code}"), response


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_door_gives_the_same_outcome_and_reason(doors: Doors, case: Case, door: str) -> None:
    """The case's outcome and reason, through this door in front of a real backend."""
    doors.clock.set(case.when)
    outcome, reason, response = judged(doors, door, case)
    assert (outcome, reason) == (case.outcome, case.reason), response.text
    if outcome == "deny" and door != "nginx":  # nginx passes only 401/403 (docs/nginx.md)
        expected = {"identity_missing": 401, "duplicate_request": 409}.get(reason, 403)
        assert response.status_code == expected
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["reason"] == reason


@pytest.mark.parametrize("door", DOORS)
def test_a_guardians_settings_act_on_the_next_request_through_every_door(doors: Doors, door: str) -> None:
    """Through each door: a ¥20 top-up passes; the guardian lowers the single cap to ¥10 and the next
    one is refused as guardian_limit; a loosening past the policy's bounds is a 422 naming the field
    and the bound; a loosening within them (a 17-year-old's consent to a publisher account) applies
    on the next request."""
    doors.clock.set(FRIDAY_IN_WINDOW)
    purchase = Case(
        "guardian-cap", FRIDAY_IN_WINDOW, "POST", "/shop/purchases", AGE_15, "", "", {AMOUNT_HEADER: "2000"}
    )
    parent = bearer(
        guardian_token(f"parent-{door}", [f"table-guardian-cap-{door}", f"table-guardian-consent-{door}"])
    )
    settings = doors.guardian_api(door) + settings_url(f"table-guardian-cap-{door}")
    assert judged(doors, door, purchase)[:2] == ("allow", "allowed")
    stricter = doors.http.put(settings, headers=parent, json={"purchase_caps": {"single": 1000}})
    assert stricter.status_code == 200, stricter.text
    outcome, reason, response = judged(doors, door, purchase)
    assert (outcome, reason) == ("deny", "guardian_limit"), response.text
    assert response.status_code == 403
    assert response.headers["minorguard-rule"] == "guardian.purchase"
    loosening = doors.http.put(settings, headers=parent, json={"daily_play_minutes": {"default": 600}})
    assert loosening.status_code == 422
    assert loosening.json()["errors"][0] | {"message": ""} == {
        "field": "daily_play_minutes.default",
        "bound": 60,
        "message": "",
    }
    register = Case("guardian-consent", FRIDAY_IN_WINDOW, "POST", "/live/publishers", AGE_17, "", "")
    assert judged(doors, door, register)[:2] == ("deny", "publisher_guardian_consent_required")
    consent = doors.guardian_api(door) + settings_url(f"table-guardian-consent-{door}")
    assert doors.http.put(consent, headers=parent, json={"publisher_consent": True}).status_code == 200
    assert judged(doors, door, register)[:2] == ("allow", "allowed")


@pytest.mark.parametrize("door", ["envoy-grpc", "traefik", "envoy-http", "nginx"])
def test_a_clients_forged_decision_headers_never_reach_the_backend(doors: Doors, door: str) -> None:
    """A client that sends x-minorguard-band: adult on a minor's request: the backend gets the
    sidecar's band, and a forged header the sidecar did not set is removed (Envoy: the sidecar names
    it in headers_to_remove or x-envoy-auth-headers-to-remove; nginx: the snippet sets every name,
    empty when the sidecar sends none; Traefik: authResponseHeadersRegex removes the client's)."""
    doors.clock.set(FRIDAY_IN_WINDOW)
    forged = {"X-Minorguard-Band": "adult", "X-Minorguard-Reservation-Id": "0" * 32 + "." + "1" * 32}
    headers = bearer(token(f"table-forged-{door}", AGE_15)) | forged
    response = doors.http.get(doors.urls[door] + "/game/ping", headers=headers)
    assert response.status_code == 200, response.text
    arrived = doors.upstream.seen[-1]
    bands = [value for name, value in arrived["header_list"] if name == "x-minorguard-band"]
    assert bands == ["age_8_15"], "replaced, not added beside the client's"
    assert "x-minorguard-reservation-id" not in arrived["minorguard"]


@pytest.mark.parametrize("door", ["envoy-grpc", "traefik", "envoy-http", "nginx"])
def test_the_backend_gets_the_amount_that_was_judged(doors: Doors, door: str) -> None:
    """An allowed purchase carries X-Minorguard-Amount-Fen, set by the sidecar (a client's own is
    replaced), so the backend can charge exactly what minorguard judged."""
    doors.clock.set(FRIDAY_IN_WINDOW)
    headers = bearer(token(f"table-amount-{door}", AGE_15)) | {AMOUNT_HEADER: "1200"}
    headers["X-Minorguard-Amount-Fen"] = "1"  # forged: must not reach the backend
    response = doors.http.post(doors.urls[door] + "/shop/purchases", headers=headers)
    assert response.status_code == 200, response.text
    arrived = doors.upstream.seen[-1]
    amounts = [value for name, value in arrived["header_list"] if name == "x-minorguard-amount-fen"]
    assert amounts == ["1200"]


def test_with_the_sidecar_down_every_proxy_fails_closed(doors: Doors) -> None:
    """The sidecar stopped: no request reaches the backend through any proxy, adults' included.
    nginx (its snippet) and Envoy (its local_reply_config) answer 403 sidecar_unavailable; Traefik has
    no such switch and answers 500. The sidecar back, requests pass again. (Last in the module: it
    restarts the module's sidecar.)"""
    doors.clock.set(FRIDAY_IN_WINDOW)
    adult = bearer(token("table-down-adult", ADULT))
    before = len(doors.upstream.seen)
    doors.sidecar.stop()
    try:
        for door in PROXIES:
            down = doors.http.get(doors.urls[door] + "/game/ping", headers=adult)
            if door == "traefik":
                assert down.status_code == 500, down.text
            else:
                assert down.status_code == 403, (door, down.text)
                assert down.headers["minorguard-reason"] == "sidecar_unavailable", door
                assert down.headers["retry-after"] == "5"
                assert down.json()["reason"] == "sidecar_unavailable"
        assert len(doors.upstream.seen) == before, "nothing passed unjudged"
    finally:
        app = sidecar_with_grpc(doors.config, doors.clock, doors.grpc_port)
        doors.sidecar = ServerThread(app, port=doors.sidecar.port).start()
    for door in PROXIES:
        back = doors.http.get(doors.urls[door] + "/game/ping", headers=adult)
        assert back.status_code == 200, (door, back.text)
