"""Graceful shutdown answers every request and loses no reservation (issue 14 item 13):
`minorguard sidecar --config` (granian) on a real Redis, a burst of concurrent purchase decisions,
SIGTERM while they are in flight. Every request sent before the SIGTERM is answered (granian alone
dropped the connections opened just before it); /readyz says 503 while the sidecar keeps serving for
`shutdown_delay_seconds`; then it stops accepting (connections refused). Every 200 that handed out a
reservation id finds that reservation in Redis (a new sidecar commits it), and Redis holds no
reservation that nobody was told about."""

from __future__ import annotations

import asyncio
import secrets
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sidecarkit import (
    ADMIN_TOKEN,
    AGE_15,
    FRIDAY_IN_WINDOW,
    SidecarProcess,
    bj_iso,
    service,
    token,
    write_config,
)

IN_FLIGHT = 160  # sent at once, SIGTERM as the first answers come back
LATE = 40  # sent once the shutdown delay is over
SUBJECTS = 8
DELAY = 1.0  # sidecar.shutdown_delay_seconds


@pytest.mark.redis
@pytest.mark.slow
async def test_sigterm_mid_burst_loses_no_reservation_and_answers_no_5xx(
    tmp_path: Path, sidecar_redis: Any
) -> None:
    config = write_config(
        tmp_path / "config",
        store=sidecar_redis.url,
        store_timeout_ms=2000,
        sidecar={"shutdown_delay_seconds": DELAY},
    )
    start_at = ["--start-at", bj_iso(FRIDAY_IN_WINDOW)]
    subjects = [f"shutdown-{secrets.token_hex(3)}-{n}" for n in range(SUBJECTS)]
    tokens = [token(s, AGE_15) for s in subjects]
    first = SidecarProcess(tmp_path / "first", "--config", str(config), *start_at).start()
    outcomes: list[httpx.Response | BaseException] = []
    try:
        limits = httpx.Limits(max_connections=IN_FLIGHT + LATE, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=first.url, timeout=20, limits=limits) as http:
            answered = 0
            some_answered = asyncio.Event()

            async def one(n: int, delay: float = 0.0) -> httpx.Response:
                nonlocal answered
                await asyncio.sleep(delay)
                response = await http.post(
                    "/v1/decisions",
                    json={"token": tokens[n % SUBJECTS], "activity": "purchase", "amount_fen": 1},
                )
                answered += 1
                if answered >= 10:
                    some_answered.set()
                return response

            tasks = [asyncio.create_task(one(n)) for n in range(IN_FLIGHT)]
            await asyncio.wait_for(some_answered.wait(), 20)
            first.signal(signal.SIGTERM)
            await asyncio.sleep(DELAY / 4)
            draining = await http.get("/readyz")
            tasks += [asyncio.create_task(one(IN_FLIGHT + n, DELAY + 1.0 + n * 0.005)) for n in range(LATE)]
            outcomes = list(await asyncio.gather(*tasks, return_exceptions=True))
        code = first.wait(30)
    finally:
        first.stop()
    assert code == 0, first.stderr[-3000:]

    assert (draining.status_code, draining.json()["detail"]) == (
        503,
        "shutting down: finishing the requests under way",
    )
    before = outcomes[:IN_FLIGHT]
    dropped = [r for r in before if not isinstance(r, httpx.Response)]
    assert not dropped, f"{len(dropped)} requests sent before the SIGTERM got no answer: {dropped[:3]}"
    responses = [r for r in before if isinstance(r, httpx.Response)]
    assert all(r.status_code == 200 for r in responses), {r.status_code: r.text for r in responses}
    late = outcomes[IN_FLIGHT:]
    assert all(isinstance(f, httpx.ConnectError) for f in late), "after the shutdown: connection refused"
    reservations = [r.json()["reservation_id"] for r in responses if r.json()["outcome"] == "allow"]
    assert len(reservations) == len(responses), "1 fen each: every answered purchase was allowed"
    assert len(reservations) >= 10

    with SidecarProcess.running(tmp_path / "second", "--config", str(config), *start_at) as second:
        async with httpx.AsyncClient(base_url=second.url, timeout=20) as http:
            admin = {"authorization": f"Bearer {ADMIN_TOKEN}"}
            usages = [(await http.get(f"/v1/subjects/{s}/usage", headers=admin)).json() for s in subjects]
            pending = sum(u["month_pending_fen"] for u in usages)
            settled = await asyncio.gather(
                *(http.post(f"/v1/reservations/{r}/commit", headers=service("commit")) for r in reservations)
            )
            after = [(await http.get(f"/v1/subjects/{s}/usage", headers=admin)).json() for s in subjects]
    statuses = [s.json()["status"] for s in settled]
    assert statuses == ["committed"] * len(reservations), {s: statuses.count(s) for s in set(statuses)}
    # no reservation was made for a request that got no answer (its holder could never settle it)
    assert pending == len(reservations), (pending, len(reservations))
    assert sum(u["month_committed_fen"] for u in after) == len(reservations)
    assert sum(u["month_pending_fen"] for u in after) == 0
