"""Real Envoy and Traefik on loopback (the binaries scripts/proxies installs into .tools/bin), each
running the configuration its guide prints, with the sidecar's and the backend's addresses put in; and
the guides' check commands, read from the markdown and run as a shell would."""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml
from sidecarkit import REPO, wait_for_port

from redis_servers import free_port

TOOLS = REPO / ".tools" / "bin"
DOCS = REPO / "docs"


def binary(name: str) -> str:
    """A proxy's binary. Missing, the tests fail: run scripts/proxies (scripts/test does)."""
    path = TOOLS / name
    if not path.exists():
        raise RuntimeError(f"{path} not found: scripts/proxies installs {name} (scripts/test runs it)")
    return str(path)


def doc_block(doc: str, marker: str, language: str) -> str:
    """The one fenced block between `<!-- marker:start -->` and `<!-- marker:end -->` in docs/doc."""
    text = (DOCS / doc).read_text()
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    assert text.count(start) == 1, f"docs/{doc} lost its {marker} start marker"
    assert text.count(end) == 1, f"docs/{doc} lost its {marker} end marker"
    block = text.split(start, 1)[1].split(end, 1)[0]
    found = re.fullmatch(rf"\s*```{language}\n(.*?)```\s*", block, re.DOTALL)
    assert found is not None, f"the {marker} block of docs/{doc} is one ```{language} block"
    return found.group(1)


class Process:
    """A proxy process on a free loopback port, its output in `folder/output.log`."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder = folder
        self.name = name
        self.port = free_port()
        folder.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def output(self) -> str:
        path = self.folder / "output.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> Process:
        with (self.folder / "output.log").open("wb") as out:
            self.process = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT)
        process = self.process
        try:
            wait_for_port(self.port, alive=lambda: process.poll() is None, what=self.name, timeout=30)
            self.ready()
        except (RuntimeError, TimeoutError) as exc:
            self.stop()
            raise RuntimeError(f"{exc}\n{self.output[-4000:]}") from None
        return self

    def ready(self) -> None:
        """Until the proxy routes (listening is not enough for a proxy that loads its routes later)."""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    @contextlib.contextmanager
    def running(self) -> Iterator[Process]:
        self.start()
        try:
            yield self
        finally:
            self.stop()


class Envoy(Process):
    """Envoy with the configuration of docs/envoy.md: the gRPC ext_authz filter, or (`http=True`) the
    HTTP service filter of the same page in its place."""

    def __init__(
        self,
        folder: Path,
        *,
        sidecar_port: int,
        grpc_port: int,
        backend_port: int,
        http: bool = False,
        decision_timeout: str | None = None,
    ) -> None:
        """`decision_timeout` replaces the guide's ext_authz timeout (0.25 s), for tests that compare
        outcomes on a machine loaded enough that a decision may take longer."""
        super().__init__(folder, "envoy-http" if http else "envoy-grpc")
        config = envoy_config(http=http, decision_timeout=decision_timeout)
        listener = config["static_resources"]["listeners"][0]
        listener["address"]["socket_address"].update(address="127.0.0.1", port_value=self.port)
        ports = {"minorguard": sidecar_port, "minorguard_grpc": grpc_port, "game_backend": backend_port}
        for cluster in config["static_resources"]["clusters"]:
            for group in cluster["load_assignment"]["endpoints"]:
                for endpoint in group["lb_endpoints"]:
                    address = endpoint["endpoint"]["address"]["socket_address"]
                    address.update(address="127.0.0.1", port_value=ports[cluster["name"]])
        self.config = config
        (folder / "envoy.yaml").write_text(yaml.safe_dump(config))

    def command(self) -> list[str]:
        return [
            binary("envoy"),
            "-c",
            str(self.folder / "envoy.yaml"),
            "--concurrency",
            "1",
            "--disable-hot-restart",  # several Envoys on one machine: no shared memory between them
            "--log-level",
            "warn",
        ]


def envoy_config(*, http: bool, decision_timeout: str | None = None) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(doc_block("envoy.md", "envoy-config", "yaml"))
    manager = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    filters = manager["typed_config"]["http_filters"]
    (index,) = [i for i, f in enumerate(filters) if f["name"] == "envoy.filters.http.ext_authz"]
    if http:
        (filters[index],) = yaml.safe_load(doc_block("envoy.md", "envoy-http-filter", "yaml"))
    if decision_timeout is not None:
        authz = filters[index]["typed_config"]
        service = authz.get("grpc_service") or authz["http_service"]["server_uri"]
        assert "timeout" in service, "the guide's ext_authz filter lost its timeout"
        service["timeout"] = decision_timeout
    return config


class Traefik(Process):
    """Traefik with the file-provider configuration of docs/traefik.md, its entry point `web` on a free
    loopback port (the static configuration the page gives as command-line flags)."""

    def __init__(self, folder: Path, *, sidecar_port: int, backend_port: int) -> None:
        super().__init__(folder, "traefik")
        dynamic = doc_block("traefik.md", "traefik-dynamic", "yaml")
        for old, new in (
            ("http://127.0.0.1:8080/", f"http://127.0.0.1:{sidecar_port}/"),
            ("http://127.0.0.1:9000", f"http://127.0.0.1:{backend_port}"),
        ):
            assert dynamic.count(old) == 1, f"the Traefik configuration has one {old!r}"
            dynamic = dynamic.replace(old, new)
        (folder / "dynamic.yaml").write_text(dynamic)
        flags = doc_block("traefik.md", "traefik-static", "sh")
        self.flags = [f.replace(":80", f"127.0.0.1:{self.port}") for f in traefik_flags(flags)]

    def command(self) -> list[str]:
        return [binary("traefik"), *self.flags, f"--providers.file.filename={self.folder / 'dynamic.yaml'}"]

    def ready(self) -> None:
        # the file provider loads the routers a moment after the entry point listens: until then 404
        for _ in range(300):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=1).status_code != 404:
                    return
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError("traefik exited")
            subprocess.run(["sleep", "0.05"], check=True)
        raise TimeoutError("traefik did not load its routers")


def traefik_flags(command: str) -> list[str]:
    """The flags of the page's `traefik ...` command, but the file provider's (the test's file)."""
    words = command.replace("\\\n", " ").split()
    assert words[0] == "traefik", command
    return [w for w in words[1:] if not w.startswith("--providers.file.filename=")]
