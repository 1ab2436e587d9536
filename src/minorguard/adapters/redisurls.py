"""Redis store URLs, read into a `RedisTarget`: every form, every option, checked before anything
connects. Pure (no Redis client is imported), so `minorguard config check` reads URLs exactly as
the store opens them.

  redis://[[user]:password@]host[:port][/db][?option=value&...]            one Redis
  rediss://...                                                             the same over TLS
  redis+cluster://[[user]:password@]host:port[,host:port...][?...]         Redis Cluster
  rediss+cluster://...                                                     its nodes over TLS
  redis+sentinel://[[user]:password@]host:port[,host:port...]/service[?db=N&...]
  rediss+sentinel://...                                                    Sentinels and master over TLS

The user and password are the data nodes' (the master's for Sentinel), ACL user or the default
user. Options (query parameters, or keyword options of `open_store`, which the URL's win over):

  socket_timeout          s, default 1: a connection whose abandoned call has no answer this long
                          is dropped (each call is bounded by the store's own `timeout` anyway)
  socket_connect_timeout  s, default 1: dialing, TLS and AUTH/SELECT of one connection
  client_name             CLIENT SETNAME on every connection
  connections             connections per server, default 1 (calls are pipelined on each)
  db                      (Sentinel) the database; other forms take it in the path, Cluster has 0 only
  sentinel_username, sentinel_password   (Sentinel) AUTH to the Sentinels (`requirepass` there)
  ssl_ca_certs, ssl_ca_path             (TLS) the CA file or folder the server's certificate must
                                         chain to (default: the system's)
  ssl_certfile, ssl_keyfile, ssl_password   (TLS) a client certificate (`tls-auth-clients yes`)
  ssl_cert_reqs           (TLS) required (default), optional or none
  ssl_check_hostname      (TLS) true (default) or false

Any other option is refused with the list above: nothing is ignored or silently handed to another
client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

Kind = Literal["single", "cluster", "sentinel"]

SCHEMES: Final[dict[str, tuple[Kind, bool]]] = {
    "redis": ("single", False),
    "rediss": ("single", True),
    "redis+cluster": ("cluster", False),
    "rediss+cluster": ("cluster", True),
    "redis+sentinel": ("sentinel", False),
    "rediss+sentinel": ("sentinel", True),
}
_COMMON: Final = frozenset({"socket_timeout", "socket_connect_timeout", "client_name", "connections"})
_SENTINEL: Final = frozenset({"db", "sentinel_username", "sentinel_password"})
TLS_OPTIONS: Final = frozenset(
    {"ssl_ca_certs", "ssl_ca_path", "ssl_certfile", "ssl_keyfile", "ssl_password"}
    | {"ssl_cert_reqs", "ssl_check_hostname"}
)
CERT_REQS: Final = ("required", "optional", "none")
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")
DEFAULT_TIMEOUT: Final = 1.0
MAX_DB: Final = 15  # Redis' default `databases 16`; a server with more is rare, and SELECT says so


@dataclass(frozen=True, slots=True)
class TlsSettings:
    ca_certs: str | None = None
    ca_path: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    password: str | None = field(default=None, repr=False)
    cert_reqs: str = "required"
    check_hostname: bool = True

    def files(self) -> list[tuple[str, str]]:
        """(option, path) of every file or folder these settings read."""
        named = [("ssl_ca_certs", self.ca_certs), ("ssl_ca_path", self.ca_path)]
        named += [("ssl_certfile", self.certfile), ("ssl_keyfile", self.keyfile)]
        return [(name, path) for name, path in named if path]


@dataclass(frozen=True, slots=True)
class RedisTarget:
    """Where a Redis store's client connects, and how: the whole of a store URL and its options."""

    kind: Kind
    hosts: tuple[tuple[str, int], ...]
    db: int = 0
    service: str | None = None  # Sentinel: the name the Sentinels monitor
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sentinel_username: str | None = None
    sentinel_password: str | None = field(default=None, repr=False)
    tls: TlsSettings | None = None
    client_name: str | None = None
    connections: int = 1
    connect_timeout: float = DEFAULT_TIMEOUT
    stall_timeout: float = DEFAULT_TIMEOUT


def accepted_options(scheme: str) -> list[str]:
    kind, tls = SCHEMES[scheme]
    names = _COMMON | (_SENTINEL if kind == "sentinel" else frozenset()) | (TLS_OPTIONS if tls else set())
    return sorted(names)


