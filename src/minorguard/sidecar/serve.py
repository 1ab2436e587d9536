"""Building and serving the sidecar.

Served by granian (Rust HTTP, one process per worker): on one core here it answers a bare ASGI app at
~33,900 req/s against uvicorn's ~5,300 (benchmarks/README.md), so most of a core is left for
decisions. uvicorn is the fallback when granian is not installed. Workers are processes: each builds
its own Guard from the environment (MINORGUARD_CONFIG), so a Redis store is shared and memory:// is not
(`--demo` therefore runs one worker).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import importlib.util
import os
import tempfile
import time
from pathlib import Path

from prometheus_client import CollectorRegistry
from starlette.types import Receive, Send

from minorguard.demo import demo_config, offset_clock
from minorguard.engine import Clock
from minorguard.logs import configure_logging, server_log_config
from minorguard.metricsshare import METRICS_DIR_ENV, keep_writing, prepare_folder, shared_folder
from minorguard.sidecar.app import SidecarApp
from minorguard.wiring import build_guard

CONFIG_ENV = "MINORGUARD_CONFIG"
START_AT_ENV = "MINORGUARD_START_AT"


class WorkerSidecar(SidecarApp):
    """One worker of several: it keeps a snapshot of its metrics in the folder they share, so any
    worker's /metrics shows them all (metricsshare.py). The request path is SidecarApp's."""

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        folder = shared_folder()
        writer = asyncio.ensure_future(keep_writing(self.registry, folder)) if folder is not None else None
        try:
            await super()._lifespan(receive, send)
        finally:
            if writer is not None:
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writer


def build_sidecar(
    config: str, *, registry: CollectorRegistry | None = None, clock: Clock = time.time
) -> SidecarApp:
    registry = registry if registry is not None else CollectorRegistry()
    guard = build_guard(config, registry=registry, clock=clock)
    kind = WorkerSidecar if shared_folder() is not None else SidecarApp
    return kind(guard, registry=registry, admin_token=guard.deployment.admin_token())


def app_from_env() -> SidecarApp:
    """The factory each server worker calls."""
    start_at = os.environ.get(START_AT_ENV)
    clock = offset_clock(dt.datetime.fromisoformat(start_at)) if start_at else time.time
    app = build_sidecar(os.environ.get(CONFIG_ENV) or str(demo_config()), clock=clock)
    logs = app.guard.deployment.settings.logging
    configure_logging(fmt=logs.format, level=logs.level, decisions=logs.decisions)
    return app


def serve(config: str | None, *, host: str, port: int, workers: int, start_at: dt.datetime | None) -> None:
    os.environ[CONFIG_ENV] = config or str(demo_config())
    if start_at is not None:
        os.environ[START_AT_ENV] = start_at.isoformat()
    if workers > 1:  # one folder for the workers' metrics snapshots, emptied of an earlier run's
        folder = os.environ.get(METRICS_DIR_ENV) or tempfile.mkdtemp(prefix="minorguard-metrics-")
        prepare_folder(Path(folder))
        os.environ[METRICS_DIR_ENV] = folder
    preflight = app_from_env()  # fail here, with file:line:col problems, before any worker starts
    asyncio.run(preflight.guard.close())
    if importlib.util.find_spec("granian") is not None:
        from granian import Granian  # noqa: PLC0415  (optional dependency)
        from granian.constants import Interfaces  # noqa: PLC0415

        server = Granian(
            "minorguard.sidecar.serve:app_from_env",
            address=host,
            port=port,
            workers=workers,
            interface=Interfaces.ASGI,
            factory=True,
            log_access=False,
            log_dictconfig=server_log_config(preflight.guard.deployment.settings.logging.format),
        )
        server.serve()
        return
    import uvicorn  # noqa: PLC0415  (the fallback)

    uvicorn.run(
        "minorguard.sidecar.serve:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )
