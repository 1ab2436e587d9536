"""The audit line of a decision carries what an auditor must see: the policy's acknowledged looser
rules (issue 18 item 2) and a provisional calendar (item 3)."""

from __future__ import annotations

import json
import logging

import pytest
from prometheus_client import CollectorRegistry

from minorguard.decisionlog import log_decision
from minorguard.metrics import Metrics
from minorguard.types import Activity, AgeBand, Decision, Outcome, Reason, Warning, WarningCode

PROVISIONAL = Warning(WarningCode.CALENDAR_PROVISIONAL, "no official holiday schedule for 2027 yet")


def logged(
    caplog: pytest.LogCaptureFixture, decision: Decision, looser: tuple[str, ...] = ()
) -> dict[str, object]:
    with caplog.at_level(logging.INFO, logger="minorguard.decisions"):
        log_decision(
            subject_key="k",
            activity="game",
            decision=decision,
            policy="shop",
            revision="r",
            latency=0.001,
            front_door="test",
            looser_than_law=looser,
        )
    event: dict[str, object] = json.loads(caplog.records[-1].getMessage())
    return event


def test_the_audit_line_names_the_acknowledged_looser_rules(caplog: pytest.LogCaptureFixture) -> None:
    """`looser_than_law` lists them; a policy that keeps the floor adds nothing."""
    decision = Decision(Outcome.ALLOW, Reason.ALLOWED, AgeBand.AGE_8_15)
    assert logged(caplog, decision, ("game.rating",))["looser_than_law"] == ["game.rating"]
    assert "looser_than_law" not in logged(caplog, decision)


def test_the_audit_line_flags_a_provisional_calendar(caplog: pytest.LogCaptureFixture) -> None:
    """A decision with the calendar_provisional warning, allow or deny, is logged `calendar: provisional`."""
    allow = Decision(Outcome.ALLOW, Reason.ALLOWED, AgeBand.AGE_8_15, warnings=(PROVISIONAL,))
    deny = Decision(Outcome.DENY, Reason.OUTSIDE_PLAY_WINDOW, AgeBand.AGE_8_15, warnings=(PROVISIONAL,))
    assert logged(caplog, allow)["calendar"] == "provisional"
    assert logged(caplog, deny)["calendar"] == "provisional"
    assert "calendar" not in logged(caplog, Decision(Outcome.ALLOW, Reason.ALLOWED, AgeBand.AGE_8_15))


def test_provisional_decisions_are_counted_by_activity() -> None:
    """minorguard_calendar_provisional_decisions_total{activity} counts the flagged decisions only."""
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    metrics.observe(
        Activity.GAME, Decision(Outcome.ALLOW, Reason.ALLOWED, AgeBand.AGE_8_15, warnings=(PROVISIONAL,)), 0.0
    )
    metrics.observe(Activity.GAME, Decision(Outcome.ALLOW, Reason.ALLOWED, AgeBand.AGE_8_15), 0.0)
    name = "minorguard_calendar_provisional_decisions_total"
    assert registry.get_sample_value(name, {"activity": "game"}) == 1
