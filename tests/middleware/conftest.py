"""Fixtures of the middleware tests: a real redis-server for the session (started on first use, from
the shared launcher in tests/redis_servers.py), a settable clock, and a closer for the apps' stores."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

# tests/ is not a package: the shared launcher is imported from its folder.
_TESTS = str(Path(__file__).resolve().parent.parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from mwkit import Clock, bj  # noqa: E402

from minorguard.middleware import MinorGuardMiddleware  # noqa: E402
from redis_servers import RedisServer, require_binaries  # noqa: E402


@pytest.fixture(scope="session")
def middleware_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the middleware tests of this session."""
    try:
        require_binaries("redis-server")
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
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
        await middleware.verifier.close()
        await middleware.engine.store.close()
