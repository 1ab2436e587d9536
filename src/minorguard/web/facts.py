"""The facts of a request: its amount (integer fen) and game id, from where the route says."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from minorguard.types import Facts
from minorguard.web.routes import Route, Source, Where

MAX_AMOUNT_FEN = 10**12  # ¥10 billion: no real payment is larger (docs/sidecar.md, "Amounts")
_MAX_DIGITS = len(str(MAX_AMOUNT_FEN))
_MAX_QUERY_FIELDS = 100


class BadFact(Exception):
    """A value the route needs is missing or malformed; the message names the field."""


def lookup(
    source: Source, body: dict[str, Any] | None, headers: dict[str, str], query: str, params: dict[str, str]
) -> object:
    if source.where is Where.BODY:
        return None if body is None else body.get(source.name)
    if source.where is Where.HEADER:
        return headers.get(source.name.lower())
    if source.where is Where.QUERY:
        try:
            values = parse_qs(query, max_num_fields=_MAX_QUERY_FIELDS).get(source.name)
        except ValueError:  # more fields than any real request carries
            raise BadFact(f"the query has more than {_MAX_QUERY_FIELDS} fields") from None
        return values[0] if values else None
    return params.get(source.name)


def amount_fen(source: Source, raw: object) -> int:
    """A non-negative integer number of fen, at most MAX_AMOUNT_FEN. JSON numbers must be integers;
    text must be ASCII digits (`str.isdigit` alone takes "²" and Arabic-Indic digits, which `int`
    then reads or refuses)."""
    where = source.describe()
    if raw is None:
        raise BadFact(f"the amount is missing: expected an integer number of fen in the {where}")
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise BadFact(f"the amount in the {where} must be an integer number of fen (got {_shown(raw)})")
    if isinstance(raw, str):
        digits = raw.strip()
        if not (digits.isascii() and digits.isdigit()):
            raise BadFact(f"the amount in the {where} must be an integer number of fen (got {_shown(raw)})")
        if len(digits) > _MAX_DIGITS:
            raise BadFact(f"the amount in the {where} is over the maximum of {MAX_AMOUNT_FEN} fen")
        raw = int(digits)
    if raw < 0:
        raise BadFact(f"the amount in the {where} must not be negative (got {raw})")
    if raw > MAX_AMOUNT_FEN:
        raise BadFact(f"the amount in the {where} is over the maximum of {MAX_AMOUNT_FEN} fen")
    return raw


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def text(raw: object) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, str | int) and not isinstance(raw, bool):
        return str(raw)[:128]
    return None


def request_facts(
    route: Route, params: dict[str, str], headers: dict[str, str], query: str, body: dict[str, Any] | None
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
