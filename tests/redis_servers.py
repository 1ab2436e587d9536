"""Real Redis servers for tests: one instance, a 3-master Redis Cluster, and a master with a replica
watched by Sentinel. Each runs redis-server from PATH on free loopback ports, in its own directory.

    with RedisServer.launch(tmp_path) as server:
        store = open_store(server.url)

Used by the store tests and by any later tests that need a Redis (middleware, sidecar). Nothing
here starts at import time.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

import redis

HOST = "127.0.0.1"
SERVICE = "mymaster"


def require_binaries(*names: str) -> None:
    """Raise with a clear message when a server binary is not installed."""
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        raise RuntimeError(
            f"{', '.join(missing)} not found on PATH: the Redis tests start real servers. "
            "Install them (apt-get install redis-server redis-sentinel; .ci/run does) and rerun."
        )


def fail_without(*names: str) -> None:
    """`require_binaries` for tests: a missing binary fails the test (never skips it), with the message."""
    import pytest  # here: the benchmarks use this module without pytest

    try:
        require_binaries(*names)
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port(*, cluster_bus: bool = False) -> int:
    """A free loopback port; with cluster_bus, port + 10000 is free too (Cluster's bus port)."""
    for _ in range(500):
        port = random.randint(20_000, 45_000)
        if _bindable(port) and (not cluster_bus or _bindable(port + 10_000)):
            return port
    raise RuntimeError("no free port")


def wait_until(check: Any, what: str, timeout: float = 15.0, every: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(redis.RedisError, OSError):
            if result := check():
                return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(every)


class RedisServer:
    """One redis-server (or redis-sentinel) process. `stop()` and `start()` again reuse the port."""

    def __init__(self, workdir: Path, *, port: int | None = None, args: tuple[str, ...] = ()) -> None:
        self.port = port or free_port(cluster_bus="--cluster-enabled" in args)
        self.dir = workdir / f"redis-{self.port}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.args = args
        self.password = args[args.index("--requirepass") + 1] if "--requirepass" in args else None
        self.sentinel_conf: str | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @classmethod
    @contextlib.contextmanager
    def launch(cls, workdir: Path, *, args: tuple[str, ...] = ()) -> Iterator[Self]:
        server = cls(workdir, args=args)
        try:
            yield server.start()
        finally:
            server.stop()

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def start(self) -> Self:
        if self.sentinel_conf is not None:
            cmd = ["redis-sentinel", self.sentinel_conf]
        else:
            cmd = ["redis-server", "--port", str(self.port), "--bind", HOST, "--dir", str(self.dir)]
            cmd += ["--save", "", "--appendonly", "no", "--protected-mode", "no", *self.args]
        log = (self.dir / "server.log").open("ab")
        self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir)
        log.close()
        wait_until(self._answers, f"redis on port {self.port}", timeout=10)
        return self

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            log = (self.dir / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"redis on port {self.port} exited:\n{log}")
        return bool(self.call("PING"))

    def stop(self, *, kill: bool = False) -> None:
        """Stop the process (SIGKILL with kill=True: no goodbye to clients or sentinels)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill() if kill else self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def call(self, *args: Any) -> Any:
        """One command on a fresh connection (closed at once: no ResourceWarning)."""
        with self._client() as client:
            return client.execute_command(*args)

    def info(self, section: str) -> dict[str, Any]:
        with self._client() as client:
            return client.info(section)  # type: ignore[no-any-return]

    def _client(self, db: int = 0) -> redis.Redis:
        return redis.Redis(
            host=HOST, port=self.port, db=db, password=self.password, socket_timeout=2, decode_responses=True
        )

    def keys_without_ttl(self) -> list[str]:
        with self._client() as client:
            return [k for k in client.scan_iter(count=1000) if client.ttl(k) == -1]

    def keys(self, pattern: str = "*", db: int = 0) -> dict[str, int]:
        """Live keys matching a glob pattern, with their TTLs (SCAN skips expired keys)."""
        with self._client(db) as client:
            return {k: client.ttl(k) for k in client.scan_iter(match=pattern, count=1000)}


class RedisClusterServers:
    """Three masters, all 16384 slots shared out, no replicas."""

    def __init__(self, workdir: Path, masters: int = 3) -> None:
        args = ("--cluster-enabled", "yes", "--cluster-node-timeout", "2000")
        self.nodes = [RedisServer(workdir, args=args) for _ in range(masters)]

    @classmethod
    @contextlib.contextmanager
    def launch(cls, workdir: Path) -> Iterator[RedisClusterServers]:
        cluster = cls(workdir)
        try:
            yield cluster.start()
        finally:
            cluster.stop()

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"{HOST}:{n.port}" for n in self.nodes)

    def start(self) -> RedisClusterServers:
        for node in self.nodes:
            node.args += ("--cluster-config-file", str(node.dir / "nodes.conf"))
            node.start()
        share = 16384 // len(self.nodes)
        for i, node in enumerate(self.nodes):
            last = 16383 if i == len(self.nodes) - 1 else (i + 1) * share - 1
            node.call("CLUSTER", "ADDSLOTSRANGE", i * share, last)
        for node in self.nodes[1:]:
            self.nodes[0].call("CLUSTER", "MEET", HOST, node.port)
        for node in self.nodes:
            wait_until(lambda n=node: self._settled(n), f"cluster state ok on {node.port}")
        return self

    def _settled(self, node: RedisServer) -> bool:
        info = node.call("CLUSTER", "INFO")
        want = ("cluster_state:ok", f"cluster_known_nodes:{len(self.nodes)}", "cluster_slots_ok:16384")
        return all(w in info for w in want)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def keys_without_ttl(self) -> list[str]:
        return [k for n in self.nodes for k in n.keys_without_ttl()]

    def keys(self, pattern: str = "*") -> dict[str, int]:
        return {k: ttl for n in self.nodes for k, ttl in n.keys(pattern).items()}


class SentinelGroup:
    """A master, one replica and one sentinel (quorum 1) that fails over ~1 s after the master dies."""

    def __init__(self, workdir: Path) -> None:
        self.master = RedisServer(workdir, args=("--repl-diskless-sync-delay", "0"))
        self.replica = RedisServer(workdir, args=("--replicaof", HOST, str(self.master.port)))
        self.sentinel = RedisServer(workdir)
        conf = self.sentinel.dir / "sentinel.conf"
        conf.write_text(
            f"port {self.sentinel.port}\nbind {HOST}\ndir {self.sentinel.dir}\n"
            f"sentinel monitor {SERVICE} {HOST} {self.master.port} 1\n"
            f"sentinel down-after-milliseconds {SERVICE} 1000\n"
            f"sentinel failover-timeout {SERVICE} 3000\n"
        )
        self.sentinel.sentinel_conf = str(conf)

    @classmethod
    @contextlib.contextmanager
    def launch(cls, workdir: Path) -> Iterator[SentinelGroup]:
        group = cls(workdir)
        try:
            yield group.start()
        finally:
            group.stop()

    @property
    def url(self) -> str:
        return f"redis+sentinel://{HOST}:{self.sentinel.port}/{SERVICE}"

    def start(self) -> SentinelGroup:
        self.master.start()
        self.replica.start()
        wait_until(lambda: self.replica.info("replication").get("master_link_status") == "up", "replica")
        self.sentinel.start()
        wait_until(self._replica_known, "sentinel to see the replica")
        return self

    def _replica_known(self) -> bool:
        replicas = self.sentinel.call("SENTINEL", "REPLICAS", SERVICE)
        return f"{self.replica.port}" in str(replicas)

    def master_port(self) -> int:
        return int(self.sentinel.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)[1])

    def keys_without_ttl(self) -> list[str]:
        return self.master.keys_without_ttl()

    def stop(self) -> None:
        for server in (self.sentinel, self.replica, self.master):
            server.stop()
