"""Starting the servers of benchmarks/peers.py on loopback, each on its core: the checkers (ratelimit,
OPA-envoy, the minorguard sidecar, a granian hello world, uvicorn apps) on CPU 0, the load's side
(Redis, Envoy, the nginx upstream, wrk) on CPU 1. Every process is ended by `Processes.stop`."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench_apps import deployment
from middleware_throughput import free_port, serve, wait_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEERS = HERE / "peers"
TOOLS = ROOT / ".tools" / "peers" / "bin"
TOOLS_BIN = ROOT / ".tools" / "bin"  # envoy from scripts/proxies
VENV = Path(sys.executable).parent
FRIDAY_EVENING = "2026-11-20T20:05:00+08:00"  # minors inside the nppa-2021 window (bench_apps' clock)
DEMO = {"secret": "minorguard-demo-signing-key-not-for-production", "issuer": "minorguard-demo"}


class Missing(RuntimeError):
    """A peer is not installed: benchmarks/peers/install builds or installs it."""


def binary(path: Path) -> str:
    if not path.exists():
        raise Missing(f"{path} is missing: run benchmarks/peers/install")
    return str(path)


class Processes:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.started: list[subprocess.Popen[bytes]] = []

    def start(
        self, name: str, cpu: int, command: list[str], port: int, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        with (self.folder / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                ["taskset", "-c", str(cpu), *command],
                env={**os.environ, **(env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        self.started.append(process)
        try:
            wait_port(port, timeout=30)
        except RuntimeError:
            raise RuntimeError(f"{name} did not listen on {port}: {self.log(name)[-2000:]}") from None
        return process

    def log(self, name: str) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        for process in reversed(self.started):
            process.terminate()
        for process in reversed(self.started):
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


def redis(procs: Processes) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    return procs.start("redis", 1, command, port), port


def nginx_upstream(procs: Processes) -> int:
    """The tiny upstream every Envoy row routes to: nginx answering 200 from memory."""
    port, folder = free_port(), procs.folder / "nginx"
    (folder / "tmp").mkdir(parents=True)
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    temp = "".join(f"{kind}_temp_path {folder}/tmp/{kind}; " for kind in kinds)
    user = "user root root;\n" if os.geteuid() == 0 else ""
    (folder / "nginx.conf").write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n"
        "events { worker_connections 1024; }\n"
        f"http {{ access_log off; {temp}\n"
        f"  server {{ listen 127.0.0.1:{port}; location / {{ return 200 'ok'; }} }} }}\n",
        encoding="utf-8",
    )
    command = ["/usr/sbin/nginx", "-p", str(folder), "-c", str(folder / "nginx.conf")]
    command += ["-e", str(folder / "error.log")]
    procs.start("nginx", 1, command, port)
    return port


def ratelimit(procs: Processes, redis_port: int) -> tuple[subprocess.Popen[bytes], int]:
    """envoyproxy/ratelimit as its README deploys it: file config under RUNTIME_ROOT, Redis over TCP,
    statsd off (nothing listens for it here)."""
    root = procs.folder / "ratelimit-runtime"
    (root / "ratelimit" / "config").mkdir(parents=True)
    (root / "ratelimit" / "config" / "config.yaml").write_text((PEERS / "ratelimit.yaml").read_text())
    grpc = free_port()
    env = {
        "USE_STATSD": "false",
        "LOG_LEVEL": "warn",
        "REDIS_SOCKET_TYPE": "tcp",
        "REDIS_URL": f"127.0.0.1:{redis_port}",
        "RUNTIME_ROOT": str(root),
        "RUNTIME_SUBDIRECTORY": "ratelimit",
        "RUNTIME_WATCH_ROOT": "false",
        "HOST": "127.0.0.1",
        "PORT": str(free_port()),
        "DEBUG_HOST": "127.0.0.1",
        "DEBUG_PORT": str(free_port()),
        "GRPC_HOST": "127.0.0.1",
        "GRPC_PORT": str(grpc),
    }
    return procs.start("ratelimit", 0, [binary(TOOLS / "service_cmd")], grpc, env), grpc


def opa_envoy(procs: Processes, name: str, rego: str) -> tuple[subprocess.Popen[bytes], int]:
    """OPA with the opa-envoy plugin serving ext_authz gRPC on `data.envoy.authz.allow`; the data
    document carries the demo key and the clock offset to the benchmark's instant."""
    grpc, folder = free_port(), procs.folder / name
    folder.mkdir()
    offset_ns = int((dt.datetime.fromisoformat(FRIDAY_EVENING).timestamp() - time.time()) * 1e9)
    data = {"bench": {**DEMO, "audience": DEMO["issuer"], "clock_offset_ns": offset_ns}}
    (folder / "data.json").write_text(json.dumps(data), encoding="utf-8")
    plugin = {"addr": f"127.0.0.1:{grpc}", "path": "envoy/authz/allow"}
    config = {"plugins": {"envoy_ext_authz_grpc": plugin}, "decision_logs": {"console": False}}
    (folder / "config.yaml").write_text(json.dumps(config), encoding="utf-8")
    command = [binary(TOOLS / "opa-envoy-plugin"), "run", "--server", "--addr", f"127.0.0.1:{free_port()}"]
    command += ["--disable-telemetry", "--log-level", "error", "--config-file", str(folder / "config.yaml")]
    command += [str(PEERS / rego), str(folder / "data.json")]
    return procs.start(name, 0, command, grpc), grpc


