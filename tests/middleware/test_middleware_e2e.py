"""End to end through httpx's ASGI transport: every activity x age band x time boundary, with the exact
answer (status, problem+json, reason, rule, legal basis, allowed-again time, Retry-After, headers)."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from mwkit import (
    ADULT,
    AGE_15,
    AGE_17,
    DEMO_POLICY,
    PROBLEM_JSON,
    UNDER_8,
    Backend,
    Clock,
    Sent,
    assert_problem,
    bearer,
    bj,
    bj_dt,
    build,
    client,
    http_scope,
    scripted_receive,
    token,
    write_deployment,
)
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from minorguard.explain import compile_policy
from minorguard.middleware import MinorGuardMiddleware
from minorguard.types import Decision

SPEC: Any = compile_policy(DEMO_POLICY).policy.spec
LAW_SPEC: Any = compile_policy("law-minimum").policy.spec
CONSENT = ("livestream_publisher",)


@dataclass(frozen=True)
class Persona:
    birthdate: dt.date | None
    verified: bool = True
    consent: tuple[str, ...] = ()


PERSONAS = {
    "under_8": Persona(UNDER_8),
    "age_15": Persona(AGE_15),
    "age_17": Persona(AGE_17, consent=CONSENT),
    "age_17_no_consent": Persona(AGE_17),
    "adult": Persona(ADULT),
    "unverified": Persona(None, verified=False),
}
MINORS = ("under_8", "age_15", "age_17", "age_17_no_consent")
TURNS_8 = bj_dt("2027-06-15 00:00:00")
TURNS_16 = bj_dt("2027-05-01 00:00:00")
TURNS_18 = {"age_15": bj_dt("2029-05-01 00:00:00"), "age_17": bj_dt("2027-03-10 00:00:00")}

# nppa-2021 (the demo policy): Friday's window opens at 20:00 and closes at 21:00; Thursday has none
FRI_1959 = "2026-11-20 19:59:59"
FRI_2000 = "2026-11-20 20:00:00"
FRI_2059 = "2026-11-20 20:59:59"
FRI_2100 = "2026-11-20 21:00:00"
THU_2030 = "2026-11-19 20:30:00"
NPPA_TIMES = (FRI_1959, FRI_2000, FRI_2059, FRI_2100, THU_2030)
# law-minimum: the curfew starts at 22:00 (a Thursday)
THU_2159 = "2026-11-19 21:59:59"
THU_2200 = "2026-11-19 22:00:00"


@dataclass(frozen=True)
class Expect:
    status: int
    reason: str = "allowed"
    rule: str | None = None
    legal_basis: str | None = None
    again: dt.datetime | None = None
    remaining_seconds: int | None = None
    budget_fen: int | None = None
    warning: tuple[str, int] | None = None


def _game_nppa(who: str, at: str) -> Expect:
    if who == "adult":
        return Expect(200)
    if who == "unverified":
        return Expect(403, "identity_unverified", "identity", SPEC.identity.legal_basis)
    window = ("outside_play_window", "game.play_windows", SPEC.game.play_windows.legal_basis)
    if at in (FRI_1959, THU_2030):
        return Expect(403, *window, again=bj_dt(FRI_2000))
    if at == FRI_2100:
        return Expect(403, *window, again=bj_dt("2026-11-21 20:00:00"))
    if at == FRI_2000:
        return Expect(200, remaining_seconds=3600)
    return Expect(200, remaining_seconds=1, warning=("play_time_low", 60))


def _game_law(who: str, at: str) -> Expect:
    if who == "adult":
        return Expect(200)
    if who == "unverified":
        return Expect(403, "identity_unverified", "identity", LAW_SPEC.identity.legal_basis)
    if at == THU_2159:
        return Expect(200, remaining_seconds=1, warning=("play_time_low", 60))
    curfew = LAW_SPEC.game.curfew
    return Expect(403, "curfew", "game.curfew", curfew.legal_basis, again=bj_dt("2026-11-20 08:00:00"))


def _purchase(who: str) -> Expect:
    basis = SPEC.purchase.basis
    return {
        "adult": Expect(201),
        "unverified": Expect(403, "purchase_not_allowed", "purchase", basis("unverified")),
        "under_8": Expect(
            403, "purchase_not_allowed", "purchase", basis("purchase_not_allowed"), again=TURNS_8
        ),
        "age_15": Expect(201, budget_fen=20000 - 5000),
        "age_17": Expect(201, budget_fen=40000 - 5000),
        "age_17_no_consent": Expect(201, budget_fen=40000 - 5000),
    }[who]


def _publisher(who: str) -> Expect:
    basis = SPEC.livestream_publisher.legal_basis
    under = ("publisher_under_min_age", "livestream_publisher", basis)
    return {
        "adult": Expect(201),
        "age_17": Expect(201),
        "unverified": Expect(403, "identity_unverified", "livestream_publisher", basis),
        "under_8": Expect(403, *under, again=bj_dt("2035-06-15 00:00:00")),
        "age_15": Expect(403, *under, again=TURNS_16),
        "age_17_no_consent": Expect(
            403,
            "publisher_guardian_consent_required",
            "livestream_publisher",
            basis,
            again=TURNS_18["age_17"],
        ),
    }[who]


def _tip(who: str) -> Expect:
    basis = SPEC.livestream_tip.basis
    minor = ("tip_minor", "livestream_tip", basis("tip_minor"))
    return {
        "adult": Expect(201, budget_fen=500000 - 1000),
        "unverified": Expect(403, "identity_unverified", "livestream_tip", basis("unverified")),
        "under_8": Expect(403, *minor, again=bj_dt("2037-06-15 00:00:00")),
        "age_15": Expect(403, *minor, again=TURNS_18["age_15"]),
        "age_17": Expect(403, *minor, again=TURNS_18["age_17"]),
        "age_17_no_consent": Expect(403, *minor, again=TURNS_18["age_17"]),
    }[who]


REQUESTS: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "game": ("GET", "/game/ping", None),
    "purchase": ("POST", "/shop/purchases", {"amount_fen": 5000}),
    "livestream_publisher_registration": ("POST", "/live/publishers", None),
    "livestream_tip": ("POST", "/live/rooms/7/tips", {"amount_fen": 1000}),
}


def _cases() -> Iterator[Any]:
    for who in PERSONAS:
        for at in NPPA_TIMES:
            yield pytest.param("demo", "game", who, at, _game_nppa(who, at), id=f"nppa-game-{who}-{at}")
            for activity, expect in (
                ("purchase", _purchase(who)),
                ("livestream_publisher_registration", _publisher(who)),
                ("livestream_tip", _tip(who)),
            ):
                yield pytest.param("demo", activity, who, at, expect, id=f"nppa-{activity}-{who}-{at}")
        for at in (THU_2159, THU_2200):
            yield pytest.param("law", "game", who, at, _game_law(who, at), id=f"law-game-{who}-{at}")


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[MinorGuardMiddleware, Backend, Clock]]:
    """One app per policy for the matrix; every case uses a subject of its own."""
    built = {}
    for name, policy in (("demo", "demo"), ("law", "law-minimum")):
        clock = Clock(bj(FRI_2000))
        config = write_deployment(tmp_path_factory.mktemp(name), policy=policy)
        app, seen, _ = build(config, clock)
        built[name] = (app, seen, clock)
    return built


@pytest.mark.parametrize(("policy", "activity", "who", "at", "expect"), list(_cases()))
async def test_every_activity_band_and_time_boundary_gets_its_exact_answer(
    apps: dict[str, tuple[MinorGuardMiddleware, Backend, Clock]],
    policy: str,
    activity: str,
    who: str,
    at: str,
    expect: Expect,
) -> None:
    """Each activity, age band and boundary instant gets the exact status, reason, rule and headers."""
    app, seen, clock = apps[policy]
    clock.set(at)
    persona = PERSONAS[who]
    subject = f"{who}-{secrets.token_hex(6)}"
    headers = bearer(token(subject, persona.birthdate, verified=persona.verified, consent=persona.consent))
    method, path, body = REQUESTS[activity]
    calls, decisions = len(seen.calls), len(seen.decisions)
    async with client(app) as http:
        response = await http.request(method, path, headers=headers, json=body)

    if expect.status >= 400:
        assert_problem(
            response,
            expect.status,
            expect.reason,
            rule=expect.rule,
            legal_basis=expect.legal_basis,
            again=expect.again,
            now=clock.now,
        )
        assert len(seen.calls) == calls, "a denied request must not reach the app"
        for name in ("minorguard-remaining-seconds", "minorguard-remaining-budget-fen"):
            assert name not in response.headers
        return
    assert response.status_code == expect.status, response.text
    assert "minorguard-reason" not in response.headers
    remaining = response.headers.get("minorguard-remaining-seconds")
    assert remaining == (None if expect.remaining_seconds is None else str(expect.remaining_seconds))
    budget = response.headers.get("minorguard-remaining-budget-fen")
    assert budget == (None if expect.budget_fen is None else str(expect.budget_fen))
    assert response.headers.get("minorguard-warning") == (expect.warning[0] if expect.warning else None)
    assert len(seen.calls) == calls + 1
    if activity != "livestream_tip":  # the tip endpoint does not look at request.state
        assert len(seen.decisions) == decisions + 1
        decision = seen.decisions[-1]
        assert isinstance(decision, Decision)
        assert decision.allowed
        assert decision.remaining_seconds == expect.remaining_seconds
        assert decision.remaining_budget_fen == expect.budget_fen
        expected_warnings = [expect.warning] if expect.warning else []
        assert [(w.code.value, w.threshold_seconds) for w in decision.warnings] == expected_warnings


@pytest.mark.parametrize(
    ("at", "remaining", "threshold"),
    [
        ("2026-11-20 20:44:59", 901, None),
        ("2026-11-20 20:45:00", 900, 900),
        ("2026-11-20 20:46:00", 840, 900),
        ("2026-11-20 20:58:59", 61, 900),
        ("2026-11-20 20:59:30", 30, 60),
    ],
)
async def test_a_minor_is_warned_fifteen_minutes_and_one_minute_before_the_window_closes(
    tmp_path: Path, clock: Clock, at: str, remaining: int, threshold: int | None
) -> None:
    """At 20:46 the answer carries the 15-minute warning, at 20:59:30 the 1-minute one."""
    app, seen, _ = build(write_deployment(tmp_path), clock)
    clock.set(at)
    async with client(app) as http:
        response = await http.get("/game/ping", headers=bearer(token("teen", AGE_15)))
    assert response.status_code == 200
    assert response.headers["minorguard-remaining-seconds"] == str(remaining)
    assert response.headers.get("minorguard-warning") == ("play_time_low" if threshold else None)
    body = response.json()["minorguard"]
    assert body["remaining_seconds"] == remaining
    assert body["warnings"] == ([["play_time_low", threshold]] if threshold else [])
    assert isinstance(seen.decisions[-1], Decision)
    assert seen.decisions[-1].remaining_seconds == remaining


async def test_play_time_counted_by_heartbeats_shrinks_the_remaining_seconds(
    tmp_path: Path, clock: Clock
) -> None:
    """Heartbeats a minute apart count as play: the hour runs down with them, not with the window."""
    app, _, _ = build(write_deployment(tmp_path), clock)
    headers = bearer(token("heartbeat-teen", AGE_15))
    clock.set("2026-11-20 20:00:00")
    async with client(app) as http:
        answers = []
        for minute in range(4):
            clock.now = bj("2026-11-20 20:00:00") + 60 * minute
            answers.append(await http.get("/game/ping", headers=headers))
    remaining = [int(r.headers["minorguard-remaining-seconds"]) for r in answers]
    assert remaining == [3600, 3540, 3480, 3420]


@pytest.mark.parametrize(
    ("accept_language", "language", "title"),
    [
        (None, "zh-CN", "当前不在未成年人可游戏时段"),
        ("zh-CN,zh;q=0.9", "zh-CN", "当前不在未成年人可游戏时段"),
        ("en-US,en;q=0.8", "en", "Outside the hours minors may play"),
        ("fr-FR, en;q=0.5, zh;q=0.4", "en", "Outside the hours minors may play"),
        ("en;q=0.3, zh-CN;q=0.9", "zh-CN", "当前不在未成年人可游戏时段"),
    ],
)
async def test_a_deny_speaks_the_language_the_client_accepts(
    tmp_path: Path, clock: Clock, accept_language: str | None, language: str, title: str
) -> None:
    """Accept-Language picks Simplified Chinese (the default) or English for the title and detail."""
    app, _, _ = build(write_deployment(tmp_path), clock)
    clock.set(THU_2030)
    headers = bearer(token("lang-teen", AGE_15))
    if accept_language is not None:
        headers["Accept-Language"] = accept_language
    async with client(app) as http:
        response = await http.get("/game/ping", headers=headers)
    assert response.status_code == 403
    assert response.headers["content-language"] == language
    assert "Accept-Language" in response.headers["vary"]
    body = response.json()
    assert body["title"] == title
    assert body["reason"] == "outside_play_window"  # machine fields never change with the language
    again = "2026-11-20T20:00:00+08:00"
    if language == "en":
        assert body["detail"] == f"minors may play only 20:00-21:00 on play days; allowed again at {again}"
    else:
        assert body["detail"] == f"{title}; 可于 {again} 后再试"


async def test_a_deployment_in_english_answers_in_english_by_default(tmp_path: Path, clock: Clock) -> None:
    """`language: en` in the deployment makes English the default when Accept-Language says nothing."""
    app, _, _ = build(write_deployment(tmp_path, language="en"), clock)
    clock.set(THU_2030)
    async with client(app) as http:
        response = await http.get("/game/ping", headers=bearer(token("en-teen", AGE_15)))
        explicit = await http.get(
            "/game/ping", headers={**bearer(token("zh-teen", AGE_15)), "Accept-Language": "zh"}
        )
    assert response.headers["content-language"] == "en"
    assert response.json()["title"] == "Outside the hours minors may play"
    assert explicit.headers["content-language"] == "zh-CN"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/healthz"),
        ("GET", "/static/app.js"),
        ("GET", "/static/deep/er/file.css"),
        ("GET", "/unrouted"),
        ("POST", "/game/ping"),  # the route is GET only
    ],
)
async def test_exempt_and_unrouted_paths_pass_without_a_token(
    tmp_path: Path, clock: Clock, method: str, path: str
) -> None:
    """Exempt paths, unrouted paths and unrouted methods reach the app with no token, undecided."""
    app, seen, registry = build(write_deployment(tmp_path), clock)
    clock.set(THU_2200)
    async with client(app) as http:
        response = await http.request(method, path)
    assert response.status_code == 200
    assert not any(h.startswith("minorguard-") for h in response.headers)
    assert seen.decisions == []
    assert registry.get_sample_value("minorguard_identity_failures_total", {"problem": "missing"}) is None


async def test_a_routed_path_without_a_token_is_refused_with_identity_missing(
    tmp_path: Path, clock: Clock
) -> None:
    """No Authorization header on a routed path: 401 identity_missing, with WWW-Authenticate."""
    app, seen, _ = build(write_deployment(tmp_path), clock)
    async with client(app) as http:
        response = await http.get("/game/ping")
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["reason"] == "identity_missing"
    assert seen.calls == []


async def test_lifespan_events_pass_through_to_the_app(tmp_path: Path, clock: Clock) -> None:
    """A lifespan scope goes straight to the app: its startup and shutdown handlers run."""
    app, seen, _ = build(write_deployment(tmp_path), clock)
    sent = Sent()
    receive = scripted_receive([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, sent)
    assert seen.lifespan == ["startup", "shutdown"]
    assert [m["type"] for m in sent.messages] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def _fastapi_app(seen: list[Any]) -> FastAPI:
    api = FastAPI()

    @api.get("/game/ping")
    async def ping(request: Request) -> dict[str, Any]:
        decision = request.state.minorguard
        seen.append(decision)
        return {"remaining_seconds": decision.remaining_seconds}

    @api.post("/shop/purchases", status_code=201)
    async def purchase(request: Request) -> dict[str, Any]:
        body = await request.json()
        seen.append(request.state.minorguard)
        return {"purchased_fen": body["amount_fen"]}

    @api.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return api


async def test_a_fastapi_app_is_guarded_the_same_way(tmp_path: Path, clock: Clock) -> None:
    """FastAPI: denies before the endpoint, allows with headers and request.state.minorguard."""
    seen: list[Any] = []
    app = MinorGuardMiddleware.from_config(
        _fastapi_app(seen), write_deployment(tmp_path), registry=CollectorRegistry(), clock=clock
    )
    teen = bearer(token("fastapi-teen", AGE_15))
    async with client(app) as http:
        clock.set(THU_2030)
        denied = await http.get("/game/ping", headers=teen)
        clock.set("2026-11-20 20:30:00")
        allowed = await http.get("/game/ping", headers=teen)
        bought = await http.post("/shop/purchases", headers=teen, json={"amount_fen": 3000})
        over = await http.post("/shop/purchases", headers=teen, json={"amount_fen": 5001})
        health = await http.get("/healthz")
    assert denied.status_code == 403
    assert denied.json()["reason"] == "outside_play_window"
    assert allowed.status_code == 200
    assert allowed.json() == {"remaining_seconds": 1800}
    assert allowed.headers["minorguard-remaining-seconds"] == "1800"
    assert bought.status_code == 201
    assert bought.json() == {"purchased_fen": 3000}
    assert bought.headers["minorguard-remaining-budget-fen"] == "17000"
    assert over.status_code == 403
    assert over.json()["reason"] == "purchase_single_cap"
    assert health.status_code == 200
    assert len(seen) == 2
    assert all(isinstance(d, Decision) and d.allowed for d in seen)
    usage = await app.gate.engine.usage("fastapi-teen")
    assert usage.month_committed == 3000


async def test_a_plain_starlette_endpoint_reads_the_decision_from_request_state(
    tmp_path: Path, clock: Clock
) -> None:
    """A plain Starlette endpoint reads the Decision from request.state.minorguard."""
    captured: list[Any] = []

    async def endpoint(request: Any) -> PlainTextResponse:
        captured.append(request.state.minorguard)
        return PlainTextResponse("ok")

    inner = Starlette(routes=[Route("/game/ping", endpoint)])
    app = MinorGuardMiddleware.from_config(
        inner, write_deployment(tmp_path), registry=CollectorRegistry(), clock=clock
    )
    async with client(app) as http:
        response = await http.get("/game/ping", headers=bearer(token("grown-up", ADULT)))
    assert response.status_code == 200
    assert len(captured) == 1
    assert isinstance(captured[0], Decision)
    assert captured[0].band.value == "adult"


async def test_a_head_request_to_a_guarded_get_route_is_guarded_too(tmp_path: Path, clock: Clock) -> None:
    """Starlette answers HEAD with the GET endpoint, so HEAD must not slip past a GET route's checks."""
    app, seen, _ = build(write_deployment(tmp_path), clock)
    clock.set(THU_2200)
    async with client(app) as http:
        get = await http.get("/game/ping", headers=bearer(token("head-teen", AGE_15)))
        head = await http.head("/game/ping", headers=bearer(token("head-teen", AGE_15)))
        anonymous = await http.head("/game/ping")
    assert get.status_code == 403
    assert seen.calls == [], "the guarded endpoint ran for a HEAD request"
    assert head.status_code == 403
    assert head.headers["minorguard-reason"] == "curfew"
    assert anonymous.status_code == 401


