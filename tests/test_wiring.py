"""The composition root: gauges follow the policy in force, hot reload included."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from prometheus_client import CollectorRegistry

from minorguard.wiring import build_gate

DATA = Path(__file__).parent / "adapters" / "data"
NOV_22 = dt.datetime(2026, 11, 22, 12, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp()


def write(folder: Path, policy: str) -> Path:
    (folder / "policy.yaml").write_text(policy, encoding="utf-8")
    path = folder / "deployment.yaml"
    path.write_text(
        """policy: policy.yaml
store: memory://
subject_secret: {value: wiring-test-secret}
identity:
  algorithms: [HS256]
  issuer: test
  audience: test
  hs_secret: {value: a-test-signing-key-of-at-least-32-bytes}
routes:
  - {method: GET, path: /game/ping, activity: game}
""",
        encoding="utf-8",
    )
    return path


async def test_the_calendar_gauge_follows_a_reloaded_policys_override_files(tmp_path: Path) -> None:
    """39 days of data are left on 2026-11-22; a reload that adds the 2027 schedule makes it 404 without
    a restart."""
    shutil.copy(DATA / "override-2027-sample.yaml", tmp_path / "holidays-2027.yaml")
    registry = CollectorRegistry()
    gate = build_gate(
        write(tmp_path, "name: shop\nextends: nppa-2021\n"), registry=registry, clock=lambda: NOV_22
    )
    try:
        assert registry.get_sample_value("minorguard_calendar_coverage_days") == 39
        write(tmp_path, "name: shop\nextends: nppa-2021\ncalendar:\n  override_files: [holidays-2027.yaml]\n")
        assert gate.reloader is not None
        assert gate.reloader.reload(gate.engine)
        assert registry.get_sample_value("minorguard_calendar_coverage_days") == 39 + 365
    finally:
        await gate.close()


async def test_an_edited_holiday_override_file_alone_is_reloaded(tmp_path: Path) -> None:
    """Changing only an override file (not the policy) reloads the policy: decisions depend on it."""
    shutil.copy(DATA / "override-2027-sample.yaml", tmp_path / "holidays-2027.yaml")
    policy = "name: shop\nextends: nppa-2021\ncalendar:\n  override_files: [holidays-2027.yaml]\n"
    registry = CollectorRegistry()
    gate = build_gate(write(tmp_path, policy), registry=registry, clock=lambda: NOV_22)
    assert gate.reloader is not None
    try:
        gate.reloader.interval = 0.0
        gate.reloader.maybe_reload(gate.engine)  # nothing changed: no reload
        assert registry.get_sample_value("minorguard_policy_reloads_total", {"result": "success"}) is None
        override = tmp_path / "holidays-2027.yaml"
        override.write_text(override.read_text(encoding="utf-8") + "\n# corrected\n", encoding="utf-8")
        gate.reloader.maybe_reload(gate.engine)
        assert registry.get_sample_value("minorguard_policy_reloads_total", {"result": "success"}) == 1
    finally:
        await gate.close()


async def test_the_calendar_gauges_are_computed_at_scrape_time(tmp_path: Path) -> None:
    """No refresh call: the coverage gauge follows the clock day by day, and on 2027-01-05 (no official
    data) the provisional gauge is 1. In the middleware nothing else would ever update them."""
    now = [NOV_22]
    registry = CollectorRegistry()
    gate = build_gate(
        write(tmp_path, "name: shop\nextends: nppa-2021\n"), registry=registry, clock=lambda: now[0]
    )
    try:
        assert registry.get_sample_value("minorguard_calendar_coverage_days") == 39
        assert registry.get_sample_value("minorguard_calendar_provisional") == 0
        now[0] += 86400
        assert registry.get_sample_value("minorguard_calendar_coverage_days") == 38
        now[0] = dt.datetime(2027, 1, 5, 12, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp()
        assert registry.get_sample_value("minorguard_calendar_coverage_days") == 0
        assert registry.get_sample_value("minorguard_calendar_provisional") == 1
    finally:
        await gate.close()


async def test_acknowledged_looser_rules_are_a_metric_label_that_follows_reloads(tmp_path: Path) -> None:
    """minorguard_policy_looser_than_law{policy,rule} is 1 per acknowledged rule of the policy in force."""
    looser = (
        "name: shop\nextends: nppa-2021\ngame:\n  rating:\n    mode: report_only\n"
        "    looser_than_law: {reason: ratings are checked by the store front (COMP-7)}\n"
    )
    registry = CollectorRegistry()
    gate = build_gate(write(tmp_path, looser), registry=registry, clock=lambda: NOV_22)
    try:
        labels = {"policy": "shop", "rule": "game.rating"}
        assert registry.get_sample_value("minorguard_policy_looser_than_law", labels) == 1
        write(tmp_path, "name: shop\nextends: nppa-2021\n")
        assert gate.reloader is not None
        assert gate.reloader.reload(gate.engine)
        assert registry.get_sample_value("minorguard_policy_looser_than_law", labels) is None
    finally:
        await gate.close()


async def test_a_policy_looser_than_the_law_is_refused_on_reload(tmp_path: Path) -> None:
    """Hot reload runs the same floor: the curfew turned off keeps the last good policy."""
    registry = CollectorRegistry()
    gate = build_gate(
        write(tmp_path, "name: shop\nextends: law-minimum\n"), registry=registry, clock=lambda: NOV_22
    )
    try:
        before = gate.engine.policy
        assert gate.reloader is not None
        write(tmp_path, 'name: shop\nextends: law-minimum\ngame:\n  curfew: {mode: "off"}\n')
        assert gate.reloader.reload(gate.engine) is False
        assert gate.engine.policy is before
        assert registry.get_sample_value("minorguard_policy_reloads_total", {"result": "error"}) == 1
    finally:
        await gate.close()
