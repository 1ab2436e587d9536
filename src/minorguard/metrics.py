"""Prometheus metrics. Built once per process with an injected registry; nothing registers at import.

Labels are closed enums (activity, outcome, reason, mode, kind): never a user id, an amount or a date.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from minorguard.errors import StoreErrorKind
from minorguard.metrics_fast import DecisionCollector
from minorguard.settling import Unanswered
from minorguard.types import Decision, FailurePolicy, WarningCode

LooserSource = Callable[[], tuple[str, tuple[str, ...]]]  # the policy in force: (name, looser rules)

# from 50 µs (a stateless decision) to 0.5 s (a store at its timeout, many times over)
LATENCY_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5)


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.fast = DecisionCollector(LATENCY_BUCKETS)
        registry.register(self.fast)
        self.report_only = Counter(
            "minorguard_report_only_denials_total",
            "Denies found by report_only rules (the request was allowed).",
            ["activity", "reason"],
            registry=registry,
        )
        self.store_errors = Counter(
            "minorguard_store_errors_total",
            "Counter-store calls that failed, by kind.",
            ["activity", "kind"],
            registry=registry,
        )
        self.fail_open = Counter(
            "minorguard_fail_open_total",
            "Decisions allowed because the store failed and the rule fails open.",
            ["activity"],
            registry=registry,
        )
        self.identity_failures = Counter(
            "minorguard_identity_failures_total",
            "Requests refused for a missing or invalid token.",
            ["problem"],
            registry=registry,
        )
        self.identity_keys = Gauge(
            "minorguard_identity_keys_usable",
            "1 when a key to verify tokens is at hand (a JWKS fetched), 0 when not; set at each /readyz.",
            registry=registry,
        )
        self.settlements = Counter(
            "minorguard_reservations_total",
            "Reservations settled after the app answered.",
            ["action", "status"],
            registry=registry,
        )
        self.lapsed = Counter(
            "minorguard_reservations_lapsed_total",
            "Reservations nobody settled by their deadline, counted as spent then.",
            ["kind"],
            registry=registry,
        )
        self.settlement_failures = Counter(
            "minorguard_settlement_failures_total",
            "Commits, releases and refunds the store never answered, after retries.",
            ["action"],
            registry=registry,
        )
        self.unanswered = Counter(
            "minorguard_unanswered_reserves_total",
            "Reservations whose reserve call failed, by what their cancel found.",
            ["outcome"],
            registry=registry,
        )
        self.policy_info = Gauge(
            "minorguard_policy_info",
            "The policy in force (value 1).",
            ["policy", "revision"],
            registry=registry,
        )
        self.policy_reloads = Counter(
            "minorguard_policy_reloads_total",
            "Policy reload attempts by result.",
            ["result"],
            registry=registry,
        )
        self.calendar_days_left = Gauge(
            "minorguard_calendar_coverage_days",
            "Days of official holiday-calendar data left from today.",
            registry=registry,
        )
        self.calendar_provisional = Gauge(
            "minorguard_calendar_provisional",
            "1 while today has no official holiday data and its statutory days are provisional.",
            registry=registry,
        )
        self.guardian_changes = Counter(
            "minorguard_guardian_changes_total",
            "Guardian settings set or cleared, by who made the change (a guardian's token, a service "
            "credential, the command line).",
            ["action", "via"],
            registry=registry,
        )
        self.provisional_decisions = Counter(
            "minorguard_calendar_provisional_decisions_total",
            "Decisions made on a day whose holidays are provisional (no official schedule yet).",
            ["activity"],
            registry=registry,
        )

    def watch(
        self, days_left: Callable[[], float], provisional: Callable[[], float], looser: LooserSource
    ) -> None:
        """Compute the calendar gauges and the acknowledged rules at scrape time from the policy in force,
        so they follow the date and hot reloads wherever the metrics are served."""
        self.calendar_days_left.set_function(days_left)
        self.calendar_provisional.set_function(provisional)
        self.registry.register(LooserRules(looser))

    def observe(self, activity: str, decision: Decision, seconds: float) -> None:
        """`activity` may be the Activity itself: StrEnums are str, and label by their value."""
        self.fast.record(activity, decision.outcome, decision.reason, seconds)
        for finding in decision.report_only:
            self.report_only.labels(activity, finding.reason.value).inc()
        if decision.failed_open:
            self.fail_open.labels(activity).inc()
        if decision.warnings and any(w.code is WarningCode.CALENDAR_PROVISIONAL for w in decision.warnings):
            self.provisional_decisions.labels(activity).inc()

    def store_failed(self, activity: str, kind: StoreErrorKind, failure: FailurePolicy) -> None:
        self.store_errors.labels(activity, kind.value).inc()

    def reservation_lapsed(self, kind: str) -> None:
        self.lapsed.labels(kind).inc()

    def settlement_failed(self, action: str) -> None:
        self.settlement_failures.labels(action).inc()

    def reserve_unanswered(self, outcome: Unanswered) -> None:
        self.unanswered.labels(outcome.value).inc()

    def set_policy(self, name: str, revision: str) -> None:
        self.policy_info.clear()
        self.policy_info.labels(name, revision).set(1)


class LooserRules(Collector):
    """minorguard_policy_looser_than_law{policy,rule}: 1 for each rule the policy in force acknowledges
    as looser than the law (policy/floor.py); none when it keeps the floor everywhere."""

    NAME = "minorguard_policy_looser_than_law"
    HELP = "Rules the policy in force keeps looser than the law, by its own acknowledgement (value 1)."

    def __init__(self, source: LooserSource) -> None:
        self.source = source

    def describe(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(self.NAME, self.HELP, labels=["policy", "rule"])

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(self.NAME, self.HELP, labels=["policy", "rule"])
        name, rules = self.source()
        for rule in rules:
            family.add_metric([name, rule], 1)
        yield family
