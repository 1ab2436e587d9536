"""Run the locust scenario (benchmarks/locustfile.py) against `minorguard demo` and/or
`minorguard sidecar --demo`, across the 21:00 end of the nppa-2021 play window, and summarise it.

For each target: start the server on 127.0.0.1 pinned to CPU 0, its clock started with `--start-at`
just before Friday 2026-11-20 21:00 (+08:00) so that minors' heartbeats turn from allowed into
`outside_play_window` denies half-way through the run; run locust headless from CPU 1 for a bounded
time; write locust's CSV files and the scenario's own (outcomes by reason, minors' heartbeats per
server second) as `<results>/<target>-locust_*.csv` and a short `<results>/<target>-summary.md`; stop
everything. Exit status 0 only when every run had no failures.

    .venv/bin/python benchmarks/locust_run.py                      # both targets, 200 users, 60 s
    .venv/bin/python benchmarks/locust_run.py --target demo --users 5 --duration 8s

Time is scaled: players send a heartbeat every `--heartbeat-seconds` (2 s) instead of every 120 s, so
each locust user carries the heartbeat load of 60 real players.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
BEIJING = dt.timezone(dt.timedelta(hours=8))
BOUNDARY = dt.datetime(2026, 11, 20, 21, 0, tzinfo=BEIJING)  # a Friday: minors' window is 20:00-21:00
REAL_HEARTBEAT = 120.0
LOCUST_STARTUP = 2.0  # seconds from the server being ready to locust's first users, roughly


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seconds(text: str) -> int:
    found = re.fullmatch(r"(\d+)(s|m)?", text.strip())
    if not found:
        raise argparse.ArgumentTypeError(f"a duration like 60s or 2m, not {text!r}")
    return int(found.group(1)) * (60 if found.group(2) == "m" else 1)


def pinned(command: list[str], cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu), *command] if cpu is not None else command


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> float:
    """Poll /healthz until it answers 200: the real time of that answer."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return time.time()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the server at {url} was not ready after {timeout:.0f}s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGINT to the process group this runner started (the server or locust and its children)."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGINT, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_target(
    target: str, args: argparse.Namespace, start_at: dt.datetime, cpus: tuple[int, int] | None
) -> bool:
    results: Path = args.results
    results.mkdir(parents=True, exist_ok=True)
    prefix = results / f"{target}-locust"
    for old in results.glob(f"{target}-locust_*.csv"):
        old.unlink()
    port = args.port or free_port()
    url = f"http://127.0.0.1:{port}"
    what = ["demo"] if target == "demo" else ["sidecar", "--demo"]
    server_command = [sys.executable, "-m", "minorguard.cli", *what, "--host", "127.0.0.1"]
    server_command += ["--port", str(port), "--start-at", start_at.isoformat()]
    server_log, load_log = results / f"{target}-server.log", results / f"{target}-locust.log"
    with server_log.open("wb") as server_out, load_log.open("wb") as load_out:
        launch = time.time()
        server = subprocess.Popen(
            pinned(server_command, cpus[0] if cpus else None),
            stdout=server_out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            try:
                ready = wait_ready(url, server)
            except RuntimeError:
                stop(server)
                print(tail(server_log), file=sys.stderr)
                raise
            print(
                f"[{target}] server {url}, clock from {start_at.isoformat()}; locust: {args.users} users, "
                f"{args.duration} s, a heartbeat every {args.heartbeat_seconds:g} s",
                flush=True,
            )
            load = subprocess.Popen(
                pinned(
                    locust_command(target, args, prefix, url, start_at, launch, ready),
                    cpus[1] if cpus else None,
                ),
                stdout=load_out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=HERE.parent,
            )
            try:
                load.wait(args.duration + 60)
            except subprocess.TimeoutExpired:
                print(f"[{target}] locust overran its time: stopped", flush=True)
            finally:
                stop(load)
        finally:
            stop(server)
    if not Path(f"{prefix}_stats.csv").exists():
        raise RuntimeError(f"locust wrote no statistics (exit {load.returncode}):\n{tail(load_log)}")
    summary = summarise(target, args, prefix, start_at, launch, ready, cpus)
    (results / f"{target}-summary.md").write_text(summary, encoding="utf-8")
    print(summary, flush=True)
    stats = read_aggregated(prefix)
    return stats is not None and int(stats["Failure Count"]) == 0 and int(stats["Request Count"]) > 0


def locust_command(
    target: str,
    args: argparse.Namespace,
    prefix: Path,
    url: str,
    start_at: dt.datetime,
    launch: float,
    ready: float,
) -> list[str]:
    return [
        *(sys.executable, "-m", "locust", "-f", str(HERE / "locustfile.py"), "--headless"),
        *("-u", str(args.users), "-r", str(args.spawn_rate or max(5.0, args.users / 4))),
        *("-t", f"{args.duration}s", "--stop-timeout", "5", "--csv", str(prefix), "--host", url),
        *("--only-summary", "--loglevel", "WARNING"),
        *("--target", target, "--heartbeat-seconds", str(args.heartbeat_seconds), "--mix", args.mix),
        *("--server-start-at", start_at.isoformat(), "--server-clock", f"{launch:.6f},{ready:.6f}"),
        *("--boundary", BOUNDARY.isoformat()),
    ]


def tail(path: str | Path, lines: int = 30) -> str:
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def read_aggregated(prefix: Path) -> dict[str, str] | None:
    path = Path(f"{prefix}_stats.csv")
    if not path.exists():
        return None
    with path.open(encoding="utf-8") as f:
        return next((row for row in csv.DictReader(f) if row["Name"] == "Aggregated"), None)


def read_rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def summarise(
    target: str,
    args: argparse.Namespace,
    prefix: Path,
    start_at: dt.datetime,
    launch: float,
    ready: float,
    cpus: tuple[int, int] | None,
) -> str:
    stats = read_rows(Path(f"{prefix}_stats.csv"))
    outcomes = read_rows(Path(f"{prefix}_outcomes.csv"))
    failures = read_rows(Path(f"{prefix}_failures.csv"))
    timeline = read_rows(Path(f"{prefix}_timeline.csv"))
    crossing = {row["event"]: row for row in read_rows(Path(f"{prefix}_crossing.csv"))}
    server = (
        "minorguard demo (uvicorn, the middleware)"
        if target == "demo"
        else "minorguard sidecar --demo (granian, 1 worker)"
    )
    scale = REAL_HEARTBEAT / args.heartbeat_seconds
    lines = [
        f"# locust: {target}",
        "",
        f"- server: {server} on 127.0.0.1, "
        + (
            f"pinned to CPU {cpus[0]}; locust on CPU {cpus[1]}"
            if cpus
            else "not pinned (no taskset or one CPU)"
        ),
        f"- command: `python {shlex.join(sys.argv)}`",
        f"- {args.users} players, {args.duration} s; **time scaled**: one heartbeat per player every "
        f"{args.heartbeat_seconds:g} s instead of every {REAL_HEARTBEAT:.0f} s (`constant_pacing`), so the "
        f"heartbeat load is that of about {args.users * scale:,.0f} real players; actions per 100 "
        f"heartbeats: {args.mix}",
        f"- the server's clock started at {start_at.isoformat()}, at a real moment known to within "
        f"{ready - launch:.2f} s (from its launch to its first /healthz answer)",
        f"- run at {dt.datetime.now(BEIJING).isoformat(timespec='seconds')}, locust "
        f"{locust_version()}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs",
        "",
        "## Requests (locust's CSV; times in ms)",
        "",
        "| request | count | failures | req/s | p50 | p95 | p99 | max |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in stats:
        name = row["Name"]
        bold = "**" if row["Name"] == "Aggregated" else ""
        lines.append(
            f"| {bold}{name}{bold} | {row['Request Count']} | {row['Failure Count']} | "
            f"{float(row['Requests/s']):.1f} | {row['50%']} | {row['95%']} | {row['99%']} | "
            f"{float(row['Max Response Time']):.0f} |"
        )
    if failures:
        lines += ["", "## Failures", "", "| request | error | count |", "| --- | --- | ---: |"]
        lines += [f"| {f['Name']} | {f['Error']} | {f['Occurrences']} |" for f in failures]
    lines += decisions_table(outcomes)
    lines += crossing_section(outcomes, timeline, crossing)
    return "\n".join(lines) + "\n"


def decisions_table(outcomes: list[dict[str, str]]) -> list[str]:
    by_reason: Counter[tuple[str, str, str]] = Counter()
    wrong: Counter[tuple[str, str, str]] = Counter()
    for row in outcomes:
        key = (row["activity"], row["outcome"], row["reason"])
        by_reason[key] += int(row["count"])
        wrong[key] += int(row["count"]) if row["verdict"] != "expected" else 0
    lines = [
        "",
        "## Decisions by reason",
        "",
        "Denials are the rules acting and count as successes. Failures are the outcomes the demo policy "
        "forbids (an allow it must deny, a deny it must allow, a reason that cannot apply) and `error`s "
        "(a status the front door should not give, a connection error).",
        "",
        "| activity | outcome | reason | count | failures |",
        "| --- | --- | --- | ---: | ---: |",
    ]
    for key, n in sorted(by_reason.items()):
        activity, outcome, reason = key
        lines.append(f"| {activity} | {outcome} | {reason} | {n} | {wrong[key]} |")
    return lines


def crossing_section(
    outcomes: list[dict[str, str]], timeline: list[dict[str, str]], crossing: dict[str, dict[str, str]]
) -> list[str]:
    minors = ("age_16_17", "age_8_15", "under_8")
    phases: dict[str, Counter[str]] = defaultdict(Counter)
    for row in outcomes:
        if row["activity"] == "game" and row["persona"] in minors:
            label = "allowed" if row["outcome"] == "allow" else f"{row['outcome']} {row['reason']}"
            label += " (wrong)" if row["verdict"] == "wrong" else ""
            phases[row["phase"]][label] += int(row["count"])
    lines = [
        "",
        f"## The curfew crossing: minors' heartbeats around {BOUNDARY.strftime('%a %Y-%m-%d %H:%M')} +08:00",
        "",
        "Each heartbeat is placed by the server's clock, known within the launch-to-ready bracket: "
        "`before`/`after` 21:00 for certain, or `around` when the bracket straddles it.",
        "",
        "| server time | heartbeats | outcomes |",
        "| --- | ---: | --- |",
    ]
    for phase, label in (("before", "before 21:00"), ("around", "around 21:00"), ("after", "after 21:00")):
        counts = phases.get(phase, Counter())
        text = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "-"
        lines.append(f"| {label} | {sum(counts.values())} | {text} |")
    seconds_rows: dict[int, Counter[str]] = defaultdict(Counter)
    for row in timeline:
        label = "allow" if row["outcome"] == "allow" else row["reason"]
        seconds_rows[int(row["second_from_boundary"])][label] += int(row["count"])
    near = [s for s in sorted(seconds_rows) if -5 <= s <= 4]
    if near:
        lines += [
            "",
            "Per server second (middle of each heartbeat's bracket), the ten seconds around 21:00:",
            "",
            "| server second | allowed | denied outside_play_window | other |",
            "| --- | ---: | ---: | ---: |",
        ]
        for second in near:
            c = seconds_rows[second]
            at = (BOUNDARY + dt.timedelta(seconds=second)).strftime("%H:%M:%S")
            other = sum(c.values()) - c["allow"] - c["outside_play_window"]
            lines.append(f"| {at} | {c['allow']} | {c['outside_play_window']} | {other} |")
    last, first = crossing.get("last_allow"), crossing.get("first_deny")
    if last or first:
        lines.append("")
    if last:
        lines.append(f"- last allowed heartbeat of a minor: server time {span(last)}")
    if first:
        lines.append(f"- first `outside_play_window` deny: server time {span(first)}")
    return lines


def span(row: dict[str, str]) -> str:
    low, high = (dt.datetime.fromisoformat(row[k]) for k in ("server_time_low", "server_time_high"))
    return f"{low.strftime('%H:%M:%S.%f')[:-3]} .. {high.strftime('%H:%M:%S.%f')[:-3]}"


def locust_version() -> str:
    try:
        from importlib.metadata import version  # noqa: PLC0415

        return version("locust")
    except Exception:
        return "?"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--target", choices=("demo", "sidecar", "both"), default="both")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--spawn-rate", type=float, default=0, help="users started per second (users/4)")
    parser.add_argument("--duration", type=seconds, default=60, help="locust's run time, e.g. 60s or 2m")
    parser.add_argument("--heartbeat-seconds", type=float, default=2.0, help="scaled from the real 120 s")
    parser.add_argument("--mix", default="purchase=10,tip=5,publisher=2", help="actions per 100 heartbeats")
    parser.add_argument(
        "--start-at",
        help="the server clock's start (ISO 8601, a play day 20:00-21:00); default: 21:00 half-way through",
    )
    parser.add_argument("--port", type=int, default=0, help="default: a free one")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    args = parser.parse_args()
    if args.duration > 600:
        parser.error("--duration: at most 600 s (runs here are bounded)")
    if importlib_missing("locust"):
        parser.error("needs locust: .venv/bin/pip install locust (the dev extra)")
    if args.start_at:
        start_at = dt.datetime.fromisoformat(args.start_at)
        start_at = start_at if start_at.tzinfo else start_at.replace(tzinfo=BEIJING)
        local = start_at.astimezone(BEIJING)
        if not (BOUNDARY - dt.timedelta(hours=1) <= local < BOUNDARY):
            parser.error(f"--start-at must fall in the hour before {BOUNDARY.isoformat()}")
    else:
        lead = round(args.duration / 2 + LOCUST_STARTUP)
        start_at = BOUNDARY - dt.timedelta(seconds=lead)
    cpus = (0, 1) if shutil.which("taskset") and (os.cpu_count() or 1) >= 2 else None
    targets = ("demo", "sidecar") if args.target == "both" else (args.target,)
    clean = [run_target(target, args, start_at, cpus) for target in targets]
    return 0 if all(clean) else 1


def importlib_missing(name: str) -> bool:
    import importlib.util  # noqa: PLC0415

    return importlib.util.find_spec(name) is None


if __name__ == "__main__":
    raise SystemExit(main())
