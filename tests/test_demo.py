"""The demo backend (`minorguard demo`) behind a REAL uvicorn on loopback: the README's curl tour, with
tokens from `minorguard token` and from the demo's own tour, against a clock the test moves."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from prometheus_client import CollectorRegistry

from minorguard.cli import main
from minorguard.demo import build_demo_app, demo_token, print_tour

BJ = dt.timezone(dt.timedelta(hours=8))
PROBLEM_JSON = "application/problem+json"


@dataclass
class DemoClock:
    now: float

    def __call__(self) -> float:
        return self.now

    def set(self, text: str) -> None:
        self.now = dt.datetime.fromisoformat(text).replace(tzinfo=BJ).timestamp()


@dataclass
class Demo:
    url: str
    clock: DemoClock
    registry: CollectorRegistry


@contextlib.contextmanager
def _serve(app: Any, **options: Any) -> Iterator[str]:
    """Serve `app` with a real uvicorn in a background thread on a free loopback port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", ws="none", access_log=False, **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive(), "uvicorn exited during start-up"
            assert time.monotonic() < deadline, "uvicorn did not start within 10 s"
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    """The demo app served by uvicorn in a background thread on a free loopback port."""
    clock = DemoClock(0)
    clock.set("2026-11-20 20:30:00")  # a Friday, inside the 20:00-21:00 window
    registry = CollectorRegistry()
    with _serve(build_demo_app(clock=clock, registry=registry)) as url:
        yield Demo(url, clock, registry)


@pytest.fixture
def http(demo: Demo) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=demo.url, timeout=5) as client:
        yield client


