"""The lean Redis client (adapters/resp.py, respwire.py) against real redis-servers: pipelining keeps
every caller's reply its own, timeouts and cancellations leave the connection in step, a lost or
restarted server fails calls as CONNECTION and is used again, AUTH, SELECT and TLS at connect, and
errors map onto StoreError kinds exactly as redis-py's do."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import hiredis
import pytest
from redis import exceptions as rx
from redis._parsers.base import BaseParser
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from storekit import T
from storekit import heartbeat as store_heartbeat

from minorguard.adapters.base import CounterStore
from minorguard.adapters.redis import RedisCounterStore
from minorguard.adapters.redisopen import lean_client
from minorguard.adapters.redisscripts import script, store_error
from minorguard.adapters.redisurls import parse_redis_url
from minorguard.adapters.resp import ConnectionLostError, LeanRedis
from minorguard.adapters.respcluster import LeanCluster
from minorguard.adapters.respsentinel import LeanSentinel
from minorguard.adapters.respwire import pack, reply_error
from minorguard.adapters.stores import open_store
from minorguard.errors import StoreError, StoreErrorKind
from redis_servers import HOST, Certificates, RedisServer, free_port, make_certificates

# asyncio_mode is auto, on the session loop (pyproject); the pure packing tests are sync.
pytestmark = pytest.mark.redis

Kind = StoreErrorKind
ECHO = "return ARGV"
ECHO_SHA = hashlib.sha1(ECHO.encode()).hexdigest()


def lean(server: RedisServer, **options: Any) -> LeanRedis:
    return LeanRedis(HOST, server.port, password=server.password, **options)


def kind_of(exc: BaseException) -> StoreErrorKind:
    return store_error(exc).kind


@pytest.fixture
def fresh_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of the test's own, to flush, pause, stop or restart at will."""
    with RedisServer.launch(tmp_path) as server:
        yield server


@pytest.fixture
async def client(fresh_redis: RedisServer) -> AsyncIterator[LeanRedis]:
    opened = lean(fresh_redis)
    yield opened
    await opened.aclose()


async def heartbeat(store: CounterStore, user: str, now: int) -> int:
    return await store_heartbeat(store, user, now, ttl=86_400)


# --- packing and error replies: checked against hiredis' packer and redis-py's parser -------------


@pytest.mark.parametrize(
    "command",
    [
        ("PING",),
        ("SET", "k", "v"),
        ("EVALSHA", ECHO_SHA, 1, "mg:{u}:u", -7, 0, 2**63 - 1, "", "2026-11-22"),
        ("SET", "clé", "日本語"),  # not ASCII: lengths count bytes
        ("SET", b"k\r\n", b"\x00\xff"),  # bytes, with CR LF inside
        ("INCRBYFLOAT", "k", 1.5),
    ],
)
def test_commands_pack_as_hiredis_packs_them(command: tuple[Any, ...]) -> None:
    assert pack(command) == hiredis.pack_command(command)


@pytest.mark.parametrize("bad", [True, None, object()])
def test_packing_refuses_values_that_are_no_redis_value(bad: Any) -> None:
    with pytest.raises(rx.DataError):
        pack(("SET", "k", bad))


@pytest.mark.parametrize(
    "text",
    [
        "NOSCRIPT No matching script. Please use EVAL.",
        "ERR unknown command 'NO-SUCH', with args beginning with: ",
        "ERR user_script:1: Script attempted to access nonexistent global variable 'x' script: abc",
        "ERR invalid password",
        "ERR max number of clients reached",
        "WRONGPASS invalid username-password pair or user is disabled.",
        "NOAUTH Authentication required.",
        "NOPERM this user has no permissions to run the 'get' command",
        "READONLY You can't write against a read only replica.",
        "LOADING Redis is loading the dataset in memory",
        "OOM command not allowed when used memory > 'maxmemory'.",
        "MASTERDOWN Link with MASTER is down",
        "CLUSTERDOWN The cluster is down",
        "TRYAGAIN Multiple keys request during rehashing of slot",
        "MOVED 3999 127.0.0.1:6381",
        "WRONGTYPE Operation against a key holding the wrong kind of value",
        "BUSY Redis is busy running a script.",
    ],
)
def test_error_replies_become_the_exceptions_redis_py_raises(text: str) -> None:
    ours, theirs = reply_error(text), BaseParser.parse_error(text)  # type: ignore[no-untyped-call]
    assert (type(ours), ours.args) == (type(theirs), theirs.args)
    assert kind_of(ours) is kind_of(theirs)


