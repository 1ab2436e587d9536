"""Envoy ext_authz over gRPC (`envoy.service.auth.v3.Authorization/Check`): a thin door around the gate.

In: `CheckRequest.attributes.request.http`, the original request as Envoy saw it: the method, the path
as the client sent it (query included), the headers (a map whose names Envoy lower-cases and whose
repeated values it joins with ","; or `header_map` with raw values when Envoy sets
`encode_raw_headers`), and the body when Envoy is set `with_request_body`.

Out, the HTTP door's contract in gRPC's words:
- an allow is `OK` with the x-minorguard-* headers set on the upstream request, overwriting a client's
  own, and every other x-minorguard-* header the client sent removed (the HTTP door can only add);
- a deny is a `denied_response` with the HTTP door's status, problem+json body and headers, and a
  non-OK status: UNAUTHENTICATED (401), INVALID_ARGUMENT (a request that cannot be judged), else
  PERMISSION_DENIED.
Never an RPC error: Envoy would count it as the sidecar failing and apply `failure_mode_allow`.
"""

from __future__ import annotations

from typing import Any

from envoy.config.core.v3.base_pb2 import HeaderValue, HeaderValueOption
from envoy.service.auth.v3.external_auth_pb2 import CheckResponse, DeniedHttpResponse, OkHttpResponse
from envoy.type.v3.http_status_pb2 import HttpStatus
from google.rpc.status_pb2 import Status
from grpc import StatusCode

from minorguard.gate.gate import Gate, Inquiry
from minorguard.gate.verdicts import ENVOY_GRPC, Verdict, refused
from minorguard.sidecar.proxies import UPSTREAM_PREFIX, forged
from minorguard.web import messages
from minorguard.web.body import BodyTooLarge
from minorguard.web.headers import text_header

MAX_HEADERS = 256  # Envoy forwards at most 100 by default (max_headers_count); more is not Envoy's
_OVERWRITE = HeaderValueOption.HeaderAppendAction.Value("OVERWRITE_IF_EXISTS_OR_ADD")
_NOT_SENT = (b"content-length",)  # Envoy frames the body itself


class EnvoyGrpcDoor:
    """The `Authorization` service: its one method, `Check`."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    async def Check(self, request: Any, context: object) -> Any:  # the proto's name for it
        http = request.attributes.request.http
        headers = headers_of(http)
        verdict = self._refusal(http, headers)
        if verdict is None:
            body = body_of(http)
            query = http.query  # Envoy keeps it in `path`; another client may send it apart
            inquiry = Inquiry(http.method.upper(), http.path, headers, query, body)
            verdict = await self.gate.check(ENVOY_GRPC, inquiry)
        return check_response(verdict, headers)

    def _refusal(self, http: Any, headers: list[tuple[bytes, bytes]]) -> Verdict | None:
        if not http.method or not http.path:
            return self._refused(headers, 400, messages.BAD_REQUEST, "send the original method and path")
        if len(headers) > MAX_HEADERS:
            return self._refused(headers, 400, messages.BAD_REQUEST, f"more than {MAX_HEADERS} headers")
        return None

    def _refused(
        self, headers: list[tuple[bytes, bytes]], status: int, title: tuple[str, str], detail: str
    ) -> Verdict:
        language = text_header(headers, "accept-language")
        return refused(
            ENVOY_GRPC.style, status, title, detail, language, default_language=self.gate.default_language
        )


def headers_of(http: Any) -> list[tuple[bytes, bytes]]:
    """The original request's headers as the gate reads them: names in lower case, raw values."""
    raw = http.header_map.headers
    if raw:  # encode_raw_headers: the map is empty and each value's bytes are in raw_value
        return [(h.key.lower().encode(), h.raw_value or h.value.encode()) for h in raw]
    return [(name.lower().encode(), value.encode()) for name, value in http.headers.items()]


def body_of(http: Any) -> Forwarded | None:
    """The body Envoy forwarded (`raw_body` with pack_as_bytes, else `body`), or None: without
    with_request_body Envoy sends none, and a body route then asks for the amount in a header."""
    if http.raw_body:
        return Forwarded(bytes(http.raw_body))
    if http.body:
        return Forwarded(str(http.body).encode())
    return None


class Forwarded:
    """A body that came with the CheckRequest, read by the gate like a request's (and refused the
    same way past max_body_bytes), only for a route that reads it."""

    __slots__ = ("body",)

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def read(self, limit: int, declared: int | None) -> bytes:
        if len(self.body) > limit:
            raise BodyTooLarge
        return self.body


def check_response(verdict: Verdict, client: list[tuple[bytes, bytes]]) -> Any:
    answer = verdict.answer
    if verdict.forward:
        ours = [(name, value) for name, value in answer.headers if name.startswith(UPSTREAM_PREFIX)]
        ok = OkHttpResponse(
            headers=[_option(name, value) for name, value in ours],
            headers_to_remove=[name.decode() for name in forged(client, ours)],
        )
        return CheckResponse(status=Status(code=StatusCode.OK.value[0]), ok_response=ok)
    denied = DeniedHttpResponse(
        status=HttpStatus(code=answer.status),
        headers=[_option(name, value) for name, value in answer.headers if name not in _NOT_SENT],
        body=answer.body.decode("utf-8", "replace"),
    )
    code = status_code(answer.status)
    message = text_header(answer.headers, "minorguard-reason") or str(answer.status)
    return CheckResponse(status=Status(code=code.value[0], message=message), denied_response=denied)


def status_code(http_status: int) -> StatusCode:
    if http_status == 401:
        return StatusCode.UNAUTHENTICATED
    if http_status in (400, 413):
        return StatusCode.INVALID_ARGUMENT
    return StatusCode.PERMISSION_DENIED


def _option(name: bytes, value: bytes) -> Any:
    header = HeaderValue(key=name.decode("latin-1"), value=value.decode("latin-1"))
    return HeaderValueOption(header=header, append_action=_OVERWRITE)
