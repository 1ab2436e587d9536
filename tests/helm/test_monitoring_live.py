"""The dashboard and the alerts against live data: a real Prometheus (Debian's package) on loopback
scrapes a running `minorguard sidecar --demo` after some traffic and loads the chart's rules file;
every dashboard query and every alert expression must run (data, or a valid empty result), every
rule must evaluate cleanly, and every metric name they use must be one the sidecar exports."""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from helmkit import (
    ALERTS,
    CONTRACT_METRICS,
    RUNBOOK_TOKEN,
    alert_rules,
    dashboard_queries,
    dashboard_variable_metrics,
    exported_names,
    metric_names,
    server_process,
    tool,
    wait_for,
)

from minorguard.demo import demo_token
from redis_servers import free_port

HOST = "127.0.0.1"
# panels that must show data after the traffic below (the others may be empty: no store errors here)
PANELS_WITH_DATA = {
    "Decisions / s",
    "Deny share",
    "Holiday calendar left",
    "Decisions by activity and outcome",
    "Denials by reason",
    "Deny share by activity",
    "Decision latency",
    "p99 latency by activity",
    "Identity failures",
    "Policy in force",
    "Policy revisions",
    "Holiday calendar coverage",
}


def _traffic(base: str) -> None:
    """Decisions of every activity, allowed and denied, a reservation settled and a missing token."""
    born = dt.date.today().replace(day=1)
    adult = demo_token("live-adult", born.replace(year=born.year - 30))
    teen = demo_token("live-teen", born.replace(year=born.year - 15))
    child = demo_token("live-child", born.replace(year=born.year - 7))
    with httpx.Client(base_url=base, timeout=10) as client:
        bodies: list[dict[str, Any]] = [
            {"token": adult, "activity": "game"},
            {"token": teen, "activity": "game"},
            {"token": teen, "activity": "purchase", "amount_fen": 5001},
            {"token": child, "activity": "livestream_tip", "amount_fen": 100},
            {"token": teen, "activity": "livestream_publisher_registration"},
            {"token": adult, "method": "GET", "path": "/game/ping"},
        ]
        for body in bodies:
            answer = client.post("/v1/decisions", json=body)
            assert answer.status_code == 200, answer.text
        purchase = {"token": adult, "activity": "purchase", "amount_fen": 600}
        bought = client.post("/v1/decisions", json=purchase)
        reservation = bought.json().get("reservation_id")
        if reservation:
            client.post(f"/v1/reservations/{reservation}/commit")
        # no token: an identity failure
        client.get("/v1/authz/nginx", headers={"X-Original-URI": "/game/ping", "X-Original-Method": "GET"})


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "minorguard.cli", "sidecar", "--demo"]
    log = tmp_path_factory.mktemp("sidecar") / "sidecar.log"
    base = f"http://{HOST}:{port}"
    with server_process([*command, "--host", HOST, "--port", str(port)], log) as process:

        def ready() -> bool:
            assert process.poll() is None, log.read_text(errors="replace")
            return httpx.get(f"{base}/readyz").status_code == 200

        wait_for(ready, "the sidecar to be ready")
        yield base


@pytest.fixture(scope="module")
def prometheus(sidecar: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    work = tmp_path_factory.mktemp("prometheus")
    rules = work / "alerts.yaml"
    rules.write_text(ALERTS.read_text().replace(RUNBOOK_TOKEN, "https://example.invalid/docs/operations.md"))
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {"job_name": "minorguard", "static_configs": [{"targets": [sidecar.removeprefix("http://")]}]}
        ],
    }
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    command = [
        tool("prometheus"),
        f"--config.file={work / 'prometheus.yml'}",
        f"--storage.tsdb.path={work / 'data'}",
        f"--web.listen-address={HOST}:{port}",
        "--log.level=warn",
    ]
    with (
        server_process(command, work / "prometheus.log") as process,
        httpx.Client(base_url=f"http://{HOST}:{port}", timeout=10) as client,
    ):
        wait_for(lambda: process.poll() is None and client.get("/-/ready").status_code == 200, "Prometheus")
        wait_for(lambda: bool(_data(client, "minorguard_policy_info")), "the first scrape of the sidecar")
        _traffic(sidecar)
        time.sleep(2.5)  # two scrapes, then more traffic: rate() has something to see
        _traffic(sidecar)
        rates = "sum(rate(minorguard_decisions_total[1m])) > 0"
        wait_for(lambda: bool(_data(client, rates)), "decision rates")
        yield client