@pytest.mark.parametrize(
    ("at", "status"),
    [
        ("2026-11-20 07:59:59", 403),
        ("2026-11-20 08:00:00", 200),
        ("2026-11-19 23:59:59", 403),
        ("2026-11-20 00:00:00", 403),
    ],
)
async def test_the_curfew_ends_at_eight_in_the_morning(
    tmp_path: Path, clock: Clock, at: str, status: int
) -> None:
    """law-minimum: refused through midnight until 07:59:59, allowed from 08:00:00."""
    app, _, _ = build(write_deployment(tmp_path, policy="law-minimum"), clock)
    clock.set(at)
    async with client(app) as http:
        answer = await http.get("/game/ping", headers=bearer(token("morning-teen", AGE_15)))
    assert answer.status_code == status
    if status == 403:
        assert answer.json()["allowed_again_at"] == "2026-11-20T08:00:00+08:00"
        assert answer.headers["retry-after"] == str(max(round(bj("2026-11-20 08:00:00") - clock.now), 1))


@pytest.mark.parametrize(
    ("offset", "retry"),
    [(-0.001, 1), (-0.5, 1), (-1.0, 1), (-1.2, 2), (-3600.5, 3601)],
)
async def test_retry_after_rounds_up_to_whole_seconds(
    tmp_path: Path, clock: Clock, offset: float, retry: int
) -> None:
    """Retry-After is the whole seconds to allowed_again_at, rounded up (never 0, never early)."""
    app, _, _ = build(write_deployment(tmp_path), clock)
    clock.now = bj(FRI_2000) + offset
    async with client(app) as http:
        answer = await http.get("/game/ping", headers=bearer(token("rounding-teen", AGE_15)))
    assert answer.status_code == 403
    assert answer.headers["retry-after"] == str(retry)


