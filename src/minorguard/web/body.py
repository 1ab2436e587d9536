"""Reading a request body at most once, bounded, and replaying it to the app intact."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import Message, Receive


class BodyTooLarge(Exception):
    pass


class AsgiBody:
    """The body of an ASGI request, read on demand (only routes that take a fact from the body read
    it). After `read`, `receive` replays it to the app intact."""

    __slots__ = ("receive",)

    def __init__(self, receive: Receive) -> None:
        self.receive = receive

    async def read(self, limit: int, declared: int | None) -> bytes:
        body, self.receive = await read_body(self.receive, limit, declared)
        return body


async def read_body(receive: Receive, limit: int, declared: int | None) -> tuple[bytes, Receive]:
    """The whole body (raising BodyTooLarge past `limit`), and a receive that replays it first."""
    if declared is not None and declared > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect: the client went away
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        more = message.get("more_body", False)
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


MAX_JSON_DEPTH = 32  # a request body nests an object or two; deeper is refused before parsing


def json_object(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, or None when it is not one (or nests deeper than MAX_JSON_DEPTH:
    Python's parser would recurse until RecursionError)."""
    if not body or too_deep(body, MAX_JSON_DEPTH):
        return None
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def too_deep(text: bytes, limit: int) -> bool:
    """Whether JSON text opens more than `limit` arrays or objects at once. Bodies with few brackets
    (every real one) are answered by two C-speed counts; only the rest are scanned."""
    if text.count(b"[") + text.count(b"{") <= limit:
        return False
    depth, in_string, escaped = 0, False, False
    for byte in text:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False
