"""Real Redis servers for tests: one instance (optionally with TLS, certificates made by the test), a
Redis Cluster of 3 masters (optionally each with a replica), and a master with a replica watched by
Sentinel (optionally with passwords on all three). Each runs redis-server from PATH on free loopback
ports, in its own directory.

    with RedisServer.launch(tmp_path) as server:
        store = open_store(server.url)

Used by the store tests and by any later tests that need a Redis (middleware, sidecar). Nothing
here starts at import time.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self
from urllib.parse import quote

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


def _ephemeral_start() -> int:
    """The first port the kernel hands to outgoing connections (Linux; 32768 where it cannot be read)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def free_port(*, cluster_bus: bool = False) -> int:
    """A free loopback port; with cluster_bus, port + 10000 is free too (Cluster's bus port).

    Below the kernel's ephemeral range: a server killed and restarted on its port must not find it taken
    by one of the many outgoing connections the tests open meanwhile (CI saw "Address already in use")."""
    top = _ephemeral_start() - 1 - (10_000 if cluster_bus else 0)
    if top < 12_000:  # a kernel with almost every port ephemeral: any port, as before
        top = 45_000
    for _ in range(500):
        port = random.randint(10_000, top)
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
        self.tls_port = int(args[args.index("--tls-port") + 1]) if "--tls-port" in args else None
        self.sentinel_conf: str | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @classmethod
    def with_tls(cls, workdir: Path, pem: Certificates, *, clients_need_certificates: bool = True) -> Self:
        """A server that takes TLS on `tls_port` (and plain connections on `port`, for the test's own
        calls), with the server certificate of `pem`."""
        args: tuple[str, ...] = ("--tls-port", str(free_port()), "--tls-cert-file", str(pem.server_cert))
        args += ("--tls-key-file", str(pem.server_key), "--tls-ca-cert-file", str(pem.ca))
        args += ("--tls-auth-clients", "yes" if clients_need_certificates else "no")
        return cls(workdir, args=args)

    def tls_url(self, pem: Certificates, *, db: int = 0) -> str:
        """rediss:// with the CA and the client certificate of `pem`."""
        query = f"ssl_ca_certs={pem.ca}&ssl_certfile={pem.client_cert}&ssl_keyfile={pem.client_key}"
        return f"rediss://{HOST}:{self.tls_port}/{db}?{query}"

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

    def clients(self) -> list[dict[str, str]]:
        """CLIENT LIST of the normal connections, each as a dict (name, addr, ...)."""
        listed = self.call("CLIENT", "LIST", "TYPE", "normal")
        return [dict(f.split("=", 1) for f in line.split(" ") if "=" in f) for line in listed.splitlines()]

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
    """Three masters (`nodes`), all 16384 slots shared out; with `replicas`, one replica each
    (`replicas[i]` replicates `nodes[i]`), promoted ~1-2 s after its master dies."""

    def __init__(
        self, workdir: Path, masters: int = 3, *, replicas: bool = False, tls: Certificates | None = None
    ) -> None:
        timeout = "1000" if replicas else "2000"
        args = ("--cluster-enabled", "yes", "--cluster-node-timeout", timeout)
        # a replica takes over whatever its link's age (a test kills masters that just wrote)
        args += ("--cluster-replica-validity-factor", "0", "--repl-diskless-sync-delay", "0")
        if tls is not None:  # TLS for clients, the cluster bus and replication; plain `port` for the test
            args += (
                "--tls-cluster",
                "yes",
                "--tls-replication",
                "yes",
                "--tls-cert-file",
                str(tls.server_cert),
            )
            args += ("--tls-key-file", str(tls.server_key), "--tls-ca-cert-file", str(tls.ca))
        self.tls = tls
        count = masters + (masters if replicas else 0)
        servers = [RedisServer(workdir, args=(*args, *self._tls_port(tls))) for _ in range(count)]
        self.nodes, self.replicas = servers[:masters], servers[masters:]

    @staticmethod
    def _tls_port(tls: Certificates | None) -> tuple[str, ...]:
        return _tls_port(tls, cluster_bus=True)

    @classmethod
    @contextlib.contextmanager
    def launch(
        cls, workdir: Path, *, replicas: bool = False, tls: Certificates | None = None
    ) -> Iterator[RedisClusterServers]:
        cluster = cls(workdir, replicas=replicas, tls=tls)
        try:
            yield cluster.start()
        finally:
            cluster.stop()

    @property
    def url(self) -> str:
        if self.tls is not None:  # the TLS ports, with the CA and the client certificate
            pem = self.tls
            query = f"ssl_ca_certs={pem.ca}&ssl_certfile={pem.client_cert}&ssl_keyfile={pem.client_key}"
            return "rediss+cluster://" + ",".join(f"{HOST}:{n.tls_port}" for n in self.nodes) + f"?{query}"
        return "redis+cluster://" + ",".join(f"{HOST}:{n.port}" for n in self.nodes)

    @property
    def everyone(self) -> list[RedisServer]:
        return [*self.nodes, *self.replicas]

    def start(self) -> RedisClusterServers:
        for node in self.everyone:
            node.args += ("--cluster-config-file", str(node.dir / "nodes.conf"))
            node.start()
        share = 16384 // len(self.nodes)
        for i, node in enumerate(self.nodes):
            last = 16383 if i == len(self.nodes) - 1 else (i + 1) * share - 1
            node.call("CLUSTER", "ADDSLOTSRANGE", i * share, last)
        for node in self.everyone[1:]:  # with TLS the bus is the TLS port's: meet there
            self.nodes[0].call("CLUSTER", "MEET", HOST, node.tls_port if self.tls else node.port)
        for node in self.everyone:
            wait_until(lambda n=node: self._settled(n), f"cluster state ok on {node.port}")
        for master, replica in zip(self.nodes, self.replicas, strict=False):
            replica.call("CLUSTER", "REPLICATE", master.call("CLUSTER", "MYID"))
        # online on the master's side: after a diskless sync the master streams writes only once the
        # replica's first REPLCONF ACK came (up to a second later); a master killed before that takes
        # every write since with it
        for master in self.nodes[: len(self.replicas)]:
            wait_until(
                lambda m=master: m.info("replication").get("slave0", {}).get("state") == "online", "replica"
            )
        return self

    def promote(self, replica: RedisServer, timeout: float = 45.0) -> None:
        """CLUSTER FAILOVER on `replica`, asked again until it is master: a manual failover aborts
        after its own timeout (5 s) when the masters' votes do not come, which happens on a loaded
        machine while gossip still spreads the replica's role."""
        me = replica.call("CLUSTER", "MYID")

        def knows(node: RedisServer) -> bool:
            lines = str(node.call("CLUSTER", "NODES")).splitlines()
            return any(line.startswith(f"{me} ") and " slave " in line for line in lines)

        for node in self.nodes:  # every master must know the replica as one, or it will not vote
            wait_until(lambda n=node: knows(n), f"node {node.port} to know the replica")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            replica.call("CLUSTER", "FAILOVER")
            asked = time.monotonic()
            while time.monotonic() - asked < 8.0:
                with contextlib.suppress(redis.RedisError, OSError):
                    if replica.info("replication")["role"] == "master":
                        return
                time.sleep(0.05)
        raise TimeoutError(f"replica {replica.port} did not take over in {timeout:.0f} s")

    def _settled(self, node: RedisServer) -> bool:
        info = node.call("CLUSTER", "INFO")
        want = ("cluster_state:ok", f"cluster_known_nodes:{len(self.everyone)}", "cluster_slots_ok:16384")
        return all(w in info for w in want)

    def masters(self) -> list[RedisServer]:
        """The servers that are masters now (a promoted replica among them), by a live node's map."""
        live = next(n for n in self.everyone if n.process is not None)
        ports = {int(entry[2][1]) for entry in live.call("CLUSTER", "SLOTS")}
        return [n for n in self.everyone if n.port in ports]

    def stop(self) -> None:
        for node in self.everyone:
            node.stop()

    def keys_without_ttl(self) -> list[str]:
        return [k for n in self.nodes for k in n.keys_without_ttl()]

    def keys(self, pattern: str = "*") -> dict[str, int]:
        return {k: ttl for n in self.nodes for k, ttl in n.keys(pattern).items()}


