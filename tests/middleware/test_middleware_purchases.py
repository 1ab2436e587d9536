"""Purchases through the middleware: reserve before the app runs, commit on 2xx, release on anything
else (errors, exceptions, disconnects); Idempotency-Key; the body read once, bounded and replayed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mwkit import (
    ADULT,
    AGE_15,
    DEMO_POLICY,
    PROBLEM_JSON,
    Boom,
    Clock,
    Sent,
    assert_problem,
    bearer,
    bj_dt,
    build,
    client,
    http_scope,
    scripted_receive,
    token,
    write_deployment,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from minorguard.explain import compile_policy
from minorguard.middleware import MinorGuardMiddleware

FRIDAY = "2026-11-20 15:00:00"
NEXT_MONTH = bj_dt("2026-12-01 00:00:00")
PURCHASE_BASIS = compile_policy("nppa-2021").policy.spec.purchase.basis("purchase_monthly_cap")
LIMIT = 64 * 1024


def _teen(name: str) -> dict[str, str]:
    return bearer(token(name, AGE_15))


async def _usage(app: MinorGuardMiddleware, subject: str) -> tuple[int, int]:
    usage = await app.gate.engine.usage(subject)
    return usage.month_committed, usage.month_pending


def _settled(registry: Any, action: str, status: str) -> float:
    return (
        registry.get_sample_value("minorguard_reservations_total", {"action": action, "status": status}) or 0
    )


async def test_a_released_purchase_gives_its_quota_back_and_four_committed_fill_the_month(
    tmp_path: Path, clock: Clock
) -> None:
    """15-year-old (nppa-2021: 20000 fen a month): a released 5000 frees its quota; 4 x 5000 fill it."""
    app, seen, registry = build(write_deployment(tmp_path, policy="nppa-2021"), clock)
    clock.set(FRIDAY)
    headers = _teen("monthly-teen")
    async with client(app) as http:
        failed = await http.post("/shop/purchases?status=502", headers=headers, json={"amount_fen": 5000})
        assert failed.status_code == 502
        assert await _usage(app, "monthly-teen") == (0, 0)
        budgets = []
        for _ in range(4):
            bought = await http.post("/shop/purchases", headers=headers, json={"amount_fen": 5000})
            assert bought.status_code == 201
            budgets.append(bought.headers["minorguard-remaining-budget-fen"])
        over = await http.post("/shop/purchases", headers=headers, json={"amount_fen": 5000})
        one_fen = await http.post("/shop/purchases", headers=headers, json={"amount_fen": 1})
        zero = await http.post("/shop/purchases", headers=headers, json={"amount_fen": 0})
    assert budgets == ["15000", "10000", "5000", "0"]
    assert_problem(
        over,
        403,
        "purchase_monthly_cap",
        rule="purchase",
        legal_basis=PURCHASE_BASIS,
        again=NEXT_MONTH,
        now=clock.now,
    )
    assert one_fen.status_code == 403
    assert zero.status_code == 201  # nothing spent fits any budget
    assert await _usage(app, "monthly-teen") == (20000, 0)
    assert _settled(registry, "release", "released") == 1
    assert _settled(registry, "commit", "committed") == 5
    assert len(seen.bodies) == 6  # the denied ones never reached the app


async def test_a_purchase_the_app_answers_with_an_error_status_is_released(
    tmp_path: Path, clock: Clock
) -> None:
    """Every non-2xx status (3xx, 4xx, 5xx) releases the reservation; 2xx other than 201 commits."""
    app, _, registry = build(write_deployment(tmp_path, policy="nppa-2021"), clock)
    clock.set(FRIDAY)
    headers = _teen("status-teen")
    async with client(app) as http:
        for status in (302, 400, 409, 500, 503):
            answer = await http.post(
                f"/shop/purchases?status={status}", headers=headers, json={"amount_fen": 5000}
            )
            assert answer.status_code == status
        assert await _usage(app, "status-teen") == (0, 0)
        ok = await http.post("/shop/purchases?status=200", headers=headers, json={"amount_fen": 4000})
        accepted = await http.post("/shop/purchases?status=202", headers=headers, json={"amount_fen": 1000})
    assert (ok.status_code, accepted.status_code) == (200, 202)
    assert await _usage(app, "status-teen") == (5000, 0)
    assert _settled(registry, "release", "released") == 5


async def test_an_exception_in_the_app_releases_the_reservation_and_propagates(
    tmp_path: Path, clock: Clock
) -> None:
    """The app raising: the exception reaches the server, the reserved amount is free again."""
    app, seen, registry = build(write_deployment(tmp_path, policy="nppa-2021"), clock)
    clock.set(FRIDAY)
    headers = _teen("boom-teen")
    async with client(app) as http:
        with pytest.raises(Boom):
            await http.post("/shop/purchases?raise=1", headers=headers, json={"amount_fen": 5000})
        assert await _usage(app, "boom-teen") == (0, 0)
        for _ in range(4):
            assert (await http.post("/shop/purchases", headers=headers, json={"amount_fen": 5000})).is_success
    assert seen.calls.count("shop") == 5
    assert _settled(registry, "release", "released") == 1
    assert await _usage(app, "boom-teen") == (20000, 0)


async def test_a_client_disconnect_while_the_app_waits_releases_the_reservation(
    tmp_path: Path, clock: Clock
) -> None:
    """The amount is reserved before the app runs; the client going away (http.disconnect) releases it."""
    app, seen, registry = build(write_deployment(tmp_path, policy="nppa-2021"), clock)
    clock.set(FRIDAY)
    gone = asyncio.Event()

    async def disconnect() -> dict[str, Any]:
        await gone.wait()
        return {"type": "http.disconnect"}

    body = json.dumps({"amount_fen": 5000}).encode()
    scope = http_scope(
        "POST", "/shop/hang", {**_teen("gone-teen"), "content-type": "application/json"}, query=b""
    )
    receive = scripted_receive([{"type": "http.request", "body": body, "more_body": False}], disconnect)
    sent = Sent()
    task = asyncio.create_task(app(scope, receive, sent))
    await asyncio.wait_for(seen.hang_started.wait(), 5)
    assert await _usage(app, "gone-teen") == (0, 5000), "reserved before the app runs"
    assert seen.bodies == [body]
    gone.set()
    await asyncio.wait_for(task, 5)
    assert sent.messages == []
    assert await _usage(app, "gone-teen") == (0, 0)
    assert _settled(registry, "release", "released") == 1


async def test_a_request_cancelled_by_the_server_releases_the_reservation(
    tmp_path: Path, clock: Clock
) -> None:
    """The server cancelling the request task (client gone) releases, and the cancellation propagates."""
    app, seen, _ = build(write_deployment(tmp_path, policy="nppa-2021"), clock)
    clock.set(FRIDAY)
    body = json.dumps({"amount_fen": 3000}).encode()
    scope = http_scope("POST", "/shop/hang", _teen("cancel-teen"))
    receive = scripted_receive([{"type": "http.request", "body": body, "more_body": False}])
    task = asyncio.create_task(app(scope, receive, Sent()))
    await asyncio.wait_for(seen.hang_started.wait(), 5)
    assert await _usage(app, "cancel-teen") == (0, 3000)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _usage(app, "cancel-teen") == (0, 0)


async def test_a_starlette_app_that_sees_the_disconnect_and_gives_up_releases(
    tmp_path: Path, clock: Clock
) -> None:
    """An endpoint polling request.is_disconnected() answers 499 when the client is gone: released."""
    noticed = asyncio.Event()
    waiting = asyncio.Event()

    async def slow_purchase(request: Request) -> Response:
        await request.body()
        waiting.set()
        while not await request.is_disconnected():
            await asyncio.sleep(0.005)
        noticed.set()
        return Response(status_code=499)

    inner = Starlette(routes=[Route("/shop/purchases", slow_purchase, methods=["POST"])])
    app, _, _ = build(write_deployment(tmp_path, policy="nppa-2021"), clock, app=inner)
    clock.set(FRIDAY)
    gone = asyncio.Event()

    async def disconnect() -> dict[str, Any]:
        await gone.wait()
        return {"type": "http.disconnect"}

    body = b'{"amount_fen": 2500}'
    receive = scripted_receive([{"type": "http.request", "body": body, "more_body": False}], disconnect)
    sent = Sent()
    task = asyncio.create_task(app(http_scope("POST", "/shop/purchases", _teen("poll-teen")), receive, sent))
    await asyncio.wait_for(waiting.wait(), 5)
    assert await _usage(app, "poll-teen") == (0, 2500)
    gone.set()
    await asyncio.wait_for(task, 5)
    assert noticed.is_set()
    assert sent.status == 499
    assert await _usage(app, "poll-teen") == (0, 0)


async def test_the_same_idempotency_key_twice_makes_one_reservation(tmp_path: Path, clock: Clock) -> None:
    """A retried purchase with the same Idempotency-Key is one reservation: the budget drops once, and
    the app does not run a second time (409 duplicate_request: the first went ahead)."""
    app, _, _ = build(write_deployment(tmp_path, policy="nppa-2021"), clock)
    clock.set(FRIDAY)
    headers = {**_teen("idem-teen"), "Idempotency-Key": "order-2026-11-20-0001"}
    async with client(app) as http:
        first = await http.post("/shop/purchases", headers=headers, json={"amount_fen": 5000})
        again = await http.post("/shop/purchases", headers=headers, json={"amount_fen": 5000})
        other = await http.post(
            "/shop/purchases",
            headers={**headers, "Idempotency-Key": "order-2026-11-20-0002"},
            json={"amount_fen": 5000},
        )
    assert (first.status_code, again.status_code, other.status_code) == (201, 409, 201)
    assert again.json()["reason"] == "duplicate_request"
    assert first.headers["minorguard-remaining-budget-fen"] == "15000"
    assert other.headers["minorguard-remaining-budget-fen"] == "10000"
    assert await _usage(app, "idem-teen") == (10000, 0)


async def test_an_idempotency_key_reused_for_a_larger_amount_is_not_an_uncounted_purchase(
    tmp_path: Path, clock: Clock
) -> None:
    """Reusing a settled key with another amount must not let that amount through uncounted."""
    app, _, _ = build(write_deployment(tmp_path, policy="nppa-2021"), clock)
    clock.set(FRIDAY)
    headers = {**_teen("reuse-teen"), "Idempotency-Key": "k-1"}
    async with client(app) as http:
        small = await http.post("/shop/purchases", headers=headers, json={"amount_fen": 1})
        assert small.status_code == 201
        big = [
            await http.post("/shop/purchases", headers=headers, json={"amount_fen": 5000}) for _ in range(5)
        ]
    passed = sum(5000 for r in big if r.is_success)
    committed, _ = await _usage(app, "reuse-teen")
    assert committed >= 1 + passed, (
        f"{passed} fen reached the app under a reused key but only {committed} fen were counted"
    )
    assert 1 + passed <= 20000, "the monthly cap of 20000 fen was passed"


async def test_a_retry_with_the_key_of_a_released_purchase_is_counted_when_it_succeeds(
    tmp_path: Path, clock: Clock
) -> None:
    """A retry of a failed purchase (same Idempotency-Key) that then succeeds counts toward the month."""
    app, _, _ = build(write_deployment(tmp_path, policy="nppa-2021"), clock)
    clock.set(FRIDAY)
    headers = {**_teen("retry-teen"), "Idempotency-Key": "order-77"}
    async with client(app) as http:
        failed = await http.post("/shop/purchases?status=502", headers=headers, json={"amount_fen": 5000})
        retried = await http.post("/shop/purchases", headers=headers, json={"amount_fen": 5000})
    assert failed.status_code == 502
    if retried.is_success:
        assert await _usage(app, "retry-teen") == (5000, 0), "a successful purchase went uncounted"


UNICODE_BODY = (
    '{\n  "amount_fen": 4321,\n  "note": "充值 给 🎮 — ünïcödé \\u00e9",\n'
    '  "items": [1, 2.5, null, true], "nested": {"k": "v"}\n}'
).encode()


async def test_the_body_is_replayed_to_the_app_byte_for_byte(tmp_path: Path, clock: Clock) -> None:
    """The app reads exactly the bytes the client sent (unicode, whitespace, key order), once."""
    app, seen, _ = build(write_deployment(tmp_path, policy="nppa-2021"), clock)
    clock.set(FRIDAY)
    async with client(app) as http:
        answer = await http.post(
            "/shop/purchases",
            headers={**_teen("bytes-teen"), "content-type": "application/json"},
            content=UNICODE_BODY,
        )
    assert answer.status_code == 201
    assert answer.content == UNICODE_BODY
    assert seen.bodies == [UNICODE_BODY]


async def test_a_chunked_body_is_read_once_and_replayed_whole(tmp_path: Path, clock: Clock) -> None:
    """A body in several http.request messages: each is received once; the app gets them joined."""
    app, seen, _ = build(write_deployment(tmp_path, policy="nppa-2021"), clock)
    clock.set(FRIDAY)
    cut = [UNICODE_BODY[:7], UNICODE_BODY[7:40], b"", UNICODE_BODY[40:]]
    messages = [
        {"type": "http.request", "body": part, "more_body": i < len(cut) - 1} for i, part in enumerate(cut)
    ]
    received = 0
    inner = scripted_receive(messages)

    async def counting() -> dict[str, Any]:
        nonlocal received
        received += 1
        return await inner()

    sent = Sent()
    await app(http_scope("POST", "/shop/purchases", _teen("chunk-teen")), counting, sent)
    assert sent.status == 201
    assert seen.bodies == [UNICODE_BODY]
    assert received == len(cut), "every message of the body is received exactly once"
    echoed = b"".join(m.get("body", b"") for m in sent.messages if m["type"] == "http.response.body")
    assert echoed == UNICODE_BODY


def _padded(size: int) -> bytes:
    head = b'{"amount_fen": 100, "pad": "'
    tail = b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


async def _streamed(data: bytes, chunk: int = 4096) -> AsyncIterator[bytes]:
    for start in range(0, len(data), chunk):
        yield data[start : start + chunk]


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
async def test_a_body_over_64_kib_is_refused_with_413(tmp_path: Path, clock: Clock, streamed: bool) -> None:
    """One byte over 64 KiB: 413 problem+json (declared or streamed); exactly 64 KiB passes."""
    app, seen, _ = build(write_deployment(tmp_path, policy="nppa-2021"), clock)
    clock.set(FRIDAY)
    headers = {**_teen("big-teen"), "content-type": "application/json"}
    async with client(app) as http:
        for size, status in ((LIMIT + 1, 413), (LIMIT, 201), (4 * LIMIT, 413)):
            data = _padded(size)
            content: Any = _streamed(data) if streamed else data
            answer = await http.post("/shop/purchases", headers=headers, content=content)
            sent_length = answer.request.headers.get("content-length")
            assert (sent_length is None) == streamed
            assert answer.status_code == status, (size, answer.text[:200])
            if status == 413:
                assert answer.headers["content-type"] == PROBLEM_JSON
                problem = answer.json()
                assert problem["status"] == 413
                assert str(LIMIT) in problem["detail"]
    assert [len(b) for b in seen.bodies] == [LIMIT]
    assert await _usage(app, "big-teen") == (100, 0)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'{"amount_fen": ', id="malformed"),
        pytest.param(b"[5000]", id="array"),
        pytest.param(b'"5000"', id="string"),
        pytest.param(b"5000", id="number"),
        pytest.param(b"null", id="null"),
        pytest.param(b"", id="empty"),
        pytest.param(b"\xff\xfe{}", id="not-utf8"),
    ],
)
async def test_a_body_that_is_not_a_json_object_is_refused_with_400(
    tmp_path: Path, clock: Clock, raw: bytes
) -> None:
    """Malformed JSON or JSON that is not an object: 400 problem+json; nothing is reserved."""
    app, seen, _ = build(write_deployment(tmp_path, policy="nppa-2021"), clock)
    clock.set(FRIDAY)
    async with client(app) as http:
        answer = await http.post("/shop/purchases", headers=_teen("bad-body-teen"), content=raw)
    assert answer.status_code == 400
    assert answer.headers["content-type"] == PROBLEM_JSON
    assert answer.json()["status"] == 400
    assert seen.calls == []
    assert await _usage(app, "bad-body-teen") == (0, 0)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="missing"),
        pytest.param({"amount_fen": None}, id="null"),
        pytest.param({"amount_fen": 50.0}, id="float"),
        pytest.param({"amount_fen": 49.99}, id="fraction"),
        pytest.param({"amount_fen": -1}, id="negative"),
        pytest.param({"amount_fen": "abc"}, id="string-non-digit"),
        pytest.param({"amount_fen": "-5"}, id="string-negative"),
        pytest.param({"amount_fen": "5e3"}, id="string-exponent"),
        pytest.param({"amount_fen": ""}, id="string-empty"),
        pytest.param({"amount_fen": True}, id="bool-true"),
        pytest.param({"amount_fen": False}, id="bool-false"),
        pytest.param({"amount_fen": [5000]}, id="list"),
        pytest.param({"amount_fen": {"fen": 5000}}, id="object"),
        pytest.param({"amount_fen": 10**13}, id="implausible"),
        pytest.param({"amount": 5000}, id="wrong-name"),
    ],
)
async def test_a_bad_amount_is_refused_with_400_naming_the_field(
    tmp_path: Path, clock: Clock, body: dict[str, Any]
) -> None:
    """A missing, float, negative, non-digit, bool or other non-integer amount: 400 naming amount_fen."""
    app, seen, _ = build(write_deployment(tmp_path, policy="nppa-2021"), clock)
    clock.set(FRIDAY)
    async with client(app) as http:
        answer = await http.post(
            "/shop/purchases", headers={**_teen("bad-amount"), "Accept-Language": "en"}, json=body
        )
    assert answer.status_code == 400
    assert answer.headers["content-type"] == PROBLEM_JSON
    problem = answer.json()
    assert problem["field"] == "amount_fen"
    assert problem["title"] == "Invalid amount"
    assert "amount_fen" in problem["detail"]
    assert seen.calls == []
    assert await _usage(app, "bad-amount") == (0, 0)


async def test_an_amount_written_as_digits_is_accepted(tmp_path: Path, clock: Clock) -> None:
    """A string of digits is a valid amount of fen (text sources must be digits)."""
    app, seen, _ = build(write_deployment(tmp_path, policy="nppa-2021"), clock)
    clock.set(FRIDAY)
    async with client(app) as http:
        answer = await http.post("/shop/purchases", headers=_teen("digits"), json={"amount_fen": "2500"})
    assert answer.status_code == 201
    assert await _usage(app, "digits") == (2500, 0)
    assert seen.calls == ["shop"]


async def test_an_adult_purchase_is_never_reserved(tmp_path: Path, clock: Clock) -> None:
    """Adults pay without a reservation: nothing is counted, and no settle metric moves."""
    app, _, registry = build(write_deployment(tmp_path, policy="nppa-2021"), clock)
    clock.set(FRIDAY)
    async with client(app) as http:
        answer = await http.post(
            "/shop/purchases", headers=bearer(token("grown", ADULT)), json={"amount_fen": 10**9}
        )
    assert answer.status_code == 201
    assert await _usage(app, "grown") == (0, 0)
    assert _settled(registry, "commit", "committed") == 0


async def test_tips_are_reserved_committed_and_released_like_purchases(tmp_path: Path, clock: Clock) -> None:
    """Adult tips (demo: 50000 per tip, 100000 a day): a failed tip is released; the day's cap holds."""
    app, _, registry = build(write_deployment(tmp_path), clock)
    clock.set(FRIDAY)
    adult = bearer(token("tipper", ADULT))
    async with client(app) as http:
        failed = await http.post("/live/rooms/3/tips?status=500", headers=adult, json={"amount_fen": 50000})
        first = await http.post("/live/rooms/3/tips", headers=adult, json={"amount_fen": 50000})
        second = await http.post("/live/rooms/3/tips", headers=adult, json={"amount_fen": 50000})
        third = await http.post("/live/rooms/3/tips", headers=adult, json={"amount_fen": 1})
    assert failed.status_code == 500
    assert first.status_code == second.status_code == 201
    assert first.headers["minorguard-remaining-budget-fen"] == str(500000 - 50000)
    assert second.headers["minorguard-remaining-budget-fen"] == str(500000 - 100000)
    assert first.headers["minorguard-warning"] == "tip_half_daily_limit"
    assert_problem(
        third,
        403,
        "tip_daily_cap",
        rule="livestream_tip",
        legal_basis=compile_policy(DEMO_POLICY).policy.spec.livestream_tip.basis("tip_daily_cap"),
        again=bj_dt("2026-11-21 00:00:00"),
        now=clock.now,
    )
    usage = await app.gate.engine.usage("tipper")
    assert usage.tips_day_committed == 100000
    assert _settled(registry, "commit", "committed") == 2
    assert _settled(registry, "release", "released") == 1


