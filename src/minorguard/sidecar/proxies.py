"""The proxies' front doors, each a thin translation around the gate (see `gate.verdicts` for the
contract each speaks):

- Envoy ext_authz (HTTP service): the original path follows the configured prefix, as the client sent
  it; the body comes along when Envoy is set `with_request_body`.
- nginx auth_request: the original URI and method come in the headers the config names
  (X-Original-URI and X-Original-Method by default; ingress-nginx sends X-Original-URL); no body.
- Traefik ForwardAuth: X-Forwarded-Uri and X-Forwarded-Method; no body.
A subrequest that does not say what it judges is refused: it would otherwise match no route and pass.
"""

from __future__ import annotations

from minorguard.deployment import SidecarSettings
from minorguard.gate.gate import Gate, Inquiry
from minorguard.gate.verdicts import ENVOY, ENVOY_DECODED, NGINX, TRAEFIK, Door, Verdict, refused
from minorguard.sidecar.http import Request, send_answer
from minorguard.web import messages
from minorguard.web.answers import Answer
from minorguard.web.body import AsgiBody
from minorguard.web.headers import header, text_header


class ProxyDoors:
    def __init__(self, gate: Gate, settings: SidecarSettings, *, max_body_bytes: int) -> None:
        self.gate = gate
        self.envoy_prefix = settings.envoy_prefix.rstrip("/")
        self.max_body_bytes = max_body_bytes
        self.nginx_uri = settings.original_uri_header.lower().encode("latin-1")
        self.nginx_method = settings.original_method_header.lower().encode("latin-1")
        self._nginx_missing = (
            f"send {settings.original_uri_header} and {settings.original_method_header} (see docs/nginx.md)"
        )

    async def envoy(self, request: Request) -> None:
        raw: bytes | None = request.scope.get("raw_path")
        door: Door = ENVOY
        if raw is None:  # a server that gives only the decoded path
            target, door = request.path, ENVOY_DECODED
        else:
            target = raw.decode("latin-1")
        if not target.startswith(self.envoy_prefix):  # the prefix spelled with escapes: not Envoy's
            await self._missing(request, door, f"send the original path after {self.envoy_prefix}")
            return
        target = target[len(self.envoy_prefix) :] or "/"
        body = None
        if header(request.raw_headers, b"content-length") not in (None, b"", b"0"):
            body = AsgiBody(request.receive)  # read by the gate, only for a route that needs it
        inquiry = Inquiry(request.method, target, request.raw_headers, request.query, body)
        verdict = await self.gate.check(door, inquiry)
        answer = verdict.answer
        names = forged(request.raw_headers, answer.headers) if verdict.forward else []
        if names:  # Envoy removes these from the upstream request (it only replaces the ones we set)
            removed = (b"x-envoy-auth-headers-to-remove", b",".join(names))
            answer = Answer(answer.status, [*answer.headers, removed], answer.body)
        await send_answer(request.send, answer)

    async def nginx(self, request: Request) -> None:
        """The hottest door: its three headers are read in one pass (ingress-nginx sends the whole URL
        as X-Original-URL instead of the URI)."""
        uri = url = method = None
        for name, value in request.raw_headers:
            if name == self.nginx_uri:
                uri = value if uri is None else uri
            elif name == self.nginx_method:
                method = value if method is None else method
            elif name == b"x-original-url":
                url = value if url is None else url
        await self._proxied(request, NGINX, uri or url, method, self._nginx_missing)

    async def traefik(self, request: Request) -> None:
        raw = request.raw_headers
        # with preserveRequestMethod, the auth request itself carries the original method
        method = header(raw, b"x-forwarded-method") or request.method.encode("latin-1")
        await self._proxied(request, TRAEFIK, header(raw, b"x-forwarded-uri"), method, "send X-Forwarded-Uri")

    async def _proxied(
        self, request: Request, door: Door, uri: bytes | None, method: bytes | None, missing: str
    ) -> None:
        if not uri or not method:
            await self._missing(request, door, missing)
            return
        raw, original, target = request.raw_headers, method.decode("latin-1").upper(), uri.decode("latin-1")
        verdict = self.gate.screen(door, original, target, raw)  # an adult's pass answers here
        if not isinstance(verdict, Verdict):
            verdict = await self.gate.complete(door, Inquiry(original, target, raw), verdict)
        await send_answer(request.send, verdict.answer)

    async def _missing(self, request: Request, door: Door, detail: str) -> None:
        language = text_header(request.raw_headers, "accept-language")
        verdict = refused(
            door.style,
            400,
            messages.BAD_REQUEST,
            detail,
            language,
            default_language=self.gate.default_language,
        )
        await send_answer(request.send, verdict.answer)


UPSTREAM_PREFIX = b"x-minorguard-"


def forged(client: list[tuple[bytes, bytes]], ours: list[tuple[bytes, bytes]]) -> list[bytes]:
    """The x-minorguard-* headers a client sent that an allow does not set: a backend must see only
    the sidecar's (a forged x-minorguard-reservation-id could be settled as the client's own)."""
    names = {name for name, _ in ours}
    return sorted({n for n, _ in client if n.startswith(UPSTREAM_PREFIX) and n not in names})