def _tls_port(tls: Certificates | None, *, cluster_bus: bool = False) -> tuple[str, ...]:
    """`--tls-port` on a free port when `tls` is given (its bus port free too for a cluster node)."""
    return () if tls is None else ("--tls-port", str(free_port(cluster_bus=cluster_bus)))


class SentinelGroup:
    """A master, one replica and one sentinel (quorum 1) that fails over ~1 s after the master dies.
    With `auth`, the data nodes take the password `data_password` and the Sentinel its own,
    `sentinel_password` (Sentinel's `requirepass`): `url` carries both."""

    data_password = "data:pass@1"  # no space: redis-server takes it on its command line
    sentinel_password = "sentinel pass@2"

    def __init__(self, workdir: Path, *, auth: bool = False, tls: Certificates | None = None) -> None:
        self.auth, self.tls = auth, tls
        secret = ("--requirepass", self.data_password, "--masterauth", self.data_password) if auth else ()
        files: tuple[str, ...] = ()
        if tls is not None:  # TLS for clients and replication; the plain ports stay for the test's calls
            files = ("--tls-cert-file", str(tls.server_cert), "--tls-key-file", str(tls.server_key))
            files += ("--tls-ca-cert-file", str(tls.ca), "--tls-replication", "yes")
        self.master = RedisServer(
            workdir, args=("--repl-diskless-sync-delay", "0", *secret, *files, *_tls_port(tls))
        )
        master_port = self.master.tls_port or self.master.port
        self.replica = RedisServer(
            workdir, args=("--replicaof", HOST, str(master_port), *secret, *files, *_tls_port(tls))
        )
        self.sentinel = RedisServer(workdir, args=_tls_port(tls))
        conf = self.sentinel.dir / "sentinel.conf"
        lines = [
            f"port {self.sentinel.port}",
            f"bind {HOST}",
            f"dir {self.sentinel.dir}",
            f"sentinel monitor {SERVICE} {HOST} {master_port} 1",
            f"sentinel down-after-milliseconds {SERVICE} 1000",
            f"sentinel failover-timeout {SERVICE} 3000",
        ]
        if tls is not None:
            lines += [f"tls-port {self.sentinel.tls_port}", "tls-replication yes"]
            lines += [
                f"tls-cert-file {tls.server_cert}",
                f"tls-key-file {tls.server_key}",
                f"tls-ca-cert-file {tls.ca}",
            ]
        if auth:
            lines += [f'sentinel auth-pass {SERVICE} "{self.data_password}"']
            lines += [f'requirepass "{self.sentinel_password}"']
            self.sentinel.password = self.sentinel_password
        conf.write_text("\n".join(lines) + "\n")
        self.sentinel.sentinel_conf = str(conf)

    @classmethod
    @contextlib.contextmanager
    def launch(
        cls, workdir: Path, *, auth: bool = False, tls: Certificates | None = None
    ) -> Iterator[SentinelGroup]:
        group = cls(workdir, auth=auth, tls=tls)
        try:
            yield group.start()
        finally:
            group.stop()

    @property
    def url(self) -> str:
        if self.tls is not None:  # the Sentinel's TLS port, with the CA and the client certificate
            pem = self.tls
            query = f"ssl_ca_certs={pem.ca}&ssl_certfile={pem.client_cert}&ssl_keyfile={pem.client_key}"
            return f"rediss+sentinel://{HOST}:{self.sentinel.tls_port}/{SERVICE}?{query}"
        base = f"{HOST}:{self.sentinel.port}/{SERVICE}"
        if not self.auth:
            return f"redis+sentinel://{base}"
        return f"redis+sentinel://:{quote(self.data_password)}@{base}?sentinel_password={quote(self.sentinel_password)}"

    def start(self) -> SentinelGroup:
        self.master.start()
        self.replica.start()
        wait_until(lambda: self.replica.info("replication").get("master_link_status") == "up", "replica")
        self.sentinel.start()
        wait_until(self._replica_known, "sentinel to see the replica")
        return self

    def _replica_known(self) -> bool:
        replicas = self.sentinel.call("SENTINEL", "REPLICAS", SERVICE)
        return f"{self.replica.tls_port or self.replica.port}" in str(replicas)

    def master_port(self) -> int:
        return int(self.sentinel.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)[1])

    def keys_without_ttl(self) -> list[str]:
        return self.master.keys_without_ttl()

    def stop(self) -> None:
        for server in (self.sentinel, self.replica, self.master):
            server.stop()


