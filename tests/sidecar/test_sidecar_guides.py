"""The guides' checks, run as a reader would: `minorguard sidecar --demo --grpc-port` (a real process,
with the `--start-at` the guides give), real nginx, Envoy and Traefik from the configurations the guides
print, a backend on port 9000's stand-in, and every `curl` line of a guide's checks block run in bash
with the demo's `export TOKEN_...` lines. Each line's comment says what it answers (`# 403 ...,
minorguard-reason: purchase_single_cap`); a guide cannot drift from the behaviour again.

The addresses the guides use (the sidecar on 127.0.0.1:8080, nginx and Traefik on :80, Envoy on
:8000, the backend on :9000) are replaced by free ports; nothing else in a line is changed."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from proxykit import Envoy, Traefik, doc_block
from sidecarkit import EchoUpstream, Nginx, SidecarProcess

from redis_servers import free_port

START_AT = "2026-11-20T20:50:00+08:00"  # the guides' --start-at: a Friday evening
GUIDES = {  # guide: (its checks block, the proxy its lines go through)
    "nginx.md": ("nginx-checks", "nginx"),
    "envoy.md": ("envoy-checks", "envoy"),
    "traefik.md": ("traefik-checks", "traefik"),
    "sidecar.md": ("sidecar-checks", None),
}
PROXY_ADDRESS = {
    "nginx": "http://127.0.0.1:80/",
    "envoy": "http://127.0.0.1:8000/",
    "traefik": "http://127.0.0.1:80/",
}
SIDECAR_ADDRESS = "http://127.0.0.1:8080/"


@dataclass(frozen=True)
class Check:
    command: str
    expected: str  # the comment line under it, without "# "


def checks(doc: str, marker: str) -> list[Check]:
    """Each command of the block (with its `\\` continuations) and the comment that follows it."""
    text = doc_block(doc, marker, "sh").replace("\\\n", "")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    found = [Check(line, after[2:]) for line, after in itertools.pairwise(lines) if line.startswith("curl")]
    assert len(found) * 2 == len(lines), f"docs/{doc}: each command is followed by its '# ...' line"
    return found


@dataclass
class Stack:
    exports: list[str]
    urls: dict[str, str]
    upstream: EchoUpstream


@pytest.fixture(scope="module")
def stack(nginx: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("guides")
    grpc_port = free_port()
    demo = ("--demo", "--grpc-port", str(grpc_port), "--start-at", START_AT)
    with SidecarProcess.running(folder / "sidecar", *demo) as sidecar, EchoUpstream.running() as upstream:
        exports = re.findall(r"^export TOKEN_\w+=\S+$", sidecar.stdout, re.MULTILINE)
        assert len(exports) == 6, sidecar.stdout
        ports = {"sidecar_port": sidecar.port, "backend_port": upstream.port}
        proxies = {
            "nginx": Nginx(folder / "nginx", nginx, **ports),
            "envoy": Envoy(folder / "envoy", grpc_port=grpc_port, **ports),
            "traefik": Traefik(folder / "traefik", **ports),
        }
        started = []
        try:
            for proxy in proxies.values():
                started.append(proxy.start())
            urls = {name: proxy.url + "/" for name, proxy in proxies.items()} | {"sidecar": sidecar.url + "/"}
            yield Stack(exports, urls, upstream)
        finally:
            for proxy in started:
                proxy.stop()


def located(check: Check, proxy: str | None, urls: dict[str, str]) -> str:
    command = check.command.replace(SIDECAR_ADDRESS, urls["sidecar"])
    if proxy is not None:
        command = command.replace(PROXY_ADDRESS[proxy], urls[proxy])
    assert command != check.command, f"{check.command!r} names none of the guides' addresses"
    return command


def answer_of(output: str) -> tuple[int, dict[str, str], str]:
    head, _, body = output.replace("\r\n", "\n").partition("\n\n")
    lines = head.splitlines()
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


CASES = [
    pytest.param(doc, proxy, check, id=f"{doc}:{n}")
    for doc, (marker, proxy) in GUIDES.items()
    for n, check in enumerate(checks(doc, marker), 1)
]


@pytest.mark.parametrize(("doc", "proxy", "check"), CASES)
def test_each_check_in_the_guides_answers_what_its_comment_says(
    stack: Stack, doc: str, proxy: str | None, check: Check
) -> None:
    before = len(stack.upstream.seen)
    script = "\n".join([*stack.exports, located(check, proxy, stack.urls)])
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    status, headers, body = answer_of(done.stdout)
    expected = check.expected
    assert status == int(expected.split()[0].rstrip(",")), (expected, done.stdout)
    if "application/problem+json" in expected:
        assert headers["content-type"] == "application/problem+json"
    reached = len(stack.upstream.seen) > before
    assert reached == ("from the backend" in expected), done.stdout
    seen = stack.upstream.seen[-1]["minorguard"] if reached else headers
    for name, value in re.findall(r"([\w-]+): (\w[\w-]*)", expected):
        assert seen.get(name) == value, (name, done.stdout)
    for name, value in re.findall(r'"(\w+)": "(\w+)"', expected):
        assert json.loads(body)[name] == value, (name, body)


def test_every_guide_has_checks_and_the_guides_configurations_are_the_ones_the_tests_run() -> None:
    """The checks blocks exist, and each proxy's configuration is read from its guide (proxykit,
    sidecarkit): nothing here or in the table of doors runs a configuration of its own."""
    assert len(CASES) >= 15
    assert "auth_request /_minorguard;" in Path(doc_path("nginx.md")).read_text()
    assert "envoy.service.auth" not in doc_block("envoy.md", "envoy-config", "yaml")  # only its filter
    assert "grpc_service:" in doc_block("envoy.md", "envoy-config", "yaml")
    assert "forwardAuth:" in doc_block("traefik.md", "traefik-dynamic", "yaml")


def doc_path(name: str) -> Path:
    return Path(__file__).resolve().parents[2] / "docs" / name
