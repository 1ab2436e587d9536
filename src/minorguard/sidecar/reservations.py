"""POST /v1/reservations/{id}/commit|release|refund: settling a reservation a decision handed out,
through the gate (the same call the middleware makes after its app answered). Each takes a service
credential with that permission (refunds one of their own), and each is written to the audit log."""

from __future__ import annotations

from typing import Any

from minorguard.deployment import Permission
from minorguard.errors import StoreError
from minorguard.gate.gate import Gate
from minorguard.sidecar.credentials import Credentials, audit
from minorguard.sidecar.http import Request, send_answer
from minorguard.web.answers import json_answer, problem_answer

ACTIONS = ("commit", "release", "refund")


class Reservations:
    def __init__(self, gate: Gate, credentials: Credentials) -> None:
        self.gate = gate
        self.credentials = credentials

    async def __call__(self, request: Request) -> None:
        parts = request.path.split("/")  # "", "v1", "reservations", id, action
        if len(parts) != 5 or parts[4] not in ACTIONS:
            answer = problem_answer(404, "Not found", "use /v1/reservations/{id}/commit|release|refund")
            await send_answer(request.send, answer)
            return
        reservation, action = parts[3], parts[4]
        caller, refusal = self.credentials.refusal(request.raw_headers, Permission(action))
        if refusal is not None:
            await send_answer(request.send, refusal)
            return
        try:
            result = await self.gate.settle(reservation, action)
        except StoreError as exc:
            audit("reservation", action=action, reservation=reservation, credential=caller, status="error")
            answer = problem_answer(503, "Store unavailable", str(exc), headers=[(b"retry-after", b"1")])
            await send_answer(request.send, answer)
            return
        if result is None:
            answer = problem_answer(
                400, "Invalid reservation id", "use the reservation_id a decision answered"
            )
            await send_answer(request.send, answer)
            return
        if self.gate.metrics is not None:
            self.gate.metrics.settlements.labels(action, result.status.value).inc()
        state = result.status.value
        audit("reservation", action=action, reservation=reservation, credential=caller, status=state)
        fields: dict[str, Any] = {
            "reservation_id": reservation,
            "changed": result.changed,
            "amount_fen": result.amount,
        }
        if state in ("unknown", "conflict"):
            status, title = (
                (404, "Unknown reservation") if state == "unknown" else (409, "Reservation conflict")
            )
            detail = (
                "never made, or expired before it was settled"
                if state == "unknown"
                else f"cannot {action} a reservation in its present state"
            )
            await send_answer(
                request.send, problem_answer(status, title, detail, reservation_status=state, **fields)
            )
            return
        await send_answer(request.send, json_answer(200, {**fields, "status": state}))
