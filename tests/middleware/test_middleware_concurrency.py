"""Concurrent purchases over HTTP never pass the monthly cap: 200 POSTs at once for one 15-year-old
(nppa-2021: 20000 fen a month), on the memory store and on a real Redis shared by two workers."""

from __future__ import annotations

import asyncio
import random
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest
from mwkit import AGE_15, Clock, bearer, build, client, token, write_deployment

from minorguard.middleware import MinorGuardMiddleware

CAP = 20000
REQUESTS = 200


async def _burst(
    apps: list[MinorGuardMiddleware], subject: str, seed: int, fail_share: float
) -> list[tuple[int, int, httpx.Response]]:
    """200 purchases at once, spread over the apps; returns (amount, app status asked, answer)."""
    rng = random.Random(seed)
    plan = [(rng.randint(1, 5000), 500 if rng.random() < fail_share else 201) for _ in range(REQUESTS)]
    headers = bearer(token(subject, AGE_15))
    clients = [client(app) for app in apps]
    try:
        answers = await asyncio.gather(
            *(
                clients[i % len(clients)].post(
                    f"/shop/purchases?status={status}&delay=0.005",
                    headers=headers,
                    json={"amount_fen": amount},
                )
                for i, (amount, status) in enumerate(plan)
            )
        )
    finally:
        for http in clients:
            await http.aclose()
    return [(amount, status, answer) for (amount, status), answer in zip(plan, answers, strict=True)]


def _check(results: list[tuple[int, int, httpx.Response]], committed: int, pending: int) -> None:
    bought = [amount for amount, _, r in results if r.status_code == 201]
    refused = [amount for amount, _, r in results if r.status_code == 403]
    failed = [amount for amount, asked, r in results if r.status_code == asked == 500]
    assert len(bought) + len(refused) + len(failed) == REQUESTS, {r.status_code for _, _, r in results}
    assert all(r.json()["reason"] == "purchase_monthly_cap" for _, _, r in results if r.status_code == 403)
    assert sum(bought) <= CAP
    assert committed == sum(bought), "the store's month total is what was answered 201"
    assert pending == 0, "every reservation was settled"
    assert bought, "some purchases fit"
    assert refused, "the cap was reached"


@pytest.mark.slow
@pytest.mark.parametrize("fail_share", [0.0, 0.25], ids=["all-succeed", "some-fail"])
async def test_concurrent_purchases_never_pass_the_monthly_cap_on_the_memory_store(
    tmp_path: Path, clock: Clock, fail_share: float
) -> None:
    """Memory store: the sum of 201 answers stays within 20000 fen and equals the committed total."""
    app, _, _ = build(write_deployment(tmp_path, policy="nppa-2021"), clock)
    clock.set("2026-11-20 15:00:00")
    subject = f"burst-{secrets.token_hex(4)}"
    results = await _burst([app], subject, seed=20261120, fail_share=fail_share)
    usage = await app.gate.engine.usage(subject)
    _check(results, usage.month_committed, usage.month_pending)
    if fail_share == 0:
        # nothing was released, so each refusal was right: its amount did not fit what ended committed
        smallest_refused = min(a for a, _, r in results if r.status_code == 403)
        assert CAP - usage.month_committed < smallest_refused


@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.parametrize("fail_share", [0.0, 0.25], ids=["all-succeed", "some-fail"])
async def test_concurrent_purchases_never_pass_the_monthly_cap_on_a_real_redis(
    tmp_path: Path, clock: Clock, middleware_redis: Any, closing: list[Any], fail_share: float
) -> None:
    """Two workers sharing a real Redis: 201s total at most 20000 fen, and both see the same usage."""
    config = write_deployment(tmp_path, policy="nppa-2021", store=middleware_redis.url, store_timeout_ms=5000)
    first, _, _ = build(config, clock)
    second, _, _ = build(config, clock)
    closing.extend([first, second])
    clock.set("2026-11-20 15:00:00")
    subject = f"burst-{secrets.token_hex(4)}"
    results = await _burst([first, second], subject, seed=77, fail_share=fail_share)
    seen_by_first = await first.gate.engine.usage(subject)
    seen_by_second = await second.gate.engine.usage(subject)
    assert seen_by_first == seen_by_second
    _check(results, seen_by_first.month_committed, seen_by_first.month_pending)
    if fail_share == 0:
        smallest_refused = min(a for a, _, r in results if r.status_code == 403)
        assert CAP - seen_by_first.month_committed < smallest_refused
    assert middleware_redis.keys_without_ttl() == [], "every key the middleware wrote has a TTL"
