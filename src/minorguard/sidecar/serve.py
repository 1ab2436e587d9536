"""Building and serving the sidecar.

Served by granian (Rust HTTP, one process per worker): on one core here it answers a bare ASGI app at
~33,900 req/s against uvicorn's ~5,300 (benchmarks/README.md), so most of a core is left for
decisions. uvicorn is the fallback when granian is not installed. Workers are processes: each builds
its own gate from the environment (MINORGUARD_CONFIG), so a Redis store is shared and memory:// is not
(`--demo` therefore runs one worker).

Start and stop are made safe for a payments service:
- a port already in use is an error at start (granian binds with SO_REUSEPORT, so a second sidecar
  on the port would otherwise start too and split the traffic);
- at SIGTERM the sidecar answers /readyz with 503 and keeps serving everything for
  `sidecar.shutdown_delay_seconds` (the proxies and Kubernetes stop sending meanwhile), and only then
  stops accepting and drains the requests in flight. Each granian worker listens on a socket of its
  own: closing one drops the connections waiting in its backlog unanswered, so stopping at once at
  SIGTERM would drop the requests of connections opened just before it.
The Envoy gRPC door (`grpc_port`) is served in each worker beside its HTTP server (see
`grpcserver`), so the same two rules hold for it: its port is checked here, and it stops with the
worker, after the delay, finishing the checks under way.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.util
import os
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from minorguard.clocks import offset_clock
from minorguard.deployment import load_deployment
from minorguard.engine import Clock
from minorguard.errors import MinorguardError
from minorguard.logs import configure_logging, server_log_config
from minorguard.metricsshare import METRICS_DIR_ENV, prepare_folder, shared_folder
from minorguard.sidecar.app import SidecarApp
from minorguard.wiring import build_gate, nppa_client

CONFIG_ENV = "MINORGUARD_CONFIG"
START_AT_ENV = "MINORGUARD_START_AT"
DRAINING_ENV = "MINORGUARD_DRAINING_FLAG"  # a file the main process creates at SIGTERM
GRPC_ENV = "MINORGUARD_GRPC_ADDRESS"  # host:port of the gRPC door, which every worker serves


class PortInUseError(MinorguardError):
    """Something listens on the sidecar's address already."""


def build_sidecar(
    config: str,
    *,
    registry: CollectorRegistry | None = None,
    clock: Clock = time.time,
    grpc: tuple[str, int] | None = None,
) -> SidecarApp:
    registry = registry if registry is not None else CollectorRegistry()
    deployment = load_deployment(config)
    nppa = nppa_client(deployment)
    gate = build_gate(deployment, registry=registry, clock=clock, nppa=nppa)
    draining = os.environ.get(DRAINING_ENV)
    return SidecarApp(
        gate,
        deployment,
        registry=registry,
        nppa=nppa,
        draining=Path(draining) if draining else None,
        metrics_folder=shared_folder(),
        grpc=grpc,
    )


class NoConfigError(MinorguardError):
    """The sidecar was started without a deployment config (and not as the demo)."""


def app_from_env() -> SidecarApp:
    """The factory each server worker calls. Without MINORGUARD_CONFIG it refuses to start: a default
    would be the demo's in-memory store and public signing key."""
    config = os.environ.get(CONFIG_ENV)
    if not config:
        raise NoConfigError(f"{CONFIG_ENV} is not set: give the sidecar a deployment config (or run --demo)")
    start_at = os.environ.get(START_AT_ENV)
    clock = offset_clock(dt.datetime.fromisoformat(start_at)) if start_at else time.time
    grpc = os.environ.get(GRPC_ENV)
    host, _, port = grpc.rpartition(":") if grpc else ("", "", "")
    app = build_sidecar(config, clock=clock, grpc=(host, int(port)) if grpc else None)
    logs = app.logging
    configure_logging(fmt=logs.format, level=logs.level, decisions=logs.decisions)
    return app


def serve(
    config: str,
    *,
    host: str,
    port: int,
    workers: int,
    start_at: dt.datetime | None,
    grpc_port: int | None = None,
) -> None:
    """Serve the sidecar; `grpc_port` (else the deployment's `sidecar.grpc_port`) adds the Envoy gRPC
    door on that port, in every worker."""
    os.environ[CONFIG_ENV] = config
    if start_at is not None:
        os.environ[START_AT_ENV] = start_at.isoformat()
    if workers > 1:  # one folder for the workers' metrics snapshots, emptied of an earlier run's
        folder = os.environ.get(METRICS_DIR_ENV) or tempfile.mkdtemp(prefix="minorguard-metrics-")
        prepare_folder(Path(folder))
        os.environ[METRICS_DIR_ENV] = folder
    os.environ.pop(GRPC_ENV, None)
    preflight = app_from_env()  # fail here, with file:line:col problems, before any worker starts
    asyncio.run(preflight.close())
    settings = load_deployment(config).settings.sidecar
    grpc_port = grpc_port or settings.grpc_port
    if grpc_port == port:
        raise PortInUseError(f"the gRPC port must differ from the HTTP port ({port})")
    check_port_free(host, port)
    if grpc_port is not None:
        check_port_free(host, grpc_port)
        os.environ[GRPC_ENV] = f"{host}:{grpc_port}"
    delay = settings.shutdown_delay_seconds
    flag = Path(tempfile.mkdtemp(prefix="minorguard-")) / "draining"
    os.environ[DRAINING_ENV] = str(flag)
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
            log_dictconfig=server_log_config(preflight.logging.format),
        )
        server.on_startup(lambda: delay_sigterm(server, flag, delay))
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


def check_port_free(host: str, port: int) -> None:
    """Raise PortInUseError when something listens on `host:port`. SO_REUSEADDR lets the probe bind
    over connections still in TIME_WAIT (a sidecar restarted at once), never over a listener; without
    SO_REUSEPORT it cannot share a port with a granian listener either."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PortInUseError(
                f"{host}:{port} is in use ({exc.strerror}): another sidecar or program listens there"
            ) from None


def delay_sigterm(server: Any, flag: Path, delay: float) -> None:
    """In granian's main process (after it set its own handlers): at SIGTERM, raise the draining flag
    (the workers' /readyz answers 503) and stop granian only `delay` seconds later."""

    def on_sigterm(signum: int, frame: object) -> None:
        flag.touch()
        timer = threading.Timer(delay, server.signal_handler_interrupt)
        timer.daemon = True
        timer.start()

    signal.signal(signal.SIGTERM, on_sigterm)
