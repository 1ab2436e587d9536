"""The sidecar's verification: `verify_identity`, pending results polled within 48 h, error mapping."""

from __future__ import annotations

import pytest
from nppafake import Fake, ShiftClock

from minorguard.adapters.nppa import (
    AuthStatus,
    InvalidIdNumber,
    NppaClient,
    NppaError,
    PendingExpired,
    error_response,
    poll_pending,
    query_identity,
    verify_identity,
)
from minorguard.adapters.nppa.verify import poll_delays

PENDING = ("200000000000000002", "某二二", "110000190201020004")


async def test_verify_success(client: NppaClient, fake: Fake) -> None:
    answer = await verify_identity(client, "某一二", "110000190101020007", "100000000000000002")
    assert answer["status"] == "success"
    assert answer["code"] == 0
    assert answer["birthdate"] == "1901-01-02"
    assert answer["pi"].startswith("1fffbk")
    assert "某一二" not in str(answer)
    assert "110000190101020007" not in str(answer)


async def test_verify_pending_then_polled_to_success(client: NppaClient, fake: Fake) -> None:
    fake.nppa.resolve_after = 3
    ai, name, id_num = PENDING
    answer = await verify_identity(client, name, id_num, ai)
    assert answer["status"] == "in_progress"
    assert answer["pi"] is None
    assert (await query_identity(client, ai))["status"] == "in_progress"
    result = await poll_pending(client, ai, first_delay=0.01, max_delay=0.02)
    assert result.status is AuthStatus.SUCCESS
    assert str(result.birthdate) == "1902-01-02"
    assert [r["interface"] for r in fake.nppa.requests] == ["check", "query", "query", "query"]


async def test_verify_waits_a_little_when_asked(client: NppaClient, fake: Fake) -> None:
    fake.nppa.resolve_after = 1
    ai, name, id_num = PENDING
    answer = await verify_identity(client, name, id_num, ai, wait=3.0)
    assert answer["status"] == "success"
    assert answer["birthdate"] == "1902-01-02"


async def test_poll_gives_up_at_its_budget_and_at_48_hours(client: NppaClient, clock: ShiftClock) -> None:
    ai, name, id_num = PENDING
    await client.check(ai, name, id_num)
    result = await poll_pending(client, ai, budget=0.05, first_delay=0.01)
    assert result.status is AuthStatus.IN_PROGRESS
    with pytest.raises(PendingExpired):
        await poll_pending(client, ai, started_at=clock() - 48 * 3600 + 0.05, first_delay=0.01, clock=clock)
    delays = poll_delays()
    assert [next(delays) for _ in range(9)] == [5, 10, 20, 40, 80, 160, 320, 600, 600]


async def test_errors_map_to_http_answers(client: NppaClient, fake: Fake) -> None:
    with pytest.raises(InvalidIdNumber) as bad:
        await verify_identity(client, "某", "110000190101020008", "x1")
    assert error_response(bad.value)[0] == 400
    fake.nppa.fail_next = ["http503"] * 3
    with pytest.raises(NppaError) as down:
        await verify_identity(client, "某一二", "110000190101020007", "100000000000000002")
    status, body = error_response(down.value)
    assert status == 503
    assert body == {"error": "nppa_unavailable", "nppa_code": "http_503"}
    with pytest.raises(NppaError) as refused:
        await query_identity(client, "unknown-ai")
    assert error_response(refused.value) == (502, {"error": "nppa_refused", "nppa_code": "2003"})
