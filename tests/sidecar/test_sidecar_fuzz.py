"""Hostile input at every endpoint of /openapi.json, every proxy door and the middleware (issue 14
item 5): raw ASGI calls with arbitrary bytes in paths, header values and bodies (percent-escapes,
unicode digits, malformed URLs, deep JSON, huge numbers). No answer is a 5xx and no exception leaves
the app; every 4xx from the sidecar's JSON endpoints is problem+json. In-process, so it runs in CI in
seconds; tests/sidecar/test_sidecar_generated.py does the same over real HTTP with schema-built bodies.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sidecarkit import (
    ADULT,
    AGE_15,
    FRIDAY_IN_WINDOW,
    PORTAL_TOKEN,
    Clock,
    bj,
    guardian_token,
    sidecar,
    token,
    write_config,
)

from middleware.mwkit import Backend, backend_app, write_deployment
from minorguard.middleware import MinorGuardMiddleware
from minorguard.sidecar.app import SidecarApp
from minorguard.sidecar.openapi import openapi_document

SETTINGS = settings(
    max_examples=800,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
TOKENS = [token("fuzz-teen", AGE_15), token("fuzz-adult", ADULT)]
NASTY_TEXT = [
    "http://[",
    "//[::1/x",
    "/game/%70ing",
    "/%67ame/ping",
    "/game%2Fping",
    "/game/%zz",
    "/game/ping%00",
    "/game/..%2F..%2Fping",
    "/shop/purchases?amount=%C2%B2",
    "²",
    "\u0663\u0664",
    "1" * 5000,
    "-1",
    "1e309",
    "\x00",
    "\\",
    "%",
    "",
]
TEXT = st.one_of(st.sampled_from(NASTY_TEXT), st.text(max_size=40))
RAW = st.one_of(TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")), st.binary(max_size=40))
DEEP = st.integers(1, 20_000).map(lambda n: b'{"amount_fen":' * n + b"1" + b"}" * n)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=10,
).map(lambda v: json.dumps(v, allow_nan=True).encode())
BODIES = st.one_of(st.just(b""), RAW, DEEP, JSONISH)
HEADER_NAMES = st.sampled_from(
    [
        b"authorization",
        b"x-original-uri",
        b"x-original-method",
        b"x-original-url",
        b"x-forwarded-uri",
        b"x-forwarded-method",
        b"x-amount-fen",
        b"idempotency-key",
        b"accept-language",
        b"content-length",
        b"content-type",
    ]
)
HEADERS = st.lists(st.tuples(HEADER_NAMES, RAW), max_size=8)
AUTH = st.one_of(st.none(), st.sampled_from(TOKENS).map(lambda t: (b"authorization", f"Bearer {t}".encode())))


def endpoints() -> list[tuple[str, str]]:
    """(method, path template) of every operation /openapi.json publishes, the doors' included."""
    found = []
    for path, item in openapi_document("/v1/authz/envoy")["paths"].items():
        methods = [m.upper() for m in item if m in ("get", "post", "put", "delete")] or ["GET", "POST"]
        found += [(method, path) for method in methods]
    return found


ENDPOINTS = endpoints()
PARAM = re.compile(r"\{[^}]+\}")


class Answered:
    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = b""

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")


def scope_of(
    method: str, raw_path: bytes, headers: list[tuple[bytes, bytes]], query: bytes
) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": raw_path.decode("latin-1"),
        "raw_path": raw_path,
        "query_string": query,
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("sidecar.test", 80),
    }


async def call(app: Any, scope: dict[str, Any], body: bytes) -> Answered:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    answered = Answered()
    await asyncio.wait_for(app(scope, receive, answered), timeout=10)
    return answered


def assert_no_5xx(answered: Answered, where: str) -> None:
    assert answered.status is not None, where
    assert answered.status < 500, (where, answered.status, answered.body[:300])
    content_type = dict(answered.headers).get(b"content-type", b"")
    if answered.status >= 400 and content_type.startswith(b"application/"):
        document = json.loads(answered.body)
        if content_type == b"application/problem+json":
            assert document["status"] == answered.status, document


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> SidecarApp:
    return sidecar(write_config(tmp_path_factory.mktemp("fuzz")), Clock(bj(FRIDAY_IN_WINDOW)))