def _query(client: httpx.Client, expr: str) -> dict[str, Any]:
    answer = client.get("/api/v1/query", params={"query": expr})
    body: dict[str, Any] = answer.json()
    assert answer.status_code == 200, f"{expr}\n{body}"
    assert body["status"] == "success", f"{expr}\n{body}"
    return body


def _data(client: httpx.Client, expr: str) -> list[Any]:
    result: list[Any] = _query(client, expr)["data"]["result"]
    return result


def test_every_dashboard_query_runs_and_the_main_panels_have_data(prometheus: httpx.Client) -> None:
    queries = dashboard_queries()
    assert {title for title, _ in queries} >= PANELS_WITH_DATA
    empty = []
    for title, expr in queries:
        result = _query(prometheus, expr)["data"]
        assert result["resultType"] in {"vector", "scalar"}
        if title in PANELS_WITH_DATA and not result["result"]:
            empty.append(f"{title}: {expr}")
    assert not empty, "no data for:\n" + "\n".join(empty)


def test_every_alert_expression_runs(prometheus: httpx.Client) -> None:
    for rule in alert_rules():
        assert _query(prometheus, rule["expr"])["data"]["resultType"] == "vector", rule["alert"]


def test_prometheus_loads_and_evaluates_every_rule(prometheus: httpx.Client) -> None:
    def evaluated() -> bool:
        groups = prometheus.get("/api/v1/rules").json()["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        return len(rules) == len(alert_rules()) and all(
            not rule["lastEvaluation"].startswith("0001") for rule in rules
        )

    wait_for(evaluated, "every rule to be evaluated")
    groups = prometheus.get("/api/v1/rules").json()["data"]["groups"]
    rules = {rule["name"]: rule for group in groups for rule in group["rules"]}
    assert set(rules) == {rule["alert"] for rule in alert_rules()}
    for name, rule in rules.items():
        assert rule["health"] == "ok", f"{name}: {rule.get('lastError')}"

    def quiet() -> bool:
        groups = prometheus.get("/api/v1/rules").json()["data"]["groups"]
        states = {rule["name"]: rule["state"] for group in groups for rule in group["rules"]}
        return states["MinorguardNoDecisions"] == "inactive"

    # pending before the first decision (a sidecar that never decided); traffic makes it quiet
    wait_for(quiet, "MinorguardNoDecisions to be quiet once decisions flow", timeout=10)


def test_queries_use_only_metrics_the_sidecar_exports(sidecar: str) -> None:
    text = httpx.get(f"{sidecar}/metrics").text
    exported = exported_names(text)
    types = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE minorguard_")}
    assert types >= CONTRACT_METRICS, f"the sidecar no longer exports {sorted(CONTRACT_METRICS - types)}"
    used = set(dashboard_variable_metrics())
    for _, expr in dashboard_queries():
        used |= metric_names(expr)
    for rule in alert_rules():
        used |= metric_names(rule["expr"])
    assert used, "no metric name found in the queries"
    unknown = sorted(used - exported)
    assert not unknown, f"the dashboard or alerts use metrics the sidecar does not export: {unknown}"


def test_metric_names_finds_names_and_only_names() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, activity) (rate(a_bucket{job=~"x|y", le!="1"}[5m] offset 1d)))'
        " / on (job) group_left (policy) b_total > bool 0.5 or vector(0) unless absent(c_info)"
    )
    assert metric_names(expr) == {"a_bucket", "b_total", "c_info"}