# --- pipelining -------------------------------------------------------------------------------------


@pytest.mark.parametrize("connections", [1, 2])
async def test_1000_concurrent_evalshas_each_get_their_own_reply(
    redis_single: RedisServer, connections: int
) -> None:
    name = f"pipelining-{connections}"
    client = lean(redis_single, connections=connections, client_name=name)
    try:
        await client.script_load(ECHO)
        reads_before = redis_single.info("stats")["total_reads_processed"]
        replies = await asyncio.gather(
            *(client.evalsha(ECHO_SHA, 0, i, f"caller-{i}", "é" * (i % 3)) for i in range(1000))
        )
        reads = redis_single.info("stats")["total_reads_processed"] - reads_before
        for i, reply in enumerate(replies):
            assert reply == [str(i).encode(), f"caller-{i}".encode(), ("é" * (i % 3)).encode()]
        # Pipelined: the server read the 1000 commands in a few large reads, not one read each.
        assert reads < 100
        listed = (await client.execute("CLIENT", "LIST", "TYPE", "normal")).decode()
        assert listed.count(f" name={name} ") == connections
    finally:
        await client.aclose()


async def test_concurrent_calls_share_one_connection_and_its_first_dial(fresh_redis: RedisServer) -> None:
    client = lean(fresh_redis)
    try:
        fresh_redis.call("CONFIG", "RESETSTAT")
        assert all(await asyncio.gather(*(client.ping() for _ in range(50))))
        assert fresh_redis.info("stats")["total_connections_received"] == 2  # ours, and INFO's own
    finally:
        await client.aclose()


# --- scripts ----------------------------------------------------------------------------------------


async def test_an_unknown_script_is_sent_once_by_eval_then_by_sha(
    fresh_redis: RedisServer, client: LeanRedis
) -> None:
    assert await client.run_script(ECHO_SHA, ECHO, ["k"], ["a"], timeout=1.0) == [b"a"]
    assert await client.run_script(ECHO_SHA, ECHO, ["k"], ["b"], timeout=1.0) == [b"b"]
    fresh_redis.call("SCRIPT", "FLUSH")
    with pytest.raises(rx.NoScriptError) as plain:
        await client.evalsha(ECHO_SHA, 0)
    assert kind_of(plain.value) is Kind.SCRIPT
    assert await client.run_script(ECHO_SHA, ECHO, ["k"], ["c"], timeout=1.0) == [b"c"]
    stats = fresh_redis.info("commandstats")
    assert (stats["cmdstat_evalsha"]["calls"], stats["cmdstat_eval"]["calls"]) == (4, 2)
    assert fresh_redis.call("SCRIPT", "EXISTS", ECHO_SHA) == [1]


async def test_the_store_reloads_its_scripts_after_a_script_flush(fresh_redis: RedisServer) -> None:
    store = open_store(fresh_redis.url, timeout=1.0)
    user = secrets.token_hex(16)
    try:
        await heartbeat(store, user, T)
        fresh_redis.call("SCRIPT", "FLUSH")
        assert await heartbeat(store, user, T + 30) == 30
        assert fresh_redis.call("SCRIPT", "EXISTS", script("heartbeat").sha) == [1]
    finally:
        await store.close()


# --- errors map as redis-py's do ----------------------------------------------------------------------