@pytest.fixture(scope="module")
def middleware(tmp_path_factory: pytest.TempPathFactory) -> MinorGuardMiddleware:
    folder = tmp_path_factory.mktemp("fuzz-mw")
    return MinorGuardMiddleware.from_config(
        backend_app(Backend()), write_deployment(folder), clock=Clock(bj(FRIDAY_IN_WINDOW))
    )


@SETTINGS
@given(st.sampled_from(ENDPOINTS), RAW, HEADERS, AUTH, BODIES, RAW)
def test_no_input_at_any_published_endpoint_is_a_5xx(
    app: SidecarApp,
    endpoint: tuple[str, str],
    param: bytes,
    headers: list[tuple[bytes, bytes]],
    auth: tuple[bytes, bytes] | None,
    body: bytes,
    query: bytes,
) -> None:
    method, template = endpoint
    filled = PARAM.sub(lambda _: param.decode("latin-1"), template)
    raw_path = filled.encode("latin-1")
    all_headers = headers if auth is None else [auth, *headers]
    answered = asyncio.run(call(app, scope_of(method, raw_path, all_headers, query), body))
    assert_no_5xx(answered, f"{method} {filled!r}")


@SETTINGS
@given(st.sampled_from(["GET", "POST", "HEAD", "get", "PATCH"]), RAW, HEADERS, AUTH, BODIES, RAW)
def test_no_input_through_the_middleware_is_a_5xx(
    middleware: MinorGuardMiddleware,
    method: str,
    raw_path: bytes,
    headers: list[tuple[bytes, bytes]],
    auth: tuple[bytes, bytes] | None,
    body: bytes,
    query: bytes,
) -> None:
    path = raw_path.decode("latin-1")
    path = path if path.startswith("/") else "/" + path
    for target in (path, "/shop/gems", "/live/rooms/1/tips", "/game/ping"):
        scope = scope_of(
            method, target.encode("latin-1"), headers if auth is None else [auth, *headers], query
        )
        scope["path"] = target
        assert_no_5xx(asyncio.run(call(middleware, scope, body)), f"{method} {target!r}")


URI = st.one_of(
    st.sampled_from(NASTY_TEXT),
    st.sampled_from(["/game/ping", "/shop/purchases", "/live/rooms/1/tips", "/shop/body-purchases"]).flatmap(
        lambda p: st.tuples(st.just(p), TEXT).map(lambda pt: pt[0] + pt[1])
    ),
    st.text(max_size=40),
)
METHOD = st.one_of(st.sampled_from(["GET", "POST", "get", "HEAD"]), TEXT)
AMOUNT = st.one_of(st.sampled_from(NASTY_TEXT), st.integers(-(10**20), 10**20).map(str), TEXT)


@SETTINGS
@given(st.sampled_from(["nginx", "traefik", "envoy"]), URI, METHOD, AMOUNT, AUTH, HEADERS, BODIES)
def test_no_request_a_proxy_door_forwards_is_a_5xx(
    app: SidecarApp,
    door: str,
    uri: str,
    method: str,
    amount: str,
    auth: tuple[bytes, bytes] | None,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
) -> None:
    """The headers each proxy sends are always there, with hostile values (the published-endpoint
    fuzz above rarely puts the right pair together)."""
    raw_uri = uri.encode("utf-8", "surrogatepass")
    sent = [(b"x-amount-fen", amount.encode("utf-8", "surrogatepass")), *headers]
    if auth is not None:
        sent.insert(0, auth)
    raw_method = method.encode("utf-8", "surrogatepass")
    if door == "nginx":
        scope = scope_of(
            "GET",
            b"/v1/authz/nginx",
            [(b"x-original-uri", raw_uri), (b"x-original-method", raw_method), *sent],
            b"",
        )
    elif door == "traefik":
        scope = scope_of(
            "GET",
            b"/v1/authz/traefik",
            [(b"x-forwarded-uri", raw_uri), (b"x-forwarded-method", raw_method), *sent],
            b"",
        )
    else:
        path, _, query = raw_uri.partition(b"?")
        scope = scope_of(
            "POST", b"/v1/authz/envoy" + path, [(b"content-length", str(len(body)).encode()), *sent], query
        )
    answered = asyncio.run(call(app, scope, body))
    assert_no_5xx(answered, f"{door} {uri!r}")
    if door == "nginx":
        assert answered.status in (200, 401, 403), answered.status  # nginx turns any other into a 500


