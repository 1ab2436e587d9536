"""Prometheus metrics of the NPPA client and the behaviour sender, registered on an injected registry
(nothing registers at import). Labels are closed sets: interface, errcode or failure kind, outcome."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class NppaMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "minorguard_nppa_requests_total",
            "NPPA requests by interface and answer (errcode, http_<status>, network, response).",
            ["interface", "code"],
            registry=registry,
        )
        self.queue_depth = Gauge(
            "minorguard_nppa_queue_depth", "Behaviour events queued and not yet settled.", registry=registry
        )
        self.lag = Gauge(
            "minorguard_nppa_report_lag_seconds",
            "Age of the oldest unsettled behaviour event (0 when the queue is empty).",
            registry=registry,
        )
        self.sent = Counter(
            "minorguard_nppa_items_sent_total", "Behaviour items NPPA accepted.", registry=registry
        )
        self.failed = Counter(
            "minorguard_nppa_items_failed_total",
            "Behaviour items not accepted, by code and outcome (retry: kept queued; dead: dead-lettered).",
            ["code", "outcome"],
            registry=registry,
        )
        self.adjusted = Counter(
            "minorguard_nppa_items_adjusted_total",
            "Items sent with a shifted `ot` because they were late (FAQ #201).",
            registry=registry,
        )

    def on_answer(self, interface: str, code: str) -> None:
        """The NppaClient's `on_answer` hook."""
        self.requests.labels(interface, code).inc()
