"""Helpers of the chart tests: the tools (helm from .tools/bin, promtool and prometheus from PATH; the
tests fail, not skip, without them: `scripts/helm-tools` installs them), rendering the chart, the
queries of the dashboard and the alert rules, and the metric names a PromQL expression uses."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "minorguard"
ALERTS = CHART / "files" / "alerts.yaml"
DASHBOARD = CHART / "files" / "dashboard.json"
OPERATIONS = REPO / "docs" / "operations.md"
HERE = Path(__file__).resolve().parent
VALUES_ALL = HERE / "values-all.yaml"
VALUES_EXTERNAL = HERE / "values-external.yaml"
RUNBOOK_TOKEN = "RUNBOOK_BASE_URL"

# What the sidecar exports (src/minorguard/metrics.py, metrics_fast.py); a histogram adds its suffixes.
CONTRACT_METRICS = {
    "minorguard_decisions_total",
    "minorguard_decision_duration_seconds",
    "minorguard_report_only_denials_total",
    "minorguard_store_errors_total",
    "minorguard_fail_open_total",
    "minorguard_identity_failures_total",
    "minorguard_reservations_total",
    "minorguard_policy_info",
    "minorguard_policy_reloads_total",
    "minorguard_calendar_coverage_days",
}


def tool(name: str) -> str:
    """A tool from .tools/bin or PATH; missing, the test fails and says how to install it."""
    local = REPO / ".tools" / "bin" / name
    if local.is_file():
        return str(local)
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"{name} not found in .tools/bin or on PATH: the chart tests run the real tool. "
            "Install helm, promtool and prometheus with scripts/helm-tools and rerun.",
            pytrace=False,
        )
    return found


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return run(tool("helm"), *args)


def template_text(*values: Path, sets: tuple[str, ...] = (), extra: dict[str, Any] | None = None) -> str:
    """`helm template` of the chart as release mg in namespace games, with values files, --set items
    and `extra` values (written to a temporary values file, last)."""
    args = ["template", "mg", str(CHART), "--namespace", "games"]
    for path in values:
        args += ["-f", str(path)]
    for item in sets:
        args += ["--set", item]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as file:
        if extra:
            yaml.safe_dump(extra, file)
            file.flush()
            args += ["-f", file.name]
        done = helm(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def render(
    *values: Path, sets: tuple[str, ...] = (), extra: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The chart's objects (tests hooks included), parsed."""
    return [doc for doc in yaml.safe_load_all(template_text(*values, sets=sets, extra=extra)) if doc]


def find(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = find(docs, kind, name)
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def alert_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(ALERTS.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


# Grafana's variables, as a query of the test sees them: every namespace, job and activity.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__range": "5m",
    "$namespace": ".*",
    "$job": ".*",
    "$activity": ".*",
}


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every panel target, Grafana's variables replaced."""
    found = []
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for name, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(name, value)
            assert "$" not in expr, f"an unknown Grafana variable in {expr}"
            found.append((panel["title"], expr))
    return found


def dashboard_variable_metrics() -> set[str]:
    """The metrics of the dashboard's label_values() variables."""
    names = set()
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            match = re.match(r"label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)", variable["definition"])
            assert match, variable["definition"]
            names.add(match.group(1))
    return names


_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool",
    "and", "or", "unless", "atan2", "inf", "nan", "start", "end",
}  # fmt: skip
_TOKEN = re.compile(r"\d+(?:\.\d+)?(?:e[+-]?\d+)?(?:ms|[smhdwy])?|([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers that are not functions, keywords,
    label names (inside {} or a grouping clause) or durations."""
    text = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in _TOKEN.finditer(text):
        name, call = match.group(1), match.group(2)
        if name and not call and name not in _KEYWORDS:
            names.add(name)
    return names


def exported_names(metrics_text: str) -> set[str]:
    """Sample names a /metrics page can carry, from its TYPE lines (a histogram: _bucket, _sum,
    _count) and its samples."""
    names = set()
    for line in metrics_text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            names.add(name)
            if kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings of a markdown file."""
    anchors = set()
    for line in markdown.splitlines():
        match = re.match(r"#{1,6}\s+(.*)", line)
        if match:
            slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
            anchors.add(slug)
    return anchors


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if check():
                return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@contextlib.contextmanager
def server_process(args: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A server in its own process group (granian forks workers), stopped with the whole group."""
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        with contextlib.suppress(ProcessLookupError):  # a worker left behind in the group
            os.killpg(process.pid, signal.SIGKILL)