def parse_redis_url(url: str, options: Mapping[str, Any] | None = None) -> RedisTarget:
    """Read a store URL (and `open_store`'s keyword options) into a RedisTarget. Raises ValueError
    with a message that names the problem and never holds the password."""
    scheme, sep, _ = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in SCHEMES:
        raise ValueError(f"not a Redis URL scheme: {scheme or '(none)'!r}")
    kind, tls = SCHEMES[scheme]
    parts = urlsplit(url)
    if parts.fragment:
        raise ValueError("a store URL has no #fragment")
    settings = {**(options or {}), **_query(parts.query)}
    unknown = sorted(set(settings) - set(accepted_options(scheme)))
    if unknown:
        hint = " (TLS options need rediss://)" if set(unknown) & TLS_OPTIONS and not tls else ""
        raise ValueError(
            f"{scheme}:// does not take {', '.join(unknown)}{hint}; "
            f"accepted: {', '.join(accepted_options(scheme))}"
        )
    userinfo, _, netloc = parts.netloc.rpartition("@")
    hosts = _hosts(netloc, single=kind == "single")
    username, password = _credentials(userinfo)
    db, service = _path(kind, unquote(parts.path), settings)
    return RedisTarget(
        kind=kind,
        hosts=hosts,
        db=db,
        service=service,
        username=username,
        password=password,
        sentinel_username=_text(settings, "sentinel_username"),
        sentinel_password=_text(settings, "sentinel_password"),
        tls=_tls(settings) if tls else None,
        client_name=_text(settings, "client_name"),
        connections=_integer(settings, "connections", 1, low=1, high=64),
        connect_timeout=_seconds(settings, "socket_connect_timeout"),
        stall_timeout=_seconds(settings, "socket_timeout"),
    )


def _query(query: str) -> dict[str, str]:
    if not query:
        return {}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise ValueError("the query string is not name=value pairs joined by &") from None
    found: dict[str, str] = {}
    for name, value in pairs:
        if name in found:
            raise ValueError(f"the option {name} is given twice")
        found[name] = value
    return found


def _hosts(netloc: str, *, single: bool) -> tuple[tuple[str, int], ...]:
    items = netloc.split(",")
    if single and len(items) > 1:
        raise ValueError("redis:// names one server; several hosts are for redis+cluster:// or +sentinel://")
    hosts = []
    for item in items:
        hosts.append(_host(item.strip(), need_port=not single))
    return tuple(hosts)


def _host(item: str, *, need_port: bool) -> tuple[str, int]:
    if item.startswith("["):  # [IPv6]:port
        host, bracket, rest = item[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"expected [address]:port, got {item!r}")
        port_text = rest[1:] if rest else ""
    else:
        host, colon, port_text = item.rpartition(":") if ":" in item else (item, "", "")
        if colon and ":" in host:
            raise ValueError(f"write an IPv6 address in brackets, like [::1]:6379 (got {item!r})")
    if not host:
        raise ValueError(f"expected host:port, got {item!r}")
    if not port_text:
        if need_port:
            raise ValueError(f"expected host:port, got {item!r} (each node needs its port)")
        return host, 6379
    if not port_text.isascii() or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"the port of {item!r} is not a number from 1 to 65535")
    return host, int(port_text)


def _credentials(userinfo: str) -> tuple[str | None, str | None]:
    if not userinfo:
        return None, None
    user, colon, password = userinfo.partition(":")
    if not colon:  # redis://secret@host: a password alone, as redis-cli -u reads it
        return None, unquote(user)
    return unquote(user) or None, unquote(password)


def _path(kind: Kind, path: str, settings: Mapping[str, Any]) -> tuple[int, str | None]:
    name = path.strip("/")
    if kind == "sentinel":
        if not name or "/" in name:
            raise ValueError("the path must be the service name Sentinel monitors, e.g. /mymaster")
        return _integer(settings, "db", 0, low=0, high=MAX_DB), name
    if kind == "cluster":
        if name:
            raise ValueError("a cluster URL has no path (Redis Cluster has only database 0)")
        return 0, None
    if not name:
        return 0, None
    if not name.isascii() or not name.isdigit() or int(name) > MAX_DB:
        raise ValueError(f"the path is the database number, 0 to {MAX_DB}")
    return int(name), None


def _text(settings: Mapping[str, Any], name: str) -> str | None:
    value = settings.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string")
    return value


def _integer(settings: Mapping[str, Any], name: str, default: int, *, low: int, high: int) -> int:
    value = settings.get(name, default)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}")
    return value


def _seconds(settings: Mapping[str, Any], name: str) -> float:
    value = settings.get(name, DEFAULT_TIMEOUT)
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if isinstance(value, bool) or not 0 < seconds <= 60:  # NaN fails the comparison too
        raise ValueError(f"{name} must be a number of seconds above 0 and at most 60")
    return seconds


def _flag(settings: Mapping[str, Any], name: str, default: bool) -> bool:
    value = settings.get(name, default)
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError(f"{name} must be true or false")


def _tls(settings: Mapping[str, Any]) -> TlsSettings:
    reqs = str(settings.get("ssl_cert_reqs", "required")).lower()
    if reqs not in CERT_REQS:
        raise ValueError(f"ssl_cert_reqs must be one of {', '.join(CERT_REQS)}")
    keyfile, certfile = _text(settings, "ssl_keyfile"), _text(settings, "ssl_certfile")
    if keyfile and not certfile:
        raise ValueError("ssl_keyfile needs ssl_certfile (the client certificate)")
    return TlsSettings(
        ca_certs=_text(settings, "ssl_ca_certs"),
        ca_path=_text(settings, "ssl_ca_path"),
        certfile=certfile,
        keyfile=keyfile,
        password=_text(settings, "ssl_password"),
        cert_reqs=reqs,
        check_hostname=_flag(settings, "ssl_check_hostname", True) and reqs != "none",
    )
