"""Old against new in one run: the middleware and the sidecar of another revision (a git worktree made
here) and of this checkout, measured in turns, so a change's cost is read on the same noisy machine
minute by minute. Each scenario is measured `--rounds` times for each side, the two sides alternating
(which goes first flips every round); the table shows the medians and the ratio new / old.

Scenarios: through the middleware (uvicorn, httptools, one worker on CPU 0; wrk on CPU 1), an adult,
a minor on the in-memory store and a minor on Redis (10,000 players in turn: every request a counted
heartbeat); through the sidecar's nginx door (granian, one worker on CPU 0), an adult and a minor on
Redis. The other revision runs from its own sources (PYTHONPATH) with this checkout's virtualenv.
Two figures per scenario: requests a second, and the server's CPU time per request (from /proc: the
server process and its workers), which a busy machine disturbs less than the rate.

    .venv/bin/python benchmarks/compare.py --base 3817909 [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import middleware_throughput as mw
import sidecar_throughput as sc
from peers_measure import cpu_seconds

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ADULT, MINOR = dt.date(1990, 1, 1), dt.date(2011, 5, 1)


class Side:
    """One revision: where its sources and benchmark apps are."""

    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        self.root = root
        self.env = {**os.environ, "PYTHONPATH": str(root / "src")}

    def middleware(self, store: str, script: tuple[Path, int], seconds: int) -> tuple[float, float]:
        port = mw.free_port()
        env = {**self.env, "MG_BENCH_MODE": "guarded", "MG_BENCH_STORE": store}
        command = ["taskset", "-c", "0", sys.executable, "-m", "uvicorn", "--factory", "bench_apps:create"]
        command += ["--app-dir", str(self.root / "benchmarks"), "--port", str(port), "--log-level", "warning"]
        command += ["--no-access-log", *mw.HTTP["httptools"]]
        server = subprocess.Popen(command, env=env, cwd=self.root, stderr=subprocess.DEVNULL)
        mw.wait_port(port)
        try:
            path, players = script
            mw.wrk(port, path, max(2, players // 1200), 64)  # every token verified once
            before = cpu_seconds([server.pid])
            rate = mw.wrk(port, path, seconds, 64)
            return rate, (cpu_seconds([server.pid]) - before) / (rate * seconds) * 1e6
        finally:
            server.terminate()
            server.wait(10)

    def sidecar(self, config: Path, lua: Path, seconds: int) -> tuple[float, float]:
        port = mw.free_port()
        command = [str(Path(sys.executable).parent / "minorguard"), "sidecar", "--config", str(config)]
        command += ["--port", str(port), "--start-at", sc.FRIDAY_EVENING]
        server = sc.start(command, port, env={"PYTHONPATH": self.env["PYTHONPATH"]})
        try:
            sc.wrk(port, lua, 10, 64)  # every token verified once
            before = cpu_seconds([server.pid])
            rate = sc.rate(sc.wrk(port, lua, seconds, 64))
            return rate, (cpu_seconds([server.pid]) - before) / (rate * seconds) * 1e6
        finally:
            server.terminate()
            server.wait(20)


def worktree(rev: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="mg-compare-"))
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(folder), rev], check=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True, help="the revision to compare with (a commit, a branch)")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    base = Side(f"old ({args.base})", worktree(args.base))
    head = Side("new (this checkout)", ROOT)
    folder = Path(tempfile.mkdtemp(prefix="mg-compare-run-"))
    redis_port = mw.free_port()
    redis = subprocess.Popen(
        ["taskset", "-c", "1", "redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    mw.wait_port(redis_port)
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    config = sc.deployment(redis_url)
    adults = mw.tokens_script(folder, ADULT, 1000)
    minors = mw.tokens_script(folder, MINOR, 10000)
    nginx_adult = sc.script(folder, "nginx-adult", ADULT, "nginx", players=1000)
    nginx_minor = sc.script(folder, "nginx-minor", MINOR, "nginx")
    scenarios: list[tuple[str, Callable[[Side], tuple[float, float]]]] = [
        ("middleware: adult", lambda side: side.middleware("memory://", adults, args.seconds)),
        ("middleware: minor, memory", lambda side: side.middleware("memory://", minors, args.seconds)),
        ("middleware: minor, Redis", lambda side: side.middleware(redis_url, minors, args.seconds)),
        ("sidecar nginx: adult", lambda side: side.sidecar(config, nginx_adult, args.seconds)),
        ("sidecar nginx: minor, Redis", lambda side: side.sidecar(config, nginx_minor, args.seconds)),
    ]
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    try:
        for turn in range(args.rounds):
            sides = (base, head) if turn % 2 == 0 else (head, base)
            for name, run in scenarios:
                for side in sides:
                    results.setdefault((name, side.name), []).append(run(side))
    finally:
        redis.terminate()
        redis.wait(10)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base.root)], check=False)
    print(f"{args.rounds} rounds of {args.seconds}s, sides alternating; medians")
    print(f"old: {base.name}; new: {head.name}")
    print(
        f"{'scenario':<30}"
        + "".join(f"{c:>10}" for c in ("old req/s", "new req/s", "ratio", "old µs", "new µs", "ratio"))
    )
    for name, _ in scenarios:
        old_rate = statistics.median(r for r, _ in results[(name, base.name)])
        new_rate = statistics.median(r for r, _ in results[(name, head.name)])
        old_cpu = statistics.median(c for _, c in results[(name, base.name)])
        new_cpu = statistics.median(c for _, c in results[(name, head.name)])
        print(
            f"{name:<30}{old_rate:>10.0f}{new_rate:>10.0f}{new_rate / old_rate:>10.2f}"
            f"{old_cpu:>10.1f}{new_cpu:>10.1f}{new_cpu / old_cpu:>10.2f}"
        )
    print(
        "ratio of req/s: new / old (above 1 is faster); of CPU µs per request: new / old (below 1 is cheaper)"
    )


if __name__ == "__main__":
    main()