DECISION = st.fixed_dictionaries(
    {},
    optional={
        "token": st.one_of(st.sampled_from(TOKENS), TEXT),
        "activity": st.one_of(st.sampled_from(["game", "purchase", "livestream_tip"]), TEXT),
        "method": METHOD,
        "path": URI,
        "amount_fen": st.one_of(st.integers(-(10**20), 10**20), AMOUNT, st.floats()),
        "game_id": TEXT,
        "game_rating": st.integers(-5, 30),
        "idempotency_key": TEXT,
        "headers": st.dictionaries(
            st.sampled_from(["authorization", "x-amount-fen", "accept-language"]), TEXT
        ),
        "body": st.one_of(
            st.none(), st.dictionaries(TEXT, st.one_of(TEXT, st.integers(), st.none()), max_size=3)
        ),
    },
)


@SETTINGS
@given(DECISION, st.integers(0, 3))
def test_no_decision_request_is_a_5xx(app: SidecarApp, request: dict[str, Any], deep: int) -> None:
    text = json.dumps(request)
    if deep and request.get("body") is not None:  # the original body nested past every bound
        text = text[:-1] + ', "body": ' + '{"a":' * 10**deep + "1" + "}" * 10**deep + "}"
    answered = asyncio.run(call(app, scope_of("POST", b"/v1/decisions", [], b""), text.encode()))
    assert_no_5xx(answered, text[:200])


GUARDIANS = [guardian_token("fuzz-parent", ["fuzz-teen"]), PORTAL_TOKEN]
SETTINGS_BODY = st.fixed_dictionaries(
    {},
    optional={
        "daily_play_minutes": st.dictionaries(
            st.sampled_from(["default", "weekend", "holiday", "sunday"]),
            st.one_of(st.integers(-(10**20), 10**20), st.floats(), TEXT),
            max_size=3,
        ),
        "allowed_hours": st.dictionaries(
            st.sampled_from(["default", "working_day", "x"]),
            st.lists(
                st.dictionaries(st.sampled_from(["start", "end"]), st.one_of(TEXT, st.integers())), max_size=9
            ),
            max_size=2,
        ),
        "purchase_caps": st.dictionaries(
            st.sampled_from(["single", "daily", "monthly", "weekly"]),
            st.one_of(st.integers(-(10**20), 10**20), st.floats(), st.none()),
            max_size=3,
        ),
        "tipping": st.one_of(st.booleans(), TEXT, st.none()),
        "publisher_consent": st.one_of(st.booleans(), st.integers()),
        "exemptions": st.lists(st.one_of(st.just("rest_reminder"), TEXT), max_size=6),
        "age_band": st.one_of(st.sampled_from(["age_8_15", "adult"]), TEXT),
    },
).map(lambda d: json.dumps(d).encode())


@SETTINGS
@given(
    st.sampled_from(["GET", "PUT", "DELETE", "POST"]),
    st.one_of(st.just("fuzz-teen"), TEXT),
    st.sampled_from(GUARDIANS),
    st.one_of(SETTINGS_BODY, BODIES),
)
def test_no_guardian_settings_request_of_an_authorized_caller_is_a_5xx(
    app: SidecarApp, method: str, child: str, auth: str, body: bytes
) -> None:
    """A guardian or a credential that may guardian, with hostile bodies (unknown keys, floats, huge
    numbers, deep JSON, odd subjects): every answer a 2xx or a 4xx problem, never a 5xx."""
    path = f"/v1/guardian/children/{child}/settings".encode("utf-8", "surrogatepass")
    headers = [(b"authorization", f"Bearer {auth}".encode())]
    answered = asyncio.run(call(app, scope_of(method, path, headers, b""), body))
    assert_no_5xx(answered, f"{method} {child!r} {body[:80]!r}")


def test_the_fuzz_reaches_every_door(app: SidecarApp) -> None:
    """The endpoint list is the published one: the three proxy doors and the decision API are in it."""
    paths = {path for _, path in ENDPOINTS}
    assert {"/v1/decisions", "/v1/authz/nginx", "/v1/authz/traefik", "/v1/authz/envoy/{path}"} <= paths
    assert ("PUT", "/v1/guardian/children/{subject}/settings") in ENDPOINTS
