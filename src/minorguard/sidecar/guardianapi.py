"""GET | PUT | DELETE /v1/guardian/children/{subject}/settings: a child's guardian settings.

Two ways in, both `Authorization: Bearer <token>`:
- a guardian's own token from the platform's identity provider, verified like every token: the
  guardian must be a verified adult, and the token's `guardian_of` claim (a list of subject ids; the
  claim's name is `identity.claims.guardian_of`) must name the child;
- a service credential that may `guardian` (the platform's backend or support tool).
Every problem is a 4xx problem+json (a store outage a 503); every change is audit-logged and counted
(guardians.py). The sidecar serves it; a middleware app mounts the same endpoint (`GuardianApi` is an
ASGI app too):

    api = GuardianApi.of(middleware.gate, Credentials(deployment.credentials()))
    app.add_route("/v1/guardian/children/{subject:path}/settings", api, methods=["GET", "PUT", "DELETE"])
"""

from __future__ import annotations

from typing import Any, Protocol

from starlette.types import Receive, Scope, Send

from minorguard.deployment import Permission
from minorguard.errors import IdentityError, StoreError
from minorguard.gate.gate import Gate
from minorguard.gate.identify import Verifier, bearer
from minorguard.guardians import Actor, GuardianService, Refused
from minorguard.sidecar.http import Request, body_of, send_answer
from minorguard.types import Activity, Subject
from minorguard.web.answers import Answer, json_answer, problem_answer
from minorguard.web.headers import header

PREFIX = "/v1/guardian/children/"
SUFFIX = "/settings"
MAX_SUBJECT = 256
_REALM = (b"www-authenticate", b'Bearer realm="minorguard-guardian"')


class Holders(Protocol):
    """Service credentials (sidecar/credentials.py): the name and permissions of a bearer token."""

    def holder(self, headers: list[tuple[bytes, bytes]]) -> tuple[str, frozenset[Permission]] | None: ...


class GuardianApi:
    def __init__(
        self, service: GuardianService, verifier: Verifier, credentials: Holders, *, max_body_bytes: int
    ) -> None:
        self.service = service
        self.verifier = verifier
        self.credentials = credentials
        self.max_body_bytes = max_body_bytes

    @classmethod
    def of(cls, gate: Gate, credentials: Holders, *, max_body_bytes: int | None = None) -> GuardianApi:
        """The endpoint of a gate (the middleware's or the sidecar's): its engine, store and verifier."""
        service = GuardianService(gate.engine, metrics=gate.metrics)
        limit = gate.max_body_bytes if max_body_bytes is None else max_body_bytes
        return cls(service, gate.verifier, credentials, max_body_bytes=limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """As an ASGI app (mounted in a middleware user's app)."""
        await self.handle(Request(scope, receive, send))

    async def handle(self, request: Request) -> None:
        child = child_of(request.path, request.scope.get("root_path", ""))
        if child is None:
            detail = f"use {PREFIX}{{subject}}{SUFFIX} with a subject id of 1 to {MAX_SUBJECT} characters"
            await send_answer(request.send, problem_answer(404, "Not found", detail))
            return
        if request.method not in ("GET", "PUT", "DELETE"):
            answer = problem_answer(405, "Method not allowed", "use GET, PUT or DELETE")
            await send_answer(request.send, _with(answer, (b"allow", b"GET, PUT, DELETE")))
            return
        actor = await self._caller(request.raw_headers, child)
        if isinstance(actor, Answer):
            await send_answer(request.send, actor)
            return
        body = b""
        if request.method == "PUT":
            read = await body_of(request, self.max_body_bytes)
            if read is None:
                return  # answered 413
            body = read
        await send_answer(request.send, await self._answer(request.method, child, actor, body))

    async def _answer(self, method: str, child: str, actor: Actor, body: bytes) -> Answer:
        try:
            if method == "GET":
                return json_answer(200, await self.service.show(child))
            if method == "DELETE":
                return json_answer(200, await self.service.clear(child, actor))
            done = await self.service.replace(child, body, actor)
        except StoreError as exc:
            return problem_answer(503, "Store unavailable", str(exc), headers=[(b"retry-after", b"1")])
        if isinstance(done, Refused):
            fields: dict[str, Any] = {"errors": done.errors} if done.errors else {}
            return problem_answer(done.status, done.title, done.detail, **fields)
        return json_answer(200, done)

    async def _caller(self, headers: list[tuple[bytes, bytes]], child: str) -> Actor | Answer:
        """Who asks: a credential that may `guardian`, or a verified adult guardian of `child`."""
        holder = self.credentials.holder(headers)
        if holder is not None:
            name, may = holder
            if Permission.GUARDIAN not in may:
                return problem_answer(403, "Not permitted", f"credential {name!r} may not guardian")
            return Actor("credential", name)
        token = bearer(header(headers, b"authorization"))
        if token is None:
            detail = "send Authorization: Bearer <a guardian's token, or a credential that may guardian>"
            return problem_answer(401, "Guardian or service credential required", detail, headers=[_REALM])
        try:
            guardian = self.verifier.verify_cached(token) or await self.verifier.verify(token)
        except IdentityError as exc:
            return problem_answer(401, "Invalid token", str(exc), headers=[_REALM])
        refusal = self._not_a_guardian(guardian, child)
        if refusal is not None:
            return problem_answer(403, "Not this child's guardian", refusal)
        return Actor("guardian", self.service.engine.user_key(guardian.subject_id))

    def _not_a_guardian(self, guardian: Subject, child: str) -> str | None:
        engine = self.service.engine
        adult_from = engine.adult_since(guardian, Activity.GAME)
        if adult_from is None or engine.clock() < adult_from:
            return "a guardian must be an identity-verified adult"
        if child not in guardian.guardian_of or child == guardian.subject_id:
            return "the token does not name this child among the guardian's children (guardian_of)"
        return None


def child_of(path: str, root_path: str = "") -> str | None:
    """The child's subject id in an endpoint path (under the app's root path), or None."""
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :]
    if not (path.startswith(PREFIX) and path.endswith(SUFFIX)):
        return None
    child = path[len(PREFIX) : -len(SUFFIX)]
    return child if 0 < len(child) <= MAX_SUBJECT else None


def _with(answer: Answer, extra: tuple[bytes, bytes]) -> Answer:
    return Answer(answer.status, [*answer.headers, extra], answer.body)
