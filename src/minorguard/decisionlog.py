"""One JSON line per decision, for audit: no raw identity (the subject is a keyed hash), no birth date,
no amount. Written to the `minorguard.decisions` logger at INFO; route it where the audit trail lives.
Nothing is built when that logger is off."""

from __future__ import annotations

import json
import logging
import secrets
import time
from typing import TYPE_CHECKING

from minorguard.types import Activity, Decision, WarningCode

if TYPE_CHECKING:
    from minorguard.engine import Engine
    from minorguard.metrics import Metrics

LOGGER = logging.getLogger("minorguard.decisions")


def log_decision(
    *,
    subject_key: str | None,
    activity: str,
    decision: Decision,
    policy: str,
    revision: str,
    latency: float,
    front_door: str,
    looser_than_law: tuple[str, ...] = (),
) -> None:
    event: dict[str, object] = {
        "decision_id": secrets.token_hex(8),
        "ts": round(time.time(), 3),
        "front_door": front_door,
        "subject": subject_key,
        "activity": activity,
        "outcome": decision.outcome.value,
        "reason": decision.reason.value,
        "rule": decision.rule,
        "mode": "report_only" if decision.report_only and decision.allowed else "enforce",
        "report_only": [f.reason.value for f in decision.report_only],
        "failed_open": decision.failed_open,
        "policy": policy,
        "policy_revision": revision,
        "latency_ms": round(latency * 1000, 3),
    }
    if looser_than_law:  # rules the policy acknowledges as looser than the law: an auditor must see them
        event["looser_than_law"] = list(looser_than_law)
    if any(w.code is WarningCode.CALENDAR_PROVISIONAL for w in decision.warnings):
        event["calendar"] = "provisional"
    LOGGER.info(json.dumps(event, ensure_ascii=False))


def record(
    metrics: Metrics | None,
    engine: Engine,
    subject_id: str | None,
    activity: Activity,
    decision: Decision,
    started: float,
    front_door: str,
) -> None:
    """Count a decision and, when the decisions logger is on, write its audit line: what every front
    door does once it has decided. Runs on every enforced request, so the audit line's parts (the
    subject's keyed hash, the policy) are looked up only when the logger will write it."""
    latency = time.perf_counter() - started
    if metrics is not None:
        metrics.observe(activity, decision, latency)
    if LOGGER.isEnabledFor(logging.INFO):
        policy = engine.policy.policy
        log_decision(
            subject_key=None if subject_id is None else engine.user_key(subject_id),
            activity=activity.value,
            decision=decision,
            policy=policy.name,
            revision=policy.revision,
            latency=latency,
            front_door=front_door,
            looser_than_law=policy.looser_rules,
        )
