"""Tiny HTTP helpers of the sidecar: the request view a handler gets, sending an answer, and reading a
bounded body."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.types import Receive, Scope, Send

from minorguard.web.answers import Answer, problem_answer
from minorguard.web.body import BodyTooLarge, read_body
from minorguard.web.headers import declared_length


class Request:
    """What a handler gets: the ASGI triple, and the headers decoded only when a handler asks (the
    proxy doors hand the raw list to the gate)."""

    __slots__ = ("_headers", "receive", "scope", "send")

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        self._headers: dict[str, str] | None = None

    @property
    def headers(self) -> dict[str, str]:
        """The request's headers, decoded on first use; of repeated ones the first, as most upstream
        frameworks give it to their app (Starlette, werkzeug, Go's Header.Get) and the gate reads."""
        if self._headers is None:
            headers: dict[str, str] = {}
            for name, value in self.scope["headers"]:
                headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
            self._headers = headers
        return self._headers

    @property
    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        raw: list[tuple[bytes, bytes]] = self.scope["headers"]
        return raw

    @property
    def path(self) -> str:
        path: str = self.scope["path"]
        return path

    @property
    def method(self) -> str:
        method: str = self.scope["method"]
        return method

    @property
    def query(self) -> str:
        query: bytes = self.scope.get("query_string", b"")
        return query.decode("latin-1")


Handler = Callable[[Request], Awaitable[None]]


async def send_answer(send: Send, answer: Answer) -> None:
    await send({"type": "http.response.start", "status": answer.status, "headers": answer.headers})
    await send({"type": "http.response.body", "body": answer.body})


async def body_of(request: Request, limit: int) -> bytes | None:
    """The request body (at most `limit` bytes), or None after answering 413 itself."""
    try:
        raw, _ = await read_body(request.receive, limit, declared_length(request.raw_headers))
    except BodyTooLarge:
        await send_answer(
            request.send,
            problem_answer(413, "Request body too large", f"the body may be at most {limit} bytes"),
        )
        return None
    return raw
