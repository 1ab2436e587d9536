"""The decision API and the service endpoints: POST /v1/decisions (an activity, or the original method +
path to classify by the routes; the token given outright or in the original headers; idempotency keys),
reservations (commit / release / refund), /v1/policy, /healthz, /readyz, /metrics, the admin usage
endpoint and /openapi.json."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from sidecarkit import (
    ADMIN_TOKEN,
    ADULT,
    AGE_15,
    AMOUNT_HEADER,
    FRIDAY_CURFEW,
    UNDER_8,
    Clock,
    asgi_client,
    assert_problem,
    service,
    sidecar,
    token,
    write_config,
)

from minorguard.sidecar.app import SidecarApp
from redis_servers import free_port

DECISION_KEYS = {
    "outcome",
    "reason",
    "enforced",
    "activity",
    "band",
    "rule",
    "legal_basis",
    "detail",
    "allowed_again_at",
    "remaining_seconds",
    "remaining_budget_fen",
    "warnings",
    "report_only",
    "reservation_id",
    "replayed",
    "failed_open",
}
RESERVATION_ID = re.compile(r"[0-9a-f]+\.[0-9a-f]+")


@pytest.fixture
def app(tmp_path: Path, clock: Clock, closing: list[SidecarApp]) -> SidecarApp:
    built = sidecar(write_config(tmp_path), clock)
    closing.append(built)
    return built


async def decide(http: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await http.post("/v1/decisions", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    answer: dict[str, Any] = response.json()
    return answer


# ---------------------------------------------------------------- decisions


async def test_activity_mode_decides_a_purchase_and_reserves(app: SidecarApp) -> None:
    async with asgi_client(app) as http:
        answer = await decide(http, token=token("api-buyer", AGE_15), activity="purchase", amount_fen=1000)
    assert set(answer) == DECISION_KEYS
    assert answer["outcome"] == "allow"
    assert answer["reason"] == "allowed"
    assert answer["enforced"] is True
    assert answer["activity"] == "purchase"
    assert answer["band"] == "age_8_15"
    assert answer["remaining_budget_fen"] == 19000
    assert RESERVATION_ID.fullmatch(answer["reservation_id"])
    assert answer["replayed"] is False
    assert answer["failed_open"] is False


async def test_activity_mode_denies_with_rule_basis_and_time(app: SidecarApp, clock: Clock) -> None:
    clock.set(FRIDAY_CURFEW)
    async with asgi_client(app) as http:
        play = await decide(http, token=token("api-night", AGE_15), activity="game")
        child = await decide(http, token=token("api-child", UNDER_8), activity="purchase", amount_fen=1)
        rated = await decide(
            http, token=token("api-child", UNDER_8), activity="game", game_rating=16, game_id="whatever"
        )
    assert (play["outcome"], play["reason"], play["rule"]) == ("deny", "curfew", "game.curfew")
    assert play["allowed_again_at"] == "2026-11-21T20:00:00+08:00"
    assert play["legal_basis"]
    assert (child["outcome"], child["reason"]) == ("deny", "purchase_not_allowed")
    assert child["reservation_id"] is None
    assert rated["outcome"] == "deny"


async def test_method_and_path_mode_classifies_by_the_routes(app: SidecarApp) -> None:
    teen = token("api-routes", AGE_15)
    async with asgi_client(app) as http:
        play = await decide(
            http, headers={"Authorization": f"Bearer {teen}"}, method="GET", path="/game/ping"
        )
        rated = await decide(
            http,
            headers={"authorization": f"Bearer {token('api-kid', UNDER_8)}"},
            method="GET",
            path="/game/ping?game=star-fleet",
        )
        header_amount = await decide(
            http, token=teen, method="POST", path="/shop/purchases", headers={AMOUNT_HEADER: "300"}
        )
        body_amount = await decide(
            http, token=teen, method="POST", path="/shop/body-purchases", body={"amount_fen": 5001}
        )
        tip = await decide(
            http, token=teen, method="POST", path="/live/rooms/8/tips", headers={"x-amount-fen": "5"}
        )
        unrouted = await decide(http, token=teen, method="GET", path="/news")
        wrong_method = await decide(http, token=teen, method="DELETE", path="/shop/purchases")
    assert (play["activity"], play["outcome"], play["remaining_seconds"]) == ("game", "allow", 1800)
    assert rated["reason"] == "game_rating"
    assert header_amount["activity"] == "purchase"
    assert header_amount["remaining_budget_fen"] == 19700
    assert body_amount["reason"] == "purchase_single_cap"
    assert tip["reason"] == "tip_minor"
    for answer in (unrouted, wrong_method):
        assert answer == {"outcome": "allow", "reason": "not_enforced", "enforced": False}


async def test_path_mode_leaves_an_exempt_path_unenforced_as_the_proxy_doors_do(
    tmp_path: Path, clock: Clock, closing: list[SidecarApp]
) -> None:
    """An exempt path that a route also matches is not enforced, whichever door asks."""
    built = sidecar(write_config(tmp_path, exempt_paths=["/game/*"]), clock)
    closing.append(built)
    teen = token("api-exempt", AGE_15)
    async with asgi_client(built) as http:
        by_path = await decide(http, token=teen, method="GET", path="/game/ping")
        by_activity = await decide(http, token=teen, activity="game")
    assert by_path == {"outcome": "allow", "reason": "not_enforced", "enforced": False}
    assert by_activity["outcome"] == "allow"  # an activity given outright is judged: no path to exempt
    assert by_activity["enforced"] is True


async def test_the_token_outright_or_in_the_original_headers(app: SidecarApp) -> None:
    adult, teen = token("api-adult", ADULT), token("api-teen", AGE_15)
    async with asgi_client(app) as http:
        outright = await decide(http, token=adult, activity="game")
        in_headers = await decide(http, headers={"AUTHORIZATION": f"Bearer {adult}"}, activity="game")
        both = await decide(http, token=teen, headers={"authorization": f"Bearer {adult}"}, activity="game")
        missing = await decide(http, activity="game")
        not_bearer = await decide(http, headers={"authorization": f"Basic {adult}"}, activity="game")
        invalid = await decide(http, token="not.a.jwt", activity="game")
    assert outright["band"] == in_headers["band"] == "adult"
    assert both["band"] == "age_8_15", "`token` wins over the headers"
    assert (missing["outcome"], missing["reason"]) == ("deny", "identity_missing")
    assert not_bearer["reason"] == "identity_missing"
    assert (invalid["outcome"], invalid["reason"]) == ("deny", "identity_invalid")


async def test_the_same_idempotency_key_gives_the_same_reservation(app: SidecarApp) -> None:
    teen = token("api-idem", AGE_15)
    async with asgi_client(app) as http:
        first = await decide(http, token=teen, activity="purchase", amount_fen=700, idempotency_key="order-1")
        again = await decide(http, token=teen, activity="purchase", amount_fen=700, idempotency_key="order-1")
        other = await decide(http, token=teen, activity="purchase", amount_fen=700, idempotency_key="order-2")
        other_amount = await decide(
            http, token=teen, activity="purchase", amount_fen=900, idempotency_key="order-1"
        )
    assert again["reservation_id"] == first["reservation_id"]
    assert again["replayed"] is True
    assert again["remaining_budget_fen"] == first["remaining_budget_fen"] == 19300
    assert other["reservation_id"] != first["reservation_id"]
    assert other["remaining_budget_fen"] == 18600
    assert other_amount["reservation_id"] not in (first["reservation_id"], other["reservation_id"])
    assert other_amount["remaining_budget_fen"] == 17700, "another amount is another, counted purchase"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"activity": "game", "method": "GET", "path": "/game/ping"}, "(body)"),
        ({}, "(body)"),
        ({"activity": "purchase"}, "(body)"),
        ({"activity": "purchase", "amount_fen": 10.5}, "amount_fen"),
        ({"activity": "purchase", "amount_fen": "100"}, "amount_fen"),
        ({"activity": "purchase", "amount_fen": -1}, "amount_fen"),
        ({"activity": "sleep"}, "activity"),
        ({"activity": "game", "colour": "red"}, "colour"),
        ({"method": "get", "path": "/game/ping"}, "method"),
        ({"method": "GET", "path": "game/ping"}, "path"),
        ({"activity": "game", "idempotency_key": ""}, "idempotency_key"),
        ({"activity": "game", "headers": {"x": 1}}, "headers.x"),
    ],
)
async def test_an_invalid_decision_request_is_a_400_problem_naming_the_field(
    app: SidecarApp, body: dict[str, Any], field: str
) -> None:
    async with asgi_client(app) as http:
        response = await http.post("/v1/decisions", json=body)
    problem = assert_problem(response, 400)
    assert field in [e["field"] for e in problem["errors"]], problem


async def test_bodies_that_are_not_json_objects_are_400_and_oversized_413(app: SidecarApp) -> None:
    async with asgi_client(app) as http:
        for raw in (b"", b"null", b"[]", b"{", b"\xff\xfe", b'"game"'):
            assert_problem(await http.post("/v1/decisions", content=raw), 400)
        big = b'{"activity": "game", "token": "' + b"x" * 70_000 + b'"}'
        assert_problem(await http.post("/v1/decisions", content=big), 413)
        # a path-mode request whose route needs an amount it lacks: 400 naming the field
        missing = await http.post(
            "/v1/decisions",
            json={"token": token("api-x", AGE_15), "method": "POST", "path": "/shop/purchases"},
        )
    assert assert_problem(missing, 400)["field"] == AMOUNT_HEADER


# ---------------------------------------------------------------- reservations


async def _reserve(http: httpx.AsyncClient, subject: str, amount: int) -> str:
    answer = await decide(http, token=token(subject, AGE_15), activity="purchase", amount_fen=amount)
    assert answer["outcome"] == "allow", answer
    reservation: str = answer["reservation_id"]
    return reservation


async def _settle(http: httpx.AsyncClient, reservation: str, action: str) -> httpx.Response:
    return await http.post(f"/v1/reservations/{reservation}/{action}", headers=service(action))


async def test_reservation_round_trips(app: SidecarApp) -> None:
    async with asgi_client(app) as http:
        bought = await _reserve(http, "api-settle", 4000)
        committed = await _settle(http, bought, "commit")
        assert committed.status_code == 200
        assert committed.json() == {
            "reservation_id": bought,
            "status": "committed",
            "changed": True,
            "amount_fen": 4000,
        }
        twice = await _settle(http, bought, "commit")
        assert (twice.status_code, twice.json()["status"], twice.json()["changed"]) == (
            200,
            "committed",
            False,
        )
        conflict = await _settle(http, bought, "release")
        assert (conflict.status_code, conflict.json()["reservation_status"]) == (409, "conflict")
        refunded = await _settle(http, bought, "refund")
        assert (refunded.status_code, refunded.json()["status"]) == (200, "refunded")

        released = await _reserve(http, "api-settle", 3000)
        freed = await _settle(http, released, "release")
        assert (freed.status_code, freed.json()["status"], freed.json()["changed"]) == (200, "released", True)
        after = await decide(http, token=token("api-settle", AGE_15), activity="purchase", amount_fen=1)
        # nppa-2021 restores the quota on refund or not per policy; the released 3000 is free again
        assert after["remaining_budget_fen"] in (19999, 15999)

        user_key = bought.split(".")[0]
        unknown = await _settle(http, f"{user_key}.{'0' * 32}", "commit")
        assert (unknown.status_code, unknown.json()["reservation_status"]) == (404, "unknown")
        assert (await _settle(http, "00ff.abcd", "release")).status_code == 400  # not an id we hand out


@pytest.mark.parametrize("bad", ["no-dot", ".abc", "abc.", "..."])
async def test_a_malformed_reservation_id_is_400(app: SidecarApp, bad: str) -> None:
    async with asgi_client(app) as http:
        assert_problem(await _settle(http, bad, "commit"), 400)


async def test_an_unknown_reservation_action_or_endpoint_is_a_404_problem(app: SidecarApp) -> None:
    async with asgi_client(app) as http:
        assert_problem(await http.post("/v1/reservations/ab.cd/cancel"), 404)
        assert_problem(await http.post("/v1/reservations/ab.cd"), 404)
        assert_problem(await http.get("/v1/nothing"), 404)
        assert_problem(await http.get("/v1/decisions"), 404)


async def test_reservation_4xx_answers_are_problem_json(app: SidecarApp) -> None:
    """Issue 5: every 4xx is application/problem+json (RFC 9457) with `status` the HTTP status. An
    unknown reservation (404) and a conflicting settlement (409) are answered as plain JSON whose
    `status` is the settlement state instead."""
    async with asgi_client(app) as http:
        unknown = await _settle(http, f"{'ab' * 16}.{'cd' * 16}", "commit")
        bought = await _reserve(http, "api-409", 10)
        await _settle(http, bought, "commit")
        conflict = await _settle(http, bought, "release")
    assert_problem(unknown, 404)
    assert_problem(conflict, 409)


async def test_settling_with_the_store_down_is_a_503_problem(
    tmp_path: Path, clock: Clock, closing: list[SidecarApp]
) -> None:
    app = sidecar(
        write_config(tmp_path, store=f"redis://127.0.0.1:{free_port()}/0", store_timeout_ms=50), clock
    )
    closing.append(app)
    async with asgi_client(app) as http:
        response = await _settle(http, f"{'ab' * 16}.{'cd' * 16}", "commit")
        denied = await decide(http, token=token("api-down", AGE_15), activity="purchase", amount_fen=5)
    assert_problem(response, 503)
    assert response.headers["retry-after"] == "1"
    assert (denied["outcome"], denied["reason"]) == ("deny", "store_unavailable")


# ---------------------------------------------------------------- service endpoints


async def test_policy_health_readiness_and_metrics(app: SidecarApp) -> None:
    async with asgi_client(app) as http:
        await decide(http, token=token("api-m", AGE_15), activity="purchase", amount_fen=10)
        policy = await http.get("/v1/policy")
        health = await http.get("/healthz")
        ready = await http.get("/readyz")
        metrics = await http.get("/metrics")
    assert policy.status_code == 200
    body = policy.json()
    assert body["name"] == "demo"
    assert re.fullmatch(r"[0-9a-f]{8,}", body["revision"])
    assert any(s.endswith("demo.yaml") for s in body["sources"])
    assert body["effective"]["purchase"]
    assert health.json() == {"status": "alive"}
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "policy": "demo", "revision": body["revision"]}
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert 'minorguard_decisions_total{activity="purchase",outcome="allow",reason="allowed"} 1.0' in text
    assert f'revision="{body["revision"]}"' in text


async def test_readyz_is_503_with_a_dead_store(
    tmp_path: Path, clock: Clock, closing: list[SidecarApp]
) -> None:
    app = sidecar(
        write_config(tmp_path, store=f"redis://127.0.0.1:{free_port()}/0", store_timeout_ms=50), clock
    )
    closing.append(app)
    async with asgi_client(app) as http:
        ready = await http.get("/readyz")
        health = await http.get("/healthz")
    assert_problem(ready, 503)
    assert health.status_code == 200, "alive all the same: restarting would not bring Redis back"


async def test_admin_usage_needs_the_admin_token(app: SidecarApp) -> None:
    subject = "api-support-case"
    async with asgi_client(app) as http:
        await _settle(http, await _reserve(http, subject, 1500), "commit")
        await _reserve(http, subject, 200)  # pending
        url = f"/v1/subjects/{subject}/usage"
        for headers in (
            {},
            {"authorization": "Bearer wrong"},
            {"authorization": ADMIN_TOKEN},
            {"authorization": f"Bearer {ADMIN_TOKEN}x"},
            {"authorization": f"Bearer {ADMIN_TOKEN[:-1]}"},
            {"authorization": f"Basic {ADMIN_TOKEN}"},
            {"authorization": f"Bearer {token(subject, ADULT)}"},
        ):
            refused = await http.get(url, headers=headers)
            assert_problem(refused, 401)
            assert refused.headers["www-authenticate"].startswith("Bearer")
        allowed = await http.get(url, headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
    assert allowed.status_code == 200
    usage = allowed.json()
    assert usage["month_committed_fen"] == 1500
    assert usage["month_pending_fen"] == 200
    assert subject not in usage["subject_key"], "the raw subject id is never a key"
    assert usage["subject_key"] == app.gate.engine.user_key(subject)


async def test_without_an_admin_token_configured_usage_is_off(
    tmp_path: Path, clock: Clock, closing: list[SidecarApp]
) -> None:
    config = write_config(tmp_path)
    settings = json.loads(config.read_text().split("\n", 1)[1])  # after the comment line
    del settings["admin_token"]
    text = json.dumps(settings)
    assert ADMIN_TOKEN not in text
    config.write_text(text)
    app = sidecar(config, clock)
    closing.append(app)
    async with asgi_client(app) as http:
        for headers in ({}, {"authorization": f"Bearer {ADMIN_TOKEN}"}, {"authorization": "Bearer "}):
            assert_problem(await http.get("/v1/subjects/x/usage", headers=headers), 401)


async def test_the_admin_token_from_a_mounted_secret_file(
    tmp_path: Path, clock: Clock, closing: list[SidecarApp]
) -> None:
    (tmp_path / "admin.secret").write_text("from-a-file-0123456789\n")
    app = sidecar(write_config(tmp_path, admin_token={"file": "admin.secret"}), clock)
    closing.append(app)
    async with asgi_client(app) as http:
        ok = await http.get(
            "/v1/subjects/x/usage", headers={"authorization": "Bearer from-a-file-0123456789"}
        )
    assert ok.status_code == 200
    assert ok.json()["month_committed_fen"] == 0


# ---------------------------------------------------------------- OpenAPI


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for raw in ref[2:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict), ref
        assert part in node, f"{ref} does not resolve from the document root"
        node = node[part]
    return node


@pytest.fixture
async def openapi(app: SidecarApp) -> dict[str, Any]:
    async with asgi_client(app) as http:
        response = await http.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document: dict[str, Any] = response.json()
    return document


async def test_openapi_is_a_3_1_document_with_the_endpoints(openapi: dict[str, Any]) -> None:
    assert re.fullmatch(r"3\.1\.\d+", openapi["openapi"])
    assert openapi["info"]["title"]
    assert openapi["info"]["version"]
    methods = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
    for path, item in openapi["paths"].items():
        assert path.startswith("/"), path
        for method, operation in item.items():
            if method not in methods:
                assert method in {"summary", "description", "parameters", "servers", "$ref"}, (path, method)
                continue
            assert operation["responses"], (path, method)
            for status, response in operation["responses"].items():
                assert re.fullmatch(r"[1-5](\d\d|XX)|default", status), (path, status)
                assert isinstance(response["description"], str)
            for parameter in operation.get("parameters", []):
                assert parameter["in"] in {"path", "query", "header", "cookie"}
                if parameter["in"] == "path":
                    assert parameter["required"] is True
                    assert "{" + parameter["name"] + "}" in path
    for path in (
        "/v1/decisions",
        "/v1/reservations/{id}/commit",
        "/v1/reservations/{id}/release",
        "/v1/reservations/{id}/refund",
        "/v1/policy",
        "/healthz",
        "/readyz",
    ):
        assert path in openapi["paths"], path
    assert openapi["paths"]["/v1/decisions"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    problem = openapi["components"]["schemas"]["Problem"]
    assert set(problem["required"]) <= set(problem["properties"])


async def test_every_openapi_ref_resolves_from_the_document_root(openapi: dict[str, Any]) -> None:
    """In OpenAPI 3.1 a `$ref` like `#/$defs/Activity` inside an embedded schema resolves against the
    OpenAPI document (the schema has no `$id`), where there is no `$defs`: tools cannot load it. The
    decision request's schema is pydantic's, with its `$defs` left inside."""
    refs = _refs(openapi)
    assert refs
    for ref in refs:
        _resolve(openapi, ref)


async def test_the_documented_paths_are_served(app: SidecarApp, openapi: dict[str, Any]) -> None:
    async with asgi_client(app) as http:
        for path, item in openapi["paths"].items():
            for method in ("get", "post"):
                if method not in item:
                    continue
                concrete = path.replace("{id}", "ab.cd")
                response = await http.request(method.upper(), concrete, json={"activity": "game"})
                assert response.status_code < 500, (path, response.text)
                assert "no endpoint" not in response.text, path
