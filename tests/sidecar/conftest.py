"""Fixtures of the sidecar tests: one real redis-server for the session (from the shared launcher in
tests/redis_servers.py), nginx's binary (the tests fail, not skip, without it: `scripts/nginx`
installs it), a settable clock and a closer for in-process sidecars."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sidecarkit import FRIDAY_IN_WINDOW, Clock, bj, nginx_binary

from minorguard.sidecar.app import SidecarApp
from redis_servers import RedisServer, fail_without


@pytest.fixture(scope="session")
def sidecar_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the sidecar tests of this session."""
    fail_without("redis-server")
    with RedisServer.launch(tmp_path_factory.mktemp("sidecar-redis")) as server:
        yield server


@pytest.fixture(scope="session")
def nginx() -> str:
    """The nginx binary. Missing, the nginx tests fail: run scripts/nginx (scripts/test should)."""
    found = nginx_binary()
    if found is None:
        pytest.fail(
            "nginx not found: the sidecar tests start a real nginx. Install it with scripts/nginx "
            "(apt-get install nginx-light or nginx) and rerun.",
            pytrace=False,
        )
    return found


@pytest.fixture
def clock() -> Clock:
    """The engine's clock, on a Friday evening in Beijing, inside the minors' play window."""
    return Clock(bj(FRIDAY_IN_WINDOW))


@pytest.fixture
async def closing() -> AsyncIterator[list[SidecarApp]]:
    """Sidecars appended here have their store and verifier closed after the test."""
    opened: list[SidecarApp] = []
    yield opened
    for app in opened:
        await app.gate.close()
