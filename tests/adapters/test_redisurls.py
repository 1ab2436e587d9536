"""Store URLs read into a RedisTarget (adapters/redisurls.py): every field and option lands where it
goes, and any text is read or refused with a ValueError that never shows the password."""

from __future__ import annotations

import contextlib
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minorguard.adapters.redisurls import TlsSettings, parse_redis_url


def test_a_single_url_is_read_whole() -> None:
    """User, password (percent-decoded), host, port, database and every option land where they go."""
    target = parse_redis_url(
        "rediss://app%40x:p%3Ass%20w@db.example:6380/3?socket_timeout=0.25&client_name=mg"
        "&ssl_ca_certs=/ca.pem&ssl_certfile=/c.pem&ssl_keyfile=/c.key&ssl_check_hostname=false",
        {"connections": 2, "socket_connect_timeout": 0.5},
    )
    assert (target.kind, target.hosts, target.db) == ("single", (("db.example", 6380),), 3)
    assert (target.username, target.password) == ("app@x", "p:ss w")
    assert (target.stall_timeout, target.connect_timeout, target.connections) == (0.25, 0.5, 2)
    assert target.client_name == "mg"
    assert target.tls == TlsSettings("/ca.pem", None, "/c.pem", "/c.key", None, "required", False)
    assert "p:ss w" not in repr(target)


def test_defaults_and_the_password_only_form() -> None:
    target = parse_redis_url("redis://s3cret@cache")
    assert (target.hosts, target.db, target.username, target.password, target.tls) == (
        (("cache", 6379),),
        0,
        None,
        "s3cret",
        None,
    )
    assert parse_redis_url("rediss://[::1]").tls == TlsSettings()


def test_sentinel_and_cluster_urls_are_read_whole() -> None:
    sentinel = parse_redis_url(
        "redis+sentinel://:data@10.0.0.1:26379,[fd00::2]:26380/my%20master?db=2&sentinel_username=watch"
        "&sentinel_password=s%26p"
    )
    assert (sentinel.kind, sentinel.service, sentinel.db) == ("sentinel", "my master", 2)
    assert sentinel.hosts == (("10.0.0.1", 26379), ("fd00::2", 26380))
    assert (sentinel.password, sentinel.sentinel_username, sentinel.sentinel_password) == (
        "data",
        "watch",
        "s&p",
    )
    cluster = parse_redis_url("rediss+cluster://u:p@a:7000,b:7001?ssl_cert_reqs=none")
    assert (cluster.kind, cluster.hosts, cluster.db) == ("cluster", (("a", 7000), ("b", 7001)), 0)
    assert cluster.tls is not None
    assert (cluster.tls.cert_reqs, cluster.tls.check_hostname) == ("none", False)


@given(
    st.text(max_size=80), st.sampled_from(["redis://", "rediss://", "redis+sentinel://", "redis+cluster://"])
)
def test_any_text_after_a_scheme_is_read_or_refused_with_a_value_error(text: str, scheme: str) -> None:
    """No other exception, whatever the URL holds."""
    with contextlib.suppress(ValueError):
        parse_redis_url(scheme + text)


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_characters="@/?#"), min_size=6, max_size=20))
def test_a_password_never_shows_in_an_error(password: str) -> None:
    """Whatever else is wrong with the URL: the error is the same whatever the password, and names
    it nowhere (a password that happens to be a word of the message, "timeou" say, is that word)."""

    def refusal(secret: str, broken: str) -> str:
        with pytest.raises(ValueError, match=r"port|database|does not take|one server") as refused:
            parse_redis_url(f"redis://user:{quote(secret, safe='')}@{broken}")
        return str(refused.value)

    for broken in ("h:port/0", "h:1/99", "h:1/0?nope=1", "a:1,b:2/0"):
        message, baseline = refusal(password, broken), refusal("\x00-other-password", broken)
        assert message == baseline
        for shown in (password, quote(password, safe="")):
            assert shown not in message or shown in baseline
