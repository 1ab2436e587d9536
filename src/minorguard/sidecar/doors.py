"""The front doors of the sidecar: the JSON decision API and the three proxies' contracts.

- Envoy ext_authz (HTTP service): any path under the prefix is the original path; 200 allows and its
  x-minorguard-* headers go upstream (allowed_upstream_headers); any other status, with its body and
  headers, goes to the client. A 5xx counts as an error in Envoy, so a store outage denies with 403.
- nginx auth_request: only 2xx, 401 and 403 are understood (anything else becomes a 500), and the body
  is dropped: the reason and times travel as headers for auth_request_set.
- Traefik ForwardAuth: 2xx forwards the request; any other answer reaches the client verbatim.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

from minorguard.engine import ADULT_ALLOWED
from minorguard.errors import StoreError
from minorguard.middleware.answers import (
    IDENTITY_REASONS,
    Answer,
    deny_answer,
    deny_headers,
    refuse_replay,
    status_of,
)
from minorguard.middleware.hotpath import cached_adult
from minorguard.middleware.routes import Route, Source, Where
from minorguard.sidecar.bodies import decision_json, upstream_headers
from minorguard.sidecar.http import Request, json_answer, problem_answer, send_answer
from minorguard.sidecar.inputs import parse_decision_request
from minorguard.sidecar.judge import RESERVATION_SEPARATOR, Known, Verdict, bearer, judge
from minorguard.types import Activity, Reason


async def decisions(request: Request) -> None:
    raw = await request.app.body(request)
    if raw is None:
        return
    parsed = parse_decision_request(raw)
    if isinstance(parsed, list):
        await send_answer(
            request.send, problem_answer(400, "Invalid decision request", "see errors", errors=parsed)
        )
        return
    guard = request.app.guard
    headers = {k.lower(): v for k, v in parsed.headers.items()}
    token = parsed.token if parsed.token is not None else bearer(headers)
    if parsed.activity is not None:
        route: Route | None = Route(frozenset(), "/", parsed.activity, game_rating=parsed.game_rating)
        params: dict[str, str] = {}
        query = b""
        body = None
    else:
        split = urlsplit(parsed.path or "/")
        match = guard.routes.judged(parsed.method or "GET", split.path)  # exempt paths too, as every door
        route, params = (match.route, match.params) if match else (None, {})
        query = split.query.encode()
        body = None if parsed.body is None else _json_bytes(parsed.body)
    if parsed.activity is not None and route is not None:
        verdict = await _judge_direct(
            request, route, parsed.amount_fen, parsed.game_id, token, parsed.idempotency_key
        )
    else:
        verdict = await judge(
            guard,
            route=route,
            params=params,
            headers=headers,
            query=query,
            body=body,
            token=token,
            idempotency_key=parsed.idempotency_key,
            front_door="api",
            reporter=request.app.reporter,
        )
    if verdict.bad_request is not None:
        await send_answer(
            request.send,
            problem_answer(400, "Invalid decision request", verdict.bad_request, field=verdict.field),
        )
        return
    await send_answer(request.send, json_answer(200, decision_json(verdict)))


async def _judge_direct(
    request: Request,
    route: Route,
    amount: int | None,
    game_id: str | None,
    token: str | None,
    idempotency_key: str | None,
) -> Verdict:
    """An activity given outright: the amount and game id come from the JSON, not from a route."""
    headers = {}
    if amount is not None:
        headers["x-minorguard-amount"] = str(amount)
    if game_id is not None:
        headers["x-minorguard-game"] = game_id
    synthetic = Route(
        route.methods,
        route.pattern,
        route.activity,
        Source(Where.HEADER, "x-minorguard-amount") if amount is not None else None,
        Source(Where.HEADER, "x-minorguard-game") if game_id is not None else None,
        route.game_rating,
    )
    return await judge(
        request.app.guard,
        route=synthetic,
        params={},
        headers=headers,
        query=b"",
        body=None,
        token=token,
        idempotency_key=idempotency_key,
        front_door="api",
        reporter=request.app.reporter,
    )


async def envoy(request: Request) -> None:
    app = request.app
    original = request.path[len(app.envoy_prefix) :] or "/"
    body = None
    if request.headers.get("content-length", "0") not in ("", "0"):
        body = await app.body(request)
        if body is None:
            return
    verdict = await _proxy_judge(request, request.method, original, request.query, body, "envoy")
    await _answer_verbatim(request, verdict)


async def traefik(request: Request) -> None:
    headers = request.headers
    split = urlsplit(headers.get("x-forwarded-uri", "/"))
    method = headers.get("x-forwarded-method", request.method).upper()
    verdict = await _proxy_judge(request, method, split.path or "/", split.query.encode(), None, "traefik")
    await _answer_verbatim(request, verdict)


async def nginx(request: Request) -> None:
    """The hottest door: read the three headers it needs from the raw list, answer a not-enforced
    route and a cached adult's game or purchase without building anything, and judge the rest."""
    app = request.app
    uri, method, auth = _nginx_fields(request.scope["headers"], app.nginx_uri_header, app.nginx_method_header)
    if not uri or not method:
        # a subrequest that does not say what it judges must not pass: it would match no route
        sidecar = app.guard.deployment.settings.sidecar
        detail = (
            f"send {sidecar.original_uri_header} and {sidecar.original_method_header} (see docs/nginx.md)"
        )
        await send_answer(request.send, _nginx_invalid(detail, length=True))
        return
    path, query = _split_uri(uri.decode("latin-1"))
    guard = app.guard
    match = guard.routes.judged(method.decode("latin-1").upper(), path)
    if match is None:
        await send_answer(request.send, _NOT_ENFORCED)
        return
    engine = guard.engine
    if time.monotonic() >= guard.reloader.due:
        guard.reloader.maybe_reload(engine)
    facts = match.plain
    # NPPA behaviour reporting sees every game decision, adults' too: no short cut with a reporter
    plain = facts if app.reporter is None else None
    if guard.passes.let_through(auth, plain, engine, guard.metrics):
        await send_answer(request.send, _ADULT_ALLOWED)
        return
    started = time.perf_counter()
    subject, adult = cached_adult(
        guard.passes, guard.verifier, engine, guard.metrics, auth, plain, started, "nginx"
    )
    if adult:
        await send_answer(request.send, _ADULT_ALLOWED)
        return
    if subject is not None and facts is not None and not facts.activity.spends:
        headers, token = _NO_HEADERS, None  # nothing left to read from the request
    else:
        headers = request.headers
        token = bearer(headers)
    verdict = await judge(
        guard,
        route=match.route,
        params=match.params,
        headers=headers,
        query=query.encode(),
        body=None,
        token=token,
        idempotency_key=headers.get("idempotency-key"),
        front_door="nginx",
        reporter=app.reporter,
        known=Known(started, subject, facts),
    )
    if verdict.bad_request is not None:
        await send_answer(request.send, _nginx_invalid(verdict.bad_request, length=False))
        return
    decision = verdict.decision
    if decision is not None and verdict.activity is not None:
        decision = refuse_replay(decision, verdict.activity)  # the backend must not run one purchase twice
    if decision is None or decision.allowed:
        await send_answer(
            request.send, Answer(200, [*upstream_headers(verdict), (b"content-length", b"0")], b"")
        )
        return
    status = 401 if decision.reason in IDENTITY_REASONS else 403  # nginx understands no other
    now = engine.clock()
    extra = [(b"www-authenticate", b'Bearer realm="minorguard"')] if status == 401 else []
    await send_answer(
        request.send, Answer(status, [*deny_headers(decision, now), *extra, (b"content-length", b"0")], b"")
    )


