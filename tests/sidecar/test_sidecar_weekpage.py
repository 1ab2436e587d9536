"""GET /v1/policy/week (issue 18 item 5): the sidecar serves the week page of the policy in force, the
page tests/test_weekpage_browser.py checks in a real Chromium, read-only; a bad week or language is a
400 problem, never a 5xx or a page drawn for any year a caller asks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sidecarkit import FRIDAY_IN_WINDOW, Clock, asgi_client, bj, sidecar, write_config

from minorguard.sidecar.app import SidecarApp
from minorguard.weekpage import render_week_html


@pytest.fixture
async def app(tmp_path: Path, closing: list[SidecarApp]) -> SidecarApp:
    built = sidecar(write_config(tmp_path), Clock(bj(FRIDAY_IN_WINDOW)))
    closing.append(built)
    return built


@pytest.mark.parametrize("language", ["zh-CN", "en"])
async def test_the_page_is_the_week_of_the_policy_in_force(app: SidecarApp, language: str) -> None:
    async with asgi_client(app) as http:
        response = await http.get("/v1/policy/week", params={"week": "2026-11-20", "lang": language})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src" not in response.headers["content-security-policy"]
    expected = render_week_html(app.gate.engine.policy, dt.date(2026, 11, 16), language)
    assert response.text == expected


async def test_without_a_week_it_is_this_week_of_the_policys_clock(app: SidecarApp) -> None:
    async with asgi_client(app) as http:
        response = await http.get("/v1/policy/week")
    assert response.text == render_week_html(app.gate.engine.policy, dt.date(2026, 11, 16), "zh-CN")


@pytest.mark.parametrize(
    "query",
    [{"week": "2030-01-01"}, {"week": "not-a-date"}, {"week": "2026-11-20x"}, {"lang": "fr"}, {"week": "²"}],
)
async def test_a_week_or_language_that_cannot_be_drawn_is_a_400(
    app: SidecarApp, query: dict[str, str]
) -> None:
    async with asgi_client(app) as http:
        response = await http.get("/v1/policy/week", params=query)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
