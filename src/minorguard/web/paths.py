"""The path a backend routes, from what a door was given.

A proxy door gets the URI as the client sent it (`/game/%70ing?x=1`), while the backend behind it
percent-decodes the path before routing, and some backends also resolve dot segments, merge repeated
slashes or drop `;params` from segments (Java servlets do). A door that matched routes on the raw text
would let `/%67ame/ping` past a rule for `/game/ping`. So every door judges the *spellings* of a path:
the decoded path, and its RFC 3986 §6 normal form (dot segments resolved, slashes merged, `;params`
dropped) when that differs. A request is enforced when any spelling reaches a route.

Refused as `UnsafePath` (a 400), because backends disagree on what they mean: an encoded `/` (`%2F`),
a backslash, a NUL or other control character, an invalid escape, bytes that are not UTF-8 once
decoded, a fragment, a path starting with `//` (a host to URI parsers), a malformed host, and targets
that are neither a path nor an absolute URL.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

MAX_TARGET = 8192  # nginx's default large_client_header_buffers line is 8k

_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
# userinfo@, then a registered name or an IP literal in brackets, then :port (RFC 3986 §3.2)
_AUTHORITY = re.compile(r"(?:[^@/?#\[\]\s]*@)?(?:\[[0-9A-Fa-f:.]+\]|[^@:/?#\[\]\s]*)(?::[0-9]*)?")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_UNSAFE_ESCAPE = re.compile(r"%(?:2[Ff]|5[Cc]|[01][0-9A-Fa-f]|7[Ff])")  # / \ controls DEL
_UNSAFE_CHAR = re.compile(r"[\x00-\x1f\x7f\\]")


class UnsafePath(ValueError):
    """A path that cannot be judged safely; the message says why (it goes into the 400 answer)."""


def split_target(target: str) -> tuple[str, str | None]:
    """The path and the query (None when there is none) of a request target: an origin-form URI
    (`/a/b?q`) or an absolute URL (`http://host/a/b?q`, which a client may send and nginx then passes
    on), whose host must be well-formed."""
    if len(target) > MAX_TARGET:
        raise UnsafePath(f"the request target is longer than {MAX_TARGET} characters")
    if not target.startswith("/"):
        found = _ABSOLUTE.match(target)
        if found is None:
            raise UnsafePath("the request target is neither a path nor an absolute URL")
        rest = target[found.end() :]
        cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
        if _AUTHORITY.fullmatch(rest[:cut]) is None:
            raise UnsafePath("the request target's host is malformed")
        target = rest[cut:]
        if not target.startswith("/"):
            target = "/" + target
    path, mark, query = target.partition("?")
    if path.startswith("//"):
        raise UnsafePath("a path that starts with '//' reads as a host to URI parsers")
    return path, (query if mark else None)


def spellings(path: str, *, decoded: bool) -> tuple[str, ...]:
    """The paths a backend may route for `path`: the decoded path first, then its normal forms when
    they differ. `decoded` says the door's path is percent-decoded already (the middleware's ASGI
    `scope["path"]`, which is exactly what Starlette routes)."""
    literal = path if decoded else _decode(path)
    if _UNSAFE_CHAR.search(literal):
        raise UnsafePath("the path holds a backslash, a NUL or another control character")
    if not literal.startswith("/"):
        raise UnsafePath("the path does not start with '/'")
    normal = _normal(literal)
    found = [literal]
    if normal != literal:
        found.append(normal)
    if ";" in normal:
        bare = _normal("/".join(segment.partition(";")[0] for segment in normal.split("/")))
        if bare not in found:
            found.append(bare)
    return tuple(found)


def _decode(path: str) -> str:
    if "#" in path:
        raise UnsafePath("the request target holds a fragment ('#'), which clients never send")
    if "%" not in path:
        if not path.isascii():
            raise UnsafePath("the path holds characters that are not percent-encoded")
        return path
    if _BAD_ESCAPE.search(path):
        raise UnsafePath("the path holds a '%' that is not a percent-escape")
    if _UNSAFE_ESCAPE.search(path):
        raise UnsafePath("the path holds an encoded '/', '\\' or control character")
    try:
        return unquote_to_bytes(path).decode("utf-8")
    except UnicodeDecodeError:
        raise UnsafePath("the decoded path is not UTF-8") from None


def _normal(path: str) -> str:
    """Repeated slashes merged and dot segments resolved (RFC 3986 §5.2.4); a trailing dot segment
    leaves a trailing slash, and `..` never climbs above the root."""
    out: list[str] = []
    segments = path.split("/")[1:]
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == "..":
            if out:
                out.pop()
            if last:
                out.append("")
        elif segment == ".":
            if last:
                out.append("")
        elif segment or last:
            out.append(segment)
    return "/" + "/".join(out)
