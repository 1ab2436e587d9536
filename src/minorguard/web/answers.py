"""Answers: problem+json denies (RFC 9457) and the Minorguard-* headers of allowed answers.

A deny carries `reason` (closed enum), `rule`, `legal_basis` and `allowed_again_at`, plus `Retry-After`
where there is such a time. Behind nginx only the status and headers survive, so the reason and time
are headers too.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from minorguard.types import Activity, Decision, Reason
from minorguard.web.messages import AGAIN, RULE_DETAILS_ZH, TITLES, pick_language

PROBLEM_TYPE = "urn:minorguard:reason:"
CONTENT_LANGUAGE = ("zh-CN", "en")
IDENTITY_REASONS = (Reason.IDENTITY_MISSING, Reason.IDENTITY_INVALID)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


def status_of(reason: Reason) -> int:
    if reason in IDENTITY_REASONS:
        return 401
    if reason is Reason.STORE_UNAVAILABLE:
        return 503
    if reason is Reason.DUPLICATE_REQUEST:
        return 409
    return 403


def deny_answer(
    decision: Decision,
    accept_language: str | None,
    *,
    now: float,
    default_language: int = 0,
    status: int | None = None,
) -> Answer:
    language = pick_language(accept_language, default_language)
    title = TITLES[decision.reason][language]
    detail = RULE_DETAILS_ZH.get(decision.rule or "", title) if language == 0 else (decision.detail or title)
    again = decision.allowed_again_at
    if again is not None:
        detail = f"{detail}; {AGAIN[language].format(at=again.isoformat())}"
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + decision.reason.value,
        "title": title,
        "status": status or status_of(decision.reason),
        "detail": detail,
        "reason": decision.reason.value,
        "rule": decision.rule,
        "legal_basis": decision.legal_basis,
        "allowed_again_at": None if again is None else again.isoformat(),
    }
    return problem(body, language, deny_headers(decision, now))


def deny_headers(decision: Decision, now: float) -> list[tuple[bytes, bytes]]:
    headers = [(b"minorguard-reason", decision.reason.value.encode())]
    if decision.rule:
        headers.append((b"minorguard-rule", decision.rule.encode()))
    if decision.warnings:  # e.g. calendar_provisional: a refusal on a day judged without official data
        headers.append((b"minorguard-warning", ", ".join(w.code.value for w in decision.warnings).encode()))
    retry = retry_after(decision.allowed_again_at, now)
    if decision.allowed_again_at is not None:
        headers.append((b"minorguard-allowed-again-at", decision.allowed_again_at.isoformat().encode()))
    if retry is not None:
        headers.append((b"retry-after", str(retry).encode()))
    elif decision.reason is Reason.STORE_UNAVAILABLE:
        headers.append((b"retry-after", b"5"))
    return headers


def retry_after(again: dt.datetime | None, now: float) -> int | None:
    if again is None:
        return None
    return max(math.ceil(again.timestamp() - now), 1)


def problem(body: dict[str, Any], language: int, extra: Sequence[tuple[bytes, bytes]] = ()) -> Answer:
    """A problem+json answer (RFC 9457) in `language` (0 zh-CN, 1 en)."""
    data = json.dumps(body, ensure_ascii=False).encode()
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(data)).encode()),
        (b"content-language", CONTENT_LANGUAGE[language].encode()),
        (b"vary", b"Accept-Language"),
        *extra,
    ]
    if body.get("status") == 401 and all(name != b"www-authenticate" for name, _ in extra):
        headers.append((b"www-authenticate", b'Bearer realm="minorguard"'))
    return Answer(int(body["status"]), headers, data)


def bad_request(
    status: int,
    title: tuple[str, str],
    detail: str,
    accept_language: str | None,
    default_language: int = 0,
    **fields: Any,
) -> Answer:
    language = pick_language(accept_language, default_language)
    body = {"type": "about:blank", "title": title[language], "status": status, "detail": detail, **fields}
    return problem(body, language)


def allow_headers(decision: Decision) -> list[tuple[bytes, bytes]]:
    headers = []
    if decision.remaining_seconds is not None:
        headers.append((b"minorguard-remaining-seconds", str(decision.remaining_seconds).encode()))
    if decision.remaining_budget_fen is not None:
        headers.append((b"minorguard-remaining-budget-fen", str(decision.remaining_budget_fen).encode()))
    if decision.warnings:
        headers.append((b"minorguard-warning", ", ".join(w.code.value for w in decision.warnings).encode()))
    return headers


def json_answer(status: int, body: Any, headers: Sequence[tuple[bytes, bytes]] = ()) -> Answer:
    data = json.dumps(body, ensure_ascii=False).encode()
    return Answer(
        status,
        [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()), *headers],
        data,
    )


def problem_answer(
    status: int, title: str, detail: str, *, headers: Sequence[tuple[bytes, bytes]] = (), **fields: Any
) -> Answer:
    """An English problem+json answer of the sidecar's own endpoints (a 404, a 401, a 503)."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **fields}
    return problem(body, 1, headers)


def decision_json(
    decision: Decision | None, activity: Activity | None, reservation: str | None
) -> dict[str, Any]:
    """A decision as the decision API answers it (None: the request is not enforced)."""
    if decision is None:
        return {"outcome": "allow", "reason": "not_enforced", "enforced": False}
    again = decision.allowed_again_at
    return {
        "outcome": decision.outcome.value,
        "reason": decision.reason.value,
        "enforced": True,
        "activity": None if activity is None else activity.value,
        "band": decision.band.value,
        "rule": decision.rule,
        "legal_basis": decision.legal_basis,
        "detail": decision.detail,
        "allowed_again_at": None if again is None else again.isoformat(),
        "remaining_seconds": decision.remaining_seconds,
        "remaining_budget_fen": decision.remaining_budget_fen,
        "warnings": [w.code.value for w in decision.warnings],
        "report_only": [{"reason": f.reason.value, "rule": f.rule} for f in decision.report_only],
        "reservation_id": reservation,
        "replayed": decision.replayed,
        "failed_open": decision.failed_open,
    }


def upstream_headers(
    decision: Decision | None, reservation: str | None, amount: int | None = None
) -> list[tuple[bytes, bytes]]:
    """x-minorguard-* headers for the upstream request of an allowed one (Envoy
    allowed_upstream_headers, nginx auth_request_set, Traefik authResponseHeaders); `amount` is the
    fen a purchase or tip was judged for, which the backend must charge and nothing else."""
    if decision is None:
        return [(b"x-minorguard-decision", b"not-enforced")]
    headers = [(b"x-minorguard-decision", b"allow"), (b"x-minorguard-band", decision.band.value.encode())]
    headers += [(b"x-" + name, value) for name, value in allow_headers(decision)]
    if reservation is not None:
        headers.append((b"x-minorguard-reservation-id", reservation.encode()))
    if amount is not None:
        headers.append((b"x-minorguard-amount-fen", str(amount).encode()))
    if decision.failed_open:
        headers.append((b"x-minorguard-failed-open", b"1"))
    return headers
