"""The apps the throughput benchmarks serve: a bare Starlette app and the same app behind the
middleware (memory or Redis store). Chosen by MG_BENCH_MODE; the demo clock is fixed to a Friday
20:05 Beijing time (running on), so minors are inside the nppa-2021 play window."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from minorguard.demo import DEMO_SECRET, offset_clock
from minorguard.middleware import MinorGuardMiddleware

FRIDAY_EVENING = dt.datetime(2026, 11, 20, 20, 5, tzinfo=dt.timezone(dt.timedelta(hours=8)))


async def ping(request: Request) -> JSONResponse:
    return JSONResponse({"game": "pong"})


def bare() -> Starlette:
    return Starlette(routes=[Route("/game/ping", ping)])


def deployment(store: str) -> Path:
    """The benchmarks' deployment config (nppa-2021, the demo key, one game route) on `store`."""
    folder = Path(tempfile.mkdtemp(prefix="mg-bench-"))
    path = folder / "deployment.yaml"
    path.write_text(
        f"""policy: nppa-2021
store: {store}
store_timeout_ms: 200
subject_secret: {{value: bench-subject-secret}}
identity:
  algorithms: [HS256]
  issuer: minorguard-demo
  audience: minorguard-demo
  hs_secret: {{value: {DEMO_SECRET.decode()}}}
  cache_size: 50000
routes:
  - {{method: GET, path: /game/ping, activity: game}}
""",
        encoding="utf-8",
    )
    return path


def create() -> ASGIApp:
    mode = os.environ.get("MG_BENCH_MODE", "bare")
    if mode == "bare":
        return bare()
    store = os.environ.get("MG_BENCH_STORE", "memory://")
    return MinorGuardMiddleware.from_config(bare(), deployment(store), clock=offset_clock(FRIDAY_EVENING))
