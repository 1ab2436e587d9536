"""Decisions per second of the sidecar on one core, against the same server's bare hello world.

The server (granian, one worker, as `minorguard sidecar` runs it) is pinned to CPU 0; wrk and Redis
to CPU 1. Scenarios: an adult and a minor (10,000 different 15-year-olds inside the nppa-2021 window,
taken in turn, so every request is a heartbeat the store counts) through POST /v1/decisions and
through the nginx auth_request endpoint; and a "chatty" minor mix (1,000 players, several requests a
second each: only a player's first request of a second goes to the store). Then the minor-on-Redis
auth_request scenario again at half its measured rate (wrk paced by a Lua delay) for the p99 latency.

    .venv/bin/python benchmarks/sidecar_throughput.py [--seconds 8] [--connections 64]
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_apps import deployment
from middleware_throughput import free_port, wait_port
from minorguard.demo import demo_token

HERE = Path(__file__).resolve().parent
FRIDAY_EVENING = "2026-11-20T20:05:00+08:00"


PLAYERS = 10_000


@functools.cache
def player_tokens(birthdate: dt.date, players: int) -> tuple[str, ...]:
    """The players' tokens, made once: every script of a run sends the same ones, so a token the
    sidecar verified in one scenario is a cached one in the next (the paced p99 run has no warm-up)."""
    return tuple(demo_token(f"bench-{i}", birthdate, expires_in=3600) for i in range(players))


def script(
    folder: Path,
    name: str,
    birthdate: dt.date,
    door: str,
    *,
    players: int = PLAYERS,
    delay_ms: float | None = None,
) -> Path:
    tokens = ",\n".join(f'"{token}"' for token in player_tokens(birthdate, players))
    if door == "api":
        request = (
            'local body = \'{"token": "\' .. token .. \'", "activity": "game"}\'\n'
            '  local json = {["Content-Type"] = "application/json"}\n'
            '  return wrk.format("POST", "/v1/decisions", json, body)'
        )
    else:
        request = (
            'return wrk.format("GET", "/v1/authz/nginx", {["Authorization"] = "Bearer " .. token, '
            '["X-Original-URI"] = "/game/ping", ["X-Original-Method"] = "GET"})'
        )
    pacing = f"function delay()\n  return {delay_ms}\nend\n" if delay_ms is not None else ""
    path = folder / f"{name}.lua"
    path.write_text(
        f"local tokens = {{{tokens}}}\nlocal n = 0\n{pacing}request = function()\n  n = n + 1\n"
        f"  local token = tokens[(n % #tokens) + 1]\n  {request}\nend\n",
        encoding="utf-8",
    )
    return path


def wrk(port: int, lua: Path | None, seconds: int, connections: int, latency: bool = False) -> str:
    command = ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
    command += ["-s", str(lua)] if lua else []
    command += ["--latency"] if latency else []
    url = f"http://127.0.0.1:{port}/"
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        raise RuntimeError(f"{bad.group(1)} answers were not 2xx: the scenario is wrong\n{out}")
    return out


def rate(out: str) -> float:
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]


def p99_ms(out: str) -> float:
    found = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    if not found:
        raise RuntimeError(out)
    value, unit = float(found.group(1)), found.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def loop_name() -> str:
    """granian's `--loop auto` takes uvloop when it is installed."""
    try:
        import uvloop  # noqa: F401, PLC0415
    except ImportError:
        return "asyncio"
    return "uvloop"


def start(command: list[str], port: int, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        ["taskset", "-c", "0", *command],
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_port(port)
    return process


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    for tool in ("wrk", "redis-server", "granian"):
        if shutil.which(tool) is None and not (Path(sys.executable).parent / tool).exists():
            raise SystemExit(f"needs {tool}")
    folder = Path(tempfile.mkdtemp(prefix="mg-sidecar-bench-"))
    redis_port, hello_port, sidecar_port = free_port(), free_port(), free_port()
    redis = subprocess.Popen(
        ["taskset", "-c", "1", "redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    wait_port(redis_port)
    granian = str(Path(sys.executable).parent / "granian")
    results: dict[str, float] = {}
    try:
        for name, target in (
            ("bare hello world", "hello_asgi:app"),
            ("Starlette hello world", "hello_asgi:starlette_app"),
        ):
            hello = start(
                [
                    granian,
                    "--interface",
                    "asgi",
                    "--port",
                    str(hello_port),
                    "--workers",
                    "1",
                    "--log-level",
                    "warning",
                    "--working-dir",
                    str(HERE),
                    target,
                ],
                hello_port,
            )
            try:
                wrk(hello_port, None, 1, args.connections)
                results[name] = rate(wrk(hello_port, None, args.seconds, args.connections))
            finally:
                hello.terminate()
                hello.wait(10)
        cli = [
            str(Path(sys.executable).parent / "minorguard"),
            "sidecar",
            "--config",
            str(deployment(f"redis://127.0.0.1:{redis_port}/0")),
            "--port",
            str(sidecar_port),
            "--start-at",
            FRIDAY_EVENING,
        ]
        sidecar = start(cli, sidecar_port)
        try:
            adult, minor = dt.date(1990, 1, 1), dt.date(2011, 5, 1)
            for name, birthdate, door, players in (
                ("adult, /v1/decisions", adult, "api", 1000),
                ("minor on Redis, /v1/decisions", minor, "api", PLAYERS),
                ("adult, auth_request", adult, "nginx", 1000),
                ("minor on Redis, auth_request", minor, "nginx", PLAYERS),
                ("minor on Redis, auth_request, chatty", minor, "nginx", 1000),
            ):
                slug = name.replace(" ", "_").replace(",", "").replace("/", "")
                lua = script(folder, slug, birthdate, door, players=players)
                # warm-up: every token verified once (~1,500 a second), so the run serves cached ones
                wrk(sidecar_port, lua, max(1, players // 1200), args.connections)
                results[name] = rate(wrk(sidecar_port, lua, args.seconds, args.connections))
            half = results["minor on Redis, auth_request"] / 2
            connections = 16
            delay = connections / half * 1000  # ms between a connection's requests, ignoring service time
            paced = script(folder, "paced", minor, "nginx", delay_ms=round(delay, 3))
            out = wrk(sidecar_port, paced, args.seconds, connections, latency=True)
        finally:
            sidecar.terminate()
            sidecar.wait(15)
    finally:
        redis.terminate()
        redis.wait(10)
    base, framework = results["bare hello world"], results["Starlette hello world"]
    print(
        f"server: granian ({loop_name()} loop), 1 worker on CPU 0; wrk -c{args.connections} and Redis on "
        f"CPU 1; {args.seconds}s each"
    )
    print(f"{'scenario':<40}{'req/s':>10}{'ratio to bare':>15}{'to Starlette hello':>20}")
    for name, value in results.items():
        print(f"{name:<40}{value:>10.0f}{value / base:>15.2f}{value / framework:>20.2f}")
    print(f"minor on Redis, auth_request at {rate(out):.0f} req/s (half load): p99 {p99_ms(out):.2f} ms")
    print(json.dumps({k: round(v) for k, v in results.items()}))


if __name__ == "__main__":
    main()
