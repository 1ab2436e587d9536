"""Redis clients from store URLs (redis://, rediss://, redis+sentinel://, redis+cluster://), wrapped in
a `RedisCounterStore`. Imported by `stores.open_store` only when such a URL is opened, so the memory
store works without redis-py installed. Building a client connects to nothing.

redis:// and rediss:// get the lean client (`resp.LeanRedis`: a fraction of redis-py's CPU per call),
redis+cluster:// its cluster form (`respcluster.LeanCluster`) and redis+sentinel:// its Sentinel form
(`respsentinel.LeanSentinel`), unless an option needs redis-py (one the lean clients do not take, see
`resp.lean_from_url` and `_LEAN_OPTIONS`), hiredis is not installed, or the option `lean=False` asks
for redis-py.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff

from minorguard.adapters.redis import DEFAULT_MAX_IN_FLIGHT, RedisCounterStore

if TYPE_CHECKING:
    from minorguard.adapters.resp import ServerOptions

# Each call is bounded by the store's `timeout` anyway; the sockets' own timeouts only keep a
# connection from hanging on after a call was abandoned.
_SOCKET_TIMEOUT = 1.0


def open_redis(scheme: str, url: str, client: dict[str, Any], store: dict[str, Any]) -> RedisCounterStore:
    lean = bool(client.pop("lean", True)) and importlib.util.find_spec("hiredis") is not None
    if lean and scheme in ("redis", "rediss"):
        from minorguard.adapters.resp import lean_from_url  # noqa: PLC0415  (hiredis is optional)

        lean_client = lean_from_url(url, client, socket_timeout=_SOCKET_TIMEOUT)
        if lean_client is not None:
            return RedisCounterStore(lean_client, **store)
    lean_managed = lean and set(client) <= _LEAN_OPTIONS  # the caller's options, not our defaults
    client = _client_defaults(store.get("max_in_flight", DEFAULT_MAX_IN_FLIGHT)) | client
    if scheme in ("redis", "rediss"):
        return RedisCounterStore(Redis.from_url(url, **client), **store)
    parts = urlsplit(url)
    hosts = _hosts(parts.netloc.rpartition("@")[2])
    if parts.username:
        client.setdefault("username", unquote(parts.username))
    if parts.password:
        client.setdefault("password", unquote(parts.password))
    query = {k: v[-1] for k, v in parse_qs(parts.query, strict_parsing=bool(parts.query)).items()}
    if scheme == "redis+cluster":
        return _cluster(hosts, parts.path, query, client, store, lean=lean_managed)
    return _sentinel(hosts, parts.path, query, client, store, lean=lean_managed)


def _client_defaults(max_in_flight: int) -> dict[str, Any]:
    # One immediate retry re-dials a pooled connection that died (server restart, failover); more
    # would not fit in a call's budget. Every script is safe to run twice (see the Lua headers).
    # The pool must hold a connection for every call the store lets run at once.
    return {
        "socket_timeout": _SOCKET_TIMEOUT,
        "socket_connect_timeout": _SOCKET_TIMEOUT,
        "retry": Retry(NoBackoff(), 1),
        "max_connections": max(max_in_flight, 100),
    }


def _cluster(
    hosts: list[tuple[str, int]],
    path: str,
    query: dict[str, str],
    client: dict[str, Any],
    store: dict[str, Any],
    *,
    lean: bool,
) -> RedisCounterStore:
    if path.strip("/") or query:
        raise ValueError("a cluster URL has no path or query (Redis Cluster has only database 0)")
    if lean:
        from minorguard.adapters.respcluster import LeanCluster  # noqa: PLC0415  (hiredis is optional)

        return RedisCounterStore(LeanCluster(hosts, _lean_options(client)), **store)
    client.pop("retry", None)  # the cluster client retries (and re-routes) on its own
    nodes = [ClusterNode(host, port) for host, port in hosts]
    return RedisCounterStore(RedisCluster(startup_nodes=nodes, **client), **store)


# What redis+cluster:// and redis+sentinel:// options the lean clients take (by redis-py's names):
# with any other, redis-py serves the URL.
_LEAN_OPTIONS = frozenset(
    {"username", "password", "client_name", "socket_timeout", "socket_connect_timeout", "connections"}
)


def _lean_options(client: dict[str, Any]) -> ServerOptions:
    """The lean clients' ServerOptions, from redis-py's option names."""

    def seconds(name: str) -> float:
        value = client.get(name)
        return _SOCKET_TIMEOUT if value is None else float(value)

    from minorguard.adapters.resp import ServerOptions  # noqa: PLC0415  (hiredis is optional)

    return ServerOptions(
        username=client.get("username"),
        password=client.get("password"),
        client_name=client.get("client_name"),
        connections=int(client.get("connections", 1)),
        connect_timeout=seconds("socket_connect_timeout"),
        stall_timeout=seconds("socket_timeout"),
    )


def _sentinel(
    hosts: list[tuple[str, int]],
    path: str,
    query: dict[str, str],
    client: dict[str, Any],
    store: dict[str, Any],
    *,
    lean: bool,
) -> RedisCounterStore:
    service = unquote(path.strip("/"))
    if not service or "/" in service:
        raise ValueError("the path must be the service name Sentinel monitors, e.g. /mymaster")
    if set(query) - {"db"}:
        raise ValueError(f"unknown query parameters {sorted(set(query) - {'db'})}; accepted: db")
    if lean:
        from minorguard.adapters.respsentinel import LeanSentinel  # noqa: PLC0415  (hiredis is optional)

        db = int(query.get("db", "0"))
        return RedisCounterStore(LeanSentinel(hosts, service, db=db, options=_lean_options(client)), **store)
    sentinel_options = {k: v for k, v in client.items() if k.startswith("socket_")}
    sentinel_options = client.pop("sentinel_kwargs", sentinel_options)
    sentinel = Sentinel(hosts, sentinel_kwargs=sentinel_options)  # type: ignore[no-untyped-call]
    master = sentinel.master_for(service, db=int(query.get("db", "0")), **client)
    return RedisCounterStore(master, owned=(master, sentinel), **store)


def _hosts(netloc: str) -> list[tuple[str, int]]:
    hosts = []
    for item in netloc.split(","):
        host, sep, port = item.strip().rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"expected host:port, got {item!r}")
        hosts.append((host.strip("[]"), int(port)))
    return hosts
