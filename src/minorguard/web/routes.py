"""Routes: method + path pattern -> activity, and where a request carries its amount and game id.

Patterns are compiled once: `/live/rooms/{room}/tips` matches one path segment per `{name}`, and
`{name:path}` matches the rest of the path. The first route that matches wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from minorguard.types import Activity, Facts
from minorguard.web.paths import UnsafePath, spellings

_MAX_CACHED_PATHS = 8192

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::(path))?\}")


class Where(StrEnum):
    BODY = "body"  # a top-level field of a JSON object body
    HEADER = "header"
    QUERY = "query"
    PATH = "path"


@dataclass(frozen=True, slots=True)
class Source:
    where: Where
    name: str

    def describe(self) -> str:
        return f"{self.where.value} {'field' if self.where is Where.BODY else 'parameter'} '{self.name}'"


@dataclass(frozen=True, slots=True)
class Route:
    methods: frozenset[str]  # empty: any method
    pattern: str
    activity: Activity
    amount: Source | None = None
    game_id: Source | None = None
    game_rating: int | None = None
    needs_body: bool = field(init=False, compare=False)  # a fact comes from the JSON body

    def __post_init__(self) -> None:
        body = any(s is not None and s.where is Where.BODY for s in (self.amount, self.game_id))
        object.__setattr__(self, "needs_body", body)  # worked out once: it is read on every request


@dataclass(frozen=True, slots=True)
class Match:
    route: Route
    params: dict[str, str]
    plain: Facts | None = None  # the facts of a route that reads nothing from the request (shared)


@dataclass(frozen=True, slots=True)
class Unjudgeable:
    """A path that cannot be judged safely (see `paths`), or whose spellings reach different routes."""

    detail: str


class RouteTable:
    def __init__(self, routes: Iterable[Route], exempt: Iterable[str] = ()) -> None:
        self.routes = list(routes)
        exempt = list(exempt)
        self._compiled = [(route, compile_pattern(route.pattern)) for route in self.routes]
        self._judged: dict[tuple[str, str, bool], Match | Unjudgeable | None] = {}
        self._plain = {
            r: Facts(r.activity, None, None, r.game_rating)
            for r in self.routes
            if not r.amount and not r.game_id
        }
        self._exact_exempt = frozenset(p for p in exempt if not p.endswith("*"))
        self._prefix_exempt = tuple(p[:-1] for p in exempt if p.endswith("*"))

    def is_exempt(self, path: str) -> bool:
        return path in self._exact_exempt or (
            bool(self._prefix_exempt) and path.startswith(self._prefix_exempt)
        )

    def judged(self, method: str, path: str, *, decoded: bool = True) -> Match | Unjudgeable | None:
        """The route a request is judged by: None when every spelling of its path (see `paths`) is
        exempt or matches no route, the route any spelling reaches otherwise. One dict lookup for a
        path seen before."""
        key = (method, path, decoded)
        try:
            return self._judged[key]
        except KeyError:
            if len(self._judged) >= _MAX_CACHED_PATHS:
                self._judged.clear()
            found = self._judged[key] = self._judge(method, path, decoded)
            return found

    def _judge(self, method: str, path: str, decoded: bool) -> Match | Unjudgeable | None:
        try:
            paths = spellings(path, decoded=decoded)
        except UnsafePath as exc:
            return Unjudgeable(str(exc))
        found = [m for m in (self._judge_one(method, p) for p in paths) if m is not None]
        if not found:
            return None
        if any(m.route is not found[0].route for m in found[1:]):
            return Unjudgeable("the spellings of this path reach different routes")
        return found[0]

    def _judge_one(self, method: str, path: str) -> Match | None:
        return None if self.is_exempt(path) else self._match(method, path)

    def _match(self, method: str, path: str) -> Match | None:
        for route, regex in self._compiled:
            # HEAD is served by the GET endpoint (Starlette does so), so it must be judged like GET
            if (
                route.methods
                and method not in route.methods
                and not (method == "HEAD" and "GET" in route.methods)
            ):
                continue
            found = regex.match(path)
            if found is not None:
                return Match(route, found.groupdict(), self._plain.get(route))
        return None


def compile_pattern(pattern: str) -> re.Pattern[str]:
    if not pattern.startswith("/"):
        raise ValueError(f"a route path starts with '/': {pattern!r}")
    out, last = [], 0
    for found in _PARAM.finditer(pattern):
        out.append(re.escape(pattern[last : found.start()]))
        body = ".+" if found.group(2) else "[^/]+"
        out.append(f"(?P<{found.group(1)}>{body})")
        last = found.end()
    out.append(re.escape(pattern[last:]))
    return re.compile("^" + "".join(out) + "$")
