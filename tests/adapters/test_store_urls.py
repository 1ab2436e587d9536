"""open_store and the URL reader (adapters/redisurls.py): every scheme builds a store without
connecting; every option is read or refused; bad URLs are configuration errors that never show a
password."""

from __future__ import annotations

import subprocess
import sys

import pytest

from minorguard.adapters.memory import MemoryCounterStore
from minorguard.adapters.redis import RedisCounterStore
from minorguard.adapters.stores import open_store
from minorguard.errors import StoreError, StoreErrorKind

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Nothing listens on port 1: a store that connected while being built would fail here.
NOWHERE = [
    "redis://127.0.0.1:1/0",
    "rediss://127.0.0.1:1/0",
    "redis+sentinel://127.0.0.1:1,[::1]:2/mymaster?db=3",
    "redis+sentinel://user:p%40ss@127.0.0.1:1/mymaster",
    "redis+cluster://127.0.0.1:1,127.0.0.1:2",
    "rediss+cluster://127.0.0.1:1?ssl_cert_reqs=none",
    "rediss+sentinel://127.0.0.1:1/mymaster?ssl_cert_reqs=none&sentinel_username=s&sentinel_password=p",
]


@pytest.mark.parametrize("url", NOWHERE)
async def test_redis_urls_build_a_store_without_connecting(url: str) -> None:
    store = open_store(url, timeout=0.05)
    assert isinstance(store, RedisCounterStore)
    await store.close()


async def test_memory_url_ignores_the_redis_call_options() -> None:
    store = open_store("memory://", timeout=0.05, max_in_flight=4, max_entries=10)
    assert isinstance(store, MemoryCounterStore)
    await store.ping()
    await store.close()


@pytest.mark.parametrize("url", ["mongodb://db:27017", "localhost:6379", "Memcached://x"])
async def test_unknown_schemes_name_the_accepted_ones(url: str) -> None:
    with pytest.raises(StoreError) as caught:
        open_store(url)
    assert caught.value.kind is StoreErrorKind.CONFIGURATION
    message = str(caught.value)
    for accepted in ("memory://", "redis://", "rediss://", "redis+sentinel://", "redis+cluster://"):
        assert accepted in message
    assert url.partition("://")[0].lower() in message or "(none)" in message


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://127.0.0.1:26379",  # no service name
        "redis+sentinel://127.0.0.1/mymaster",  # no port
        "redis+sentinel://127.0.0.1:26379/mymaster?dbx=1",
        "redis+sentinel://127.0.0.1:26379/mymaster?db=two",
        "redis+cluster://127.0.0.1:7000/1",  # a cluster has database 0 only
        "redis+cluster://127.0.0.1:x",
        "redis://127.0.0.1:notaport/0",
        "redis://127.0.0.1:0/0",
        "redis://127.0.0.1:6379/16",  # databases 0-15
        "redis://127.0.0.1:6379/x",
        "redis://a:1,b:2/0",  # several hosts: cluster or sentinel
        "redis://::1:6379/0",  # IPv6 without brackets
        "redis://127.0.0.1/0?socket_timeout=0",
        "redis://127.0.0.1/0?socket_timeout=nan",
        "redis://127.0.0.1/0?connections=0",
        "redis://127.0.0.1/0?client_name=a&client_name=b",
        "redis://127.0.0.1/0#x",
        "rediss://127.0.0.1/0?ssl_check_hostname=maybe",
        "rediss://127.0.0.1/0?ssl_keyfile=/k.pem",  # a key without its certificate
    ],
)
async def test_malformed_urls_are_configuration_errors(url: str) -> None:
    with pytest.raises(StoreError) as caught:
        open_store(url)
    assert caught.value.kind is StoreErrorKind.CONFIGURATION


async def test_passwords_stay_out_of_error_messages() -> None:
    with pytest.raises(StoreError) as caught:
        open_store("redis+sentinel://admin:hunter2@127.0.0.1:bad/mymaster")
    assert "hunter2" not in str(caught.value)


async def test_the_memory_store_and_open_store_do_not_import_redis() -> None:
    code = (
        "import sys; import minorguard.adapters.memory, minorguard.adapters.stores; "
        "assert not [m for m in sys.modules if m == 'redis' or m.startswith('redis.')], 'redis imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
