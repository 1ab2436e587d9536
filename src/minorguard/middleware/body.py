"""Reading a request body at most once, bounded, and replaying it to the app intact."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import Message, Receive


class BodyTooLarge(Exception):
    pass


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


def json_object(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, or None when it is not one."""
    try:
        value = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None
