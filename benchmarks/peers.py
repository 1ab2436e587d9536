"""minorguard against the systems operators would deploy instead, side by side in one run.

Behind one real Envoy (1.40, one worker): envoyproxy/ratelimit (RLS v3 over gRPC, one `user`
descriptor per request, a per-user daily limit, on the same Redis); OPA with the opa-envoy plugin
(ext_authz gRPC, a Rego rule for the 22:00-08:00 curfew reading the age from the verified token);
minorguard's sidecar through ext_authz HTTP and, where the build has it, gRPC. In-process under
uvicorn: slowapi, fastapi-limiter and minorguard's middleware on the same Redis. Reference rows: Envoy
with no filter, ext_authz HTTP to a granian hello world, OPA answering allow, a bare Starlette app.

The checker (or the app) runs on CPU 0; wrk, Envoy, the nginx upstream and Redis on CPU 1. Each row's
"server" is the checker's process tree (Envoy's own CPU is a separate column), its CPU time read from
/proc around the run: req per server core = requests / server CPU seconds, so a checker that CPU 1
could not saturate is still priced per core (the busy column shows how loaded it was). Latency is
wrk's p50/p99 at half the row's measured rate (wrk paces with a Lua delay and does not correct for
coordinated omission). Rounds interleave the rows; medians are printed. Every row first proves its
check is in the path (a request it must refuse), and a run fails if any measured request is refused.

    benchmarks/peers/install                       # builds and installs the peers (once)
    .venv/bin/python benchmarks/peers.py [--seconds 5] [--rounds 3] [--players 10000] [--json FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import peers_envoy
import peers_services as services
from middleware_throughput import free_port
from peers_measure import RedisStats, Sample, cpu_seconds, lua, wrk
from peers_table import figures, table
from sidecar_throughput import player_tokens

ADULT, MINOR = dt.date(1990, 1, 1), dt.date(2011, 5, 1)
RATELIMIT, OPA = "envoyproxy/ratelimit, per-user daily limit", "OPA-envoy, curfew rule"
SIDECAR_ADULT = "minorguard sidecar, adult, ext_authz HTTP"
SIDECAR_HTTP = "minorguard sidecar, minor, ext_authz HTTP"
SIDECAR_GRPC = "minorguard sidecar, minor, ext_authz gRPC"
SIDECAR_UNLEASED = "minorguard sidecar, minor, ext_authz HTTP, leases off"
OVER = "bench-over-limit"  # peers/ratelimit.yaml: a limit of 1 a day
NO_GRPC = "not available: no gRPC door in this build (`minorguard sidecar --grpc-port`)"


@dataclass(frozen=True)
class Probe:
    """A request the row must answer with one of `statuses`: proof the check is in the path."""

    headers: dict[str, str]
    statuses: tuple[int, ...]
    repeat: int = 1


OK = (Probe({}, (200,)),)


@dataclass
class Row:
    name: str
    port: int = 0
    server: list[int] = field(default_factory=list)
    proxy: int | None = None
    birthdate: dt.date = MINOR
    players: int = 0
    probes: tuple[Probe, ...] = ()
    unavailable: str | None = None
    samples: list[Sample] = field(default_factory=list)


def build(procs: services.Processes, redis_port: int, args: argparse.Namespace) -> list[Row]:
    minor = player_tokens(MINOR, args.players)[0]
    rows = envoy_rows(procs, redis_port, args, minor) + in_process_rows(procs, redis_port, minor)
    for row in rows:
        row.players = 1000 if row.birthdate == ADULT else args.players
    return rows


def envoy_rows(procs: services.Processes, redis_port: int, args: argparse.Namespace, minor: str) -> list[Row]:
    """The checkers, each behind its own listener of one Envoy."""
    upstream = services.nginx_upstream(procs)
    rl, rl_port = services.ratelimit(procs, redis_port)
    opa, opa_port = services.opa_envoy(procs, "opa-curfew", "curfew.rego")
    opa_allow, opa_allow_port = services.opa_envoy(procs, "opa-allow", "allow.rego")
    hello, hello_port = services.hello(procs)
    grpc = services.grpc_door_available()
    side, side_port, side_grpc = services.sidecar(procs, redis_port, grpc=grpc)
    unleased, unleased_port, _ = services.sidecar(procs, redis_port, grpc=False, lease=0)
    fronts = [
        peers_envoy.Front("none", free_port(), "none"),
        peers_envoy.Front("hello", free_port(), "authz-http", hello_port),
        peers_envoy.Front("opa-allow", free_port(), "authz-grpc", opa_allow_port),
        peers_envoy.Front("ratelimit", free_port(), "ratelimit", rl_port),
        peers_envoy.Front("opa", free_port(), "authz-grpc", opa_port),
        peers_envoy.Front("sidecar", free_port(), "authz-http", side_port),
        peers_envoy.Front("sidecar-unleased", free_port(), "authz-http", unleased_port),
    ]
    if grpc:
        fronts.append(peers_envoy.Front("sidecar-grpc", free_port(), "authz-grpc", side_grpc))
    config = peers_envoy.write(procs.folder, fronts, upstream, free_port())
    envoy = services.envoy(procs, config, [f.listen for f in fronts], args.envoy_cpu).pid
    at = {front.name: front.listen for front in fronts}
    allowed = Probe({"Authorization": f"Bearer {minor}"}, (200,))
    no_token = Probe({}, (401,))
    rows = [
        Row("reference: Envoy -> nginx, no filter", at["none"], [envoy], None, probes=OK),
        Row("reference: ext_authz HTTP -> granian hello", at["hello"], [hello.pid], envoy, probes=OK),
        Row("reference: OPA-envoy, allow := true", at["opa-allow"], [opa_allow.pid], envoy, probes=OK),
        Row(RATELIMIT, at["ratelimit"], [rl.pid], envoy, probes=(Probe({"X-User-Id": OVER}, (429,), 2),)),
        Row(OPA, at["opa"], [opa.pid], envoy, probes=(Probe({}, (403,)), allowed)),
        Row(SIDECAR_ADULT, at["sidecar"], [side.pid], envoy, ADULT, probes=(no_token,)),
        Row(SIDECAR_HTTP, at["sidecar"], [side.pid], envoy, probes=(no_token, allowed)),
        Row(SIDECAR_UNLEASED, at["sidecar-unleased"], [unleased.pid], envoy, probes=(no_token, allowed)),
    ]
    if not grpc:
        return [*rows, Row(SIDECAR_GRPC, unavailable=NO_GRPC)]
    # a gRPC door's deny carries the status it chose
    grpc_probes = (Probe({}, (401, 403)), allowed)
    return [*rows, Row(SIDECAR_GRPC, at["sidecar-grpc"], [side.pid], envoy, probes=grpc_probes)]


def in_process_rows(procs: services.Processes, redis_port: int, minor: str) -> list[Row]:
    """The apps served by uvicorn, no proxy: the limiter (or minorguard) inside the app's process."""
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    guarded = (Probe({}, (401,)), Probe({"Authorization": f"Bearer {minor}"}, (200,)))
    rows = []
    for name, mode, store, probes in (
        ("reference: bare Starlette (uvicorn)", "bare", "", OK),
        ("slowapi, in-process", "slowapi", redis_url, OK),
        ("fastapi-limiter, in-process", "fastapi-limiter", redis_url, OK),
        ("minorguard middleware, minor, in-process", "guarded", redis_url, guarded),
    ):
        app, port = services.uvicorn(procs, mode, store)
        rows.append(Row(name, port, [app.pid], None, probes=probes))
    return rows


