"""What benchmarks/peers.py reads during a row's run: CPU time of process trees from /proc, Redis'
INFO commandstats, and wrk's counts and latency percentiles (wrk on CPU 1, as every benchmark here)."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import redis

TICK = os.sysconf("SC_CLK_TCK")
SCRIPTS = {"evalsha", "eval", "evalsha_ro", "eval_ro", "fcall", "fcall_ro"}
HOUSEKEEPING = {"info", "config|resetstat", "hello", "ping", "script|load", "select", "client|setinfo"}


def cpu_seconds(roots: list[int]) -> float:
    """User + system CPU of the processes `roots` and every living descendant (a server's workers)."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # the process ended while we looked
            stats[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK)
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in stats.items():
        children.setdefault(parent, []).append(pid)
    total, todo = 0.0, [pid for pid in roots if pid in stats]
    while todo:
        pid = todo.pop()
        total += stats[pid][1]
        todo += children.get(pid, [])
    return total


class RedisStats:
    """Redis' own accounting for one run: commands and their microseconds (commandstats, reset
    before the run). Commands a script runs are counted inside its EVALSHA as well, so where scripts
    ran only the script calls are summed."""

    def __init__(self, port: int) -> None:
        self.client = redis.Redis(port=port)

    def reset(self) -> None:
        self.client.config_resetstat()

    def settle(self, quiet: float = 0.2, limit: float = 5.0) -> None:
        """Wait until Redis has run nothing but these reads for `quiet` seconds (at most `limit`): the
        requests a previous row's server still had queued when its wrk ended must not be counted in
        the next row (on a loaded machine they reached Redis during the OPA row)."""
        deadline = time.monotonic() + limit
        last = self._processed()
        while time.monotonic() < deadline:
            time.sleep(quiet)
            now = self._processed()
            if now - last <= 1:  # the previous INFO only
                return
            last = now
        print(f"note: Redis was still busy {limit:.0f} s after the last row; this row may count some of it")

    def _processed(self) -> int:
        return int(self.client.info("stats")["total_commands_processed"])

    def read(self) -> tuple[int, float]:
        stats: dict[str, Any] = self.client.info("commandstats")
        commands = {name.removeprefix("cmdstat_"): value for name, value in stats.items()}
        chosen = [v for n, v in commands.items() if n in SCRIPTS] or [
            v for n, v in commands.items() if n not in HOUSEKEEPING
        ]
        return sum(int(v["calls"]) for v in chosen), sum(float(v["usec"]) for v in chosen)


def lua(folder: Path, name: str, tokens: tuple[str, ...], delay_ms: float | None = None) -> Path:
    """The requests every row gets: GET /game/ping with a player's token and user id, in turn."""
    quoted = ",\n".join(f'"{token}"' for token in tokens)
    pacing = f"function delay()\n  return {delay_ms:.3f}\nend\n" if delay_ms is not None else ""
    path = folder / f"{name}.lua"
    path.write_text(
        f"local tokens = {{{quoted}}}\nlocal n = 0\n{pacing}request = function()\n  n = n + 1\n"
        "  local i = n % #tokens\n"
        '  return wrk.format("GET", "/game/ping", {["Authorization"] = "Bearer " .. tokens[i + 1], '
        '["X-User-Id"] = "bench-" .. i})\nend\n',
        encoding="utf-8",
    )
    return path


@dataclass(frozen=True)
class Load:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def wrk(port: int, script: Path, seconds: float, connections: int) -> Load:
    # a slow peer queues requests on a busy shared machine: only a request stuck 10 s is an error
    command = ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"]
    command += ["--latency"]
    out = subprocess.run(
        [*command, "-s", str(script), f"http://127.0.0.1:{port}/"], capture_output=True, text=True, check=True
    ).stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: .*", out)
    if bad or errors:
        raise RuntimeError(f"not every request was allowed: the row is misconfigured\n{out}")
    done = re.search(r"(\d+) requests in ([\d.]+)(ms|s)", out)
    if not done:
        raise RuntimeError(out)
    elapsed = float(done.group(2)) / (1000 if done.group(3) == "ms" else 1)
    return Load(int(done.group(1)), elapsed, percentile(out, 50), percentile(out, 99))


def percentile(out: str, which: int) -> float:
    found = re.search(rf"\s{which}%\s+([\d.]+)(us|ms|s)\b", out)
    if not found:
        raise RuntimeError(out)
    value, unit = float(found.group(1)), found.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


@dataclass(frozen=True)
class Sample:
    """One row's run: the saturating one, and the paced one at half its rate for the latency."""

    rate: float
    server_us: float
    busy: float
    proxy_us: float | None
    redis_calls: float
    redis_usec_per_call: float | None
    redis_cpu_us: float
    p50_ms: float
    p99_ms: float


def medians(samples: list[Sample]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key in asdict(samples[0]):
        values = [getattr(s, key) for s in samples if getattr(s, key) is not None]
        out[key] = statistics.median(values) if values else None
    return out