async def test_errors_map_onto_the_same_store_error_kinds_as_redis_py(tmp_path: Path) -> None:
    with RedisServer.launch(tmp_path, args=("--requirepass", "s3cret")) as server:
        once = Retry(NoBackoff(), 0)
        ours = {"good": lean(server), "bad": LeanRedis(HOST, server.port, password="wrong")}
        theirs = {
            "good": Redis(host=HOST, port=server.port, password="s3cret", retry=once),
            "bad": Redis(host=HOST, port=server.port, password="wrong", retry=once),
        }
        cases = [
            ("good", ("NO-SUCH-COMMAND",), Kind.RESPONSE),
            ("good", ("EVAL", "return redis.call('NO-SUCH-COMMAND')", 0), Kind.SCRIPT),
            ("good", ("EVAL", "return redis.error_reply('BUSTED no luck')", 0), Kind.RESPONSE),
            ("good", ("EVAL", "return +", 0), Kind.SCRIPT),
            ("good", ("EVALSHA", "0" * 40, 0), Kind.SCRIPT),
            ("good", ("HGET", "no-such-hash", "f", "extra"), Kind.RESPONSE),
            ("bad", ("PING",), Kind.CONFIGURATION),
        ]
        try:
            await ours["good"].execute("SET", "str", "x")
            cases.append(("good", ("HGET", "str", "f"), Kind.RESPONSE))  # WRONGTYPE
            for who, command, kind in cases:
                with pytest.raises(rx.RedisError) as mine:
                    await ours[who].execute(*command)
                with pytest.raises(rx.RedisError) as reference:
                    await theirs[who].execute_command(*command)  # type: ignore[no-untyped-call]
                assert type(mine.value) is type(reference.value), command
                assert str(mine.value) == str(reference.value), command
                assert kind_of(mine.value) is kind, command
        finally:
            for lean_client in ours.values():
                await lean_client.aclose()
            for redis_py in theirs.values():
                await redis_py.aclose()


async def test_an_error_within_a_store_script_is_a_script_error(redis_single: RedisServer) -> None:
    client = lean(redis_single)
    store = RedisCounterStore(client, timeout=1.0)
    try:
        await client.execute("SET", "mg:{shape}:u", "x", "EX", 60)  # a string where a hash should be
        with pytest.raises(StoreError) as caught:
            await heartbeat(store, "shape", T)
        assert caught.value.kind is Kind.SCRIPT  # WRONGTYPE from within the script
    finally:
        await store.close()


# --- timeouts and cancellation keep the connection in step ------------------------------------------


@pytest.mark.parametrize("how", ["timeout", "cancel"])
async def test_a_call_that_gives_up_leaves_its_late_reply_to_be_dropped(
    fresh_redis: RedisServer, client: LeanRedis, how: str
) -> None:
    await client.script_load(ECHO)
    connection_id = await client.execute("CLIENT", "ID")
    fresh_redis.call("CLIENT", "PAUSE", 300, "WRITE")  # scripts wait; PING and CLIENT ID too, behind them
    if how == "timeout":
        with pytest.raises(TimeoutError):
            await client.evalsha(ECHO_SHA, 0, "late", timeout=0.05)
    else:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await client.evalsha(ECHO_SHA, 0, "late")
    # Sent while the abandoned one still waits: gets its own reply, not the late one.
    assert await client.evalsha(ECHO_SHA, 0, "next", timeout=2.0) == [b"next"]
    assert await client.evalsha(ECHO_SHA, 0, "after", timeout=2.0) == [b"after"]
    assert await client.execute("CLIENT", "ID") == connection_id  # the same connection all along


async def test_timeouts_expire_each_call_at_its_own_deadline(
    fresh_redis: RedisServer, client: LeanRedis
) -> None:
    await client.script_load(ECHO)
    fresh_redis.call("CLIENT", "PAUSE", 400, "WRITE")
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def timed(timeout: float) -> float:
        with pytest.raises(TimeoutError):
            await client.evalsha(ECHO_SHA, 0, timeout=timeout)
        return loop.time() - started

    # Later deadlines sent first: the per-connection timer must not wait for the first one.
    waited = await asyncio.gather(timed(0.3), timed(0.2), timed(0.05))
    assert 0.049 < waited[2] < 0.15
    assert 0.199 < waited[1] < 0.295
    assert waited[0] > 0.299
    assert await client.evalsha(ECHO_SHA, 0, "ok", timeout=2.0) == [b"ok"]


async def test_replies_stay_with_their_callers_through_random_timeouts_and_pauses(
    fresh_redis: RedisServer, client: LeanRedis
) -> None:
    await client.script_load(ECHO)
    admin = lean(fresh_redis)
    rng = random.Random(20261122)
    loop = asyncio.get_running_loop()
    until = loop.time() + 0.6
    outcomes = {"answered": 0, "timed out": 0}

    async def caller(w: int) -> None:
        n = 0
        while loop.time() < until:
            tag = f"{w}:{n}"
            n += 1
            try:
                reply = await client.evalsha(ECHO_SHA, 0, tag, timeout=rng.choice((0.001, 0.01, 2.0)))
            except TimeoutError:
                outcomes["timed out"] += 1
                continue
            assert reply == [tag.encode()]
            outcomes["answered"] += 1

    async def pauses() -> None:
        while loop.time() < until:
            await admin.execute("CLIENT", "PAUSE", rng.choice((5, 20, 50)), "WRITE")
            await asyncio.sleep(rng.uniform(0.02, 0.1))

    try:
        await asyncio.gather(*(caller(w) for w in range(32)), pauses())
    finally:
        await admin.aclose()
    assert outcomes["answered"] > 100
    assert outcomes["timed out"] > 10
    assert await client.evalsha(ECHO_SHA, 0, "last", timeout=2.0) == [b"last"]