async def test_a_routed_path_under_the_servers_root_path_is_guarded(tmp_path: Path, clock: Clock) -> None:
    """With root_path "/api" (uvicorn --root-path) scope["path"] is "/api/game/ping" and Starlette routes
    it to /game/ping: the middleware must guard it as /game/ping too."""
    app, seen, _ = build(write_deployment(tmp_path), clock)
    clock.set(THU_2030)
    scope = http_scope("GET", "/api/game/ping", bearer(token("prefixed-teen", AGE_15)))
    scope["root_path"] = "/api"
    sent = Sent()
    await app(scope, scripted_receive([{"type": "http.request", "body": b"", "more_body": False}]), sent)
    assert seen.calls == [], "the endpoint ran for a minor on a Thursday"
    assert sent.status == 403


@pytest.mark.parametrize(
    ("at", "status", "again"),
    [
        pytest.param("2026-10-01 20:30:00", 200, None, id="national-day-thursday"),
        pytest.param("2026-10-06 20:30:00", 200, None, id="holiday-tuesday"),
        pytest.param("2026-10-10 20:30:00", 403, "2026-10-11 20:00:00", id="makeup-workday-saturday"),
        pytest.param("2026-10-08 20:30:00", 403, "2026-10-09 20:00:00", id="thursday-after-the-holiday"),
    ],
)
async def test_the_play_window_follows_the_holiday_calendar(
    tmp_path: Path, clock: Clock, at: str, status: int, again: str | None
) -> None:
    """nppa-2021 in practice: every day of a holiday block is a play day, a make-up Saturday is not."""
    app, _, _ = build(write_deployment(tmp_path), clock)
    clock.set(at)
    async with client(app) as http:
        answer = await http.get("/game/ping", headers=bearer(token("calendar-teen", AGE_15)))
    assert answer.status_code == status
    if again is not None:
        assert answer.json()["allowed_again_at"] == bj_dt(again).isoformat()


