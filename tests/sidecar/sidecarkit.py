"""Helpers of the sidecar tests: deployment files in tmp (header-amount routes, since proxies do not
forward bodies), real tokens, a settable clock, and real servers on loopback: the sidecar under uvicorn
in a thread or as a `minorguard sidecar` process (granian), a tiny upstream that echoes the headers it
received, and nginx started from the snippet in docs/nginx.md.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp

from middleware.mwkit import Clock, bj, write_deployment  # noqa: F401  (one clock and Beijing-time helper for both suites)
from minorguard.adapters.identity import issue_token
from minorguard.sidecar.app import SidecarApp
from minorguard.sidecar.serve import build_sidecar
from redis_servers import free_port

REPO = Path(__file__).resolve().parents[2]
DEMO_POLICY = REPO / "policies" / "examples" / "demo.yaml"
NGINX_DOC = REPO / "docs" / "nginx.md"
BJ = dt.timezone(dt.timedelta(hours=8))
SECRET = "sidecar-tests-hs256-secret-0123456789abcdef-xyz"  # over HS256's 32 bytes
SUBJECT_SECRET = "sidecar-tests-subject-secret"
ADMIN_TOKEN = "sidecar-tests-admin-token-0123456789"
# the service credentials of the state-changing endpoints: the backend's, and support's for refunds
SETTLE_TOKEN = "sidecar-tests-settle-token-0123456789abcdef"
REFUND_TOKEN = "sidecar-tests-refund-token-0123456789abcdef-0123456789"
PORTAL_TOKEN = "sidecar-tests-parents-portal-token-0123456789"  # may set guardian settings
CREDENTIALS = [
    {"name": "shop-backend", "token": {"value": SETTLE_TOKEN}, "may": ["commit", "release", "identity"]},
    {"name": "support", "token": {"value": REFUND_TOKEN}, "may": ["refund", "usage"]},
    {"name": "parents-portal", "token": {"value": PORTAL_TOKEN}, "may": ["guardian"]},
]
ISSUER = "https://id.minorguard.test"
AUDIENCE = "minorguard-sidecar-tests"
PROBLEM_JSON = "application/problem+json"
AMOUNT_HEADER = "X-Amount-Fen"

# birth dates for a clock in November 2026
UNDER_8 = dt.date(2019, 6, 15)  # 7; turns 8 on 2027-06-15
AGE_15 = dt.date(2011, 5, 1)  # 15; 16 on 2027-05-01
AGE_17 = dt.date(2009, 3, 10)  # 17; 18 on 2027-03-10
ADULT = dt.date(1990, 1, 1)

FRIDAY_IN_WINDOW = "2026-11-20 20:30:00"  # a minor may play (Fri 20:00-21:00)
FRIDAY_CURFEW = "2026-11-20 23:00:00"
MONDAY_AFTERNOON = "2026-11-23 15:00:00"  # outside the play window

# Proxies forward headers, not bodies: amounts come from a header. One body route for Envoy's
# with_request_body and the decision API's `body`.
ROUTES: list[dict[str, Any]] = [
    {"method": "GET", "path": "/game/ping", "activity": "game", "game_id": {"from": "query", "name": "game"}},
    {"method": "GET", "path": "/game/lobby", "activity": "game"},  # reads nothing but the token
    {
        "method": "POST",
        "path": "/shop/purchases",
        "activity": "purchase",
        "amount": {"from": "header", "name": AMOUNT_HEADER},
    },
    {
        "method": "POST",
        "path": "/shop/body-purchases",
        "activity": "purchase",
        "amount": {"from": "body", "name": "amount_fen"},
    },
    {"method": "POST", "path": "/live/publishers", "activity": "livestream_publisher_registration"},
    {
        "method": "POST",
        "path": "/live/rooms/{room}/tips",
        "activity": "livestream_tip",
        "amount": {"from": "header", "name": AMOUNT_HEADER},
    },
]
EXEMPT = ["/healthz", "/metrics", "/static/*"]


def bj_iso(text: str) -> str:
    return dt.datetime.fromisoformat(text).replace(tzinfo=BJ).isoformat()


def write_config(
    folder: Path,
    *,
    policy: str = "demo",
    store: str = "memory://",
    routes: list[dict[str, Any]] | None = None,
    name: str = "deployment.yaml",
    identity: dict[str, Any] | None = None,
    **settings: Any,
) -> Path:
    """A deployment config in `folder` (the middleware kit's writer with the sidecar tests' key, routes,
    subject secret and admin token). `policy="demo"` copies the demo policy next to it."""
    folder.mkdir(parents=True, exist_ok=True)
    identity = identity or {
        "algorithms": ["HS256"],
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "hs_secret": {"value": SECRET},
    }
    return write_deployment(
        folder,
        policy=policy,
        store=store,
        routes=routes or ROUTES,
        identity=identity,
        name=name,
        **{
            "subject_secret": {"value": SUBJECT_SECRET},
            "admin_token": {"value": ADMIN_TOKEN},
            "credentials": CREDENTIALS,
            "exempt_paths": EXEMPT,
            **settings,
        },
    )


def token(
    subject: str, birthdate: dt.date | None, *, verified: bool = True, consent: Iterable[str] = ()
) -> str:
    """A real HS256 token, signed on the real clock (the verifier checks exp against it)."""
    return issue_token(
        secret_or_private_key=SECRET,
        algorithm="HS256",
        subject=subject,
        birthdate=birthdate,
        verified=verified,
        guardian_consent=tuple(consent),
        issuer=ISSUER,
        audience=AUDIENCE,
    )


def guardian_token(subject: str, children: Iterable[str], birthdate: dt.date = dt.date(1985, 6, 1)) -> str:
    """A guardian's token: an identity-verified adult whose guardian_of claim names `children`."""
    return issue_token(
        secret_or_private_key=SECRET,
        algorithm="HS256",
        subject=subject,
        birthdate=birthdate,
        verified=True,
        issuer=ISSUER,
        audience=AUDIENCE,
        extra={"guardian_of": list(children)},
    )


