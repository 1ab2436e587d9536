"""Hot reload reads through the same bounded loader: a hostile policy file keeps the last good policy,
counts a reload error and never raises into the request path (issue 14 item 6)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from minorguard.wiring import build_gate

DEPLOYMENT = """policy: policy.yaml
store: memory://
subject_secret: {value: reload-hostile-secret}
identity:
  algorithms: [HS256]
  issuer: test
  audience: test
  hs_secret: {value: a-test-signing-key-of-at-least-32-bytes}
routes:
  - {method: GET, path: /game/ping, activity: game}
"""
BOMB = "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8))
HOSTILE = {
    "deep": "name: shop\ngame: " + "[" * 5000 + "]" * 5000 + "\n",
    "nul": "name: shop\x00\n",
    "tag": "name: shop\ngame: !!python/object/apply:os.system [true]\n",
    "bomb": 'name: shop\na: &a ["x","x","x","x","x","x","x","x","x","x"]\n' + BOMB,
    "device": "name: shop\nextends: nppa-2021\ncalendar:\n  override_files: [/dev/zero]\n",
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_a_hostile_policy_file_on_reload_keeps_the_last_good_policy(case: str, tmp_path: Path) -> None:
    """The policy in force stays, the error is counted, nothing is raised."""
    (tmp_path / "policy.yaml").write_text("name: shop\nextends: nppa-2021\n", encoding="utf-8")
    (tmp_path / "deployment.yaml").write_text(DEPLOYMENT, encoding="utf-8")
    registry = CollectorRegistry()
    gate = build_gate(tmp_path / "deployment.yaml", registry=registry)
    try:
        before = gate.engine.policy
        assert gate.reloader is not None
        (tmp_path / "policy.yaml").write_text(HOSTILE[case], encoding="utf-8")
        assert gate.reloader.reload(gate.engine) is False
        assert gate.engine.policy is before
        assert registry.get_sample_value("minorguard_policy_reloads_total", {"result": "error"}) == 1
    finally:
        await gate.close()
