"""Policy hot reload through the sidecar: a changed policy file is used by the next request after the
reload interval (every door: the decision API, Envoy, nginx), /v1/policy shows the new revision, and a
broken file keeps the last good policy (counted as a reload error) until it is fixed."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sidecarkit import ADULT, AMOUNT_HEADER, Clock, asgi_client, bearer, sidecar, token, write_config

from minorguard.sidecar.app import SidecarApp

INTERVAL = 0.1


async def test_a_changed_policy_applies_after_the_interval_and_a_broken_one_is_ignored(
    tmp_path: Path, clock: Clock, closing: list[SidecarApp]
) -> None:
    app = sidecar(write_config(tmp_path, policy_reload_seconds=INTERVAL), clock)
    closing.append(app)
    policy_file = tmp_path / "demo.yaml"
    original = policy_file.read_text()
    assert "per_tip: 50000" in original
    adult = token("reload-adult", ADULT)
    tip = {"token": adult, "activity": "livestream_tip", "amount_fen": 200}

    async with asgi_client(app) as http:

        async def decide() -> str:
            answer = await http.post("/v1/decisions", json=tip)
            assert answer.status_code == 200, answer.text
            reason: str = answer.json()["reason"]
            return reason

        async def policy() -> tuple[str, int]:
            body = (await http.get("/v1/policy")).json()
            return body["revision"], body["effective"]["livestream_tip"]["adult_caps"]["per_tip"]

        assert await decide() == "allowed"
        first_revision, per_tip = await policy()
        assert per_tip == 50000

        policy_file.write_text(original.replace("per_tip: 50000", "per_tip: 100"))
        await asyncio.sleep(INTERVAL * 1.5)
        assert await decide() == "tip_per_tip_cap", "the next request after the interval uses the new file"
        second_revision, per_tip = await policy()
        assert second_revision != first_revision
        assert per_tip == 100
        # the other doors judge with the same, reloaded policy
        envoy = await http.post(
            "/v1/authz/envoy/live/rooms/1/tips", headers={**bearer(adult), AMOUNT_HEADER: "200"}
        )
        assert envoy.status_code == 403
        assert envoy.json()["reason"] == "tip_per_tip_cap"
        nginx = await http.get(
            "/v1/authz/nginx",
            headers={
                **bearer(adult),
                AMOUNT_HEADER: "200",
                "x-original-uri": "/live/rooms/1/tips",
                "x-original-method": "POST",
            },
        )
        assert (nginx.status_code, nginx.headers["minorguard-reason"]) == (403, "tip_per_tip_cap")

        for broken in (
            original.replace("per_tip: 50000", "per_tip: -5"),  # a value the schema refuses
            original.replace("livestream_tip:", "livestream_tip: [", 1),  # not YAML
            "",  # emptied
        ):
            policy_file.write_text(broken)
            await asyncio.sleep(INTERVAL * 1.5)
            assert await decide() == "tip_per_tip_cap", "a broken file keeps the last good policy"
            assert await policy() == (second_revision, 100)
            ready = await http.get("/readyz")
            assert ready.json()["revision"] == second_revision

        policy_file.unlink()  # a deleted file too
        await asyncio.sleep(INTERVAL * 1.5)
        assert await decide() == "tip_per_tip_cap"

        policy_file.write_text(original)
        await asyncio.sleep(INTERVAL * 1.5)
        assert await decide() == "allowed", "fixed, the file is used again"
        assert await policy() == (first_revision, 50000)
        metrics = (await http.get("/metrics")).text

    assert 'minorguard_policy_reloads_total{result="success"} 2.0' in metrics
    assert 'minorguard_policy_reloads_total{result="error"} 4.0' in metrics
    assert f'revision="{first_revision}"' in metrics


async def test_within_the_interval_the_old_policy_stays(
    tmp_path: Path, clock: Clock, closing: list[SidecarApp]
) -> None:
    """Checked at most once per interval, on the request path: no stat() per request."""
    app = sidecar(write_config(tmp_path, policy_reload_seconds=30), clock)
    closing.append(app)
    policy_file = tmp_path / "demo.yaml"
    tip = {"token": token("reload-slow", ADULT), "activity": "livestream_tip", "amount_fen": 200}
    async with asgi_client(app) as http:
        assert (await http.post("/v1/decisions", json=tip)).json()["reason"] == "allowed"
        policy_file.write_text(policy_file.read_text().replace("per_tip: 50000", "per_tip: 100"))
        assert (await http.post("/v1/decisions", json=tip)).json()["reason"] == "allowed"