def settings_url(child: str) -> str:
    return f"/v1/guardian/children/{child}/settings"


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def service(action: str) -> dict[str, str]:
    """The credential the tests' config gives for a reservation `action`."""
    return bearer(REFUND_TOKEN if action == "refund" else SETTLE_TOKEN)


def sidecar(config: Path, clock: Clock | None = None) -> SidecarApp:
    """An in-process sidecar app, with its own metrics registry."""
    return build_sidecar(str(config), registry=CollectorRegistry(), clock=clock or time.time)


def asgi_client(app: ASGIApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sidecar.test")


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON, response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status, body
    assert isinstance(body.get("title"), str), body
    return body


# ---------------------------------------------------------------- real servers on loopback


def wait_for_port(port: int, *, alive: Any = None, timeout: float = 15.0, what: str = "server") -> None:
    """Until something accepts on 127.0.0.1:port; `alive()` returning False ends the wait early."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise RuntimeError(f"{what} exited before listening on {port}")
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise TimeoutError(f"{what} did not listen on {port} within {timeout}s")


class ServerThread:
    """An ASGI app under uvicorn in a thread of this process (so the test keeps its clock in hand)."""

    def __init__(self, app: ASGIApp, port: int | None = None) -> None:
        self.port = port or free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            ws="none",
            loop="asyncio",
            http="h11",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    @contextlib.contextmanager
    def running(cls, app: ASGIApp, port: int | None = None) -> Iterator[ServerThread]:
        server = cls(app, port)
        server.start()
        try:
            yield server
        finally:
            server.stop()

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start on port {self.port}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        assert not self.thread.is_alive(), "uvicorn did not stop"


class _Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = {
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "header_list": [[k.lower(), v] for k, v in self.headers.items()],  # repeated ones too
            "minorguard": {
                k.lower(): v for k, v in self.headers.items() if k.lower().startswith("x-minorguard-")
            },
            "body": body.decode("utf-8", "replace"),
        }
        self.server.seen.append(seen)  # type: ignore[attr-defined]
        data = json.dumps(seen).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return


class EchoUpstream:
    """The backend behind the proxy: answers 200 with the method, path and headers it received."""

    def __init__(self) -> None:
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
        self.httpd.daemon_threads = True
        self.httpd.seen = []  # type: ignore[attr-defined]
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="echo-upstream", daemon=True)

    @property
    def seen(self) -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = self.httpd.seen  # type: ignore[attr-defined]
        return seen

    @classmethod
    @contextlib.contextmanager
    def running(cls) -> Iterator[EchoUpstream]:
        upstream = cls()
        upstream.thread.start()
        try:
            yield upstream
        finally:
            upstream.httpd.shutdown()
            upstream.httpd.server_close()
            upstream.thread.join(5)


def minorguard_command() -> list[str]:
    script = Path(sys.executable).parent / "minorguard"
    return [str(script)] if script.exists() else [sys.executable, "-m", "minorguard.cli"]


class SidecarProcess:
    """`minorguard sidecar ...` as a user runs it (granian), on a free loopback port."""

    def __init__(self, folder: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.args = [*minorguard_command(), "sidecar", *args, "--host", "127.0.0.1", "--port", str(self.port)]
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stdout(self) -> str:
        return (self.folder / "stdout.log").read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return (self.folder / "stderr.log").read_text(errors="replace")

    def start(self, timeout: float = 30.0) -> SidecarProcess:
        with (self.folder / "stdout.log").open("wb") as out, (self.folder / "stderr.log").open("wb") as err:
            self.process = subprocess.Popen(self.args, stdout=out, stderr=err, env=self.env, cwd=self.folder)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the sidecar exited ({self.process.returncode}):\n{self.stderr[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=0.5).status_code == 200:
                    return self
            if time.monotonic() > deadline:
                raise TimeoutError(f"the sidecar did not answer /healthz:\n{self.stderr[-3000:]}")
            time.sleep(0.05)

    def signal(self, number: int) -> None:
        assert self.process is not None
        self.process.send_signal(number)

    def wait(self, timeout: float = 20.0) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    @classmethod
    @contextlib.contextmanager
    def running(cls, folder: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[SidecarProcess]:
        process = cls(folder, *args, env=env)
        try:
            yield process.start()
        finally:
            process.stop()


# ---------------------------------------------------------------- nginx

SNIPPET_START = "<!-- nginx-snippet:start -->"
SNIPPET_END = "<!-- nginx-snippet:end -->"
SIDECAR_ADDRESS = "server 127.0.0.1:8080;"
BACKEND_ADDRESS = "server 127.0.0.1:9000;"
LISTEN = "listen 127.0.0.1:80;"


def nginx_snippet() -> str:
    """The configuration in docs/nginx.md, between its markers, without the code fence."""
    text = NGINX_DOC.read_text()
    assert text.count(SNIPPET_START) == 1, "docs/nginx.md lost its start marker"
    assert text.count(SNIPPET_END) == 1, "docs/nginx.md lost its end marker"
    block = text.split(SNIPPET_START, 1)[1].split(SNIPPET_END, 1)[0]
    found = re.fullmatch(r"\s*```nginx\n(.*?)```\s*", block, re.DOTALL)
    assert found is not None, "the snippet is one ```nginx block"
    return found.group(1)


def nginx_binary() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None)


class Nginx:
    """A real nginx on a free loopback port, in its own prefix folder, running the doc's snippet with
    the sidecar's and the backend's addresses put in."""

    def __init__(self, folder: Path, binary: str, *, sidecar_port: int, backend_port: int) -> None:
        self.folder = folder
        self.binary = binary
        self.port = free_port()
        folder.mkdir(parents=True, exist_ok=True)
        snippet = nginx_snippet()
        for old, new in (
            (SIDECAR_ADDRESS, f"server 127.0.0.1:{sidecar_port};"),
            (BACKEND_ADDRESS, f"server 127.0.0.1:{backend_port};"),
            (LISTEN, f"listen 127.0.0.1:{self.port};"),
        ):
            assert snippet.count(old) == 1, f"the snippet has one {old!r}"
            snippet = snippet.replace(old, new)
        (folder / "minorguard.conf").write_text(snippet)
        temp = "".join(
            f"    {kind}_temp_path {folder}/tmp/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        user = "user root root;\n" if os.geteuid() == 0 else ""
        (folder / "nginx.conf").write_text(
            f"{user}daemon off;\nworker_processes 1;\npid {folder}/nginx.pid;\n"
            f"error_log {folder}/error.log info;\n"
            "events { worker_connections 512; }\n"
            "http {\n"
            f"    access_log {folder}/access.log;\n{temp}"
            f"    include {folder}/minorguard.conf;\n"
            "}\n"
        )
        (folder / "tmp").mkdir(exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def error_log(self) -> str:
        path = self.folder / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> Nginx:
        command = [self.binary, "-p", str(self.folder), "-c", str(self.folder / "nginx.conf")]
        command += ["-e", str(self.folder / "error.log")]
        with (self.folder / "stderr.log").open("wb") as err:
            self.process = subprocess.Popen(command, stdout=err, stderr=subprocess.STDOUT)
        process = self.process
        try:
            wait_for_port(self.port, alive=lambda: process.poll() is None, what="nginx")
        except (RuntimeError, TimeoutError) as exc:
            output = (self.folder / "stderr.log").read_text(errors="replace")
            raise RuntimeError(f"{exc}\n{output}\n{self.error_log[-3000:]}") from None
        return self

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGQUIT)  # graceful
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