async def test_a_day_without_holiday_data_is_judged_by_its_weekday_and_says_so(
    tmp_path: Path, clock: Clock
) -> None:
    """Past the calendar's data (2027): a Friday evening is allowed, and so is the Spring Festival
    Monday (a provisional statutory day), each with a calendar_provisional warning."""
    app, _, _ = build(write_deployment(tmp_path), clock)
    for at in ("2027-01-08 20:30:00", "2027-02-08 20:30:00"):
        clock.set(at)
        async with client(app) as http:
            answer = await http.get("/game/ping", headers=bearer(token("future-teen", AGE_15)))
        assert answer.status_code == 200
        assert "calendar_provisional" in answer.headers["minorguard-warning"].split(", ")


async def test_the_daily_play_time_runs_out_after_ninety_minutes_of_heartbeats(
    tmp_path: Path, clock: Clock
) -> None:
    """nppa-2019 on a working day: heartbeats 5 minutes apart; at 90 minutes played the next one is
    refused with daily_play_limit until 08:00 the next day."""
    app, _, _ = build(write_deployment(tmp_path, policy="nppa-2019"), clock)
    headers = bearer(token("marathon-teen", AGE_15))
    start = bj("2026-11-19 10:00:00")
    answers = []
    async with client(app) as http:
        for beat in range(19):
            clock.now = start + 300 * beat
            answers.append(await http.get("/game/ping", headers=headers))
    assert [a.status_code for a in answers] == [200] * 18 + [403]
    remaining = [int(a.headers["minorguard-remaining-seconds"]) for a in answers[:18]]
    assert remaining == [5400 - 300 * beat for beat in range(18)]
    assert [a.headers.get("minorguard-warning") for a in answers[:18]] == [None] * 15 + ["play_time_low"] * 3
    assert_problem(
        answers[-1],
        403,
        "daily_play_limit",
        rule="game.play_time",
        legal_basis=compile_policy("nppa-2019").policy.spec.game.play_time.legal_basis,
        again=bj_dt("2026-11-20 08:00:00"),
        now=clock.now,
    )


