"""Issue 14 item 9: the state-changing endpoints take a service credential. An anonymous refund once
took a minor's month_committed_fen from 10000 to 0, resetting the monthly cap; now commit and release
need a credential that may do them, refunds a separate one, checked in constant time, and every
settlement is written to the audit log with the credential's name."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest
from sidecarkit import (
    ADMIN_TOKEN,
    AGE_15,
    REFUND_TOKEN,
    SETTLE_TOKEN,
    asgi_client,
    bearer,
    sidecar,
    token,
    write_config,
)

from minorguard.deployment import load_deployment
from minorguard.errors import MinorguardError, PolicyError
from minorguard.sidecar.app import SidecarApp


async def bought(http: httpx.AsyncClient, subject: str, amount: int) -> str:
    answer = await http.post(
        "/v1/decisions", json={"token": token(subject, AGE_15), "activity": "purchase", "amount_fen": amount}
    )
    reservation: str = answer.json()["reservation_id"]
    return reservation


async def usage(http: httpx.AsyncClient, subject: str) -> int:
    answer = await http.get(f"/v1/subjects/{subject}/usage", headers=bearer(ADMIN_TOKEN))
    committed: int = answer.json()["month_committed_fen"]
    return committed


async def test_an_anonymous_refund_cannot_reset_the_monthly_cap(app: SidecarApp) -> None:
    async with asgi_client(app) as http:
        reservation = await bought(http, "cred-teen", 4000)
        await http.post(f"/v1/reservations/{reservation}/commit", headers=bearer(SETTLE_TOKEN))
        refused = [
            await http.post(f"/v1/reservations/{reservation}/refund"),
            await http.post(f"/v1/reservations/{reservation}/refund", headers=bearer("guessed-" + "x" * 40)),
            await http.post(
                f"/v1/reservations/{reservation}/refund", headers={"authorization": REFUND_TOKEN}
            ),
        ]
        assert await usage(http, "cred-teen") == 4000
    for response in refused:
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("action", ["commit", "release"])
async def test_commit_and_release_need_a_credential_that_may_do_them(app: SidecarApp, action: str) -> None:
    async with asgi_client(app) as http:
        reservation = await bought(http, f"cred-{action}", 100)
        anonymous = await http.post(f"/v1/reservations/{reservation}/{action}")
        with_refund_token = await http.post(
            f"/v1/reservations/{reservation}/{action}", headers=bearer(REFUND_TOKEN)
        )
        allowed = await http.post(f"/v1/reservations/{reservation}/{action}", headers=bearer(SETTLE_TOKEN))
    assert anonymous.status_code == 401
    assert with_refund_token.status_code == 403  # known, but may not
    assert allowed.status_code == 200, allowed.text


async def test_the_backends_credential_cannot_refund(app: SidecarApp) -> None:
    async with asgi_client(app) as http:
        reservation = await bought(http, "cred-refund", 100)
        await http.post(f"/v1/reservations/{reservation}/commit", headers=bearer(SETTLE_TOKEN))
        by_backend = await http.post(f"/v1/reservations/{reservation}/refund", headers=bearer(SETTLE_TOKEN))
        by_support = await http.post(f"/v1/reservations/{reservation}/refund", headers=bearer(REFUND_TOKEN))
    assert by_backend.status_code == 403
    assert (by_support.status_code, by_support.json()["status"]) == (200, "refunded")


async def test_every_settlement_is_audited_with_the_credentials_name(
    app: SidecarApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="minorguard.audit")
    async with asgi_client(app) as http:
        reservation = await bought(http, "cred-audit", 100)
        await http.post(f"/v1/reservations/{reservation}/commit", headers=bearer(SETTLE_TOKEN))
    events = [json.loads(r.getMessage()) for r in caplog.records if r.name == "minorguard.audit"]
    assert [(e["event"], e["action"], e["credential"], e["status"]) for e in events] == [
        ("reservation", "commit", "shop-backend", "committed")
    ]
    assert SETTLE_TOKEN not in caplog.text


def test_a_credential_that_commits_and_refunds_is_refused_at_load(tmp_path: Path) -> None:
    both = [{"name": "all", "token": {"value": "t" * 64}, "may": ["commit", "refund"]}]
    with pytest.raises(PolicyError, match="refunds take a credential of their own"):
        load_deployment(write_config(tmp_path, credentials=both))


@pytest.mark.parametrize(
    ("may", "length"), [(["commit"], 31), (["refund"], 47)], ids=["settle-under-32", "refund-under-48"]
)
def test_a_short_token_is_refused_at_start(tmp_path: Path, may: list[str], length: int) -> None:
    short = [{"name": "short", "token": {"value": "t" * length}, "may": may}]
    with pytest.raises(MinorguardError, match="give at least"):
        load_deployment(write_config(tmp_path, credentials=short)).credentials()


@pytest.fixture
async def app(tmp_path: Path, closing: list[SidecarApp]) -> SidecarApp:
    built = sidecar(write_config(tmp_path))
    closing.append(built)
    return built
