"""GET | PUT | DELETE /v1/guardian/children/{subject}/settings: who may (a verified adult guardian named
by the token's guardian_of claim, or a credential that may `guardian`), what they may set (a loosening
beyond the policy's bounds is a 422 naming the field and the bound), the audit line and the metric of
every change, and the settings acting on the next decision."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from sidecarkit import (
    ADMIN_TOKEN,
    AGE_15,
    FRIDAY_IN_WINDOW,
    PORTAL_TOKEN,
    SETTLE_TOKEN,
    Clock,
    asgi_client,
    assert_problem,
    bearer,
    bj,
    guardian_token,
    settings_url,
    sidecar,
    token,
    write_config,
)

from minorguard.sidecar.app import SidecarApp

CHILD = "child-42"
PARENT = guardian_token("parent-7", [CHILD])
STRICTER = {"daily_play_minutes": {"default": 30}, "purchase_caps": {"single": 1000}}


@pytest.fixture
def app(tmp_path: Path) -> SidecarApp:
    return sidecar(write_config(tmp_path), Clock(bj(FRIDAY_IN_WINDOW)))


async def call(
    app: SidecarApp, method: str, child: str = CHILD, auth: str | None = PARENT, **kw: Any
) -> httpx.Response:
    headers = bearer(auth) if auth else {}
    async with asgi_client(app) as http:
        return await http.request(method, settings_url(child), headers=headers, **kw)


async def test_a_guardian_sets_reads_and_clears_their_childs_settings(app: SidecarApp) -> None:
    assert (await call(app, "GET")).json()["settings"] is None
    stored = await call(app, "PUT", json=STRICTER)
    assert stored.status_code == 200, stored.text
    document = stored.json()
    assert document["settings"]["purchase_caps"] == {"single": 1000}
    assert document["settings"]["daily_play_minutes"]["weekend"] == 30
    assert document["updated_at"] == "2026-11-20T20:30:00+08:00"
    assert document["bounds"]["bands"]["age_8_15"]["purchase_caps"]["single"] == 5000
    assert (await call(app, "GET")).json()["settings"] == document["settings"]
    cleared = await call(app, "DELETE")
    assert (cleared.json()["cleared"], cleared.json()["settings"]) == (True, None)
    assert (await call(app, "GET")).json()["settings"] is None


async def test_the_settings_act_on_the_childs_next_decision(app: SidecarApp) -> None:
    child = token(CHILD, AGE_15)
    ask = {"token": child, "activity": "purchase", "amount_fen": 2000}
    async with asgi_client(app) as http:
        assert (await http.post("/v1/decisions", json=ask)).json()["outcome"] == "allow"
        await http.put(settings_url(CHILD), headers=bearer(PARENT), json=STRICTER)
        denied = (await http.post("/v1/decisions", json=ask)).json()
    assert (denied["reason"], denied["rule"]) == ("guardian_limit", "guardian.purchase")
    assert denied["detail"] == "your guardian set a cap of 1000 fen for one purchase"


async def test_a_service_credential_that_may_guardian_sets_settings_and_others_may_not(
    app: SidecarApp,
) -> None:
    assert (await call(app, "PUT", auth=PORTAL_TOKEN, json=STRICTER)).status_code == 200
    for other in (SETTLE_TOKEN, ADMIN_TOKEN):
        body = assert_problem(await call(app, "PUT", auth=other, json=STRICTER), 403)
        assert "may not guardian" in body["detail"]


@pytest.mark.parametrize(
    ("auth", "status", "words"),
    [
        (None, 401, "Bearer"),
        ("not-a-jwt", 401, ""),
        (guardian_token("parent-8", ["someone-else"]), 403, "guardian_of"),
        (guardian_token("teen-parent", [CHILD], dt.date(2010, 1, 1)), 403, "verified adult"),
        (token("unverified-parent", None, verified=False), 403, "verified adult"),
        (guardian_token(CHILD, [CHILD]), 403, "guardian_of"),  # nobody is their own guardian
    ],
)
async def test_only_a_verified_adult_named_by_guardian_of_may_change_a_childs_settings(
    app: SidecarApp, auth: str | None, status: int, words: str
) -> None:
    for method in ("GET", "PUT", "DELETE"):
        body = assert_problem(await call(app, method, auth=auth, json=STRICTER), status)
        assert words in body["detail"]
    assert (await call(app, "GET", auth=PORTAL_TOKEN)).json()["settings"] is None


async def test_a_loosening_beyond_the_policys_bounds_is_a_422_naming_field_and_bound(app: SidecarApp) -> None:
    """The demo policy (nppa-2021) lets no guardian raise anything."""
    loosening = {"daily_play_minutes": {"weekend": 600}, "purchase_caps": {"monthly": 999_999}}
    body = assert_problem(await call(app, "PUT", json=loosening), 422)
    assert body["errors"] == [
        {
            "field": "daily_play_minutes.weekend",
            "message": "600 minutes is more than this policy lets a guardian allow (at most 60)",
            "bound": 60,
        },
        {
            "field": "purchase_caps.monthly",
            "message": "999999 fen is above the policy's cap (40000): a guardian may only lower caps",
            "bound": 40000,
        },
    ]
    assert (await call(app, "GET")).json()["settings"] is None, "nothing was stored"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"daily_play_minutes": {"default": 30.0}}', "daily_play_minutes.default"),
        (b'{"daily_play_minutes": {"default": "30"}}', "daily_play_minutes.default"),
        (b'{"purchase_caps": {"single": 100000000000000000000000}}', "purchase_caps.single"),
        (
            b'{"allowed_hours": {"default": [{"start": 1900, "end": "20:00"}]}}',
            "allowed_hours.default.0.start",
        ),
        (b'{"allowed_hours": {"default": [{"start": "20:00", "end": "19:00"}]}}', "allowed_hours.default.0"),
        (b'{"bedtime": "21:00"}', "bedtime"),
        (b'{"exemptions": ["curfew"]}', "exemptions.0"),
        (b"[1, 2]", "(body)"),
        (b"", "(body)"),
        (b'{"tipping": "no"}', "tipping"),
        (b'{"a":' * 5000 + b"1" + b"}" * 5000, "(body)"),
    ],
)
async def test_malformed_settings_are_a_400_naming_the_field(
    app: SidecarApp, body: bytes, field: str
) -> None:
    answer = assert_problem(await call(app, "PUT", content=body), 400)
    assert field in [e["field"] for e in answer["errors"]], answer


async def test_paths_methods_and_sizes_outside_the_endpoint_are_4xx(app: SidecarApp) -> None:
    async with asgi_client(app) as http:
        assert_problem(await http.get("/v1/guardian/children//settings", headers=bearer(PARENT)), 404)
        assert_problem(await http.get(settings_url("x" * 257), headers=bearer(PARENT)), 404)
        assert_problem(await http.get("/v1/guardian/children/child-42", headers=bearer(PARENT)), 404)
        assert_problem(await http.patch(settings_url(CHILD), headers=bearer(PARENT), json={}), 405)
        big = b'{"exemptions": []' + b" " * 70_000 + b"}"
        assert_problem(await http.put(settings_url(CHILD), headers=bearer(PARENT), content=big), 413)


async def test_every_change_is_audited_with_keyed_hashes_and_counted(
    app: SidecarApp, caplog: pytest.LogCaptureFixture
) -> None:
    """Who (the guardian's keyed hash), what changed, the child's keyed hash; never a raw id."""
    caplog.set_level(logging.INFO, logger="minorguard.audit")
    await call(app, "PUT", json=STRICTER)
    await call(app, "PUT", auth=PORTAL_TOKEN, json={"purchase_caps": {"single": 500}})
    await call(app, "DELETE")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "minorguard.audit"]
    lines = [line for line in lines if line["event"] == "guardian_settings"]
    engine = app.gate.engine
    assert [(line["action"], line["via"]) for line in lines] == [
        ("set", "guardian"),
        ("set", "credential"),
        ("clear", "guardian"),
    ]
    assert {line["subject"] for line in lines} == {engine.user_key(CHILD)}
    assert lines[0]["by"] == engine.user_key("parent-7")
    assert lines[1]["by"] == "parents-portal"
    every_day = dict.fromkeys(("working_day", "weekend", "holiday", "makeup_workday"), 30)
    assert lines[1]["changed"] == {
        "daily_play_minutes": [every_day, None],
        "purchase_caps": [{"single": 1000}, {"single": 500}],
    }
    text = caplog.text
    assert CHILD not in text
    assert "parent-7" not in text
    async with asgi_client(app) as http:
        metrics = (await http.get("/metrics")).text
    assert 'minorguard_guardian_changes_total{action="set",via="guardian"} 1.0' in metrics
    assert 'minorguard_guardian_changes_total{action="set",via="credential"} 1.0' in metrics
    assert 'minorguard_guardian_changes_total{action="clear",via="guardian"} 1.0' in metrics


async def test_a_policy_that_reads_no_guardian_settings_refuses_to_store_them(tmp_path: Path) -> None:
    (tmp_path / "off.yaml").write_text("name: off\nextends: nppa-2021\nguardian: {enabled: false}\n")
    app = sidecar(write_config(tmp_path, policy="off.yaml"))
    body = assert_problem(await call(app, "PUT", json=STRICTER), 409)
    assert "guardian.enabled" in body["detail"]


async def test_a_store_that_does_not_answer_is_a_503(tmp_path: Path) -> None:
    app = sidecar(write_config(tmp_path, store="redis://127.0.0.1:9/0", store_timeout_ms=50))
    for method in ("GET", "PUT", "DELETE"):
        body = assert_problem(await call(app, method, json=STRICTER), 503)
        assert body["title"] == "Store unavailable"
