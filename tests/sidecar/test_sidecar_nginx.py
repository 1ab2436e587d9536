"""A real nginx (Debian's package) on loopback, running the configuration of docs/nginx.md word for word,
with `auth_request` to the sidecar (uvicorn in a thread, on a clock the test sets) in front of a tiny
backend that echoes the headers it receives. Allowed requests reach the backend with x-minorguard-*
headers; every deny reason reaches the client as status, Minorguard-* headers and a JSON body; with the
sidecar down the snippet fails closed (403 sidecar_unavailable)."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sidecarkit import (
    ADULT,
    AGE_15,
    AGE_17,
    AMOUNT_HEADER,
    FRIDAY_CURFEW,
    FRIDAY_IN_WINDOW,
    MONDAY_AFTERNOON,
    PROBLEM_JSON,
    UNDER_8,
    Clock,
    EchoUpstream,
    Nginx,
    ServerThread,
    asgi_client,
    bearer,
    bj,
    nginx_snippet,
    service,
    sidecar,
    token,
    write_config,
)

from minorguard.sidecar.app import SidecarApp


@dataclass
class Stack:
    clock: Clock
    app: SidecarApp
    sidecar: ServerThread
    upstream: EchoUpstream
    nginx: Nginx
    http: httpx.Client

    def call(
        self, method: str, path: str, headers: dict[str, str] | None = None, **kw: Any
    ) -> httpx.Response:
        return self.http.request(method, self.nginx.url + path, headers=headers or {}, **kw)


@pytest.fixture(scope="module")
def stack(nginx: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("nginx-stack")
    clock = Clock(bj(FRIDAY_IN_WINDOW))
    app = sidecar(write_config(folder / "config"), clock)
    with (
        ServerThread.running(app) as server,
        EchoUpstream.running() as upstream,
        httpx.Client(timeout=10) as http,
    ):
        proxy = Nginx(folder / "nginx", nginx, sidecar_port=server.port, backend_port=upstream.port).start()
        try:
            yield Stack(clock, app, server, upstream, proxy, http)
        finally:
            proxy.stop()
            assert "[emerg]" not in proxy.error_log, proxy.error_log
            assert "[alert]" not in proxy.error_log, proxy.error_log


@pytest.fixture
def at_friday(stack: Stack) -> Stack:
    stack.clock.set(FRIDAY_IN_WINDOW)
    return stack


def test_the_doc_snippet_is_complete_nginx_configuration() -> None:
    """What the doc shows is what runs: auth_request, the headers the sidecar reads, body off."""
    snippet = nginx_snippet()
    for line in (
        "auth_request /_minorguard;",
        "proxy_pass http://minorguard_sidecar/v1/authz/nginx;",
        "proxy_pass_request_body off;",
        'proxy_set_header Content-Length "";',
        "proxy_set_header X-Original-URI $request_uri;",
        "proxy_set_header X-Original-Method $request_method;",
        "error_page 401 403 @minorguard_denied;",
        "error_page 500 =403 @minorguard_unavailable;",
    ):
        assert line in snippet


def test_an_allowed_minor_reaches_the_backend_with_the_decision_headers(at_friday: Stack) -> None:
    """A 15-year-old in the Friday window: the backend gets the request (query included) and the
    sidecar's x-minorguard-* headers; a client's forged x-minorguard header is replaced."""
    stack = at_friday
    headers = {**bearer(token("nginx-teen-allowed", AGE_15)), "X-Minorguard-Band": "adult"}
    response = stack.call("GET", "/game/ping?game=star-fleet", headers)
    assert response.status_code == 200, response.text
    seen = response.json()
    assert seen["path"] == "/game/ping?game=star-fleet"
    assert seen["minorguard"] == {
        "x-minorguard-decision": "allow",
        "x-minorguard-band": "age_8_15",
        "x-minorguard-remaining-seconds": "1800",  # until 21:00
    }


def test_an_adult_and_an_unrouted_path_reach_the_backend(at_friday: Stack) -> None:
    stack = at_friday
    headers = bearer(token("nginx-adult", ADULT))
    guard = stack.app.gate
    # on a route that reads only the token: 1 verified; 2 the verified-token cache, which admits the
    # token to the adults' pass; 3 and 4 the pass
    for path in ("/game/ping", "/game/lobby", "/game/lobby", "/game/lobby", "/game/lobby"):
        adult = stack.call("GET", path, headers)
        assert adult.status_code == 200
        assert adult.json()["minorguard"]["x-minorguard-decision"] == "allow"
        assert adult.json()["minorguard"]["x-minorguard-band"] == "adult"
    lobby = guard.routes.judged("GET", "/game/lobby")
    assert lobby is not None
    assert guard.passes.let_through(headers["Authorization"].encode(), lobby.plain, guard.engine, None)
    unrouted = stack.call("GET", "/news/today", {"X-Minorguard-Decision": "allow"})
    assert unrouted.status_code == 200
    assert unrouted.json()["minorguard"] == {"x-minorguard-decision": "not-enforced"}


def test_a_post_body_still_reaches_the_backend_intact(at_friday: Stack) -> None:
    """proxy_pass_request_body off concerns the subrequest only."""
    body = json.dumps({"item": "gems", "note": "余额"}).encode()
    response = at_friday.call(
        "POST",
        "/shop/purchases",
        {**bearer(token("nginx-body", ADULT)), AMOUNT_HEADER: "300", "content-type": "application/json"},
        content=body,
    )
    assert response.status_code == 200
    assert response.json()["body"] == body.decode()


DENIALS = [
    # (id, clock, method, path, birthdate, token options, extra headers, status, reason, allowed again)
    (
        "curfew",
        FRIDAY_CURFEW,
        "GET",
        "/game/ping",
        AGE_15,
        {},
        {},
        403,
        "curfew",
        "2026-11-21T20:00:00+08:00",
    ),
    (
        "outside-window",
        MONDAY_AFTERNOON,
        "GET",
        "/game/ping",
        AGE_15,
        {},
        {},
        403,
        "outside_play_window",
        "2026-11-27T20:00:00+08:00",
    ),
    (
        "single-cap",
        FRIDAY_IN_WINDOW,
        "POST",
        "/shop/purchases",
        AGE_15,
        {},
        {AMOUNT_HEADER: "5001"},
        403,
        "purchase_single_cap",
        None,
    ),
    (
        "under-8-purchase",
        FRIDAY_IN_WINDOW,
        "POST",
        "/shop/purchases",
        UNDER_8,
        {},
        {AMOUNT_HEADER: "100"},
        403,
        "purchase_not_allowed",
        "2027-06-15T00:00:00+08:00",
    ),
    (
        "tip-by-minor",
        FRIDAY_IN_WINDOW,
        "POST",
        "/live/rooms/7/tips",
        AGE_17,
        {},
        {AMOUNT_HEADER: "100"},
        403,
        "tip_minor",
        "2027-03-10T00:00:00+08:00",
    ),
    (
        "publisher-under-16",
        FRIDAY_IN_WINDOW,
        "POST",
        "/live/publishers",
        AGE_15,
        {},
        {},
        403,
        "publisher_under_min_age",
        "2027-05-01T00:00:00+08:00",
    ),
    (
        "publisher-without-consent",
        FRIDAY_IN_WINDOW,
        "POST",
        "/live/publishers",
        AGE_17,
        {},
        {},
        403,
        "publisher_guardian_consent_required",
        "2027-03-10T00:00:00+08:00",
    ),
    (
        "game-rating",
        FRIDAY_IN_WINDOW,
        "GET",
        "/game/ping?game=star-fleet",
        UNDER_8,
        {},
        {},
        403,
        "game_rating",
        "2031-06-15T20:00:00+08:00",
    ),
    (
        "unverified",
        FRIDAY_IN_WINDOW,
        "GET",
        "/game/ping",
        None,
        {"verified": False},
        {},
        403,
        "identity_unverified",
        None,
    ),
]


@pytest.mark.parametrize(
    ("when", "method", "path", "born", "options", "extra", "status", "reason", "again"),
    [pytest.param(*d[1:], id=d[0]) for d in DENIALS],
)
def test_each_deny_reason_reaches_the_client_through_nginx(
    stack: Stack,
    when: str,
    method: str,
    path: str,
    born: dt.date | None,
    options: dict[str, Any],
    extra: dict[str, str],
    status: int,
    reason: str,
    again: str | None,
) -> None:
    """Status, Minorguard-Reason/-Rule/-Allowed-Again-At, Retry-After and the JSON body of the named
    location reach the client; the backend never sees the request."""
    stack.clock.set(when)
    before = len(stack.upstream.seen)
    subject = f"nginx-deny-{reason}"
    response = stack.call(method, path, {**bearer(token(subject, born, **options)), **extra})
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["minorguard-reason"] == reason
    assert response.headers.get("minorguard-rule")
    body = response.json()
    assert body["status"] == status
    assert body["reason"] == reason
    assert body["type"] == f"urn:minorguard:reason:{reason}"
    if again is None:
        assert "minorguard-allowed-again-at" not in response.headers
        assert "retry-after" not in response.headers
    else:
        assert response.headers["minorguard-allowed-again-at"] == again
        assert body["allowed_again_at"] == again
        expected = math.ceil(dt.datetime.fromisoformat(again).timestamp() - stack.clock.now)
        assert response.headers["retry-after"] == str(expected)
    assert len(stack.upstream.seen) == before, "a denied request never reaches the backend"


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        (None, "identity_missing"),
        ("Bearer not-a-jwt", "identity_invalid"),
        ("Basic dXNlcjpwYXNz", "identity_missing"),
    ],
    ids=["missing", "invalid", "not-bearer"],
)
def test_no_or_a_bad_token_is_401_through_nginx(
    at_friday: Stack, authorization: str | None, reason: str
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    before = len(at_friday.upstream.seen)
    response = at_friday.call("GET", "/game/ping", headers)
    assert response.status_code == 401
    assert response.headers["minorguard-reason"] == reason
    assert response.json() == {
        "type": f"urn:minorguard:reason:{reason}",
        "title": "refused by minorguard",
        "status": 401,
        "reason": reason,
        "rule": "identity",
        "allowed_again_at": "",
    }
    assert len(at_friday.upstream.seen) == before


def test_a_401_through_nginx_carries_www_authenticate(at_friday: Stack) -> None:
    """RFC 9110 §15.5.2: a 401 MUST carry WWW-Authenticate. nginx's auth_request copies the
    subrequest's WWW-Authenticate to the client, so the sidecar's nginx door must send one (its
    Envoy and Traefik doors do)."""
    response = at_friday.call("GET", "/game/ping")
    assert response.status_code == 401
    assert response.headers.get("www-authenticate", "").startswith("Bearer")


def test_a_purchase_reserves_and_the_backend_settles_by_the_reservation_id(at_friday: Stack) -> None:
    """The backend gets X-Minorguard-Reservation-Id and commits it at the sidecar; the monthly cap then
    counts it, and a purchase over what is left is denied through nginx."""
    stack = at_friday
    subject = "nginx-monthly"
    headers = bearer(token(subject, AGE_15))
    for n in range(4):
        bought = stack.call("POST", "/shop/purchases", {**headers, AMOUNT_HEADER: "5000"})
        assert bought.status_code == 200, bought.text
        seen = bought.json()["minorguard"]
        assert seen["x-minorguard-remaining-budget-fen"] == str(20000 - 5000 * (n + 1))
        reservation = seen["x-minorguard-reservation-id"]
        committed = httpx.post(
            f"{stack.sidecar.url}/v1/reservations/{reservation}/commit", headers=service("commit"), timeout=5
        )
        assert committed.status_code == 200
        assert committed.json()["status"] == "committed"
    over = stack.call("POST", "/shop/purchases", {**headers, AMOUNT_HEADER: "1"})
    assert over.status_code == 403
    assert over.headers["minorguard-reason"] == "purchase_monthly_cap"
    assert over.headers["minorguard-allowed-again-at"] == "2026-12-01T00:00:00+08:00"


def test_a_body_amount_route_is_an_invalid_request_behind_nginx(at_friday: Stack) -> None:
    """nginx does not forward the body: a route reading its amount from it answers 403 invalid_request
    with the detail as a header, not a 500."""
    response = at_friday.call(
        "POST", "/shop/body-purchases", bearer(token("nginx-body-route", AGE_15)), json={"amount_fen": 100}
    )
    assert response.status_code == 403
    assert response.headers["minorguard-reason"] == "invalid_request"
    assert "header" in response.headers["minorguard-detail"]


def test_a_retried_purchase_with_the_same_idempotency_key_does_not_reach_the_backend_twice(
    at_friday: Stack,
) -> None:
    """The middleware answers a replayed purchase 409 duplicate_request and does not run the app again
    (the money would move twice, counted once). Behind nginx, the same engine must refuse it too (403,
    the only refusal nginx passes on)."""
    stack = at_friday
    headers = {**bearer(token("nginx-idem", AGE_15)), AMOUNT_HEADER: "700", "Idempotency-Key": "order-1"}
    first = stack.call("POST", "/shop/purchases", headers)
    assert first.status_code == 200
    before = len(stack.upstream.seen)
    second = stack.call("POST", "/shop/purchases", headers)
    assert second.status_code == 403, second.text
    assert second.headers["minorguard-reason"] == "duplicate_request"
    assert len(stack.upstream.seen) == before


def test_with_the_sidecar_down_the_snippet_fails_closed_with_403(nginx: str, tmp_path: Path) -> None:
    """nginx turns an unreachable auth server into a 500; the snippet's `error_page 500 =403` makes it
    a 403 sidecar_unavailable with Retry-After, for adults too. The sidecar back, requests pass again."""
    clock = Clock(bj(FRIDAY_IN_WINDOW))
    adult = bearer(token("nginx-down-adult", ADULT))
    with EchoUpstream.running() as upstream, httpx.Client(timeout=10) as http:
        server = ServerThread(sidecar(write_config(tmp_path / "config"), clock)).start()
        proxy = Nginx(tmp_path / "nginx", nginx, sidecar_port=server.port, backend_port=upstream.port).start()
        try:
            assert http.get(proxy.url + "/game/ping", headers=adult).status_code == 200
            server.stop()
            for headers in (adult, bearer(token("nginx-down-teen", AGE_15)), {}):
                down = http.get(proxy.url + "/game/ping", headers=headers)
                assert down.status_code == 403, down.text
                assert down.headers["content-type"] == PROBLEM_JSON
                assert down.headers["minorguard-reason"] == "sidecar_unavailable"
                assert down.headers["retry-after"] == "5"
                assert down.json()["reason"] == "sidecar_unavailable"
                assert down.json()["status"] == 403
            assert len(upstream.seen) == 1, "nothing passed unjudged"
            # an unenforced path is judged by the sidecar too (nginx cannot know): refused while down
            assert http.get(proxy.url + "/news").status_code == 403
            server = ServerThread(sidecar(write_config(tmp_path / "config"), clock), port=server.port).start()
            back = http.get(proxy.url + "/game/ping", headers=adult)
            assert back.status_code == 200
            assert back.json()["minorguard"]["x-minorguard-decision"] == "allow"
        finally:
            proxy.stop()
            if server.thread.is_alive():
                server.stop()
    assert "connect() failed" in proxy.error_log  # nginx saw the sidecar down, as documented


@pytest.mark.parametrize(
    "missing", ["x-original-uri", "x-original-method"], ids=["no-original-uri", "no-original-method"]
)
async def test_a_subrequest_that_does_not_say_which_request_it_judges_is_refused(
    tmp_path: Path, missing: str
) -> None:
    """A configuration that forgets `proxy_set_header X-Original-URI` (ingress-nginx sends
    X-Original-URL instead) or X-Original-Method must not let every request through unjudged: the
    door falls back to GET / (no route: allowed, not enforced), so a 7-year-old's purchase passes."""
    app = sidecar(write_config(tmp_path), Clock(bj(FRIDAY_IN_WINDOW)))
    headers = {
        **bearer(token("nginx-misconfigured", UNDER_8)),
        AMOUNT_HEADER: "100",
        "x-original-uri": "/shop/purchases",
        "x-original-method": "POST",
    }
    del headers[missing]
    try:
        async with asgi_client(app) as http:
            response = await http.get("/v1/authz/nginx", headers=headers)
    finally:
        await app.gate.close()
    assert response.status_code == 403, response.headers
    assert response.headers["minorguard-reason"] in ("invalid_request", "purchase_not_allowed")