async def test_the_store_times_out_at_its_budget_and_answers_right_afterwards(
    fresh_redis: RedisServer,
) -> None:
    store = open_store(fresh_redis.url)  # the default budget, 0.02 s per call
    user = secrets.token_hex(16)
    try:
        await heartbeat(store, user, T)
        fresh_redis.call("CLIENT", "PAUSE", 200, "WRITE")
        started = asyncio.get_running_loop().time()
        outcomes = await asyncio.gather(
            *(heartbeat(store, user, T + 10 * i) for i in range(1, 6)),
            return_exceptions=True,
        )
        assert asyncio.get_running_loop().time() - started < 0.15
        assert all(isinstance(o, StoreError) and o.kind is Kind.TIMEOUT for o in outcomes), outcomes
        await asyncio.sleep(0.5)  # Redis ends a pause on its cron (10 Hz): up to 0.1 s late
        assert await heartbeat(store, user, T + 100) == 100  # the paused ones ran late: 50 s, then 50 more
    finally:
        await store.close()


async def test_a_server_that_never_answers_is_hung_up_on_and_dialed_again() -> None:
    connections: list[asyncio.StreamWriter] = []
    closed = asyncio.Event()

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        while await reader.read(4096):
            pass  # read requests, answer none
        writer.close()
        closed.set()

    server = await asyncio.start_server(never_answer, HOST, 0)
    client = LeanRedis(HOST, server.sockets[0].getsockname()[1], stall_timeout=0.2)
    try:
        with pytest.raises(TimeoutError):
            await client.ping(timeout=0.05)
        await asyncio.wait_for(closed.wait(), 2)  # the client gave up on the connection
        with pytest.raises(TimeoutError):
            await client.ping(timeout=0.05)
        assert len(connections) == 2
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()


# --- lost connections, restarts, close ----------------------------------------------------------------


async def test_a_restarted_server_fails_calls_as_connection_errors_then_serves_again(
    fresh_redis: RedisServer, client: LeanRedis
) -> None:
    assert await client.run_script(ECHO_SHA, ECHO, [], ["before"], timeout=1.0) == [b"before"]
    fresh_redis.stop(kill=True)
    with pytest.raises(rx.ConnectionError) as down:
        await client.run_script(ECHO_SHA, ECHO, [], ["down"], timeout=1.0)
    assert kind_of(down.value) is Kind.CONNECTION
    fresh_redis.start()  # empty, no scripts cached
    assert await client.run_script(ECHO_SHA, ECHO, [], ["after"], timeout=1.0) == [b"after"]


async def test_a_lost_connection_fails_every_pending_call_at_once(fresh_redis: RedisServer) -> None:
    client = lean(fresh_redis, retry_lost=False)
    store = RedisCounterStore(client, timeout=5.0)
    try:
        await client.script_load(ECHO)
        fresh_redis.call("CLIENT", "PAUSE", 5_000, "WRITE")
        calls = [asyncio.ensure_future(client.evalsha(ECHO_SHA, 0, i, timeout=5.0)) for i in range(50)]
        beat = asyncio.ensure_future(heartbeat(store, "u", T))
        await asyncio.sleep(0.05)
        started = asyncio.get_running_loop().time()
        fresh_redis.stop(kill=True)
        outcomes = await asyncio.gather(*calls, beat, return_exceptions=True)
        assert asyncio.get_running_loop().time() - started < 1.0  # not at their 5 s timeout
        assert all(isinstance(o, ConnectionLostError) for o in outcomes[:-1]), outcomes
        assert isinstance(outcomes[-1], StoreError)
        assert outcomes[-1].kind is Kind.CONNECTION
    finally:
        await store.close()


