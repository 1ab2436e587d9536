"""Throughput of the middleware against a bare Starlette app, measured in the same run.

The server (uvicorn, one worker) is pinned to CPU 0 and wrk to CPU 1, so the ratio compares the server
core's work only. Scenarios: bare app; adults; minors on the in-memory store; minors on Redis (a
redis-server started here) and on a 3-master Redis Cluster. Minors are 15-year-olds inside the
nppa-2021 window. In the main minor scenarios they are 10,000 players taken in turn, so a player's
requests come about a second apart: with play-time leases (the default, 30 s) a player's heartbeat
reaches the store about twice a minute; "leases off" sends every one there. The "chatty" scenario
has 1,000 players each sending ~10 requests a second (a game API called on every move). Three
reference rows are not minorguard: a layer that only finds the token and probes a dict with it, the
same adding one response header, and the same making one heartbeat EVALSHA through the project's
store client per request (bench_apps.TokenProbe): the least any token-reading middleware does, and
the least one that calls Redis for every minor's request does: ceilings a target can be measured
against. Rounds alternate bare and guarded
runs to spread the noise of a shared machine; the median of each is reported. `--http h11` is plain
`pip install uvicorn`; the default, httptools + uvloop, is uvicorn[standard] (what FastAPI installs).

`--against DIR` compares two versions of minorguard in the same run: DIR is another checkout's `src`
(e.g. `git worktree add /tmp/mg-main main`, then `--against /tmp/mg-main/src`), put first on the
server's PYTHONPATH. Each guarded scenario is then measured on both, interleaved within each round,
and the table adds the other version's figure, this version's ratio to it, and every round's pair.
`--only NAME` (repeatable) keeps the scenarios of those names.

    .venv/bin/python benchmarks/middleware_throughput.py [--seconds 8] [--rounds 3] [--http httptools|h11]
        [--against OTHER/src] [--only "minor, Redis"]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from minorguard.demo import demo_token

HERE = Path(__file__).resolve().parent
# h11: `pip install uvicorn`; httptools + uvloop: `pip install "uvicorn[standard]"` (what FastAPI installs)
HTTP = {
    "h11": ["--http", "h11", "--loop", "asyncio"],
    "httptools": ["--http", "httptools", "--loop", "uvloop"],
}
ROOT = HERE.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def tokens_script(folder: Path, birthdate: dt.date | None, count: int) -> tuple[Path, int]:
    """A wrk Lua script that sends the `count` users' tokens in turn, one a request."""
    lines = []
    for index in range(count):
        lines.append(f'"{demo_token(f"bench-{index}", birthdate, expires_in=3600)}"')
    script = folder / f"tokens-{birthdate}-{count}.lua"
    script.write_text(
        "local tokens = {" + ",\n".join(lines) + "}\n"
        "local n = 0\n"
        "request = function()\n"
        "  n = n + 1\n"
        "  local token = tokens[(n % #tokens) + 1]\n"
        '  return wrk.format("GET", "/game/ping", {["Authorization"] = "Bearer " .. token})\n'
        "end\n",
        encoding="utf-8",
    )
    return script, count


def serve(mode: str, store: str, port: int, http: str, src: str | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MG_BENCH_MODE": mode, "MG_BENCH_STORE": store}
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [os.environ.get("PYTHONPATH")])])
    command = [
        "taskset",
        "-c",
        "0",
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "bench_apps:create",
        "--app-dir",
        str(HERE),
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
        *HTTP[http],
    ]
    process = subprocess.Popen(command, env=env, cwd=ROOT)
    wait_port(port)
    return process