@dataclass(frozen=True)
class Certificates:
    """PEM files: a CA, a server certificate for 127.0.0.1 and a client certificate, both signed by it."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_certificates(folder: Path) -> Certificates:
    """A throw-away CA and the certificates it signs, valid for an hour (EC P-256)."""
    from cryptography import x509  # here: only the TLS tests need it
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    def issue(subject: str, key: Any, *extensions: tuple[Any, bool]) -> x509.Certificate:
        builder = x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name("test CA"))
        builder = builder.public_key(key.public_key()).serial_number(x509.random_serial_number())
        builder = builder.not_valid_before(now - datetime.timedelta(minutes=5))
        builder = builder.not_valid_after(now + datetime.timedelta(hours=1))
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(ca_key, hashes.SHA256())

    def write(path: Path, cert: x509.Certificate, key: Any = None) -> None:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        if key is not None:
            pkcs8, none = serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            path.with_suffix(".key").write_bytes(key.private_bytes(serialization.Encoding.PEM, pkcs8, none))

    server_key, client_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = issue("test CA", ca_key, (x509.BasicConstraints(ca=True, path_length=None), True))
    san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))])
    server = issue(HOST, server_key, (san, False))
    client = issue(
        "minorguard", client_key, (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
    )
    folder.mkdir(parents=True, exist_ok=True)
    write(folder / "ca.pem", ca)
    write(folder / "server.pem", server, server_key)
    write(folder / "client.pem", client, client_key)
    return Certificates(
        folder / "ca.pem",
        folder / "server.pem",
        folder / "server.key",
        folder / "client.pem",
        folder / "client.key",
    )
