"""The alert rules (helm/minorguard/files/alerts.yaml) with the real promtool: syntax, and unit tests in
which every alert fires when it should and stays silent when it should not."""

from __future__ import annotations

from collections import defaultdict

import yaml
from helmkit import ALERTS, HERE, OPERATIONS, RUNBOOK_TOKEN, alert_rules, github_anchors, run, tool

UNIT_TESTS = (HERE / "alerts.test.yaml", HERE / "alerts-daily.test.yaml")
REQUIRED = {
    "MinorguardStoreErrors",
    "MinorguardFailOpen",
    "MinorguardPolicyReloadFailed",
    "MinorguardCalendarCoverageEnding",
    "MinorguardDenyRateChanged",
    "MinorguardNoDecisions",
    "MinorguardIdentityKeysUnusable",
    "MinorguardIdentityFailuresHigh",
    "MinorguardSettlementFailed",
    "MinorguardReservesAbandoned",
    "MinorguardCalendarProvisional",
}


def test_promtool_checks_the_rules_file() -> None:
    done = run(tool("promtool"), "check", "rules", str(ALERTS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in done.stdout


def test_promtool_unit_tests_pass() -> None:
    done = run(tool("promtool"), "test", "rules", *map(str, UNIT_TESTS), timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("SUCCESS") == len(UNIT_TESTS), done.stdout


def test_every_alert_has_a_firing_and_a_silent_case() -> None:
    cases: dict[str, set[str]] = defaultdict(set)
    for path in UNIT_TESTS:
        for group in yaml.safe_load(path.read_text())["tests"]:
            for check in group["alert_rule_test"]:
                cases[check["alertname"]].add("fires" if check.get("exp_alerts") else "silent")
    names = {rule["alert"] for rule in alert_rules()}
    assert names == REQUIRED
    for name in names:
        assert cases[name] == {"fires", "silent"}, f"{name}: {sorted(cases[name]) or 'no case'}"


def test_every_alert_says_what_and_where_to_read_more() -> None:
    anchors = github_anchors(OPERATIONS.read_text())
    for rule in alert_rules():
        annotations = rule["annotations"]
        assert {"summary", "description", "runbook_url"} <= set(annotations), rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}
        base, _, anchor = annotations["runbook_url"].partition("#")
        assert base == RUNBOOK_TOKEN
        assert anchor == rule["alert"].lower()
        assert anchor in anchors, f"docs/operations.md has no section {rule['alert']}"
