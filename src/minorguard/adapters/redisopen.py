"""The one Redis client stack of the counter store: a `RedisTarget` (redisurls.py) becomes the
project's lean client of its form, and nothing else.

  redis://, rediss://                       resp.LeanRedis
  redis+cluster://, rediss+cluster://       respcluster.LeanCluster (a LeanRedis per master)
  redis+sentinel://, rediss+sentinel://     respsentinel.LeanSentinel (LeanRedis to the master,
                                            and to each Sentinel)

Every option of a URL is honoured by these clients; one they could not honour is refused by
`redisurls.parse_redis_url` before this module is reached. Building a client connects to nothing;
TLS files are read here, so a missing CA or key fails at start.
"""

from __future__ import annotations

import ssl

from minorguard.adapters.redisurls import RedisTarget, TlsSettings
from minorguard.adapters.resp import LeanRedis, ServerOptions
from minorguard.adapters.respcluster import LeanCluster
from minorguard.adapters.respsentinel import LeanSentinel

_CERT_REQS = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}


def lean_client(target: RedisTarget) -> LeanRedis | LeanCluster | LeanSentinel:
    """The client for `target`. Raises ValueError for TLS files that cannot be used."""
    tls = tls_context(target.tls) if target.tls is not None else None
    options = ServerOptions(
        username=target.username,
        password=target.password,
        client_name=target.client_name,
        connections=target.connections,
        connect_timeout=target.connect_timeout,
        stall_timeout=target.stall_timeout,
        tls=tls,
    )
    if target.kind == "cluster":
        return LeanCluster(target.hosts, options)
    if target.kind == "sentinel":
        sentinels = ServerOptions(
            username=target.sentinel_username,
            password=target.sentinel_password,
            connect_timeout=target.connect_timeout,
            stall_timeout=target.stall_timeout,
            tls=tls,
        )
        return LeanSentinel(
            target.hosts, target.service or "", db=target.db, options=options, sentinels_options=sentinels
        )
    host, port = target.hosts[0]
    return options.client(host, port, target.db)


def tls_context(settings: TlsSettings) -> ssl.SSLContext:
    """A client context: the server's certificate and host name checked unless the settings say
    otherwise, TLS 1.2 at least (Python's default), the client certificate when one is given."""
    try:
        context = ssl.create_default_context()
        context.check_hostname = settings.check_hostname
        context.verify_mode = _CERT_REQS[settings.cert_reqs]
        if settings.certfile:
            context.load_cert_chain(settings.certfile, settings.keyfile, settings.password)
        if settings.ca_certs or settings.ca_path:
            context.load_verify_locations(settings.ca_certs, settings.ca_path)
    except OSError as exc:  # a file that cannot be read, a bad key or certificate (ssl.SSLError)
        raise ValueError(f"bad TLS option: {exc}") from exc
    return context