async def test_the_store_on_a_restarted_server_fails_with_connection_then_recovers(
    fresh_redis: RedisServer,
) -> None:
    store = open_store(fresh_redis.url, timeout=0.5)
    user = secrets.token_hex(16)
    try:
        await heartbeat(store, user, T)
        fresh_redis.stop(kill=True)
        with pytest.raises(StoreError) as down:
            await heartbeat(store, user, T + 30)
        assert down.value.kind is Kind.CONNECTION
        with pytest.raises(StoreError) as still_down:
            await store.ping()
        assert still_down.value.kind is Kind.CONNECTION
        fresh_redis.start()
        await store.ping()
        assert await heartbeat(store, user, T + 60) == 0  # the counters went with the server
    finally:
        await store.close()


async def test_nothing_listening_is_a_connection_error_and_no_dial_lingers() -> None:
    client = LeanRedis(HOST, free_port())
    try:
        for _ in range(2):
            with pytest.raises(rx.ConnectionError) as refused:
                await client.ping(timeout=1.0)
            assert kind_of(refused.value) is Kind.CONNECTION
    finally:
        await client.aclose()


async def test_close_fails_pending_calls_and_the_client_dials_again_later(
    fresh_redis: RedisServer, client: LeanRedis
) -> None:
    await client.script_load(ECHO)
    fresh_redis.call("CLIENT", "PAUSE", 300, "WRITE")
    pending = asyncio.ensure_future(client.evalsha(ECHO_SHA, 0, "x", timeout=5.0))
    await asyncio.sleep(0.02)
    await client.aclose()
    with pytest.raises(rx.ConnectionError):
        await pending
    assert await client.ping(timeout=2.0)