def wrk(port: int, script: Path | None, seconds: int, connections: int) -> float:
    command = ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
    if script is not None:
        command += ["-s", str(script)]
    out = subprocess.run(
        [*command, f"http://127.0.0.1:{port}/game/ping"], capture_output=True, text=True, check=True
    ).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise RuntimeError(f"{non2xx.group(1)} requests were not allowed: the scenario is wrong\n{out}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not found:
        raise RuntimeError(out)
    return float(found.group(1))


def measure(
    mode: str, store: str, script: tuple[Path, int], args: argparse.Namespace, src: str | None = None
) -> float:
    """Requests a second of one guarded (or bare) server; the warm-up verifies every token once
    (~1,500 a second), so that the measured run serves cached tokens only. `src`: another checkout's
    source to serve instead of this one."""
    port = free_port()
    server = serve(mode, store, port, args.http, src)
    path, players = script
    try:
        wrk(port, path, max(2, players // 1200), args.connections)
        return wrk(port, path, args.seconds, args.connections)
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--http", choices=sorted(HTTP), default="httptools")
    parser.add_argument("--against", metavar="SRC", help="another checkout's src, measured beside this one")
    parser.add_argument("--only", action="append", metavar="NAME", help="only this scenario (repeatable)")
    args = parser.parse_args()
    if shutil.which("wrk") is None or shutil.which("redis-server") is None:
        raise SystemExit("needs wrk and redis-server (apt-get install wrk redis-server)")
    folder = Path(tempfile.mkdtemp(prefix="mg-bench-"))
    redis_port = free_port()
    redis = subprocess.Popen(
        ["taskset", "-c", "1", "redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    wait_port(redis_port)
    # the tests' cluster launcher: three masters, all slots shared out; pinned to the load's core
    sys.path.insert(0, str(ROOT / "tests"))
    from redis_servers import RedisClusterServers  # noqa: PLC0415

    cluster = RedisClusterServers(folder).start()
    for node in cluster.nodes:
        assert node.process is not None
        subprocess.run(["taskset", "-pc", "1", str(node.process.pid)], check=True, capture_output=True)
    adult = tokens_script(folder, dt.date(1990, 1, 1), 1000)
    minor = tokens_script(folder, dt.date(2011, 5, 1), 10000)
    chatty = tokens_script(folder, dt.date(2011, 5, 1), 1000)
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    scenarios = [
        ("reference: token probe", "probe", "", adult),
        ("reference: probe + header", "probe+header", "", adult),
        ("reference: probe + one EVALSHA", "probe+evalsha", redis_url, minor),
        ("adult", "guarded", "memory://", adult),
        ("minor, in-memory store", "guarded", "memory://", minor),
        ("minor, Redis", "guarded", redis_url, minor),
        ("minor, Redis, leases off", "guarded, leases off", redis_url, minor),
        ("minor, Redis Cluster", "guarded", cluster.url, minor),
        ("minor, Redis, chatty", "guarded", redis_url, chatty),
    ]
    unknown = set(args.only or ()) - {name for name, *_ in scenarios}
    if unknown:
        raise SystemExit(f"no scenario {sorted(unknown)}: {[name for name, *_ in scenarios]}")
    scenarios = [s for s in scenarios if not args.only or s[0] in args.only]
    try:
        results: dict[str, list[float]] = {name: [] for name, *_ in scenarios}
        other: dict[str, list[float]] = {name: [] for name, *_ in scenarios}
        bare: list[float] = []
        for _ in range(args.rounds):
            for name, mode, store, script in scenarios:
                bare.append(measure("bare", "", adult, args))
                results[name].append(measure(mode, store, script, args))
                if args.against and mode.startswith("guarded"):
                    other[name].append(measure(mode, store, script, args, args.against))
        report(args, statistics.median(bare), results, other)
    finally:
        redis.terminate()
        redis.wait(10)
        cluster.stop()


def report(
    args: argparse.Namespace, baseline: float, results: dict[str, list[float]], other: dict[str, list[float]]
) -> None:
    print(
        f"server: uvicorn ({args.http}), 1 worker on CPU 0; load: wrk -c{args.connections} on CPU 1; "
        f"{args.rounds} rounds of {args.seconds}s"
    )
    against = f"{'against':>10}{'this/against':>14}" if args.against else ""
    print(f"{'scenario':<28}{'req/s':>10}{'ratio to bare':>15}{against}")
    print(f"{'bare Starlette':<28}{baseline:>10.0f}{1:>15.2f}")
    for name, values in results.items():
        value = statistics.median(values)
        line = f"{name:<28}{value:>10.0f}{value / baseline:>15.2f}"
        if other[name]:
            then = statistics.median(other[name])
            line += f"{then:>10.0f}{value / then:>14.2f}"
            rounds = ", ".join(f"{a:.0f}/{b:.0f}" for a, b in zip(values, other[name], strict=True))
            line += f"   rounds (this/against): {rounds}"
        print(line)
    if args.against:
        print(f"against: {args.against} (each round: bare, this version, the other, per scenario)")


if __name__ == "__main__":
    main()
