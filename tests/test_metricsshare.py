"""Metrics summed over worker processes (metricsshare.py): counters and histograms add up over every
snapshot, a stopped worker's counts stay, gauges take the largest value among running workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.parser import text_string_to_metric_families

from minorguard.metricsshare import METRICS_DIR_ENV, exposition, prepare_folder, write_snapshot


def registry_with(decisions: int, gauge: float, seconds: list[float]) -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("mg_decisions", "Decisions.", ["outcome"], registry=registry).labels("allow").inc(decisions)
    Gauge("mg_days_left", "Days.", registry=registry).set(gauge)
    histogram = Histogram("mg_seconds", "Latency.", buckets=(0.1, 1.0), registry=registry)
    for value in seconds:
        histogram.observe(value)
    return registry


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


def snapshot_of(pid: int, registry: CollectorRegistry, folder: Path) -> None:
    """`registry` as the worker `pid` would have written it."""
    write_snapshot(registry, folder)
    (folder / f"{os.getpid()}.json").rename(folder / f"{pid}.json")


def dead_pid() -> int:
    process = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    return int(process.stdout)


def test_counters_and_histograms_add_up_and_gauges_take_the_running_maximum(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare_folder(tmp_path)
    monkeypatch.setenv(METRICS_DIR_ENV, str(tmp_path))
    snapshot_of(os.getppid(), registry_with(5, 10, [0.05, 2.0]), tmp_path)  # a running worker
    snapshot_of(dead_pid(), registry_with(7, 99, [0.5]), tmp_path)  # a worker that stopped
    found = samples(exposition(registry_with(3, 12, [0.05])))  # the worker answering the scrape
    assert found["mg_decisions_total", (("outcome", "allow"),)] == 15
    assert found["mg_seconds_count", ()] == 4
    assert found["mg_seconds_bucket", (("le", "0.1"),)] == 2
    assert found["mg_seconds_bucket", (("le", "1.0"),)] == 3
    assert found["mg_seconds_sum", ()] == pytest.approx(2.6)
    assert found["mg_days_left", ()] == 12  # the stopped worker's 99 is no longer true


def test_without_a_shared_folder_a_scrape_is_this_process_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(METRICS_DIR_ENV, raising=False)
    assert samples(exposition(registry_with(3, 1, [])))["mg_decisions_total", (("outcome", "allow"),)] == 3


def test_a_snapshot_that_cannot_be_read_is_left_for_the_next_scrape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(METRICS_DIR_ENV, str(tmp_path))
    (tmp_path / "123.json").write_text("{not json")
    (tmp_path / "124.json").write_text(json.dumps([]))
    assert samples(exposition(registry_with(2, 1, [])))["mg_decisions_total", (("outcome", "allow"),)] == 2


def test_preparing_the_folder_drops_an_earlier_runs_snapshots(tmp_path: Path) -> None:
    (tmp_path / "7.json").write_text("[]")
    (tmp_path / "keep.txt").write_text("x")
    prepare_folder(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
