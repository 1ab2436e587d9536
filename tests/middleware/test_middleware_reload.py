"""Policy hot reload: a changed policy file is in force on the next request after the reload interval;
a broken one keeps the last good policy, counts an error and logs file:line:col."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
from pathlib import Path
from typing import Any

import pytest
from mwkit import AGE_17, Clock, bearer, build, client, token, write_deployment

POLICY = """\
name: reload-test
extends: nppa-2021
purchase:
  caps:
    age_16_17: {{single: {single}, monthly: {monthly}}}
"""
BROKEN = """\
name: reload-test
extends: nppa-2021
purchase:
  caps:
    age_16_17: {single: 10000, monthly: lots}
    age_8_15: {single: 5000, montly: 20000}
"""


def _reloads(registry: Any, result: str) -> float:
    return registry.get_sample_value("minorguard_policy_reloads_total", {"result": result}) or 0


def _policy_revision(registry: Any) -> list[tuple[str, str]]:
    return [
        (s.labels["policy"], s.labels["revision"])
        for m in registry.collect()
        if m.name == "minorguard_policy_info"
        for s in m.samples
        if s.value == 1
    ]


async def _buy(app: Any, amount: int) -> Any:
    async with client(app) as http:
        return await http.post(
            "/shop/purchases", headers=bearer(token("reload-teen", AGE_17)), json={"amount_fen": amount}
        )


async def test_a_changed_policy_file_is_in_force_after_the_interval_and_a_broken_one_is_refused(
    tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """Lower the 16-17 monthly cap: in force after 0.1 s; then a broken file keeps it, with file:line:col."""
    policy = tmp_path / "reload-policy.yaml"
    policy.write_text(POLICY.format(single=10000, monthly=40000))
    config = write_deployment(tmp_path, policy="reload-policy.yaml", policy_reload_seconds=0.1)
    app, _, registry = build(config, clock)
    clock.set("2026-11-20 15:00:00")
    before = _policy_revision(registry)

    first = await _buy(app, 8000)
    assert first.status_code == 201
    assert first.headers["minorguard-remaining-budget-fen"] == "32000"

    policy.write_text(POLICY.format(single=9000, monthly=9000))
    await asyncio.sleep(0.15)
    lowered = await _buy(app, 8000)
    assert lowered.status_code == 403, lowered.text
    assert lowered.json()["reason"] == "purchase_monthly_cap"
    assert _reloads(registry, "success") == 1
    assert _policy_revision(registry) != before
    assert app.gate.engine.policy.name == "reload-test"

    caplog.set_level(logging.INFO, logger="minorguard")
    policy.write_text(BROKEN)
    await asyncio.sleep(0.15)
    kept = await _buy(app, 1000)
    assert kept.status_code == 201, "the last good policy (cap 9000) stays in force"
    assert kept.headers["minorguard-remaining-budget-fen"] == "0"
    assert _reloads(registry, "error") == 1
    assert _reloads(registry, "success") == 1
    errors = [r.getMessage() for r in caplog.records if r.name == "minorguard" and r.levelno >= logging.ERROR]
    located = [m for m in errors if re.search(r"reload-policy\.yaml:\d+:\d+", m)]
    assert located, errors
    assert any(":5:" in m for m in located), "the bad monthly value is on line 5"
    assert any("montly" in m for m in located), "every problem is listed, not just the first"

    # unchanged since: no second error, no re-read storm
    await asyncio.sleep(0.15)
    assert (await _buy(app, 1)).status_code == 403
    assert _reloads(registry, "error") == 1

    policy.write_text(POLICY.format(single=10000, monthly=40000) + "# fixed\n")
    await asyncio.sleep(0.15)
    fixed = await _buy(app, 1000)
    assert fixed.status_code == 201
    assert fixed.headers["minorguard-remaining-budget-fen"] == str(40000 - 9000 - 1000)
    assert _reloads(registry, "success") == 2


async def test_a_change_is_not_read_before_the_interval_has_passed(tmp_path: Path, clock: Clock) -> None:
    """Within the interval the file is not even looked at: the old policy answers."""
    policy = tmp_path / "reload-policy.yaml"
    policy.write_text(POLICY.format(single=10000, monthly=40000))
    config = write_deployment(tmp_path, policy="reload-policy.yaml", policy_reload_seconds=60)
    app, _, registry = build(config, clock)
    clock.set("2026-11-20 15:00:00")
    policy.write_text(POLICY.format(single=1000, monthly=1000))
    answer = await _buy(app, 8000)
    assert answer.status_code == 201
    assert _reloads(registry, "success") == 0


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on this platform")
async def test_sighup_forces_a_reload_before_the_interval(tmp_path: Path, clock: Clock) -> None:
    """SIGHUP makes the next request re-read the policy file, whatever the interval."""
    previous = signal.getsignal(signal.SIGHUP)
    try:
        policy = tmp_path / "reload-policy.yaml"
        policy.write_text(POLICY.format(single=10000, monthly=40000))
        config = write_deployment(tmp_path, policy="reload-policy.yaml", policy_reload_seconds=3600)
        app, _, registry = build(config, clock)
        clock.set("2026-11-20 15:00:00")
        policy.write_text(POLICY.format(single=5000, monthly=5000))
        assert (await _buy(app, 8000)).status_code == 201
        os.kill(os.getpid(), signal.SIGHUP)
        await asyncio.sleep(0.01)
        refused = await _buy(app, 1000)
        assert refused.status_code == 403
        assert _reloads(registry, "success") == 1
    finally:
        signal.signal(signal.SIGHUP, previous)
