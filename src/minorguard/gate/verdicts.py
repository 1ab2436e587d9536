"""What the gate answers, shaped for the door that asked. A door's quirks are data (`Door`), not code
paths: one `Style` per contract a door must speak.

- APP (the middleware): an allow runs the app, whose answer carries the Minorguard-* headers; a deny
  is problem+json with the statuses of `status_of` (401, 403, 409, 503).
- API (`/v1/decisions`): every decision is a 200 JSON document; the caller acts on it.
- VERBATIM (Envoy ext_authz HTTP and gRPC, Traefik ForwardAuth): 200 allows and its x-minorguard-*
  headers go upstream; any other status, with its body and headers, reaches the client. Never a 5xx:
  Envoy counts one as an error and Traefik turns it into its own 500, so a store outage is a 403.
- NGINX (auth_request): only 2xx, 401 and 403 are understood and the body is dropped, so the reason
  and times travel as headers (auth_request_set), and a bad request is a 403 naming the problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple

from minorguard.types import Activity, Decision, Outcome, Reason
from minorguard.web.answers import (
    IDENTITY_REASONS,
    Answer,
    allow_headers,
    bad_request,
    decision_json,
    deny_answer,
    deny_headers,
    json_answer,
    upstream_headers,
)


class Style(Enum):
    APP = "app"
    API = "api"
    VERBATIM = "verbatim"
    NGINX = "nginx"


@dataclass(frozen=True, slots=True)
class Door:
    """A front door: its name (the `front_door` of metrics and the decision log), the contract it
    speaks, and whether the path it hands over is percent-decoded already (an ASGI scope's path)."""

    name: str
    style: Style
    decoded: bool = False


MIDDLEWARE = Door("middleware", Style.APP, decoded=True)
API = Door("api", Style.API)
ENVOY = Door("envoy", Style.VERBATIM)
ENVOY_DECODED = Door("envoy", Style.VERBATIM, decoded=True)  # behind a server that gives no raw_path
ENVOY_GRPC = Door("envoy_grpc", Style.VERBATIM)
TRAEFIK = Door("traefik", Style.VERBATIM)
NGINX = Door("nginx", Style.NGINX)


class Verdict(NamedTuple):
    """The gate's answer to a door: what to send (`answer`), whether the request goes on to the
    backend (`forward`; then `answer.headers` are the headers to add, or the 200 of a proxy door), and
    the decision behind it (None: not enforced, or a bad request)."""

    answer: Answer
    forward: bool
    decision: Decision | None = None
    activity: Activity | None = None
    reservation: str | None = None  # "<user key>.<store id>": commit or release it by this id


_LENGTH_0 = (b"content-length", b"0")


def not_enforced(style: Style) -> Verdict:
    if style is Style.API:
        return Verdict(json_answer(200, decision_json(None, None, None)), False)
    if style is Style.APP:
        return Verdict(Answer(200, [], b""), True)
    return Verdict(Answer(200, [*upstream_headers(None, None), _LENGTH_0], b""), True)


def decided(
    style: Style,
    decision: Decision,
    activity: Activity,
    reservation: str | None,
    accept_language: str | None,
    *,
    now: float,
    default_language: int,
    amount: int | None = None,
) -> Verdict:
    """`amount`: the fen an allowed purchase or tip was judged for; proxies hand it upstream
    (x-minorguard-amount-fen) so the backend charges exactly that."""
    if style is Style.API:
        return Verdict(
            json_answer(200, decision_json(decision, activity, reservation)), False, decision, activity
        )
    decision = refuse_replay(decision, activity)  # these doors run the backend: never one purchase twice
    if decision.allowed:
        if style is Style.APP:
            answer = Answer(200, allow_headers(decision), b"")
        else:
            answer = Answer(200, [*upstream_headers(decision, reservation, amount), _LENGTH_0], b"")
        return Verdict(answer, True, decision, activity, reservation)
    if style is Style.NGINX:
        status = 401 if decision.reason in IDENTITY_REASONS else 403  # nginx understands no other
        extra = [(b"www-authenticate", b'Bearer realm="minorguard"')] if status == 401 else []
        answer = Answer(status, [*deny_headers(decision, now), *extra, _LENGTH_0], b"")
        return Verdict(answer, False, decision, activity, reservation)
    verbatim_outage = style is Style.VERBATIM and decision.reason is Reason.STORE_UNAVAILABLE
    answer = deny_answer(
        decision,
        accept_language,
        now=now,
        default_language=default_language,
        status=403 if verbatim_outage else None,
    )
    return Verdict(answer, False, decision, activity, reservation)


def refused(
    style: Style,
    status: int,
    title: tuple[str, str],
    detail: str,
    accept_language: str | None,
    *,
    default_language: int,
    field: str | None = None,
) -> Verdict:
    """A request that cannot be judged (a bad path, amount or body): a 4xx problem naming what is
    wrong, or for nginx a 403 with the problem in headers."""
    if style is Style.NGINX:
        headers = [(b"minorguard-reason", b"invalid_request"), (b"minorguard-detail", _ascii(detail))]
        return Verdict(Answer(403, [*headers, _LENGTH_0], b""), False)
    fields = {} if field is None else {"field": field}
    answer = bad_request(status, title, detail, accept_language, default_language, **fields)
    return Verdict(answer, False)


def refuse_replay(decision: Decision, activity: Activity) -> Decision:
    """A door that runs the backend must not run one purchase twice: an allowed replay of an
    Idempotency-Key whose purchase went ahead or is in flight becomes a duplicate_request deny. (The
    decision API answers the replay itself: its client settles the same reservation.)"""
    if not decision.replayed or decision.outcome is not Outcome.ALLOW or not activity.spends:
        return decision
    return decision._replace(
        outcome=Outcome.DENY,
        reason=Reason.DUPLICATE_REQUEST,
        rule="idempotency",
        detail="this Idempotency-Key was used for a purchase that went ahead or is in flight",
    )


def _ascii(text: str) -> bytes:
    return text.encode("ascii", "replace")[:200]
