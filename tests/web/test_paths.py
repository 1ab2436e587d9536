"""The path a backend routes (issue 14 item 1): every spelling of one path is judged alike, and what
cannot be judged safely is refused. Checked on the route table every door uses."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minorguard.types import Activity
from minorguard.web.paths import UnsafePath, spellings, split_target
from minorguard.web.routes import Match, Route, RouteTable, Unjudgeable

TABLE = RouteTable(
    [
        Route(frozenset({"GET"}), "/game/ping", Activity.GAME),
        Route(frozenset({"POST"}), "/shop/orders", Activity.PURCHASE),
        Route(frozenset(), "/live/rooms/{room}/tips", Activity.LIVESTREAM_TIP),
        Route(frozenset(), "/files/{rest:path}", Activity.GAME),
    ],
    exempt=["/healthz", "/static/*"],
)


def judged(method: str, target: str) -> Match | Unjudgeable | None:
    path, _ = split_target(target)
    return TABLE.judged(method, path, decoded=False)


def route_of(method: str, target: str) -> str | None:
    found = judged(method, target)
    assert not isinstance(found, Unjudgeable), found
    return None if found is None else found.route.pattern


@pytest.mark.parametrize(
    "target",
    [
        "/game/ping",
        "/game/%70ing",
        "/%67ame/ping",
        "/%67%61%6D%65/%70%69%6E%67",
        "/game//ping",
        "/game/./ping",
        "/game/x/../ping",
        "/static/../game/ping",
        "/healthz/../game/ping",
        "/game/ping;jsessionid=1",
        "/game;x/ping",
        "/game/%2E/ping",
        "/game/x/%2e%2e/ping",
        "http://game.example.com/game/ping",
        "https://user@[::1]:8443/game/%70ing?x=1",
        "/game/ping?x=/healthz",
    ],
)
def test_every_spelling_of_an_enforced_path_is_enforced(target: str) -> None:
    """Percent-escapes, dot segments, repeated slashes, ;params and absolute-form targets all reach
    the route of /game/ping: none of them is a way around the rules."""
    assert route_of("GET", target) == "/game/ping"


@pytest.mark.parametrize(
    "target",
    [
        "/game%2Fping",
        "/game%2fping",
        "/game/ping%00",
        "/game/ping\x00",
        "/game\\ping",
        "/game%5Cping",
        "/game/%zzping",
        "/game/ping%",
        "/game/ping%2",
        "/game/%C3%28",
        "/game/ping#frag",
        "/game/pi\u00f1g",
        "/game/ping%0A",
        "/game/ping%7F",
        "http://[",
        "http://[::1/x",
        "//[::1/x",
        "//game/ping",
        "game/ping",
        "*",
        "/" + "a" * 9000,
    ],
)
def test_a_path_that_cannot_be_judged_safely_is_refused(target: str) -> None:
    """Encoded '/' or '\\', NUL and controls, invalid escapes, non-UTF-8, fragments, malformed hosts:
    backends disagree on them, so the gate refuses them (a 400) instead of guessing."""
    try:
        found = judged("GET", target)
    except UnsafePath:
        return
    assert isinstance(found, Unjudgeable), found


def test_spellings_that_reach_different_routes_are_refused() -> None:
    """/files/x/../../game/ping is /files/{rest} as written and /game/ping once normalised: which one
    a backend routes depends on the backend, so the path is not judged."""
    assert isinstance(judged("GET", "/files/x/../../game/ping"), Unjudgeable)


def test_exempt_and_unrouted_paths_stay_unenforced_in_every_spelling() -> None:
    assert route_of("GET", "/healthz") is None
    assert route_of("GET", "/%68ealthz") is None
    assert route_of("GET", "/static/app.js") is None
    assert route_of("GET", "/static//app.js") is None
    assert route_of("GET", "/elsewhere") is None


def test_the_decoded_path_of_an_asgi_scope_is_not_decoded_twice() -> None:
    """The middleware's scope["path"] is decoded already: a literal '%' in it is a character."""
    assert TABLE.judged("GET", "/files/100%", decoded=True) is not None
    assert TABLE.judged("GET", "/game/%70ing", decoded=True) is None


SEGMENT = st.text(alphabet=string.ascii_letters + string.digits + "-_.~", min_size=1, max_size=6)


@st.composite
def respelled(draw: st.DrawFn, path: str) -> str:
    """`path` with some characters percent-encoded (either case), some slashes doubled and some
    `./` or `x/../` segments added: the same path to RFC 3986 and to every backend."""
    out = []
    for i, segment in enumerate(path.strip("/").split("/")):
        chars = [f"%{ord(c):02{draw(st.sampled_from('xX'))}}" if draw(st.booleans()) else c for c in segment]
        # a doubled slash anywhere but first (a leading '//' is refused: it reads as a host)
        prefix = draw(st.sampled_from(["", "./", "zz/../", "/"] if i else ["", "./", "zz/../"]))
        out.append(prefix + "".join(chars))
    return "/" + "/".join(out)


ORIGINALS = {
    "/game/ping": ("GET", "/game/ping"),
    "/shop/orders": ("POST", "/shop/orders"),
    "/live/rooms/7/tips": ("POST", "/live/rooms/{room}/tips"),
}


@settings(max_examples=300, derandomize=True)
@given(st.sampled_from(sorted(ORIGINALS)).flatmap(lambda p: st.tuples(st.just(p), respelled(p))))
def test_a_respelled_path_reaches_the_same_route(case: tuple[str, str]) -> None:
    original, target = case
    method, pattern = ORIGINALS[original]
    found = judged(method, target)
    assert isinstance(found, Match), (target, found)
    assert found.route.pattern == pattern


@settings(max_examples=500, derandomize=True)
@given(st.text(max_size=80))
def test_any_text_is_judged_or_refused_never_an_exception(target: str) -> None:
    """Whatever a proxy forwards: a route, nothing, or Unjudgeable, and nothing else escapes."""
    try:
        path, _ = split_target(target)
    except UnsafePath:
        return
    found = TABLE.judged("GET", path, decoded=False)
    assert found is None or isinstance(found, Match | Unjudgeable)
    for decoded in (True, False):
        try:
            for spelling in spellings(path, decoded=decoded):
                assert spelling.startswith("/")
        except UnsafePath:
            pass
