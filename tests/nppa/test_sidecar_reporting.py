"""Behaviour reporting from the sidecar's own game decisions: online at a player's first allowed
heartbeat, offline when play is cut off or the sidecar shuts down; sent to NPPA through the Redis
stream, every event once, online before offline."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path

import httpx
from nppafake import APP_ID, BIZ_ID, PIS, SECRET, Fake
from prometheus_client import CollectorRegistry

from minorguard.adapters.identity import issue_token
from minorguard.adapters.nppa_pi import make_pi_prefix
from minorguard.sidecar.serve import build_sidecar
from redis_servers import RedisServer

KEY = "a-test-signing-key-of-at-least-32-bytes"


def deployment(tmp_path: Path, base_url: str, queue_url: str) -> str:
    path = tmp_path / "deployment.yaml"
    path.write_text(
        f"""policy: law-minimum
store: memory://
subject_secret: {{value: test-subject-secret}}
identity:
  algorithms: [HS256]
  issuer: test
  audience: test
  hs_secret: {{value: {KEY}}}
routes:
  - {{method: GET, path: /game/ping, activity: game}}
nppa:
  app_id: "{APP_ID}"
  biz_id: "{BIZ_ID}"
  secret_key: {{value: "{SECRET}"}}
  base_url: {base_url}
  report_behaviour: true
  queue_url: {queue_url}
""",
        encoding="utf-8",
    )
    return str(path)


def token(pi: str) -> str:
    return issue_token(
        secret_or_private_key=KEY.encode(),
        algorithm="HS256",
        subject=f"player-{pi[:10]}",
        birthdate=None,
        verified=True,
        issuer="test",
        audience="test",
        extra={"pi": pi},
    )


async def test_players_sessions_reach_nppa_online_then_offline(
    tmp_path: Path, fake: Fake, nppa_redis: RedisServer
) -> None:
    """Two verified players (adults by their pi) play; at shutdown both sessions close; NPPA received
    one online and one offline per session, each accepted."""
    app = build_sidecar(deployment(tmp_path, fake.url, nppa_redis.url), registry=CollectorRegistry())
    assert app.gate.reporter is not None
    app.gate.reporter.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sc") as http:
            for pi in PIS[:2]:
                for _ in range(3):
                    answer = await http.post("/v1/decisions", json={"token": token(pi), "activity": "game"})
                    assert answer.json()["outcome"] == "allow"
        assert app.gate.reporter.tracker.open_sessions == 2
    finally:
        await app.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and sum(fake.nppa.accepted.values()) < 4:
        await asyncio.sleep(0.1)
    sessions = {si for si, _ in fake.nppa.accepted}
    assert len(sessions) == 2
    assert all(fake.nppa.accepted[(si, 1)] == 1 and fake.nppa.accepted[(si, 0)] == 1 for si in sessions)
    assert {item["pi"] for item in fake.nppa.accepted_items} == set(PIS[:2])


async def test_a_curfew_deny_cuts_the_session_off(
    tmp_path: Path, fake: Fake, nppa_redis: RedisServer
) -> None:
    """A minor (pi of a 2012 birth) allowed at 21:59 and denied at 22:00 (law-minimum curfew) gets an
    offline at the cut-off without waiting for the heartbeat gap."""
    pi = make_pi_prefix(dt.date(2012, 5, 1)) + "0" * 32
    clock = [dt.datetime(2026, 11, 19, 21, 59, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp()]
    app = build_sidecar(
        deployment(tmp_path, fake.url, nppa_redis.url), registry=CollectorRegistry(), clock=lambda: clock[0]
    )
    assert app.gate.reporter is not None
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sc") as http:
            allowed = await http.post("/v1/decisions", json={"token": token(pi), "activity": "game"})
            clock[0] += 60
            denied = await http.post("/v1/decisions", json={"token": token(pi), "activity": "game"})
        assert allowed.json()["outcome"] == "allow"
        assert denied.json()["reason"] == "curfew"
        assert app.gate.reporter.tracker.open_sessions == 0
    finally:
        await app.close()
