"""POST /v1/identity/verify and GET /v1/identity/{ai}: real-name verification through NPPA.

The name and ID number are used for the one NPPA call and go nowhere else (not into the answer, logs,
metrics or exceptions): only the ai, the status, pi and the birth date decoded from pi come back. An ID
number whose GB 11643 check character is wrong is refused before NPPA is called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from minorguard.adapters.nppa.codes import NppaError
from minorguard.adapters.nppa.verify import error_response, query_identity, verify_identity
from minorguard.deployment import Permission
from minorguard.sidecar.credentials import Credentials
from minorguard.sidecar.http import Request, body_of, send_answer
from minorguard.web.answers import json_answer, problem_answer
from minorguard.web.body import json_object

if TYPE_CHECKING:
    from minorguard.adapters.nppa.client import NppaClient

_NOT_CONFIGURED = problem_answer(404, "Not configured", "this sidecar has no `nppa:` section")


class IdentityEndpoints:
    """Both take a service credential that may `identity`: the endpoint spends the operator's NPPA
    quota, and would otherwise tell anyone whether a name and an ID number belong together."""

    def __init__(
        self, client: NppaClient | None, credentials: Credentials, *, wait_seconds: float, max_body_bytes: int
    ) -> None:
        self.client = client
        self.credentials = credentials
        self.wait_seconds = wait_seconds
        self.max_body_bytes = max_body_bytes

    async def _refused(self, request: Request) -> bool:
        if self.client is None:
            await send_answer(request.send, _NOT_CONFIGURED)
            return True
        _, refusal = self.credentials.refusal(request.raw_headers, Permission.IDENTITY)
        if refusal is not None:
            await send_answer(request.send, refusal)
            return True
        return False

    async def verify(self, request: Request) -> None:
        if await self._refused(request) or self.client is None:
            return
        raw = await body_of(request, self.max_body_bytes)
        if raw is None:
            return
        body = json_object(raw) or {}
        name, id_num, ai = body.get("name"), body.get("id_num"), body.get("ai")
        if not (isinstance(name, str) and isinstance(id_num, str) and isinstance(ai, str)):
            hint = 'send {"name": "...", "id_num": "...", "ai": "..."}'
            await send_answer(request.send, problem_answer(400, "Invalid request", hint))
            return
        try:
            verified = await verify_identity(self.client, name, id_num, ai, wait=self.wait_seconds)
        except (ValueError, NppaError) as exc:
            await _problem(request, exc)
            return
        await send_answer(request.send, json_answer(200, verified))

    async def query(self, request: Request) -> None:
        if await self._refused(request) or self.client is None:
            return
        ai = request.path.removeprefix("/v1/identity/")
        try:
            answer = await query_identity(self.client, ai)
        except (ValueError, NppaError) as exc:
            await _problem(request, exc)
            return
        await send_answer(request.send, json_answer(200, answer))


async def _problem(request: Request, exc: Exception) -> None:
    status, body = error_response(exc)
    headers = [(b"retry-after", str(int(body["retry_after"])).encode())] if "retry_after" in body else []
    title = {400: "Invalid identity data", 502: "NPPA refused the call", 503: "NPPA unavailable"}[status]
    detail = body.get("detail", body["error"])
    fields = {k: v for k, v in body.items() if k != "detail"}
    await send_answer(request.send, problem_answer(status, title, detail, headers=headers, **fields))
