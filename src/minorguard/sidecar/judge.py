"""One request judged for any front door: route, identity, facts, engine; counted and logged.

The proxies forward the original request's method, path and headers (and Envoy the body, when asked);
the decision API passes them as JSON. Whatever the door, the same Guard decides.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from minorguard import decisionlog
from minorguard.adapters.identity import parse_bearer
from minorguard.middleware.body import json_object
from minorguard.middleware.facts import BadFact, request_facts
from minorguard.middleware.routes import Route
from minorguard.middleware.verifier import identify
from minorguard.types import Activity, Decision, Facts, Subject
from minorguard.wiring import Guard

if TYPE_CHECKING:
    from minorguard.sidecar.reporting import Reporter

RESERVATION_SEPARATOR = "."


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a front door needs to answer: the decision (None: the request is not enforced), or a bad
    request (missing or malformed facts) with its message and the field it names."""

    decision: Decision | None
    activity: Activity | None = None
    user_key: str | None = None
    bad_request: str | None = None
    field: str | None = None

    @property
    def reservation(self) -> str | None:
        """The reservation id handed out: the user's store key and the store's id, so an upstream can
        commit or release without the user's token."""
        if self.decision is None or self.decision.reservation_id is None or self.user_key is None:
            return None
        return f"{self.user_key}{RESERVATION_SEPARATOR}{self.decision.reservation_id}"


@dataclass(frozen=True, slots=True)
class Known:
    """A door's head start: when it began (policy reload checked), the cached subject of the token
    (None: not cached) and the facts of a route that reads nothing from the request (None: read them)."""

    started: float
    subject: Subject | None
    facts: Facts | None


async def judge(
    guard: Guard,
    *,
    route: Route | None,
    params: dict[str, str],
    headers: dict[str, str],
    query: bytes,
    body: bytes | None,
    token: str | None,
    idempotency_key: str | None,
    front_door: str,
    reporter: Reporter | None = None,
    known: Known | None = None,
) -> Verdict:
    """`known` carries what a door has already worked out on its hot path (it then skips that work)."""
    if route is None:
        return Verdict(None)
    if known is None:
        started = time.perf_counter()
        guard.reloader.maybe_reload(guard.engine)
        cached, plain = None, None
    else:
        started, cached, plain = known.started, known.subject, known.facts
    subject = cached if cached is not None else await identify(guard.verifier, token, guard.metrics)
    if isinstance(subject, Decision):
        decisionlog.record(guard.metrics, guard.engine, None, route.activity, subject, started, front_door)
        return Verdict(subject, route.activity)
    try:
        facts = plain if plain is not None else _facts(route, params, headers, query, body)
    except BadFact as exc:
        return Verdict(
            None, route.activity, bad_request=str(exc), field=route.amount.name if route.amount else None
        )
    engine = guard.engine
    result = engine.evaluate(subject, facts)
    if not isinstance(result, Decision):
        result = await engine.settle(subject, facts, result, idempotency_key)
    user_key = engine.user_key(subject.subject_id)
    decisionlog.record(guard.metrics, engine, subject.subject_id, facts.activity, result, started, front_door)
    if reporter is not None:
        await reporter.saw(subject, facts.activity, result)
    return Verdict(result, facts.activity, user_key)


def bearer(headers: dict[str, str]) -> str | None:
    return parse_bearer(headers.get("authorization"))


def _facts(
    route: Route, params: dict[str, str], headers: dict[str, str], query: bytes, body: bytes | None
) -> Facts:
    needs_body = route.needs_body
    parsed: dict[str, Any] | None = None
    if needs_body:
        if body is None:
            raise BadFact("the proxy does not forward the body: take the amount from a header or the query")
        parsed = json_object(body)
        if parsed is None:
            raise BadFact("the body is not a JSON object")
    return request_facts(route, params, headers, query, parsed)