async def test_a_guest_device_plays_under_nppa_2019_but_may_not_pay(tmp_path: Path, clock: Clock) -> None:
    """An unverified token with a device id is a guest (nppa-2019): it plays, but purchases are refused;
    under nppa-2021 there is no guest mode at all."""
    guest = bearer(token("guest-1", None, verified=False, extra={"device_id": "device-abc"}))
    app, _, _ = build(write_deployment(tmp_path, policy="nppa-2019"), clock)
    clock.set("2026-11-19 10:00:00")
    async with client(app) as http:
        plays = await http.get("/game/ping", headers=guest)
        pays = await http.post("/shop/purchases", headers=guest, json={"amount_fen": 100})
    assert plays.status_code == 200
    assert plays.headers["minorguard-remaining-seconds"] == "3600"
    assert plays.json()["minorguard"]["band"] == "unverified"
    assert pays.status_code == 403
    assert pays.json()["reason"] == "purchase_not_allowed"

    strict = tmp_path / "strict"
    strict.mkdir()
    app_2021, _, _ = build(write_deployment(strict, policy="nppa-2021"), clock)
    clock.set("2026-11-20 20:30:00")
    async with client(app_2021) as http:
        refused = await http.get("/game/ping", headers=guest)
    assert refused.status_code == 403
    assert refused.json()["reason"] == "identity_unverified"
