"""Decision counts and latencies kept in plain dicts and lists, turned into Prometheus families only
when scraped. An observation is two dict updates and a bisect, instead of a client-library call with
locks per sample: the counters are on the hot path of every enforced request."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

DECISIONS = ("minorguard_decisions", "Decisions by activity, outcome and reason.")
LATENCY = (
    "minorguard_decision_duration_seconds",
    "Time to decide, store call included (an adult passed on the token alone is counted, not timed).",
)


class DecisionCollector(Collector):
    """minorguard_decisions_total{activity,outcome,reason} and
    minorguard_decision_duration_seconds{activity} (a histogram)."""

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.bounds = buckets
        self.counts: dict[tuple[str, str, str], int] = {}
        self.latency: dict[str, list[int]] = {}  # per activity: one count per bucket, then +Inf
        self.latency_sum: dict[str, float] = {}

    def record(self, activity: str, outcome: str, reason: str, seconds: float) -> None:
        key = (activity, outcome, reason)
        self.counts[key] = self.counts.get(key, 0) + 1
        slots = self.latency.get(activity)
        if slots is None:
            slots = self.latency[activity] = [0] * (len(self.bounds) + 1)
            self.latency_sum[activity] = 0.0
        slots[bisect_left(self.bounds, seconds)] += 1
        self.latency_sum[activity] += seconds

    def describe(self) -> Iterator[Metric]:
        yield CounterMetricFamily(*DECISIONS)
        yield HistogramMetricFamily(*LATENCY)

    def collect(self) -> Iterator[Metric]:
        decisions = CounterMetricFamily(*DECISIONS, labels=["activity", "outcome", "reason"])
        for key, value in sorted(self.counts.items()):
            decisions.add_metric(list(key), value)
        yield decisions
        latency = HistogramMetricFamily(*LATENCY, labels=["activity"])
        for activity, slots in sorted(self.latency.items()):
            cumulative, buckets = 0, []
            for bound, count in zip((*map(str, self.bounds), "+Inf"), slots, strict=True):
                cumulative += count
                buckets.append((bound, float(cumulative)))
            latency.add_metric([activity], buckets, self.latency_sum[activity])
        yield latency