def _nginx_fields(
    raw: list[tuple[bytes, bytes]], uri_name: bytes, method_name: bytes
) -> tuple[bytes | None, bytes | None, bytes | None]:
    """The original URI (ingress-nginx sends X-Original-URL, a whole URL, instead), the original method
    and the Authorization header, in one pass over the raw headers; of repeated ones the first, as
    `Request.headers` reads them."""
    uri = url = method = auth = None
    for name, value in raw:
        if name == uri_name:
            uri = value if uri is None else uri
        elif name == method_name:
            method = value if method is None else method
        elif name == b"authorization":
            auth = value if auth is None else auth
        elif name == b"x-original-url":
            url = value if url is None else url
    return uri or url, method, auth


def _split_uri(uri: str) -> tuple[str, str]:
    """Path and query of a request URI (`/a?b`) or of a whole URL."""
    if uri.startswith("/") and "#" not in uri:
        path, _, query = uri.partition("?")
        return path, query
    split = urlsplit(uri)
    return split.path or "/", split.query


def _nginx_invalid(detail: str, *, length: bool) -> Answer:
    headers = [(b"minorguard-reason", b"invalid_request"), (b"minorguard-detail", _ascii(detail))]
    return Answer(403, [*headers, (b"content-length", b"0")] if length else headers, b"")


