"""Fixtures of the middleware tests: a real redis-server for the session (started on first use, from
the shared launcher in tests/redis_servers.py), a settable clock, and a closer for the apps' stores."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from mwkit import Clock, bj

from minorguard.middleware import MinorGuardMiddleware
from redis_servers import RedisServer, fail_without


@pytest.fixture(scope="session")
def middleware_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the middleware tests of this session."""
    fail_without("redis-server")
    with RedisServer.launch(tmp_path_factory.mktemp("middleware-redis")) as server:
        yield server


@pytest.fixture
def clock() -> Clock:
    """The engine's clock, on a Friday afternoon in Beijing unless a test moves it."""
    return Clock(bj("2026-11-20 15:00:00"))


@pytest.fixture
async def closing() -> AsyncIterator[list[MinorGuardMiddleware]]:
    """Middlewares appended here have their store and verifier closed after the test (no leaked
    connections: warnings are errors)."""
    opened: list[MinorGuardMiddleware] = []
    yield opened
    for middleware in opened:
        await middleware.gate.close()