def _auth(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def _born(years: int, today: dt.date = dt.date(2026, 11, 20)) -> dt.date:
    return today.replace(year=today.year - years) - dt.timedelta(days=30)


def test_an_adult_plays_at_any_hour(demo: Demo, http: httpx.Client) -> None:
    """The adult persona plays in and out of the minors' window, with no time budget headers."""
    adult = _auth(demo_token("demo-adult-e2e", _born(30)))
    for at in ("2026-11-20 20:30:00", "2026-11-19 03:00:00"):
        demo.clock.set(at)
        answer = http.get("/game/ping", headers=adult)
        assert answer.status_code == 200
        assert answer.json()["minorguard"]["band"] == "adult"
        assert "minorguard-remaining-seconds" not in answer.headers


def test_a_fifteen_year_old_plays_in_the_window_and_is_refused_outside_it(
    demo: Demo, http: httpx.Client
) -> None:
    """Friday 20:30 allowed with 30 minutes left; 21:30 refused until Saturday 20:00 (Retry-After)."""
    teen = _auth(demo_token("demo-teen-e2e", _born(15)))
    demo.clock.set("2026-11-20 20:30:00")
    allowed = http.get("/game/ping", headers=teen)
    assert allowed.status_code == 200
    assert allowed.headers["minorguard-remaining-seconds"] == "1800"
    assert allowed.json()["minorguard"] == {
        "band": "age_8_15",
        "remaining_seconds": 1800,
        "remaining_budget_fen": None,
        "warnings": [],
    }
    demo.clock.set("2026-11-20 20:50:00")
    warned = http.get("/game/ping", headers=teen)
    assert warned.headers["minorguard-warning"] == "play_time_low"
    demo.clock.set("2026-11-20 21:30:00")
    refused = http.get("/game/ping", headers={**teen, "Accept-Language": "en"})
    assert refused.status_code == 403
    assert refused.headers["content-type"] == PROBLEM_JSON
    assert refused.headers["content-language"] == "en"
    problem = refused.json()
    assert problem["reason"] == "outside_play_window"
    assert problem["allowed_again_at"] == "2026-11-21T20:00:00+08:00"
    assert refused.headers["retry-after"] == str(22 * 3600 + 30 * 60)
    assert refused.headers["minorguard-allowed-again-at"] == "2026-11-21T20:00:00+08:00"


def test_a_game_rated_above_the_players_age_is_refused(demo: Demo, http: httpx.Client) -> None:
    """The demo rates star-fleet 12+: a 7-year-old is refused it, a 15-year-old plays."""
    demo.clock.set("2026-11-20 20:30:00")
    child = http.get("/game/ping?game=star-fleet", headers=_auth(demo_token("demo-child-e2e", _born(7))))
    teen = http.get("/game/ping?game=star-fleet", headers=_auth(demo_token("demo-teen-rated", _born(15))))
    assert child.status_code == 403
    assert child.json()["reason"] == "game_rating"
    assert teen.status_code == 200


def test_purchases_over_the_caps_are_refused_and_a_failed_payment_is_released(
    demo: Demo, http: httpx.Client
) -> None:
    """¥50.01 is over the single cap; a declined payment frees its quota; 4 x ¥50 fill the month."""
    demo.clock.set("2026-11-20 15:00:00")
    teen = _auth(demo_token("demo-buyer-e2e", _born(15)))
    single = http.post("/shop/purchases", headers=teen, json={"amount_fen": 5001})
    assert single.status_code == 403
    assert single.json()["reason"] == "purchase_single_cap"
    declined = http.post("/shop/purchases", headers=teen, json={"amount_fen": 5000, "fail": True})
    assert declined.status_code == 502
    budgets = []
    for _ in range(4):
        bought = http.post("/shop/purchases", headers=teen, json={"amount_fen": 5000})
        assert bought.status_code == 201
        assert bought.json()["purchased_fen"] == 5000
        budgets.append(int(bought.headers["minorguard-remaining-budget-fen"]))
    assert budgets == [15000, 10000, 5000, 0]
    over = http.post("/shop/purchases", headers=teen, json={"amount_fen": 100})
    assert over.status_code == 403
    assert over.json()["reason"] == "purchase_monthly_cap"
    assert over.json()["allowed_again_at"] == "2026-12-01T00:00:00+08:00"
    child = http.post(
        "/shop/purchases", headers=_auth(demo_token("demo-child-buyer", _born(7))), json={"amount_fen": 100}
    )
    assert child.status_code == 403
    assert child.json()["reason"] == "purchase_not_allowed"


def test_publisher_registration_needs_sixteen_and_a_guardians_consent(demo: Demo, http: httpx.Client) -> None:
    """17 with consent registers; 17 without consent and 15 are refused; minors may not tip."""
    demo.clock.set("2026-11-20 15:00:00")
    consented = _auth(demo_token("demo-17-consent", _born(17), consent=("livestream_publisher",)))
    no_consent = _auth(demo_token("demo-17-no-consent", _born(17)))
    fifteen = _auth(demo_token("demo-15-publisher", _born(15)))
    assert http.post("/live/publishers", headers=consented).status_code == 201
    refused = http.post("/live/publishers", headers=no_consent)
    assert refused.status_code == 403
    assert refused.json()["reason"] == "publisher_guardian_consent_required"
    young = http.post("/live/publishers", headers=fifteen)
    assert young.status_code == 403
    assert young.json()["reason"] == "publisher_under_min_age"
    tip = http.post("/live/rooms/7/tips", headers=consented, json={"amount_fen": 100})
    assert tip.status_code == 403
    assert tip.json()["reason"] == "tip_minor"
    adult_tip = http.post(
        "/live/rooms/7/tips", headers=_auth(demo_token("demo-tipper", _born(30))), json={"amount_fen": 100}
    )
    assert adult_tip.status_code == 201
    assert adult_tip.json()["room"] == "7"


def test_no_token_is_a_401_and_exempt_paths_need_none(demo: Demo, http: httpx.Client) -> None:
    """Without a token a routed path is 401 problem+json with WWW-Authenticate; /healthz is open."""
    answer = http.get("/game/ping")
    assert answer.status_code == 401
    assert answer.headers["content-type"] == PROBLEM_JSON
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert answer.json()["reason"] == "identity_missing"
    assert http.get("/healthz").json() == {"status": "ok"}


def test_a_token_from_the_cli_is_accepted_by_the_demo(
    demo: Demo, http: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    """`minorguard token --sub x --birthdate 2011-05-01` mints a token the demo verifies (age 15)."""
    assert main(["token", "--sub", "x", "--birthdate", "2011-05-01"]) == 0
    minted = capsys.readouterr().out.strip()
    assert re.fullmatch(r"[\w-]+\.[\w-]+\.[\w-]+", minted)
    demo.clock.set("2026-11-20 20:30:00")
    allowed = http.get("/game/ping", headers=_auth(minted))
    assert allowed.status_code == 200
    assert allowed.json()["minorguard"]["band"] == "age_8_15"
    demo.clock.set("2026-11-19 20:30:00")  # a Thursday
    refused = http.get("/game/ping", headers=_auth(minted))
    assert refused.status_code == 403
    assert refused.json()["reason"] == "outside_play_window"

    assert main(["token", "--sub", "y", "--unverified"]) == 0
    unverified = capsys.readouterr().out.strip()
    answer = http.get("/game/ping", headers=_auth(unverified))
    assert answer.status_code == 403
    assert answer.json()["reason"] == "identity_unverified"


def test_the_tokens_of_the_demo_tour_work_as_the_tour_says(
    demo: Demo, http: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    """The personas printed by the tour: the adult plays, the 15-year-old is over the single cap, etc."""
    demo.clock.set("2026-11-20 20:30:00")
    print_tour(demo.url, demo.clock())
    out = capsys.readouterr().out
    tokens = dict(re.findall(r"^export (TOKEN_\w+)=(\S+)$", out, re.MULTILINE))
    assert set(tokens) == {
        "TOKEN_DEMO_ADULT",
        "TOKEN_DEMO_TEEN_15",
        "TOKEN_DEMO_TEEN_17",
        "TOKEN_DEMO_CHILD_7",
        "TOKEN_DEMO_UNVERIFIED",
        "TOKEN_DEMO_GUARDIAN",
    }
    assert http.get("/game/ping", headers=_auth(tokens["TOKEN_DEMO_ADULT"])).status_code == 200
    over = http.post(
        "/shop/purchases", headers=_auth(tokens["TOKEN_DEMO_TEEN_15"]), json={"amount_fen": 5001}
    )
    assert over.json()["reason"] == "purchase_single_cap"
    child = http.post(
        "/shop/purchases", headers=_auth(tokens["TOKEN_DEMO_CHILD_7"]), json={"amount_fen": 100}
    )
    assert child.json()["reason"] == "purchase_not_allowed"
    assert http.post("/live/publishers", headers=_auth(tokens["TOKEN_DEMO_TEEN_17"])).status_code == 201
    english = http.get(
        "/game/ping", headers={**_auth(tokens["TOKEN_DEMO_UNVERIFIED"]), "Accept-Language": "en"}
    )
    assert english.json()["title"] == "Real-name verification required"


def test_the_guardian_of_the_tour_sets_a_stricter_cap_the_15_year_old_then_meets(
    demo: Demo, http: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo app mounts the guardian endpoint: the guardian persona's token (guardian_of names the
    15-year-old) lowers the single cap; the teen's next ¥20 top-up is refused; a clear lifts it."""
    demo.clock.set("2026-11-20 20:30:00")
    print_tour(demo.url, demo.clock())
    tokens = dict(re.findall(r"^export (TOKEN_\w+)=(\S+)$", capsys.readouterr().out, re.MULTILINE))
    guardian, teen = _auth(tokens["TOKEN_DEMO_GUARDIAN"]), _auth(tokens["TOKEN_DEMO_TEEN_15"])
    settings = "/v1/guardian/children/demo-teen-15/settings"
    assert http.put(settings, headers=guardian, json={"purchase_caps": {"single": 1000}}).status_code == 200
    refused = http.post("/shop/purchases", headers=teen, json={"amount_fen": 2000})
    assert (refused.status_code, refused.json()["reason"]) == (403, "guardian_limit")
    assert refused.json()["detail"] == "超过监护人设置的充值限额"
    assert http.put(settings, headers=teen, json={}).status_code == 403  # a minor is nobody's guardian
    assert http.delete(settings, headers=guardian).json()["cleared"] is True
    assert http.post("/shop/purchases", headers=teen, json={"amount_fen": 2000}).status_code == 201


def test_the_metrics_endpoint_shows_the_decisions(demo: Demo, http: httpx.Client) -> None:
    """/metrics (exempt, no token) exposes minorguard_decisions_total by activity, outcome and reason."""
    demo.clock.set("2026-11-20 20:30:00")
    http.get("/game/ping")
    http.get("/game/ping", headers=_auth(demo_token("demo-metrics", _born(30))))
    answer = http.get("/metrics")
    assert answer.status_code == 200
    lines = [line for line in answer.text.splitlines() if line.startswith("minorguard_decisions_total")]
    counted = {
        match.group(1): float(match.group(2))
        for line in lines
        if (match := re.fullmatch(r"minorguard_decisions_total\{(.*)\} (\S+)", line))
    }
    assert counted['activity="game",outcome="deny",reason="identity_missing"'] >= 1
    assert counted['activity="game",outcome="allow",reason="allowed"'] >= 1
    assert "minorguard_policy_info" in answer.text
    assert 'policy="demo"' in answer.text
    assert "demo-metrics" not in answer.text


def test_behind_a_path_prefix_the_routes_are_still_guarded() -> None:
    """uvicorn --root-path /api (behind a proxy): a minor on a Thursday and a tokenless client are refused."""
    clock = DemoClock(0)
    clock.set("2026-11-19 20:30:00")  # a Thursday: no play for minors
    app = build_demo_app(clock=clock, registry=CollectorRegistry())
    with _serve(app, root_path="/api") as url, httpx.Client(base_url=url, timeout=5) as http:
        health = http.get("/healthz")
        teen = http.get("/game/ping", headers=_auth(demo_token("prefix-teen", _born(15))))
        anonymous = http.get("/game/ping")
        child_purchase = http.post(
            "/shop/purchases", headers=_auth(demo_token("prefix-child", _born(7))), json={"amount_fen": 100}
        )
    assert health.status_code == 200, "the app is reachable under the prefix"
    assert teen.status_code == 403, f"a 15-year-old played on a Thursday: {teen.text}"
    assert anonymous.status_code == 401, f"no token, yet: {anonymous.status_code} {anonymous.text}"
    assert child_purchase.status_code == 403, f"a 7-year-old paid: {child_purchase.text}"


def test_the_demo_credentials_in_python_are_the_demo_configs() -> None:
    """The tour and the locust scenario print and send DEMO_BACKEND_TOKEN and DEMO_SUPPORT_TOKEN: they
    must be the tokens demo-deployment.yaml configures, with the permissions the tour shows."""
    from minorguard.demo import DEMO_BACKEND_TOKEN, DEMO_SUPPORT_TOKEN, demo_config
    from minorguard.deployment import Permission, load_deployment

    found = {token: may for _, token, may in load_deployment(demo_config()).credentials()}
    assert found[DEMO_BACKEND_TOKEN.encode()] >= {Permission.COMMIT, Permission.RELEASE}
    assert Permission.REFUND in found[DEMO_SUPPORT_TOKEN.encode()]
