"""What minorguard tells operators: metrics with closed-enum labels only (never a user id or an amount),
and one JSON audit line per decision with a keyed hash for the subject and no birth date or amount."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from mwkit import ADULT, AGE_15, Clock, bearer, build, client, token, write_deployment
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

TEEN = "teen-subject-ID-9f8e7d6c"
ADULT_ID = "adult-subject-ID-1a2b3c4d"
AMOUNTS = (4321, 1234, 9876, 5001)
LABELS = {"activity", "outcome", "reason", "kind", "problem", "action", "status", "policy", "revision"}
LABELS |= {"result", "le"}
EVENT_KEYS = {
    "decision_id",
    "ts",
    "front_door",
    "subject",
    "activity",
    "outcome",
    "reason",
    "rule",
    "mode",
    "report_only",
    "failed_open",
    "policy",
    "policy_revision",
    "latency_ms",
}


async def _traffic(app: Any, clock: Clock) -> list[tuple[str, int]]:
    """A mix of allowed and denied requests; returns (activity, status) per decision made."""
    teen, adult = bearer(token(TEEN, AGE_15)), bearer(token(ADULT_ID, ADULT))
    made: list[tuple[str, int]] = []
    async with client(app) as http:
        clock.set("2026-11-20 20:30:00")
        for activity, call in (
            ("game", http.get("/game/ping", headers=teen)),
            ("game", http.get("/game/ping", headers=adult)),
            ("purchase", http.post("/shop/purchases", headers=teen, json={"amount_fen": 4321})),
            ("purchase", http.post("/shop/purchases", headers=teen, json={"amount_fen": 1234})),
            ("purchase", http.post("/shop/purchases", headers=teen, json={"amount_fen": 5001})),
            ("livestream_tip", http.post("/live/rooms/9/tips", headers=adult, json={"amount_fen": 9876})),
            ("livestream_tip", http.post("/live/rooms/9/tips", headers=teen, json={"amount_fen": 4321})),
            ("livestream_publisher_registration", http.post("/live/publishers", headers=teen)),
            ("game", http.get("/game/ping", headers=bearer("forged.token.here"))),
            ("game", http.get("/game/ping")),
        ):
            made.append((activity, (await call).status_code))
        clock.set("2026-11-20 21:30:00")
        made.append(("game", (await http.get("/game/ping", headers=teen)).status_code))
        # no decision: exempt path, and a body that never reached the engine
        assert (await http.get("/healthz")).status_code == 200
        bad = await http.post("/shop/purchases", headers=teen, json={"amount_fen": 43.21})
        assert bad.status_code == 400
    return made


async def test_metrics_carry_no_user_id_and_no_amount(tmp_path: Path, clock: Clock) -> None:
    """The exposition text names no subject (raw or hashed) and no amount; labels are closed enums."""
    app, _, registry = build(write_deployment(tmp_path), clock)
    made = await _traffic(app, clock)
    assert [status for _, status in made] == [200, 200, 201, 201, 403, 201, 403, 403, 401, 401, 403]
    text = generate_latest(registry).decode()
    for secret in (
        TEEN,
        ADULT_ID,
        app.gate.engine.user_key(TEEN),
        app.gate.engine.user_key(ADULT_ID),
        "2011-05-01",
    ):
        assert secret not in text
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            names |= set(sample.labels)
            for value in sample.labels.values():
                assert value not in {str(a) for a in AMOUNTS}
                assert not re.fullmatch(r"[0-9a-f]{32}", value), f"a subject key as a label: {value}"
    assert names <= LABELS, names - LABELS
    decided = sum(
        s.value
        for f in text_string_to_metric_families(text)
        if f.name == "minorguard_decisions"
        for s in f.samples
        if s.name == "minorguard_decisions_total"
    )
    assert decided == len(made)


async def test_the_decision_log_has_one_json_line_per_decision_without_personal_data(
    tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """One JSON line per decision: id, hashed subject, activity, outcome, reason, rule, revision, latency."""
    caplog.set_level(logging.INFO, logger="minorguard.decisions")
    app, _, _ = build(write_deployment(tmp_path), clock)
    made = await _traffic(app, clock)
    lines = [r.getMessage() for r in caplog.records if r.name == "minorguard.decisions"]
    assert len(lines) == len(made)
    events = [json.loads(line) for line in lines]
    revision = app.gate.engine.policy.policy.revision
    hashed = {app.gate.engine.user_key(TEEN), app.gate.engine.user_key(ADULT_ID)}
    for line, event, (activity, status) in zip(lines, events, made, strict=True):
        assert set(event) == EVENT_KEYS
        assert re.fullmatch(r"[0-9a-f]{16}", event["decision_id"])
        assert event["activity"] == activity
        assert event["outcome"] == ("allow" if status < 400 else "deny")
        assert event["policy"] == "demo"
        assert event["policy_revision"] == revision
        assert event["front_door"] == "middleware"
        assert isinstance(event["latency_ms"], float | int)
        assert event["latency_ms"] >= 0
        if status == 401:
            assert event["subject"] is None
            assert event["reason"] in ("identity_invalid", "identity_missing")
        else:
            assert re.fullmatch(r"[0-9a-f]{32}", event["subject"])
            assert event["subject"] in hashed
        if status < 400:
            assert event["reason"] == "allowed"
            assert event["rule"] is None
        else:
            assert event["rule"]
        for raw in (TEEN, ADULT_ID, "2011-05-01", "1990-01-01", "birthdate", "amount"):
            assert raw not in line
        for key, value in event.items():
            if key not in ("ts", "latency_ms", "decision_id", "subject", "policy_revision"):  # numbers, hex
                assert value not in AMOUNTS
                assert not any(str(a) in str(value) for a in AMOUNTS), (key, value)
    assert len({e["decision_id"] for e in events}) == len(events)
    assert [e["reason"] for e in events] == [
        "allowed",
        "allowed",
        "allowed",
        "allowed",
        "purchase_single_cap",
        "allowed",
        "tip_minor",
        "publisher_under_min_age",
        "identity_invalid",
        "identity_missing",
        "outside_play_window",
    ]
