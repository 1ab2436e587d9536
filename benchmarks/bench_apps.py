"""The apps the throughput benchmarks serve: a bare Starlette app, the same app behind the middleware
(memory or Redis store), behind a reference layer that only probes the token (`TokenProbe`), and the
peers slowapi and fastapi-limiter (bench_limiters, on the Redis of MG_BENCH_STORE). Chosen by
MG_BENCH_MODE; the demo clock is fixed to a Friday 20:05 Beijing time (running on), so
minors are inside the nppa-2021 play window."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from minorguard.adapters.base import CounterStore
from minorguard.adapters.stores import open_store
from minorguard.clocks import offset_clock
from minorguard.demo import DEMO_SECRET
from minorguard.middleware import MinorGuardMiddleware

FRIDAY_EVENING = dt.datetime(2026, 11, 20, 20, 5, tzinfo=dt.timezone(dt.timedelta(hours=8)))


async def ping(request: Request) -> JSONResponse:
    return JSONResponse({"game": "pong"})


def bare() -> Starlette:
    return Starlette(routes=[Route("/game/ping", ping)])


def deployment(store: str, *, lease: int | None = None) -> Path:
    """The benchmarks' deployment config (nppa-2021, the demo key, one game route) on `store`; with
    `lease`, that play_lease_seconds (else the default)."""
    folder = Path(tempfile.mkdtemp(prefix="mg-bench-"))
    path = folder / "deployment.yaml"
    path.write_text(
        f"""policy: nppa-2021
store: {store}
store_timeout_ms: 200
{"" if lease is None else f"play_lease_seconds: {lease}"}
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


class TokenProbe:
    """Not minorguard: the least any token-reading layer does, to show how close a target can be met.
    It finds the Authorization header, probes a dict with it (filled on a miss), counts, and with
    `header=True` adds one response header through a send wrapper, as an allowed minor's answer does."""

    def __init__(self, app: ASGIApp, *, header: bool, store: CounterStore | None = None) -> None:
        self.app = app
        self.header = header
        self.seen: dict[bytes, float] = {}
        self.counted = 0
        self.store = store  # with a store: one heartbeat EVALSHA per request, keyed by the token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        auth = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                auth = value
                break
        until = self.seen.get(auth)
        if until is None:
            self.seen[auth] = time.time() + 3600
        elif until > time.time():
            self.counted += 1
        if self.store is not None:
            now = int(time.time())
            await self.store.play_heartbeat(
                str(hash(auth) & 0xFFFFFFFF),
                now=now,
                day="d",
                prev_day="p",
                day_start=now - now % 86_400,
                max_gap=300,
                limit_seconds=10**9,
                ttl_seconds=2 * 86_400,
            )
        if not self.header:
            await self.app(scope, receive, send)
            return
        extra = [(b"minorguard-remaining-play-seconds", b"1800")]

        async def adding(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, adding)


def create() -> ASGIApp:
    mode = os.environ.get("MG_BENCH_MODE", "bare")
    if mode == "bare":
        return bare()
    if mode in ("probe", "probe+header"):
        return TokenProbe(bare(), header=mode == "probe+header")
    store = os.environ.get("MG_BENCH_STORE", "memory://")
    if mode == "probe+evalsha":  # the token probe, one header and the one store call a minor needs
        return TokenProbe(bare(), header=True, store=open_store(store, timeout=0.2))
    if mode in ("slowapi", "fastapi-limiter"):
        import bench_limiters  # noqa: PLC0415  (only the peers' install brings them)

        return bench_limiters.create(mode, store)
    config = deployment(store, lease=0 if mode == "guarded, leases off" else None)
    return MinorGuardMiddleware.from_config(bare(), config, clock=offset_clock(FRIDAY_EVENING))
