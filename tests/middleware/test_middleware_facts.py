"""The facts a route reads, from each place it may read them, reach the rules through the middleware:
a game id from the query (its rating), an amount from the body or a header."""

from __future__ import annotations

from pathlib import Path

from mwkit import AGE_15, UNDER_8, Clock, bearer, build, client, token, write_deployment

from minorguard.middleware import MinorGuardMiddleware

RATED = "name: rated\nextends: nppa-2021\ngame:\n  rating:\n    games: {star-fleet: 12}\n"


async def test_a_game_id_from_the_query_reaches_the_rating_rule(
    tmp_path: Path, clock: Clock, closing: list[MinorGuardMiddleware]
) -> None:
    (tmp_path / "rated.yaml").write_text(RATED, encoding="utf-8")
    app, _, _ = build(write_deployment(tmp_path, policy="rated.yaml"), clock)
    closing.append(app)
    clock.set("2026-11-20 20:30:00")
    async with client(app) as http:
        child = await http.get("/game/ping?game=star-fleet", headers=bearer(token("facts-child", UNDER_8)))
        unrated = await http.get("/game/ping?game=other", headers=bearer(token("facts-child", UNDER_8)))
    assert (child.status_code, child.json()["reason"]) == (403, "game_rating")
    assert unrated.status_code == 200


async def test_an_amount_from_a_header_route_is_read_through_the_middleware(
    tmp_path: Path, clock: Clock, closing: list[MinorGuardMiddleware]
) -> None:
    routes = [
        {
            "method": "POST",
            "path": "/shop/orders",
            "activity": "purchase",
            "amount": {"from": "header", "name": "X-Amount-Fen"},
        }
    ]
    app, _, _ = build(write_deployment(tmp_path, routes=routes), clock)
    closing.append(app)
    async with client(app) as http:
        over = await http.post(
            "/shop/orders", headers={**bearer(token("facts-teen", AGE_15)), "X-Amount-Fen": "5001"}
        )
        under = await http.post(
            "/shop/orders", headers={**bearer(token("facts-teen", AGE_15)), "X-Amount-Fen": "100"}
        )
    assert (over.status_code, over.json()["reason"]) == (403, "purchase_single_cap")
    assert under.status_code != 403