class SilentServer:
    """Accepts connections in a thread and never answers; `open` counts the ones the client has not
    closed. A thread, not this event loop, so it sees a close that is left for a later loop turn."""

    def __init__(self) -> None:
        self._listener = socket.create_server((HOST, 0))
        self.port = self._listener.getsockname()[1]
        self.accepted = 0
        self.open = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self._listener.accept()
                with self._lock:
                    self.accepted += 1
                    self.open += 1
                threading.Thread(target=self._drain, args=(conn,), daemon=True).start()

    def _drain(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            while conn.recv(4096):
                pass
        with self._lock:
            self.open -= 1

    def close(self) -> None:
        self._listener.close()


async def test_close_during_a_dial_leaves_no_socket_behind() -> None:
    """`aclose` returns with every socket closed, a dial under way included. A caller that blocks right
    after it (the sync admin calls of the failover tests do) must find no connection left open."""
    server = SilentServer()
    client = LeanRedis(HOST, server.port, client_name="closing", connections=3, connect_timeout=5.0)
    try:
        calls = [asyncio.ensure_future(client.ping(timeout=5.0)) for _ in range(3)]
        while server.accepted < 3:  # every connection waits for its handshake's answer
            await asyncio.sleep(0.01)
        await client.aclose()
        deadline = time.monotonic() + 2.0
        while server.open and time.monotonic() < deadline:
            time.sleep(0.01)  # blocks the loop on purpose: no later turn may finish the close
        assert server.open == 0
        for outcome in await asyncio.gather(*calls, return_exceptions=True):
            assert isinstance(outcome, rx.ConnectionError), outcome
    finally:
        server.close()


async def test_dials_started_while_closing_do_not_outlive_the_close() -> None:
    server = SilentServer()
    client = LeanRedis(HOST, server.port, client_name="closing", connections=3, connect_timeout=5.0)
    try:
        first = asyncio.ensure_future(client.ping(timeout=5.0))
        while server.accepted < 1:
            await asyncio.sleep(0.01)
        closing = asyncio.ensure_future(client.aclose())
        await asyncio.sleep(0)  # aclose is waiting for the first dial to end
        later = [asyncio.ensure_future(client.ping(timeout=5.0)) for _ in range(2)]
        await closing
        deadline = time.monotonic() + 2.0
        while server.open and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.open == 0
        for outcome in await asyncio.gather(first, *later, return_exceptions=True):
            assert isinstance(outcome, rx.ConnectionError), outcome
    finally:
        server.close()


async def test_a_client_first_used_in_another_event_loop_dials_again_in_this_one(
    redis_single: RedisServer,
) -> None:
    client = lean(redis_single)
    other = asyncio.new_event_loop()  # say, asyncio.run(store.ping()) at startup, before the server's loop
    try:
        assert await asyncio.to_thread(other.run_until_complete, client.ping(timeout=1.0))
        assert await client.ping(timeout=1.0)
        assert await client.execute("ECHO", "here", timeout=1.0) == b"here"
    finally:
        await asyncio.to_thread(other.run_until_complete, asyncio.sleep(0.01))  # it closes the old socket
        other.close()
        await client.aclose()


# --- connecting: AUTH, SELECT, TLS ------------------------------------------------------------------


async def test_auth_with_a_password_and_with_an_acl_user(tmp_path: Path) -> None:
    with RedisServer.launch(tmp_path, args=("--requirepass", "s3cret")) as server:
        server.call("ACL", "SETUSER", "app", "on", ">app pass", "~mg:*", "+@all")
        from_url = lean_client(parse_redis_url(f"redis://app:app%20pass@{HOST}:{server.port}/0"))
        assert isinstance(from_url, LeanRedis)
        clients = {
            "url": from_url,
            "password": lean(server),
            "user": LeanRedis(HOST, server.port, username="app", password="app pass"),
            "wrong": LeanRedis(HOST, server.port, password="wrong"),
            "none": LeanRedis(HOST, server.port),
        }
        try:
            for name in ("password", "user", "url"):
                assert await clients[name].ping(timeout=1.0), name
            with pytest.raises(rx.NoPermissionError):  # the ACL applies: app may touch mg:* only
                await clients["user"].execute("SET", "other", "x")
            for name in ("wrong", "none"):
                with pytest.raises(rx.AuthenticationError) as refused:
                    await clients[name].ping(timeout=1.0)
                assert kind_of(refused.value) is Kind.CONFIGURATION
        finally:
            for client in clients.values():
                await client.aclose()


async def test_the_database_of_the_url_is_selected(tmp_path: Path) -> None:
    with RedisServer.launch(tmp_path, args=("--requirepass", "s3cret")) as server:
        store = open_store(f"redis://:s3cret@{HOST}:{server.port}/5", timeout=1.0)
        user = secrets.token_hex(16)
        try:
            await heartbeat(store, user, T)
            assert list(server.keys(db=5)) == [f"mg:{{{user}}}:u"]
            assert server.keys(db=0) == {}
        finally:
            await store.close()


async def test_a_database_that_does_not_exist_fails_the_dial(redis_single: RedisServer) -> None:
    client = LeanRedis(HOST, redis_single.port, db=99)
    try:
        with pytest.raises(rx.ResponseError) as refused:
            await client.ping(timeout=1.0)
        assert kind_of(refused.value) is Kind.RESPONSE
    finally:
        await client.aclose()


async def test_rediss_checks_the_server_certificate(tmp_path: Path) -> None:
    pem = make_certificates(tmp_path / "pki")
    server = RedisServer.with_tls(tmp_path, pem, clients_need_certificates=False).start()
    try:
        base = f"rediss://{HOST}:{server.tls_port}/2"
        trusted = open_store(f"{base}?ssl_ca_certs={pem.ca}", timeout=2.0)
        unverified = open_store(f"{base}?ssl_cert_reqs=none", timeout=2.0)
        untrusted = open_store(base, timeout=2.0)  # the system's CAs do not know the test CA
        try:
            for store in (trusted, unverified):
                assert isinstance(store, RedisCounterStore)
                assert isinstance(store._client, LeanRedis)
                assert await heartbeat(store, "tls-user", T) == 0
            with pytest.raises(StoreError) as refused:
                await untrusted.ping()
            assert refused.value.kind is Kind.CONNECTION
        finally:
            for store in (trusted, unverified, untrusted):
                await store.close()
    finally:
        server.stop()


async def test_a_server_that_asks_for_a_client_certificate_refuses_a_client_without_one(
    redis_tls: RedisServer, certificates: Certificates
) -> None:
    with_cert = open_store(redis_tls.tls_url(certificates), timeout=2.0)
    without = open_store(
        f"rediss://{HOST}:{redis_tls.tls_port}/0?ssl_ca_certs={certificates.ca}", timeout=2.0
    )
    try:
        await with_cert.ping()
        with pytest.raises(StoreError) as refused:
            await without.ping()
        assert refused.value.kind is Kind.CONNECTION
    finally:
        await with_cert.close()
        await without.close()


# --- every URL form gets the project's client; an option it cannot honour is refused -----------------


@pytest.mark.parametrize(
    ("url", "options", "client_class"),
    [
        ("redis://127.0.0.1:1/0", {}, LeanRedis),
        ("rediss://127.0.0.1:1/0?ssl_cert_reqs=none", {}, LeanRedis),
        ("redis://127.0.0.1:1/0", {"socket_timeout": 0.5, "connections": 2}, LeanRedis),
        ("redis://127.0.0.1:1/0?client_name=minorguard", {}, LeanRedis),
        ("redis+cluster://127.0.0.1:1,127.0.0.1:2", {}, LeanCluster),
        ("rediss+cluster://127.0.0.1:1?ssl_cert_reqs=none", {}, LeanCluster),
        ("redis+cluster://u:p@127.0.0.1:1", {"socket_timeout": 0.5, "connections": 2}, LeanCluster),
        ("redis+sentinel://127.0.0.1:1,127.0.0.1:2/mymaster?db=3", {}, LeanSentinel),
        (
            "redis+sentinel://u:p@127.0.0.1:1/mymaster?sentinel_password=x",
            {"socket_timeout": 0.5},
            LeanSentinel,
        ),
        ("rediss+sentinel://127.0.0.1:1/mymaster?ssl_cert_reqs=none", {}, LeanSentinel),
    ],
)
async def test_every_url_form_gets_the_projects_client(
    url: str, options: dict[str, Any], client_class: type
) -> None:
    store = open_store(url, timeout=0.05, **options)
    assert isinstance(store, RedisCounterStore)
    assert type(store._client) is client_class
    await store.close()


@pytest.mark.parametrize(
    ("url", "options", "named"),
    [
        ("redis://127.0.0.1:1/0?health_check_interval=30", {}, "health_check_interval"),
        ("redis://127.0.0.1:1/0", {"decode_responses": True}, "decode_responses"),
        ("redis://127.0.0.1:1/0", {"lean": False}, "lean"),
        ("redis://127.0.0.1:1/0?ssl_ca_certs=/ca.pem", {}, "need rediss://"),
        ("redis+cluster://127.0.0.1:1", {"require_full_coverage": False}, "require_full_coverage"),
        ("redis+sentinel://127.0.0.1:1/mymaster", {"sentinel_kwargs": {}}, "sentinel_kwargs"),
        ("redis://127.0.0.1:1/0?sentinel_password=x", {}, "sentinel_password"),
        ("rediss://127.0.0.1:1/0?ssl_min_version=3", {}, "ssl_min_version"),
    ],
)
async def test_an_option_the_client_cannot_honour_fails_at_start_and_says_so(
    url: str, options: dict[str, Any], named: str
) -> None:
    with pytest.raises(StoreError) as refused:
        open_store(url, **options)
    assert refused.value.kind is Kind.CONFIGURATION
    assert named in str(refused.value)
    assert "accepted: " in str(refused.value)


@pytest.mark.parametrize(
    "url",
    ["rediss://127.0.0.1:1/0?ssl_ca_certs=/no/such/ca.pem", "rediss://127.0.0.1:1/0?ssl_cert_reqs=maybe"],
)
def test_bad_tls_options_are_configuration_errors(url: str) -> None:
    with pytest.raises(StoreError) as caught:
        open_store(url)
    assert caught.value.kind is Kind.CONFIGURATION


# --- event loops ------------------------------------------------------------------------------------


def test_the_client_and_the_store_run_on_uvloop(redis_single: RedisServer) -> None:
    """uvicorn[standard] and granian serve on uvloop when it is installed, and uvloop's transports are
    no asyncio.Transport subclass: the client once refused them, and every store call failed."""
    uvloop = pytest.importorskip("uvloop")  # a dev dependency: never skipped in CI

    async def main() -> None:
        assert type(asyncio.get_running_loop()).__module__.startswith("uvloop")
        client = lean(redis_single, client_name="on-uvloop")
        store = open_store(redis_single.url, timeout=1.0)
        try:
            await client.script_load(ECHO)
            replies = await asyncio.gather(*(client.evalsha(ECHO_SHA, 0, i) for i in range(200)))
            assert replies == [[str(i).encode()] for i in range(200)]
            user = f"uvloop-{secrets.token_hex(4)}"
            assert await heartbeat(store, user, T) == 0
            assert await heartbeat(store, user, T + 60) == 60
        finally:
            await client.aclose()
            await store.close()

    uvloop.run(main())
