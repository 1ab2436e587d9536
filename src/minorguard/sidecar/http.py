"""Tiny HTTP helpers for the sidecar: the request view a handler gets and JSON / problem answers."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.types import Receive, Scope, Send

from minorguard.middleware.answers import Answer

if TYPE_CHECKING:
    from minorguard.sidecar.app import SidecarApp


class Request:
    """What a handler gets: the ASGI triple, and the headers decoded only when a handler asks (the
    authz doors read the few they need from the raw list)."""

    __slots__ = ("_headers", "app", "receive", "scope", "send")

    def __init__(self, app: SidecarApp, scope: Scope, receive: Receive, send: Send) -> None:
        self.app = app
        self.scope = scope
        self.receive = receive
        self.send = send
        self._headers: dict[str, str] | None = None

    @property
    def headers(self) -> dict[str, str]:
        """The request's headers, decoded on first use; of repeated ones the first, as most upstream
        frameworks give it to their app (Starlette, werkzeug, Go's Header.Get) and the middleware reads."""
        if self._headers is None:
            headers: dict[str, str] = {}
            for name, value in self.scope["headers"]:
                headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
            self._headers = headers
        return self._headers

    @property
    def path(self) -> str:
        path: str = self.scope["path"]
        return path

    @property
    def method(self) -> str:
        method: str = self.scope["method"]
        return method

    @property
    def query(self) -> bytes:
        query: bytes = self.scope.get("query_string", b"")
        return query


def json_answer(status: int, body: Any, headers: list[tuple[bytes, bytes]] | None = None) -> Answer:
    data = json.dumps(body, ensure_ascii=False).encode()
    return Answer(
        status,
        [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(data)).encode()),
            *(headers or []),
        ],
        data,
    )


def problem_answer(
    status: int, title: str, detail: str, *, headers: list[tuple[bytes, bytes]] | None = None, **fields: Any
) -> Answer:
    data = json.dumps(
        {"type": "about:blank", "title": title, "status": status, "detail": detail, **fields},
        ensure_ascii=False,
    ).encode()
    return Answer(
        status,
        [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(data)).encode()),
            *(headers or []),
        ],
        data,
    )


async def send_answer(send: Send, answer: Answer) -> None:
    await send({"type": "http.response.start", "status": answer.status, "headers": answer.headers})
    await send({"type": "http.response.body", "body": answer.body})
