"""Routes: method + path pattern -> activity, and where a request carries its amount and game id.

Patterns are compiled once: `/live/rooms/{room}/tips` matches one path segment per `{name}`, and
`{name:path}` matches the rest of the path. The first route that matches wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from minorguard.types import Activity, Facts

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

    @property
    def needs_body(self) -> bool:
        return any(s is not None and s.where is Where.BODY for s in (self.amount, self.game_id))


@dataclass(frozen=True, slots=True)
class Match:
    route: Route
    params: dict[str, str]
    plain: Facts | None = None  # the facts of a route that reads nothing from the request (shared)


class RouteTable:
    def __init__(self, routes: Iterable[Route], exempt: Iterable[str] = ()) -> None:
        self.routes = list(routes)
        exempt = list(exempt)
        self._compiled = [(route, compile_pattern(route.pattern)) for route in self.routes]
        self._matches: dict[tuple[str, str], Match | None] = {}
        self._judged: dict[tuple[str, str], Match | None] = {}
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

    def plain_facts(self, route: Route) -> Facts | None:
        """The facts of a route that reads nothing from the request (shared, built once)."""
        return self._plain.get(route)

    def match(self, method: str, path: str) -> Match | None:
        key = (method, path)
        if key in self._matches:
            return self._matches[key]
        if len(self._matches) >= _MAX_CACHED_PATHS:
            self._matches.clear()
        found = self._matches[key] = self._match(method, path)
        return found

    def judged(self, method: str, path: str) -> Match | None:
        """The route a request is judged by: None when its path is exempt or matches no route. One
        dict lookup for a path seen before."""
        key = (method, path)
        if key in self._judged:
            return self._judged[key]
        if len(self._judged) >= _MAX_CACHED_PATHS:
            self._judged.clear()
        found = self._judged[key] = None if self.is_exempt(path) else self._match(method, path)
        return found

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
