"""Every door refuses a token whose birth date cannot be a living person's (issue 14 item 8): the
decisions API answers identity_invalid, the Envoy, nginx and Traefik doors a 401. Before, 0001-01-01
and 1800-01-01 were adults and passed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sidecarkit import Clock, asgi_client, sidecar, token, write_config

from minorguard.sidecar.app import SidecarApp

DATES = [dt.date(1, 1, 1), dt.date(1800, 1, 1), dt.date(2030, 1, 1)]


@pytest.fixture
def app(tmp_path: Path, clock: Clock, closing: list[SidecarApp]) -> SidecarApp:
    built = sidecar(write_config(tmp_path), clock)
    closing.append(built)
    return built


def door_requests(subject: str) -> dict[str, dict[str, Any]]:
    auth = {"authorization": f"Bearer {subject}"}
    return {
        "envoy": {"method": "GET", "url": "/v1/authz/envoy/game/ping", "headers": auth},
        "nginx": {
            "method": "GET",
            "url": "/v1/authz/nginx",
            "headers": {**auth, "x-original-uri": "/game/ping", "x-original-method": "GET"},
        },
        "traefik": {
            "method": "GET",
            "url": "/v1/authz/traefik",
            "headers": {
                **auth,
                "x-forwarded-method": "GET",
                "x-forwarded-uri": "/game/ping",
                "x-forwarded-proto": "https",
                "x-forwarded-host": "game.example.com",
            },
        },
    }


@pytest.mark.parametrize("born", DATES, ids=str)
async def test_every_door_refuses_an_implausible_birth_date(app: SidecarApp, born: dt.date) -> None:
    """The decisions API says identity_invalid; each proxy door answers 401."""
    subject = token("implausible", born)
    async with asgi_client(app) as http:
        decided = await http.post("/v1/decisions", json={"token": subject, "activity": "game"})
        assert (decided.json()["outcome"], decided.json()["reason"]) == ("deny", "identity_invalid")
        for door, request in door_requests(subject).items():
            response = await http.request(**request)
            assert response.status_code == 401, door
