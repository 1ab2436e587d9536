"""The gauges of the policy in force: its name and revision (set now, and by the reloader on every
reload), and the calendar's days left, today's provisional flag and the rules acknowledged as looser
than the law, computed at each scrape (a hot reload may bring new override files; the date moves on),
so they never freeze, in the middleware as in the sidecar."""

from __future__ import annotations

from minorguard.engine import Engine
from minorguard.metrics import Metrics
from minorguard.policy.schema import MissingCalendarData


def watch(engine: Engine, metrics: Metrics) -> None:
    cp = engine.policy
    metrics.set_policy(cp.name, cp.policy.revision)

    def days_left() -> float:
        cp = engine.policy
        return 0 if cp.coverage is None else cp.coverage(cp.instant(engine.clock()).date)

    def provisional_today() -> float:
        cp = engine.policy
        info = cp.day(cp.instant(engine.clock()).date)
        provisional = cp.policy.spec.calendar.missing_data is MissingCalendarData.PROVISIONAL
        return float(not info.known and provisional)

    def looser() -> tuple[str, tuple[str, ...]]:
        policy = engine.policy.policy
        return policy.name, policy.looser_rules

    metrics.watch(days_left, provisional_today, looser)
