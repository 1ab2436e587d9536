"""The Python rate limiters minorguard is compared with, in-process on the same Redis: slowapi and
fastapi-limiter, each written as its documentation shows, with one counter per user and day keyed by
the X-User-Id header (the rule envoyproxy/ratelimit gets in benchmarks/peers.py). Neither is a
dependency of minorguard: benchmarks/peers/install puts them in .venv, and nothing imports them
unless bench_apps.create is asked for one (MG_BENCH_MODE=slowapi or fastapi-limiter)."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp

PER_DAY = 100_000_000  # far above what a run sends: every request is counted, none refused


def user_id(request: Request) -> str:
    return request.headers.get("x-user-id", "anonymous")


def slowapi_app(redis_url: str) -> ASGIApp:
    """slowapi's Starlette recipe: a Limiter on the app's state, the route decorated with its limit
    (fixed window, the default strategy, on limits' Redis storage)."""
    from slowapi import Limiter, _rate_limit_exceeded_handler  # noqa: PLC0415
    from slowapi.errors import RateLimitExceeded  # noqa: PLC0415
    from starlette.applications import Starlette  # noqa: PLC0415
    from starlette.routing import Route  # noqa: PLC0415

    limiter = Limiter(key_func=user_id, storage_uri=redis_url)

    @limiter.limit(f"{PER_DAY}/day")
    async def ping(request: Request) -> JSONResponse:
        return JSONResponse({"game": "pong"})

    app = Starlette(routes=[Route("/game/ping", ping)])
    app.state.limiter = limiter
    app.add_exception_handler(RateLimitExceeded, _rate_limit_exceeded_handler)  # type: ignore[arg-type]
    return app


def fastapi_limiter_app(redis_url: str) -> ASGIApp:
    """fastapi-limiter 0.2's dependency on a pyrate-limiter Limiter. Given a list of rates, its
    Limiter keeps one in-memory bucket for every key; per-user counters on Redis take a bucket
    factory that gives each user its own RedisBucket, pyrate-limiter's documented way to it."""
    from fastapi import Depends, FastAPI  # noqa: PLC0415
    from fastapi_limiter.depends import RateLimiter  # noqa: PLC0415
    from pyrate_limiter import BucketFactory, Duration, Limiter, Rate, RateItem, RedisBucket  # noqa: PLC0415
    from redis.asyncio import Redis  # noqa: PLC0415

    redis = Redis.from_url(redis_url)
    rates = [Rate(PER_DAY, Duration.DAY)]

    class PerUser(BucketFactory):
        def __init__(self) -> None:
            self.buckets: dict[str, Any] = {}

        def wrap_item(self, name: str, weight: int = 1) -> Any:
            return RateItem(name, time.time_ns() // 1_000_000, weight=weight)

        async def get(self, item: Any) -> Any:
            bucket = self.buckets.get(item.name)
            if bucket is None:
                bucket = await RedisBucket.init(rates, redis, f"fastapi-limiter:{item.name}")
                self.buckets[item.name] = bucket
            return bucket

    async def identifier(request: Request) -> str:
        return user_id(request)

    limiter = RateLimiter(limiter=Limiter(PerUser()), identifier=identifier)
    app = FastAPI()

    @app.get("/game/ping", dependencies=[Depends(limiter)])
    async def ping() -> dict[str, str]:
        return {"game": "pong"}

    return app


def create(mode: str, redis_url: str) -> ASGIApp:
    return slowapi_app(redis_url) if mode == "slowapi" else fastapi_limiter_app(redis_url)