_NO_HEADERS: dict[str, str] = {}
_NOT_ENFORCED = Answer(200, [*upstream_headers(Verdict(None)), (b"content-length", b"0")], b"")
_ADULT_ALLOWED = Answer(
    200, [*upstream_headers(Verdict(ADULT_ALLOWED, Activity.GAME)), (b"content-length", b"0")], b""
)


async def reservation(request: Request) -> None:
    parts = request.path.split("/")  # "", "v1", "reservations", id, action
    if len(parts) != 5 or parts[4] not in ("commit", "release", "refund"):
        await send_answer(
            request.send, problem_answer(404, "Not found", "use /v1/reservations/{id}/commit|release|refund")
        )
        return
    user_key, _, store_id = parts[3].partition(RESERVATION_SEPARATOR)
    if not user_key or not store_id:
        await send_answer(
            request.send,
            problem_answer(400, "Invalid reservation id", "use the reservation_id a decision answered"),
        )
        return
    try:
        result = await request.app.guard.engine.settle_key(parts[4], user_key, store_id)
    except StoreError as exc:
        await send_answer(
            request.send, problem_answer(503, "Store unavailable", str(exc), headers=[(b"retry-after", b"1")])
        )
        return
    request.app.guard.metrics.settlements.labels(parts[4], result.status.value).inc()
    state = result.status.value
    fields: dict[str, Any] = {
        "reservation_id": parts[3],
        "reservation_status": state,
        "changed": result.changed,
        "amount_fen": result.amount,
    }
    if state in ("unknown", "conflict"):
        status, title = (404, "Unknown reservation") if state == "unknown" else (409, "Reservation conflict")
        detail = (
            "never made, or expired before it was settled"
            if state == "unknown"
            else f"cannot {parts[4]} a reservation in its present state"
        )
        await send_answer(request.send, problem_answer(status, title, detail, **fields))
        return
    del fields["reservation_status"]
    await send_answer(request.send, json_answer(200, {**fields, "status": state}))


async def _proxy_judge(
    request: Request, method: str, path: str, query: bytes, body: bytes | None, door: str
) -> Verdict:
    guard = request.app.guard
    match = guard.routes.judged(method, path)
    return await judge(
        guard,
        route=match.route if match else None,
        params=match.params if match else {},
        headers=request.headers,
        query=query,
        body=body,
        token=bearer(request.headers),
        idempotency_key=request.headers.get("idempotency-key"),
        front_door=door,
        reporter=request.app.reporter,
    )


async def _answer_verbatim(request: Request, verdict: Verdict) -> None:
    """Envoy and Traefik: a deny's status, problem+json body and headers reach the client as they are."""
    decision = verdict.decision
    if decision is not None and verdict.activity is not None:
        decision = refuse_replay(decision, verdict.activity)  # the backend must not run one purchase twice
    if verdict.bad_request is not None:
        await send_answer(
            request.send, problem_answer(400, "Invalid request", verdict.bad_request, field=verdict.field)
        )
        return
    if decision is None or decision.allowed:
        await send_answer(
            request.send, Answer(200, [*upstream_headers(verdict), (b"content-length", b"0")], b"")
        )
        return
    # the middleware's statuses, but never a 5xx: proxies take that for an outage
    status = 403 if decision.reason is Reason.STORE_UNAVAILABLE else status_of(decision.reason)
    answer = deny_answer(
        decision, request.headers.get("accept-language"), now=request.app.guard.engine.clock(), status=status
    )
    await send_answer(request.send, answer)


def _json_bytes(value: object) -> bytes:
    return json.dumps(value).encode()


def _ascii(text: str) -> bytes:
    return text.encode("ascii", "replace")[:200]