def grpc_door_available() -> bool:
    """Whether this build's `minorguard sidecar` has the ext_authz gRPC door (`--grpc-port`)."""
    command = [str(VENV / "minorguard"), "sidecar", "--help"]
    return "--grpc-port" in subprocess.run(command, capture_output=True, text=True, check=True).stdout


def sidecar(
    procs: Processes, redis_port: int, *, grpc: bool, lease: int | None = None
) -> tuple[subprocess.Popen[bytes], int, int]:
    """The sidecar on CPU 0 (`lease`: its play_lease_seconds, else the default)."""
    port, grpc_port = free_port(), free_port() if grpc else 0
    config = deployment(f"redis://127.0.0.1:{redis_port}/0", lease=lease)
    command = [str(VENV / "minorguard"), "sidecar", "--config", str(config), "--port", str(port)]
    command += ["--start-at", FRIDAY_EVENING]
    command += ["--grpc-port", str(grpc_port)] if grpc else []
    process = procs.start("sidecar" if lease is None else f"sidecar-lease-{lease}", 0, command, port)
    if grpc:
        wait_port(grpc_port, timeout=30)
    return process, port, grpc_port


def hello(procs: Processes) -> tuple[subprocess.Popen[bytes], int]:
    """The bare ASGI hello world on granian, the sidecar's server: the floor of a Python ext_authz
    service (it allows everything)."""
    port = free_port()
    command = [str(VENV / "granian"), "--interface", "asgi", "--port", str(port), "--workers", "1"]
    command += ["--log-level", "warning", "--working-dir", str(HERE), "hello_asgi:app"]
    return procs.start("hello", 0, command, port), port


def uvicorn(procs: Processes, mode: str, store: str) -> tuple[subprocess.Popen[bytes], int]:
    """An in-process row's app (bench_apps), served as middleware_throughput serves it:
    uvicorn[standard] (httptools, uvloop), one worker on CPU 0."""
    port = free_port()
    process = serve(mode, store, port, "httptools")
    procs.started.append(process)
    return process, port


def envoy(procs: Processes, config: Path, listen: list[int], cpu: int) -> subprocess.Popen[bytes]:
    command = [binary(TOOLS_BIN / "envoy"), "-c", str(config), "--concurrency", "1", "--disable-hot-restart"]
    command += ["--log-level", "warn"]
    process = procs.start("envoy", cpu, command, listen[0])
    for port in listen[1:]:
        wait_port(port, timeout=30)
    return process
