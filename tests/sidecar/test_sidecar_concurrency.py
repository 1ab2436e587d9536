"""Concurrent purchases by one 15-year-old through the sidecar (a real server: /v1/decisions, then commit
or release) and through the in-process middleware at once, both on one real Redis: what ends committed
never exceeds nppa-2021's monthly cap (20000 fen), and the store's usage agrees with the answers."""

from __future__ import annotations

import asyncio
import random
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from sidecarkit import (
    AGE_15,
    AMOUNT_HEADER,
    FRIDAY_IN_WINDOW,
    Clock,
    ServerThread,
    bearer,
    bj,
    service,
    sidecar,
    token,
    write_config,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from minorguard.middleware import MinorGuardMiddleware

CAP = 20000
EACH = 150


def shop() -> Starlette:
    async def purchase(request: Request) -> JSONResponse:
        await asyncio.sleep(0.005)  # keeps reservations pending while others arrive
        return JSONResponse({"bought": request.headers[AMOUNT_HEADER]}, status_code=201)

    return Starlette(routes=[Route("/shop/purchases", purchase, methods=["POST"])])


@pytest.mark.redis
@pytest.mark.slow
async def test_the_sidecar_and_the_middleware_together_never_pass_the_monthly_cap(
    tmp_path: Path, sidecar_redis: Any
) -> None:
    clock = Clock(bj(FRIDAY_IN_WINDOW))
    config = write_config(tmp_path, policy="nppa-2021", store=sidecar_redis.url, store_timeout_ms=5000)
    middleware = MinorGuardMiddleware.from_config(shop(), config, registry=CollectorRegistry(), clock=clock)
    subject = f"both-doors-{secrets.token_hex(4)}"
    teen = token(subject, AGE_15)
    rng = random.Random(20261120)
    # (amount, the payment fails); small enough that dozens fit, so both doors get some in before the cap
    via_sidecar = [(rng.randint(1, 1000), rng.random() < 0.2) for _ in range(EACH)]
    via_middleware = [rng.randint(1, 1000) for _ in range(EACH)]
    limits = httpx.Limits(max_connections=EACH + 10, max_keepalive_connections=EACH + 10)

    with ServerThread.running(sidecar(config, clock)) as server:
        async with (
            httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as sidecar_http,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=middleware), base_url="http://backend.test", timeout=30
            ) as backend_http,
        ):

            async def through_sidecar(amount: int, fails: bool) -> tuple[int, str]:
                decided = await sidecar_http.post(
                    "/v1/decisions", json={"token": teen, "activity": "purchase", "amount_fen": amount}
                )
                assert decided.status_code == 200, decided.text
                answer = decided.json()
                if answer["outcome"] == "deny":
                    return 0, answer["reason"]
                await asyncio.sleep(0.005)  # the backend's payment call
                action = "release" if fails else "commit"
                settled = await sidecar_http.post(
                    f"/v1/reservations/{answer['reservation_id']}/{action}", headers=service(action)
                )
                assert settled.status_code == 200, settled.text
                assert settled.json()["status"] == ("released" if fails else "committed")
                return (0 if fails else amount), action

            async def through_middleware(amount: int) -> tuple[int, str]:
                response = await backend_http.post(
                    "/shop/purchases", headers={**bearer(teen), AMOUNT_HEADER: str(amount)}
                )
                if response.status_code == 201:
                    return amount, "commit"
                assert response.status_code == 403, response.text
                return 0, response.json()["reason"]

            # open the sidecar's connections first: the in-process middleware has none to make
            warm = await asyncio.gather(*(sidecar_http.get("/healthz") for _ in range(EACH)))
            assert {r.status_code for r in warm} == {200}
            jobs = [through_sidecar(a, f) for a, f in via_sidecar] + [
                through_middleware(a) for a in via_middleware
            ]
            order = list(range(len(jobs)))
            rng.shuffle(order)
            results = await asyncio.gather(*(jobs[i] for i in order))

    try:
        usage = await middleware.gate.engine.usage(subject)
    finally:
        await middleware.gate.verifier.close()
        await middleware.gate.engine.store.close()
    committed = sum(amount for amount, _ in results)
    outcomes = {outcome for _, outcome in results}
    assert outcomes <= {"commit", "release", "purchase_monthly_cap"}, outcomes
    assert "purchase_monthly_cap" in outcomes, "the cap was reached"
    sidecar_commits = sum(1 for i, (_, o) in zip(order, results, strict=True) if i < EACH and o == "commit")
    middleware_commits = sum(
        1 for i, (_, o) in zip(order, results, strict=True) if i >= EACH and o == "commit"
    )
    assert sidecar_commits, "the sidecar's buyers bought"
    assert middleware_commits, "the middleware's buyers bought"
    assert committed <= CAP
    assert usage.month_committed == committed, "the store's month total is what was answered as bought"
    assert usage.month_pending == 0, "every reservation was settled"
    assert sidecar_redis.keys_without_ttl() == [], "every key has a TTL"
