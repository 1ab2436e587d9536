"""POST /v1/identity/verify and GET /v1/identity/{ai}: real-name verification through NPPA.

The name and ID number are used for the one NPPA call and go nowhere else (not into the answer, logs,
metrics or exceptions): only the ai, the status, pi and the birth date decoded from pi come back. An ID
number whose GB 11643 check character is wrong is refused before NPPA is called.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from minorguard.adapters.nppa.codes import NppaError
from minorguard.adapters.nppa.crypto import SecretKey
from minorguard.adapters.nppa.verify import error_response, query_identity, verify_identity
from minorguard.deployment import LoadedDeployment, NppaSettings
from minorguard.sidecar.http import Request, json_answer, problem_answer, send_answer

if TYPE_CHECKING:
    from minorguard.adapters.nppa.client import NppaClient


def nppa_client(deployment: LoadedDeployment) -> NppaClient | None:
    """The NPPA client of a deployment, or None when none is configured. Nothing connects yet."""
    settings: NppaSettings | None = deployment.settings.nppa
    if settings is None:
        return None
    from minorguard.adapters.nppa.client import NppaClient  # noqa: PLC0415  (httpx only when configured)
    from minorguard.adapters.nppa.models import Endpoints  # noqa: PLC0415

    endpoints = Endpoints.choose(settings.base_url, settings.test_code)
    secret = SecretKey(settings.secret_key.read(deployment.base).decode())
    return NppaClient(endpoints, app_id=settings.app_id, biz_id=settings.biz_id, secret_key=secret)


async def verify(request: Request) -> None:
    client = request.app.nppa
    if client is None:
        await send_answer(
            request.send, problem_answer(404, "Not configured", "this sidecar has no `nppa:` section")
        )
        return
    raw = await request.app.body(request)
    if raw is None:
        return
    try:
        body = json.loads(raw)
        name, id_num, ai = body["name"], body["id_num"], body["ai"]
        if not all(isinstance(v, str) for v in (name, id_num, ai)):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        await send_answer(
            request.send,
            problem_answer(400, "Invalid request", 'send {"name": "...", "id_num": "...", "ai": "..."}'),
        )
        return
    wait = request.app.guard.deployment.settings.nppa.wait_seconds  # type: ignore[union-attr]
    try:
        answer = await verify_identity(client, name, id_num, ai, wait=wait)
    except (ValueError, NppaError) as exc:
        await _problem(request, exc)
        return
    await send_answer(request.send, json_answer(200, answer))


async def query(request: Request) -> None:
    client = request.app.nppa
    if client is None:
        await send_answer(
            request.send, problem_answer(404, "Not configured", "this sidecar has no `nppa:` section")
        )
        return
    ai = request.path.removeprefix("/v1/identity/")
    try:
        answer = await query_identity(client, ai)
    except (ValueError, NppaError) as exc:
        await _problem(request, exc)
        return
    await send_answer(request.send, json_answer(200, answer))


async def _problem(request: Request, exc: Exception) -> None:
    status, body = error_response(exc)
    headers = [(b"retry-after", str(int(body["retry_after"])).encode())] if "retry_after" in body else []
    title = {400: "Invalid identity data", 502: "NPPA refused the call", 503: "NPPA unavailable"}[status]
    await send_answer(
        request.send,
        problem_answer(
            status,
            title,
            body.get("detail", body["error"]),
            headers=headers,
            **{k: v for k, v in body.items() if k != "detail"},
        ),
    )
