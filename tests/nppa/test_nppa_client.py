"""The client against the local fake NPPA (a real uvicorn): headers exactly as sent, signatures the
server verifies, retries of transient failures with fresh timestamps, rate limits, and the fake's
refusals (wrong signature, expired timestamp, oversized batch, ot in ms, swapped online/offline, missing
pi/di)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import json
import logging
import time
import uuid
from typing import Any

import httpx
import pytest
from nppafake import APP_ID, BIZ_ID, PIS, SECRET, Fake, ShiftClock, make_client

from minorguard.adapters.nppa import (
    AuthStatus,
    BehaviourType,
    Failure,
    InvalidIdNumber,
    LoginoutItem,
    NppaClient,
    NppaCode,
    NppaError,
    RateLimiter,
    RateLimits,
    SecretKey,
    UserType,
    encrypted_body,
    sign,
)

NAME, ID_NUM = "某一一", "110000190101010001"


async def test_check_success_with_pi_and_birthdate(client: NppaClient, fake: Fake) -> None:
    result = await client.check("100000000000000001", NAME, ID_NUM)
    assert result.status is AuthStatus.SUCCESS
    assert result.pi == PIS[0]
    assert result.birthdate == dt.date(1901, 1, 1)
    headers = fake.nppa.requests[-1]["headers"]
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert headers["appid"] == APP_ID
    assert headers["bizid"] == BIZ_ID
    assert abs(int(headers["timestamps"]) - time.time() * 1000) < 5000


async def test_query_pending_and_failed(client: NppaClient) -> None:
    assert (await client.query("200000000000000003")).status is AuthStatus.IN_PROGRESS
    assert (await client.query("300000000000000008")).status is AuthStatus.FAILED
    with pytest.raises(NppaError) as raised:
        await client.query("999")
    assert raised.value.code is NppaCode.NO_RECORD_FOR_AI
    assert not raised.value.transient


async def test_exact_header_names_on_the_wire() -> None:
    """h11 keeps the case we give: appId, bizId, timestamps, sign — read from the raw bytes."""
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        seen.append(head + await reader.readexactly(length))
        answer = b'{"errcode":0,"errmsg":"OK","data":{"result":{"status":2}}}'
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(answer)
        )
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with make_client(f"http://127.0.0.1:{port}") as client:
            await client.check("abc", NAME, ID_NUM)
    finally:
        server.close()
        await server.wait_closed()
    head, body = seen[0].split(b"\r\n\r\n", 1)
    lines = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:])
    assert lines[b"Content-Type"] == b"application/json; charset=utf-8"
    assert lines[b"appId"] == APP_ID.encode()
    assert lines[b"bizId"] == BIZ_ID.encode()
    stamp = lines[b"timestamps"].decode()
    assert stamp.isdigit()
    assert len(stamp) == 13
    params = {"appId": APP_ID, "bizId": BIZ_ID, "timestamps": stamp}
    assert lines[b"sign"].decode() == sign(SecretKey(SECRET), params, body)  # exactly what was sent
    assert b"idNum" not in seen[0]
    assert ID_NUM.encode() not in seen[0]


async def test_invalid_id_number_never_reaches_nppa(client: NppaClient, fake: Fake) -> None:
    with pytest.raises(InvalidIdNumber) as raised:
        await client.check("ai1", NAME, "110000190101010002")
    assert "110000190101010002" not in str(raised.value)
    assert NAME not in str(raised.value)
    assert fake.nppa.requests == []


async def test_wrong_key_is_refused_as_identity_check_error(fake: Fake) -> None:
    client = NppaClient(
        make_client(fake.url).endpoints, app_id=APP_ID, biz_id=BIZ_ID, secret_key=SecretKey("ff" * 16)
    )
    async with client:
        with pytest.raises(NppaError) as raised:
            await client.check("100000000000000001", NAME, ID_NUM)
    assert raised.value.code is NppaCode.PARTNER_CHECK_ERROR
    assert not raised.value.transient
    assert len(fake.nppa.requests) == 1  # not retried


async def _raw_post(
    fake: Fake, path: str, payload: Any, *, stamp: int | None = None, body: bytes | None = None
) -> Any:
    key = SecretKey(SECRET)
    body = encrypted_body(key, payload) if body is None else body
    stamp_text = str(stamp if stamp is not None else int(time.time() * 1000))
    headers = {"appId": APP_ID, "bizId": BIZ_ID, "timestamps": stamp_text}
    headers["sign"] = sign(key, headers, body)
    headers["Content-Type"] = "application/json; charset=utf-8"
    async with httpx.AsyncClient() as http:
        return (await http.post(fake.url + path, content=body, headers=headers)).json()


async def test_fake_refuses_undecryptable_body_and_expired_timestamp(fake: Fake) -> None:
    junk = json.dumps({"data": base64.b64encode(b"x" * 40).decode()}).encode()
    assert (await _raw_post(fake, "/idcard/authentication/check", {}, body=junk))["errcode"] == 1012
    old = int(time.time() * 1000) - 6000
    assert (await _raw_post(fake, "/idcard/authentication/check", {}, stamp=old))["errcode"] == 1007


async def test_expired_timestamp_is_retried_with_a_fresh_one(client: NppaClient, fake: Fake) -> None:
    fake.nppa.fail_next = [1007]
    assert (await client.query("100000000000000002")).status is AuthStatus.SUCCESS
    first, second = (r["headers"] for r in fake.nppa.requests)
    assert first["sign"] != second["sign"]
    assert [r["errcode"] for r in fake.nppa.requests] == [1007, 0]


async def test_skewed_clock_gives_up_after_bounded_retries(fake: Fake, clock: ShiftClock) -> None:
    clock.offset = -10  # the client's clock only; the fake keeps real time
    async with make_client(fake.url, clock=clock) as client:
        with pytest.raises(NppaError) as raised:
            await client.query("100000000000000001")
    assert raised.value.code is NppaCode.REQUEST_EXPIRED
    stamps = [r["headers"]["timestamps"] for r in fake.nppa.requests]
    assert len(stamps) == 3
    assert len(set(stamps)) == 3


async def test_5xx_and_sys_error_are_retried(client: NppaClient, fake: Fake) -> None:
    fake.nppa.fail_next = ["http503", 1001]
    assert (await client.check("100000000000000001", NAME, ID_NUM)).status is AuthStatus.SUCCESS
    assert [r["errcode"] for r in fake.nppa.requests] == ["http503", 1001, 0]
    fake.nppa.fail_next = ["http503"] * 3
    with pytest.raises(NppaError) as raised:
        await client.query("100000000000000001")
    assert raised.value.failure is Failure.HTTP
    assert raised.value.http_status == 503
    assert raised.value.transient
    assert len(fake.nppa.requests) == 6


async def test_retried_check_that_finds_its_own_ai_asks_query(client: NppaClient, fake: Fake) -> None:
    """The first attempt was processed but its answer lost (5xx after processing is simulated by a
    check that already happened): the retry meets 2004 and the client answers from query."""
    await client.check("100000000000000004", "某一四", "110000190101040008")
    fake.nppa.fail_next = ["http503"]
    result = await client.check("100000000000000004", "某一四", "110000190101040008")
    assert result.status is AuthStatus.SUCCESS
    assert result.birthdate == dt.date(1901, 1, 4)
    assert [r["interface"] for r in fake.nppa.requests] == ["check", "check", "check", "query"]
    with pytest.raises(NppaError, match="2004"):  # without a lost answer, 2004 is the caller's problem
        await client.check("100000000000000004", "某一四", "110000190101040008")


async def test_network_errors_are_transient(fake: Fake) -> None:
    async with make_client("http://127.0.0.1:9") as client:
        with pytest.raises(NppaError) as raised:
            await client.query("1")
    assert raised.value.failure is Failure.NETWORK
    assert raised.value.transient


def _items(n: int) -> list[LoginoutItem]:
    ot = int(time.time()) - 5
    return [
        LoginoutItem(
            i % 128 + 1, uuid.uuid4().hex, BehaviourType.ONLINE, ot, UserType.GUEST, di=uuid.uuid4().hex
        )
        for i in range(n)
    ]


async def test_rate_limit_is_respected_per_second(client: NppaClient, fake: Fake) -> None:
    await asyncio.gather(*(client.loginout(_items(1)) for _ in range(25)))
    arrivals = fake.nppa.arrivals("loginout")
    assert len(arrivals) == 25
    busiest = max(sum(1 for t in arrivals if start <= t < start + 1.0) for start in arrivals)
    assert busiest <= 10
    assert all(r["errcode"] == 0 for r in fake.nppa.requests)


async def test_over_limit_throttles_for_a_minute_without_hammering(fake: Fake) -> None:
    fake.nppa.limits["query"] = 2
    async with make_client(fake.url, limiter=RateLimiter(RateLimits(query=300))) as client:
        await client.query("100000000000000001")
        await client.query("100000000000000001")
        with pytest.raises(NppaError) as raised:
            await client.query("100000000000000001")
        assert raised.value.code is NppaCode.OVER_RATE_LIMIT
        assert raised.value.retry_after == 60
        with pytest.raises(NppaError) as again:
            await client.query("100000000000000001")
    assert again.value.failure is Failure.THROTTLED
    assert (again.value.retry_after or 0) > 55
    assert len(fake.nppa.requests) == 3  # the throttled call never left


async def test_loginout_refuses_locally_what_nppa_would_refuse() -> None:
    with pytest.raises(ValueError, match="milliseconds"):
        LoginoutItem(1, "a" * 32, BehaviourType.ONLINE, int(time.time() * 1000), UserType.GUEST, di="d" * 32)
    with pytest.raises(ValueError, match="pi"):
        LoginoutItem(1, "a" * 32, BehaviourType.ONLINE, 1, UserType.VERIFIED)
    with pytest.raises(ValueError, match="di"):
        LoginoutItem(1, "a" * 32, BehaviourType.ONLINE, 1, UserType.GUEST)
    client = make_client("http://127.0.0.1:9")
    with pytest.raises(ValueError, match="1 to 128"):
        await client.loginout(_items(1) * 129)
    await client.aclose()


def _wire(n: int = 1, **overrides: Any) -> list[dict[str, Any]]:
    return [{**item.wire(), **overrides} for item in _items(n)]


async def test_fake_refuses_bad_batches(fake: Fake) -> None:
    path = "/behavior/collection/loginout"
    many = _wire(129)
    assert (await _raw_post(fake, path, {"collections": many}))["errcode"] == 3003
    assert (await _raw_post(fake, path, {"collections": []}))["errcode"] == 3002
    in_ms = _wire(1, ot=int(time.time() * 1000) - 5000)
    assert (await _raw_post(fake, path, {"collections": in_ms}))["errcode"] == 3005
    stale = _wire(1, ot=int(time.time()) - 200)
    assert (await _raw_post(fake, path, {"collections": stale}))["errcode"] == 3005
    verified_without_pi = _wire(1, ct=0)
    answer = await _raw_post(fake, path, {"collections": verified_without_pi})
    assert answer["errcode"] == 3001
    assert answer["data"]["results"][0]["errcode"] == 3008
    guest_without_di = [{k: v for k, v in item.items() if k != "di"} for item in _wire(1)]
    answer = await _raw_post(fake, path, {"collections": guest_without_di})
    assert answer["data"]["results"][0]["errcode"] == 3009


async def test_swapped_online_offline_is_refused(client: NppaClient, fake: Fake) -> None:
    si, ot, di = uuid.uuid4().hex, int(time.time()) - 10, uuid.uuid4().hex
    offline_first = [
        LoginoutItem(1, si, BehaviourType.OFFLINE, ot, UserType.GUEST, di=di),
        LoginoutItem(2, si, BehaviourType.ONLINE, ot, UserType.GUEST, di=di),
    ]
    result = await client.loginout(offline_first)
    assert result.raw_code == NppaCode.PARTIAL_FAILURE
    assert [(r.no, r.code) for r in result.failed] == [(1, NppaCode.BAD_BEHAVIOUR_TYPE)]
    earlier_offline = [LoginoutItem(1, si, BehaviourType.OFFLINE, ot - 5, UserType.GUEST, di=di)]
    result = await client.loginout(earlier_offline)
    assert [(r.no, r.code) for r in result.failed] == [(1, NppaCode.BAD_BEHAVIOUR_TIME)]


async def test_no_personal_data_in_logs(fake: Fake, caplog: pytest.LogCaptureFixture) -> None:
    fake.nppa.fail_next = ["http503", 1001, 1001]
    caplog.set_level(logging.DEBUG)
    async with make_client(fake.url) as client:
        with pytest.raises(NppaError) as raised:
            await client.check("100000000000000001", NAME, ID_NUM)
    text = caplog.text + str(raised.value) + repr(raised.value)
    for secret in (NAME, ID_NUM, SECRET, PIS[0], hashlib.sha256(SECRET.encode()).hexdigest()):
        assert secret not in text
    assert "nppa check attempt" in caplog.text