def prove(row: Row) -> None:
    for probe in row.probes:
        for _ in range(probe.repeat):
            status = status_of(row.port, probe.headers)
        if status not in probe.statuses:
            raise RuntimeError(f"{row.name}: {probe.headers} answered {status}, expected {probe.statuses}")


def status_of(port: int, headers: dict[str, str]) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/game/ping", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def measure(row: Row, folder: Path, redis: RedisStats, redis_pid: int, args: argparse.Namespace) -> Sample:
    tokens = player_tokens(row.birthdate, row.players)
    script = lua(folder, f"load-{row.birthdate}-{row.players}", tokens)
    redis.settle()
    redis.reset()
    trees = (row.server, [row.proxy] if row.proxy else [], [redis_pid])
    before = [cpu_seconds(tree) for tree in trees]
    load = wrk(row.port, script, args.seconds, args.connections)
    after = [cpu_seconds(tree) for tree in trees]
    calls, usec = redis.read()
    server, proxy, redis_cpu = (b - a for a, b in zip(before, after, strict=True))
    half = load.rate / 2
    paced = lua(folder, f"paced-{row.birthdate}-{row.players}", tokens, delay_ms=16 / half * 1000)
    latency = wrk(row.port, paced, args.seconds, 16)
    return Sample(
        rate=load.rate,
        server_us=server / load.requests * 1e6,
        busy=server / load.seconds,
        proxy_us=proxy / load.requests * 1e6 if row.proxy else None,
        redis_calls=calls / load.requests,
        redis_usec_per_call=usec / calls if calls else None,
        redis_cpu_us=redis_cpu / load.requests * 1e6,
        p50_ms=latency.p50_ms,
        p99_ms=latency.p99_ms,
    )


def run(args: argparse.Namespace) -> list[Row]:
    folder = Path(tempfile.mkdtemp(prefix="mg-peers-"))
    procs = services.Processes(folder)
    print(f"configs and logs: {folder}", flush=True)
    try:
        redis_process, redis_port = services.redis(procs)
        rows = build(procs, redis_port, args)
        redis = RedisStats(redis_port)
        live = [row for row in rows if row.unavailable is None]
        for row in live:
            prove(row)
            warm = lua(
                folder, f"warm-{row.birthdate}-{row.players}", player_tokens(row.birthdate, row.players)
            )
            wrk(row.port, warm, max(1, row.players // 1200), args.connections)  # every token verified once
        for _ in range(args.rounds):
            for row in live:
                row.samples.append(measure(row, folder, redis, redis_process.pid, args))
        return rows
    finally:
        procs.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="each run, saturating and paced")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--players", type=int, default=10_000, help="minors taken in turn (1,000 adults)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--envoy-cpu", type=int, choices=(0, 1), default=1, help="1: with the load")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    try:
        rows = run(args)
    except services.Missing as missing:
        raise SystemExit(str(missing)) from None
    entries = figures(rows, RATELIMIT, OPA)
    print(
        f"checkers and apps on CPU 0; wrk -c{args.connections}, Envoy 1.40 (1 worker), nginx and Redis on "
        f"CPU 1; {args.rounds} interleaved rounds of {args.seconds}s, medians; {args.players:,} minors"
    )
    print(table(entries))
    if args.json:
        args.json.write_text(json.dumps(entries, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
