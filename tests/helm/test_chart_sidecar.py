"""The chart's pod, run as Kubernetes would run it, without Kubernetes: the rendered ConfigMaps and
Secrets laid out the way the kubelet mounts them (atomic `..data` symlink swaps), the container's own
arguments, a real redis-server with a password, and the `helm test` pod's own check. A policy edit
reaches the running sidecar through the ConfigMap swap alone, and a broken one is refused."""

from __future__ import annotations

import base64
import datetime as dt
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from helmkit import find, one, render, server_process, wait_for

from minorguard.adapters.identity import issue_token
from redis_servers import RedisServer, fail_without, free_port

MOUNT = "/etc/minorguard/"
HS_SECRET = "chart-e2e-hs256-secret-0123456789abcdef-xyz"
ADMIN_TOKEN = "chart-e2e-admin-token-0123456789"
REDIS_PASSWORD = "chart e2e pass/word"  # a space and a slash: quoted into the store URL
ISSUER = "https://id.chart-e2e.test"
AUDIENCE = "chart-e2e"
POLICY = "name: chart-e2e\nextends: nppa-2021\n"


class Volume:
    """A directory the way the kubelet writes ConfigMap and Secret volumes: files are symlinks through
    `..data` to a timestamped directory, and an update swaps `..data` atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.generation = 0
        path.mkdir(parents=True)

    def write(self, files: dict[str, bytes]) -> None:
        self.generation += 1
        version = self.path / f"..2026_01_01_00_00_00.{self.generation:09d}"
        version.mkdir()
        for name, content in files.items():
            (version / name).write_bytes(content)
        staged = self.path / "..data_tmp"
        staged.symlink_to(version.name)
        staged.rename(self.path / "..data")
        for name in files:
            link = self.path / name
            if not link.is_symlink():
                link.symlink_to(f"..data/{name}")


def _values(redis_port: int) -> dict[str, Any]:
    return {
        "redis": {"enabled": False},
        "store": {"url": f"redis://127.0.0.1:{redis_port}/0", "password": {"value": REDIS_PASSWORD}},
        "config": {
            "policy_reload_seconds": 0.2,
            "identity": {"algorithms": ["HS256"], "issuer": ISSUER, "audience": AUDIENCE, "jwks_url": ""},
        },
        "secrets": {
            "subjectSecret": {"value": "chart-e2e-subject-secret"},
            "adminToken": {"value": ADMIN_TOKEN},
            "jwtHsSecret": {"value": HS_SECRET},
        },
        "policy": {"content": POLICY},
    }


def _secret_files(docs: list[dict[str, Any]], pod: dict[str, Any]) -> dict[str, bytes]:
    secrets = {d["metadata"]["name"]: d["data"] for d in find(docs, "Secret")}
    volume = next(v for v in pod["volumes"] if v["name"] == "secrets")
    files = {}
    for source in volume["projected"]["sources"]:
        data = secrets[source["secret"]["name"]]
        for item in source["secret"]["items"]:
            files[item["path"]] = base64.b64decode(data[item["key"]])
    return files


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    fail_without("redis-server")
    workdir = tmp_path_factory.mktemp("chart-redis")
    with RedisServer.launch(workdir, args=("--requirepass", REDIS_PASSWORD)) as server:
        yield server


class Pod:
    def __init__(self, base: str, docs: list[dict[str, Any]], policy: Volume) -> None:
        self.base = base
        self.docs = docs
        self.policy = policy

    def decide(self, client: httpx.Client, subject: str, born: dt.date, **body: Any) -> dict[str, Any]:
        token = issue_token(
            secret_or_private_key=HS_SECRET.encode(),
            algorithm="HS256",
            subject=subject,
            birthdate=born,
            verified=True,
            issuer=ISSUER,
            audience=AUDIENCE,
        )
        answer = client.post("/v1/decisions", json={"token": token, **body})
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result


@pytest.fixture(scope="module")
def pod(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pod]:
    root = tmp_path_factory.mktemp("pod")
    docs = render(extra=_values(redis_server.port))
    spec = one(docs, "Deployment", "mg-minorguard")["spec"]["template"]["spec"]
    Volume(root / "config").write(
        {
            key: value.replace(MOUNT, f"{root}/").encode()
            for key, value in one(docs, "ConfigMap", "mg-minorguard-config")["data"].items()
        }
    )
    policy = Volume(root / "policy")
    policy.write({k: v.encode() for k, v in one(docs, "ConfigMap", "mg-minorguard-policy")["data"].items()})
    Volume(root / "secrets").write(_secret_files(docs, spec))
    port = free_port()
    args = [arg.replace(MOUNT, f"{root}/") for arg in spec["containers"][0]["args"]]
    args[args.index("--host") + 1] = "127.0.0.1"
    args[args.index("--port") + 1] = str(port)
    # the image's ENTRYPOINT is ["minorguard", "sidecar"]
    command = [sys.executable, "-m", "minorguard.cli", "sidecar", *args]
    log = root / "sidecar.log"
    base = f"http://127.0.0.1:{port}"
    with server_process(command, log) as process:

        def ready() -> bool:
            assert process.poll() is None, log.read_text(errors="replace")
            return httpx.get(f"{base}/readyz").status_code == 200

        wait_for(ready, "the sidecar with the chart's config to be ready")
        yield Pod(base, docs, policy)


def test_the_helm_test_pod_passes_against_the_running_sidecar(pod: Pod) -> None:
    container = one(pod.docs, "Pod")["spec"]["containers"][0]
    command = list(container["command"])
    assert command[0] == "python"
    command[0] = sys.executable
    command[-1] = re.sub(r"^http://[^/]+", pod.base, command[-1])
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert '"status": "ready"' in done.stdout
    assert '"policy": "chart-e2e"' in done.stdout


def test_decisions_are_counted_in_redis_with_the_secret_password(pod: Pod, redis_server: RedisServer) -> None:
    today = dt.date.today()
    with httpx.Client(base_url=pod.base, timeout=10) as client:
        adult = pod.decide(client, "e2e-adult", today.replace(year=today.year - 30), activity="game")
        assert adult["outcome"] == "allow"
        teen = pod.decide(
            client, "e2e-teen", today.replace(year=today.year - 17), activity="purchase", amount_fen=100
        )
        assert teen["outcome"] in {"allow", "deny"}
        usage = client.get("/v1/subjects/e2e-teen/usage", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert usage.status_code == 200, usage.text
        assert client.get("/v1/subjects/e2e-teen/usage").status_code == 401
    assert redis_server.keys(), "the sidecar wrote nothing to the chart's Redis"


def test_a_policy_configmap_update_is_hot_reloaded_and_a_broken_one_refused(pod: Pod) -> None:
    today = dt.date.today()
    with httpx.Client(base_url=pod.base, timeout=10) as client:
        before = client.get("/v1/policy").json()
        assert before["name"] == "chart-e2e"
        pod.policy.write({"policy.yaml": b"name: chart-e2e-edited\nextends: nppa-2021\n"})

        def reloaded(name: str) -> bool:
            pod.decide(client, "e2e-reload", today.replace(year=today.year - 30), activity="game")
            return bool(client.get("/v1/policy").json()["name"] == name)

        wait_for(lambda: reloaded("chart-e2e-edited"), "the edited policy to be in force", timeout=15)
        pod.policy.write({"policy.yaml": b"name: chart-e2e-broken\nextends: nppa-2021\nno_such_key: 1\n"})

        def refused() -> bool:
            pod.decide(client, "e2e-reload", today.replace(year=today.year - 30), activity="game")
            return 'minorguard_policy_reloads_total{result="error"} 1.0' in client.get("/metrics").text

        wait_for(refused, "the broken policy to be refused", timeout=15)
        assert client.get("/v1/policy").json()["name"] == "chart-e2e-edited"
        assert client.get("/readyz").status_code == 200
