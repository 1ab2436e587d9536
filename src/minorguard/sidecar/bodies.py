"""The JSON of a decision (the decision API) and the headers an allowed request carries upstream."""

from __future__ import annotations

from typing import Any

from minorguard.middleware.answers import allow_headers
from minorguard.sidecar.judge import Verdict


def decision_json(verdict: Verdict) -> dict[str, Any]:
    decision = verdict.decision
    if decision is None:  # the route is not enforced
        return {"outcome": "allow", "reason": "not_enforced", "enforced": False}
    again = decision.allowed_again_at
    return {
        "outcome": decision.outcome.value,
        "reason": decision.reason.value,
        "enforced": True,
        "activity": None if verdict.activity is None else verdict.activity.value,
        "band": decision.band.value,
        "rule": decision.rule,
        "legal_basis": decision.legal_basis,
        "detail": decision.detail,
        "allowed_again_at": None if again is None else again.isoformat(),
        "remaining_seconds": decision.remaining_seconds,
        "remaining_budget_fen": decision.remaining_budget_fen,
        "warnings": [w.code.value for w in decision.warnings],
        "report_only": [{"reason": f.reason.value, "rule": f.rule} for f in decision.report_only],
        "reservation_id": verdict.reservation,
        "replayed": decision.replayed,
        "failed_open": decision.failed_open,
    }


def upstream_headers(verdict: Verdict) -> list[tuple[bytes, bytes]]:
    """x-minorguard-* headers for the upstream request (Envoy allowed_upstream_headers, nginx
    auth_request_set, Traefik authResponseHeaders)."""
    decision = verdict.decision
    if decision is None:
        return [(b"x-minorguard-decision", b"not-enforced")]
    headers = [(b"x-minorguard-decision", b"allow"), (b"x-minorguard-band", decision.band.value.encode())]
    headers += [(b"x-" + name, value) for name, value in allow_headers(decision)]
    if verdict.reservation is not None:
        headers.append((b"x-minorguard-reservation-id", verdict.reservation.encode()))
    if decision.failed_open:
        headers.append((b"x-minorguard-failed-open", b"1"))
    return headers