async def test_the_body_limit_follows_the_deployments_max_body_bytes(tmp_path: Path, clock: Clock) -> None:
    """`max_body_bytes: 2048`: 2048 bytes pass, 2049 are refused with 413 (declared or streamed)."""
    app, _, _ = build(write_deployment(tmp_path, policy="nppa-2021", max_body_bytes=2048), clock)
    clock.set(FRIDAY)
    headers = {**_teen("small-limit"), "content-type": "application/json"}
    async with client(app) as http:
        fits = await http.post("/shop/purchases", headers=headers, content=_padded(2048))
        over = await http.post("/shop/purchases", headers=headers, content=_padded(2049))
        streamed = await http.post("/shop/purchases", headers=headers, content=_streamed(_padded(2049), 100))
    assert fits.status_code == 201
    assert over.status_code == streamed.status_code == 413
    assert over.json()["detail"] == "the body may be at most 2048 bytes"


async def test_a_repeated_amount_header_is_read_as_the_app_reads_it(tmp_path: Path, clock: Clock) -> None:
    """Starlette's request.headers gives the first of repeated headers: the middleware must judge the
    amount the app will charge, not another one sent beside it."""
    routes = [
        {
            "method": "POST",
            "path": "/shop/{what}",
            "activity": "purchase",
            "amount": {"from": "header", "name": "X-Amount-Fen"},
        }
    ]
    charged: list[str] = []

    async def shop(request: Request) -> Response:
        charged.append(request.headers["x-amount-fen"])
        return Response(b"{}", status_code=201, media_type="application/json")

    backend = Starlette(routes=[Route("/shop/{what}", shop, methods=["POST"])])
    app, _, _ = build(write_deployment(tmp_path, policy="nppa-2021", routes=routes), clock, app=backend)
    clock.set(FRIDAY)
    headers = [("authorization", f"Bearer {token('kid-dup', AGE_15)}")]
    async with client(app) as http:
        cheap_first = await http.post(
            "/shop/gems", headers=[*headers, ("x-amount-fen", "100"), ("x-amount-fen", "9999")]
        )
        dear_first = await http.post(
            "/shop/gems", headers=[*headers, ("x-amount-fen", "9999"), ("x-amount-fen", "100")]
        )
    assert cheap_first.status_code == 201
    assert charged == ["100"]
    assert dear_first.status_code == 403
    assert dear_first.json()["reason"] == "purchase_single_cap"
    assert await _usage(app, "kid-dup") == (100, 0)
