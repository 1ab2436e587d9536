"""POST /v1/decisions: the decision API, a thin door around the gate.

The caller states either the activity outright (with its amount and game) or the original request's
method, path, headers and JSON body, which the routes classify as a proxy door's would be. Every
decision is a 200 JSON document; a request that cannot be judged is a 400 problem naming the field.
"""

from __future__ import annotations

import json

from minorguard.gate.gate import Gate, Inquiry
from minorguard.gate.verdicts import API
from minorguard.sidecar.http import Request, body_of, send_answer
from minorguard.sidecar.inputs import DecisionRequest, parse_decision_request
from minorguard.types import Facts
from minorguard.web.answers import problem_answer


class DecisionApi:
    def __init__(self, gate: Gate, *, max_body_bytes: int) -> None:
        self.gate = gate
        self.max_body_bytes = max_body_bytes

    async def __call__(self, request: Request) -> None:
        raw = await body_of(request, self.max_body_bytes)
        if raw is None:
            return
        parsed = parse_decision_request(raw)
        if isinstance(parsed, list):
            answer = problem_answer(400, "Invalid decision request", "see errors", errors=parsed)
            await send_answer(request.send, answer)
            return
        verdict = await self.gate.check(API, inquiry_of(parsed))
        await send_answer(request.send, verdict.answer)


def inquiry_of(parsed: DecisionRequest) -> Inquiry:
    headers = [(name.lower().encode(), value.encode()) for name, value in parsed.headers.items()]
    if parsed.token is not None:  # stated outright: it wins over one inside `headers`
        headers.insert(0, (b"authorization", b"Bearer " + parsed.token.encode()))
    if parsed.idempotency_key is not None:
        headers.insert(0, (b"idempotency-key", parsed.idempotency_key.encode()))
    if parsed.activity is not None:
        given = Facts(parsed.activity, parsed.amount_fen, parsed.game_id, parsed.game_rating)
        return Inquiry("POST", "/", headers, given=given)
    body = None if parsed.body is None else json.dumps(parsed.body).encode()
    return Inquiry(parsed.method or "GET", parsed.path or "/", headers, body=body)
