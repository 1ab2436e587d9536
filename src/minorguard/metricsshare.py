"""/metrics for a sidecar of several worker processes: one scrape shows them all.

Prometheus scrapes one address per pod, and the server hands each request to one worker, so each
worker's registry alone would show a random fraction of the pod. Per-worker ports would need one
scrape target per worker; Prometheus' own client instead sums the workers' values in its
"multiprocess mode", but that mode keeps every sample in a memory-mapped file (a lock and a write
per increment), while the decision counters are plain dicts on purpose (metrics_fast.py: they are on
the hot path of every request). So the sums are made here, the way the multiprocess mode reads them:

- each worker writes a snapshot of its registry, `<folder>/<pid>.json`, every `SNAPSHOT_SECONDS`
  (off the request path: a task of the worker's event loop) and once more when it stops; the worker
  that answers a scrape writes its own first, so it is current;
- the scrape sums counters and histograms over every snapshot in the folder (a worker that stopped
  keeps its counts: a counter must not go down), and takes the largest value of each gauge among the
  workers still running (the policy in force, the calendar's days left: the same in each);
  `_created` samples take the earliest.

So a scrape sees the other workers' counts at most `SNAPSHOT_SECONDS` old. The folder is made (and
emptied) by `minorguard sidecar` when it starts more than one worker, and named to the workers by the
environment variable `MINORGUARD_METRICS_DIR`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

METRICS_DIR_ENV: Final = "MINORGUARD_METRICS_DIR"
SNAPSHOT_SECONDS: Final = 1.0
_SUMMED: Final = ("counter", "histogram", "summary", "unknown")
Key = tuple[str, tuple[tuple[str, str], ...]]


def shared_folder() -> Path | None:
    folder = os.environ.get(METRICS_DIR_ENV)
    return Path(folder) if folder else None


def prepare_folder(folder: Path) -> None:
    """Make the folder and drop the snapshots of an earlier run (before any worker starts)."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.json"):
        old.unlink(missing_ok=True)


def exposition(registry: CollectorRegistry) -> bytes:
    """The text of a scrape: this process' registry, or every worker's when they share a folder."""
    folder = shared_folder()
    if folder is None:
        return generate_latest(registry)
    write_snapshot(registry, folder)
    summed = CollectorRegistry(auto_describe=False)
    summed.register(_Summed(read_snapshots(folder)))
    return generate_latest(summed)


def write_snapshot(registry: CollectorRegistry, folder: Path) -> None:
    families = [
        {
            "name": family.name,
            "type": family.type,
            "help": family.documentation,
            "samples": [[s.name, s.labels, s.value] for s in family.samples],
        }
        for family in registry.collect()
    ]
    target = folder / f"{os.getpid()}.json"
    temporary = target.with_suffix(".tmp")
    temporary.write_text(json.dumps(families), encoding="utf-8")
    temporary.replace(target)  # atomic: a scrape never reads half a snapshot


def read_snapshots(folder: Path) -> list[tuple[bool, list[dict[str, Any]]]]:
    """(whether the worker still runs, its families) for each snapshot in the folder."""
    found = []
    for file in sorted(folder.glob("*.json")):
        with contextlib.suppress(OSError, ValueError):  # vanished or being replaced: the next scrape has it
            found.append((_running(int(file.stem)), json.loads(file.read_text(encoding="utf-8"))))
    return found


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Summed(Collector):
    def __init__(self, snapshots: list[tuple[bool, list[dict[str, Any]]]]) -> None:
        self._snapshots = snapshots

    def collect(self) -> Iterator[Metric]:
        heads: dict[str, tuple[str, str]] = {}
        values: dict[str, dict[Key, float]] = {}
        for running, families in self._snapshots:
            for family in families:
                kind = family["type"]
                if kind not in _SUMMED and not running:
                    continue  # a stopped worker's gauges are no longer true
                heads.setdefault(family["name"], (family["help"], kind))
                samples = values.setdefault(family["name"], {})
                for name, labels, value in family["samples"]:
                    key = (name, tuple(sorted(labels.items())))
                    samples[key] = _combine(kind, name, samples.get(key), float(value))
        for name, (documentation, kind) in heads.items():
            metric = Metric(name, documentation, kind)
            for (sample, labels), value in values[name].items():
                metric.add_sample(sample, dict(labels), value)
            yield metric


def _combine(kind: str, sample: str, before: float | None, value: float) -> float:
    if before is None:
        return value
    if sample.endswith("_created"):
        return min(before, value)
    if kind in _SUMMED:
        return before + value
    return max(before, value)


async def keep_writing(registry: CollectorRegistry, folder: Path) -> None:
    """Write this worker's snapshot every SNAPSHOT_SECONDS until cancelled, then once more."""
    try:
        while True:
            write_snapshot(registry, folder)
            await asyncio.sleep(SNAPSHOT_SECONDS)
    finally:
        with contextlib.suppress(OSError):
            write_snapshot(registry, folder)
