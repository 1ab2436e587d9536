"""The Helm chart's default routes work behind the proxies that forward no body: the sidecar runs the
routes `helm template` renders with the chart's default values, behind real nginx and Traefik (their
guides' configurations), and purchases and tips are judged by the amount in their header (with body
routes, every one was refused as an invalid request). And `grpc.enabled` serves the gRPC door."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from proxykit import Process, Traefik
from sidecarkit import (
    AGE_15,
    AGE_17,
    FRIDAY_IN_WINDOW,
    Clock,
    EchoUpstream,
    Nginx,
    ServerThread,
    bearer,
    bj,
    sidecar,
    token,
    write_config,
)

from helm.helmkit import one, render


def chart_config(**values: Any) -> dict[str, Any]:
    docs = render(extra=values or None)
    config: dict[str, Any] = yaml.safe_load(
        one(docs, "ConfigMap", "mg-minorguard-config")["data"]["deployment.yaml"]
    )
    return config


@pytest.fixture(scope="module")
def proxies(nginx: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("chart-defaults")
    clock = Clock(bj(FRIDAY_IN_WINDOW))
    config = write_config(folder / "config", routes=chart_config()["routes"])
    with ServerThread.running(sidecar(config, clock)) as server, EchoUpstream.running() as upstream:
        ports = {"sidecar_port": server.port, "backend_port": upstream.port}
        started: list[Process | Nginx] = []
        try:
            for proxy in (Nginx(folder / "nginx", nginx, **ports), Traefik(folder / "traefik", **ports)):
                started.append(proxy.start())
            yield {"nginx": started[0].url, "traefik": started[1].url, "upstream": upstream}
        finally:
            for proxy in started:
                proxy.stop()


def test_the_default_routes_take_amounts_from_a_header() -> None:
    routes = chart_config()["routes"]
    amounts = [route["amount"] for route in routes if "amount" in route]
    assert amounts == [{"from": "header", "name": "X-Amount-Fen"}] * 2


@pytest.mark.parametrize("proxy", ["nginx", "traefik"])
@pytest.mark.parametrize(
    ("path", "born", "amount", "reason"),
    [
        ("/shop/orders", AGE_15, "2000", "allowed"),
        ("/shop/orders", AGE_15, "5001", "purchase_single_cap"),
        ("/live/rooms/7/gifts", AGE_17, "100", "tip_minor"),
    ],
    ids=["purchase", "over-the-cap", "minor-tip"],
)
def test_the_default_routes_judge_purchases_and_tips_behind_the_proxy(
    proxies: dict[str, Any], proxy: str, path: str, born: Any, amount: str, reason: str
) -> None:
    upstream: EchoUpstream = proxies["upstream"]
    before = len(upstream.seen)
    headers = bearer(token(f"chart-{proxy}-{path}-{amount}", born)) | {"X-Amount-Fen": amount}
    response = httpx.post(proxies[proxy] + path, headers=headers, timeout=10)
    if reason == "allowed":
        assert response.status_code == 200, response.text
        assert upstream.seen[-1]["minorguard"]["x-minorguard-decision"] == "allow"
        assert upstream.seen[-1]["headers"]["x-amount-fen"] == amount  # the amount judged
    else:
        assert response.status_code == 403, response.text
        assert response.headers["minorguard-reason"] == reason
        assert len(upstream.seen) == before


def test_grpc_enabled_serves_the_grpc_door_on_its_port() -> None:
    docs = render(extra={"grpc": {"enabled": True, "port": 9191}})
    container = one(docs, "Deployment", "mg-minorguard")["spec"]["template"]["spec"]["containers"][0]
    args = container["args"]
    assert args[args.index("--grpc-port") + 1] == "9191"
    assert {"name": "grpc", "containerPort": 9191, "protocol": "TCP"} in container["ports"]
    ports = one(docs, "Service", "mg-minorguard")["spec"]["ports"]
    assert {
        "name": "grpc",
        "port": 9191,
        "targetPort": "grpc",
        "protocol": "TCP",
        "appProtocol": "grpc",
    } in ports
    off = one(render(), "Deployment", "mg-minorguard")["spec"]["template"]["spec"]["containers"][0]
    assert "--grpc-port" not in off["args"]
