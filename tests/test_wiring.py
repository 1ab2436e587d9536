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
        gate.refresh_gauges()
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
