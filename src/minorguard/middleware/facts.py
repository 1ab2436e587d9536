"""The facts of a request: its amount (integer fen) and game id, from where the route says."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from minorguard.middleware.routes import Route, Source, Where
from minorguard.types import Facts


class BadFact(Exception):
    """A value the route needs is missing or malformed; the message names the field."""


def lookup(
    source: Source, body: dict[str, Any] | None, headers: dict[str, str], query: bytes, params: dict[str, str]
) -> object:
    if source.where is Where.BODY:
        return None if body is None else body.get(source.name)
    if source.where is Where.HEADER:
        return headers.get(source.name.lower())
    if source.where is Where.QUERY:
        values = parse_qs(query.decode("latin-1")).get(source.name)
        return values[0] if values else None
    return params.get(source.name)


def amount_fen(source: Source, raw: object) -> int:
    """A non-negative integer number of fen. JSON numbers must be integers; text must be digits."""
    where = source.describe()
    if raw is None:
        raise BadFact(f"the amount is missing: expected an integer number of fen in the {where}")
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise BadFact(f"the amount in the {where} must be an integer number of fen (got {raw!r})")
    if isinstance(raw, str):
        if not raw.strip().isdigit():
            raise BadFact(f"the amount in the {where} must be an integer number of fen (got {raw!r})")
        raw = int(raw.strip())
    if raw < 0:
        raise BadFact(f"the amount in the {where} must not be negative (got {raw})")
    if raw > 10**12:
        raise BadFact(f"the amount in the {where} is implausibly large (got {raw})")
    return raw


def text(raw: object) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, str | int) and not isinstance(raw, bool):
        return str(raw)[:128]
    return None


def request_facts(
    route: Route, params: dict[str, str], headers: dict[str, str], query: bytes, body: dict[str, Any] | None
) -> Facts:
    """The facts of a routed request, from where the route says; BadFact names what is wrong. Every front
    door (middleware, sidecar) reads them through here."""
    amount = None
    if route.amount is not None:
        amount = amount_fen(route.amount, lookup(route.amount, body, headers, query, params))
    elif route.activity.spends:
        raise BadFact("this route has no amount source configured")
    game_id = text(lookup(route.game_id, body, headers, query, params)) if route.game_id else None
    return Facts(route.activity, amount, game_id, route.game_rating)
