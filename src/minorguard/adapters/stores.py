"""`open_store(url)`: a counter store from a URL in the configuration.

  memory://                                   in this process (demos, one worker)
  redis://  rediss://                         one Redis
  redis+cluster://  rediss+cluster://         Redis Cluster, found from any of the nodes named
  redis+sentinel://  rediss+sentinel://       the master the Sentinels name, followed on failover

Every Redis form is served by the project's own pipelined client (`redisopen.py`); the forms and
their options are in `redisurls.py` and docs/operations.md. Options: `timeout` (seconds per call,
default 0.02) and `max_in_flight` (calls at once, default 64) for Redis stores, `max_entries` and
`sweep_every` for memory; other keyword options are the URL's options (the URL's win). An option
the client cannot honour is a CONFIGURATION error here, at start. Nothing connects before the
first call.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from minorguard.adapters.base import CounterStore
from minorguard.adapters.memory import MemoryCounterStore
from minorguard.adapters.redisurls import SCHEMES as REDIS_SCHEMES
from minorguard.adapters.redisurls import parse_redis_url
from minorguard.errors import StoreError, StoreErrorKind

SCHEMES = ("memory", *REDIS_SCHEMES)
_STORE_OPTIONS = ("timeout", "max_in_flight")


def store_scheme(url: str) -> str:
    """The URL's scheme, lower-cased; raises a CONFIGURATION StoreError for one no store has."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme not in SCHEMES:
        accepted = ", ".join(f"{s}://" for s in SCHEMES)
        raise StoreError(
            StoreErrorKind.CONFIGURATION, f"unknown store scheme {scheme or '(none)'!r}; accepted: {accepted}"
        )
    return scheme


def open_store(url: str, **options: Any) -> CounterStore:
    scheme = store_scheme(url)
    store_options = {k: options.pop(k) for k in _STORE_OPTIONS if k in options}
    if scheme == "memory":
        return MemoryCounterStore(**options)  # never waits on I/O: Redis' call options do not apply
    try:
        target = parse_redis_url(url, options)
    except ValueError as exc:
        raise StoreError(StoreErrorKind.CONFIGURATION, f"bad {scheme}:// store URL: {exc}") from exc
    missing = [name for name in ("hiredis", "redis") if importlib.util.find_spec(name) is None]
    if missing:
        raise StoreError(
            StoreErrorKind.CONFIGURATION,
            f"{scheme}:// needs {', '.join(missing)}: pip install 'minorguard[redis]'",
        )
    # the client stack needs hiredis (and redis-py's exception classes): imported only here
    from minorguard.adapters.redis import RedisCounterStore  # noqa: PLC0415
    from minorguard.adapters.redisopen import lean_client  # noqa: PLC0415

    try:
        client = lean_client(target)
    except ValueError as exc:
        raise StoreError(StoreErrorKind.CONFIGURATION, f"bad {scheme}:// store URL: {exc}") from exc
    return RedisCounterStore(client, **store_options)
