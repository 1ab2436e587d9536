"""Fixtures of the NPPA tests: the fake NPPA server under a real uvicorn (one per session, state reset
for each test), clients for it, a settable clock, and a real redis-server for the behaviour queue."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis
from nppafake import BIZ_ID, TEST_CODE, Fake, FakeNppa, ServerThread, ShiftClock, make_client

from minorguard.adapters.nppa import NppaClient
from minorguard.adapters.nppa.queue import BehaviourQueue
from redis_servers import RedisServer, fail_without


@pytest.fixture(scope="session")
def fake_server() -> Iterator[Fake]:
    nppa = FakeNppa()
    server = ServerThread(nppa.app()).start()
    yield Fake(nppa, server)
    server.stop()


@pytest.fixture
def fake(fake_server: Fake) -> Iterator[Fake]:
    fake_server.nppa.reset()
    if not fake_server.server.running:  # a test stopped it and failed before starting it again
        fake_server.server.start()
    yield fake_server
    fake_server.nppa.reset()
    if not fake_server.server.running:
        fake_server.server.start()


@pytest.fixture
def clock() -> ShiftClock:
    return ShiftClock()


@pytest.fixture
async def client(fake: Fake, clock: ShiftClock) -> AsyncIterator[NppaClient]:
    """A client of the fake's production paths, on the shared clock."""
    fake.nppa.clock = clock
    async with make_client(fake.url, clock=clock) as opened:
        yield opened


@pytest.fixture
async def test_client(fake: Fake) -> AsyncIterator[NppaClient]:
    """A client of the fake's test-system paths with the registered test code."""
    async with make_client(fake.url, test_code=TEST_CODE) as opened:
        yield opened


@pytest.fixture(scope="session")
def nppa_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    fail_without("redis-server")
    with RedisServer.launch(tmp_path_factory.mktemp("nppa-redis")) as server:
        yield server


@pytest.fixture
async def queue(nppa_redis: RedisServer) -> AsyncIterator[BehaviourQueue]:
    """A behaviour queue under a fresh key prefix on the real redis-server."""
    connection = aioredis.Redis(host="127.0.0.1", port=nppa_redis.port, decode_responses=True)
    yield BehaviourQueue(connection, BIZ_ID, prefix=f"test-{uuid.uuid4().hex[:12]}")
    await connection.aclose()
