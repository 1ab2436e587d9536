"""Reading request headers as ASGI gives them: a list of (lower-case name, value) byte pairs."""

from __future__ import annotations


def header(raw: list[tuple[bytes, bytes]], wanted: bytes) -> bytes | None:
    """The first value of a header, as Starlette's request.headers gives it to the app (and most
    upstreams read a repeated header), undecoded."""
    for name, value in raw:
        if name == wanted:
            return value
    return None


def text_header(raw: list[tuple[bytes, bytes]], wanted: str) -> str | None:
    value = header(raw, wanted.encode("latin-1"))
    return None if value is None else value.decode("latin-1")


def declared_length(raw: list[tuple[bytes, bytes]]) -> int | None:
    value = header(raw, b"content-length")
    return int(value) if value is not None and value.isdigit() and len(value) < 16 else None
