"""A smoke run of the locust scenario (benchmarks/locust_run.py): 5 players for 8 s against the demo
backend and against the sidecar, across the 21:00 end of the play window. Locust runs in its own
process (it monkey-patches the standard library with gevent), so this process never imports it."""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "benchmarks" / "locust_run.py"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("locust") is None, reason="needs locust (the dev extra: pip install locust)"
    ),
]


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("target", ["demo", "sidecar"])
def test_a_short_locust_run_writes_its_csv_and_summary_without_failures(target: str, tmp_path: Path) -> None:
    command = [sys.executable, str(RUNNER), "--target", target, "--users", "5", "--duration", "8s"]
    run = subprocess.run(
        [*command, "--results", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=55,
        check=False,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stdout + run.stderr

    for suffix in ("stats", "stats_history", "failures", "outcomes", "timeline"):
        assert (tmp_path / f"{target}-locust_{suffix}.csv").is_file(), suffix
    summary = (tmp_path / f"{target}-summary.md").read_text(encoding="utf-8")
    assert f"# locust: {target}" in summary
    assert "curfew crossing" in summary

    aggregated = next(r for r in rows(tmp_path / f"{target}-locust_stats.csv") if r["Name"] == "Aggregated")
    assert int(aggregated["Request Count"]) > 0
    assert int(aggregated["Failure Count"]) == 0
    assert rows(tmp_path / f"{target}-locust_failures.csv") == []

    outcomes = rows(tmp_path / f"{target}-locust_outcomes.csv")
    assert {r["verdict"] for r in outcomes} == {"expected"}
    seen = {r["outcome"] for r in outcomes}
    assert {"allow", "deny"} <= seen, outcomes
    # the crossing: a minor's heartbeat allowed before 21:00 and denied outside the window after it
    minors = [r for r in outcomes if r["activity"] == "game" and r["persona"] in ("age_8_15", "age_16_17")]
    assert any(r["outcome"] == "allow" and r["phase"] == "before" for r in minors), minors
    assert any(r["reason"] == "outside_play_window" and r["phase"] == "after" for r in minors), minors
