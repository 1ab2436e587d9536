"""The bare hello-world ASGI app the server benchmarks use as their same-run baseline."""

from __future__ import annotations

from typing import Any


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")],
        }
    )
    await send({"type": "http.response.body", "body": b"ok"})


def _starlette_hello() -> Any:
    """The same hello world written with Starlette, the framework most users would write it in: a
    second baseline, printed beside the bare one (the issues' own figures look measured against it)."""
    from starlette.applications import Starlette  # noqa: PLC0415
    from starlette.responses import PlainTextResponse  # noqa: PLC0415
    from starlette.routing import Route  # noqa: PLC0415

    async def hello(request: Any) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/{path:path}", hello, methods=["GET", "POST"])])


starlette_app = _starlette_hello()
