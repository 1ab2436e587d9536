"""`minorguard sidecar --workers 2` as a real process: whichever worker answers a scrape, /metrics counts
the decisions of both (metricsshare.py), and its logs are JSON lines."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import pytest
from sidecarkit import ADULT, AGE_15, SidecarProcess, token, write_config

from minorguard.metricsshare import METRICS_DIR_ENV, SNAPSHOT_SECONDS
from redis_servers import RedisServer

pytestmark = [pytest.mark.redis, pytest.mark.slow]

DECISIONS = 120


def decisions_total(text: str) -> float:
    return sum(float(v) for v in re.findall(r"^minorguard_decisions_total\{[^}]*\} (\S+)$", text, re.M))


def test_metrics_count_every_workers_decisions(tmp_path: Path, sidecar_redis: RedisServer) -> None:
    config = write_config(tmp_path, store=sidecar_redis.url, logging={"decisions": True})
    folder = tmp_path / "metrics"
    with SidecarProcess.running(
        tmp_path / "run", "--config", str(config), "--workers", "2", env={METRICS_DIR_ENV: str(folder)}
    ) as sidecar:
        for i in range(DECISIONS):  # a connection each: the workers take turns accepting them
            who = f"worker-test-{i}", ADULT if i % 2 else AGE_15
            body = {"token": token(*who), "activity": "game"}
            assert httpx.post(sidecar.url + "/v1/decisions", json=body, timeout=5).status_code in (200, 403)
        time.sleep(SNAPSHOT_SECONDS * 1.5)  # every worker has written its counts since
        snapshots = {file.stem: json.loads(file.read_text()) for file in folder.glob("*.json")}
        assert len(snapshots) == 2
        for families in snapshots.values():  # both workers decided some: each alone shows a part
            own = [s for f in families if f["name"] == "minorguard_decisions" for s in f["samples"]]
            assert 0 < sum(value for _, _, value in own) < DECISIONS
        for _ in range(6):  # scrapes on new connections: either worker answers
            scrape = httpx.get(sidecar.url + "/metrics", timeout=5)
            assert scrape.status_code == 200
            assert decisions_total(scrape.text) == DECISIONS
            assert 'minorguard_decision_duration_seconds_count{activity="game"}' in scrape.text
            assert scrape.text.count("# TYPE minorguard_decisions_total counter") == 1
            assert re.search(r"^minorguard_policy_info\{.*\} 1\.0$", scrape.text, re.M)
    lines = [line for line in sidecar.stderr.splitlines() if line.startswith("{")]
    logged = [json.loads(line) for line in lines]
    decided = [event for event in logged if event["logger"] == "minorguard.decisions"]
    assert len(decided) == DECISIONS
    assert {"ts", "level", "decision"} <= set(decided[0])
    assert decided[0]["decision"]["activity"] == "game"
