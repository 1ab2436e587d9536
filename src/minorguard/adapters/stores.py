"""`open_store(url)`: a counter store from a URL in the configuration.

  memory://                                           in this process (demos, one worker)
  redis://[[user]:password@]host[:port][/db]          one Redis (see redis-py's from_url)
  rediss://...                                        the same over TLS
  redis+sentinel://[[user]:password@]host:port[,host:port...]/service_name[?db=N]
                                                      the master Sentinel names, followed on failover
  redis+cluster://[[user]:password@]host:port[,host:port...]
                                                      Redis Cluster, found from any of these nodes

Options: `timeout` (seconds per call, default 0.02) and `max_in_flight` (calls at once, default 64)
for Redis stores, `max_entries` and `sweep_every` for memory; other keyword options go to the
Redis client (a redis:// option the lean client does not take selects redis-py). redis-py is
imported only when a Redis URL is opened; nothing connects before the first call.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from minorguard.adapters.base import CounterStore
from minorguard.adapters.memory import MemoryCounterStore
from minorguard.errors import StoreError, StoreErrorKind

SCHEMES = ("memory", "redis", "rediss", "redis+sentinel", "redis+cluster")
_STORE_OPTIONS = ("timeout", "max_in_flight")


def open_store(url: str, **options: Any) -> CounterStore:
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme not in SCHEMES:
        accepted = ", ".join(f"{s}://" for s in SCHEMES)
        raise StoreError(
            StoreErrorKind.CONFIGURATION, f"unknown store scheme {scheme or '(none)'!r}; accepted: {accepted}"
        )
    store_options = {k: options.pop(k) for k in _STORE_OPTIONS if k in options}
    if scheme == "memory":
        return MemoryCounterStore(**options)  # never waits on I/O: Redis' call options do not apply
    if importlib.util.find_spec("redis") is None:
        raise StoreError(
            StoreErrorKind.CONFIGURATION, f"{scheme}:// needs redis-py: pip install 'minorguard[redis]'"
        )
    from minorguard.adapters.redisurls import open_redis  # noqa: PLC0415  (redis-py is optional)

    try:
        return open_redis(scheme, url, options, store_options)
    except (ValueError, TypeError) as exc:
        raise StoreError(StoreErrorKind.CONFIGURATION, f"bad {scheme}:// store URL: {exc}") from exc
