"""The sidecar's POST /v1/identity/verify and GET /v1/identity/{ai} against the local fake NPPA."""

from __future__ import annotations

from pathlib import Path

import httpx
from nppafake import APP_ID, BIZ_ID, SECRET, Fake
from prometheus_client import CollectorRegistry

from minorguard.sidecar.serve import build_sidecar

SUCCESS = {"name": "某一一", "id_num": "110000190101010001", "ai": "100000000000000001"}
PENDING = {"name": "某二一", "id_num": "110000190201010009", "ai": "200000000000000001"}
SERVICE_TOKEN = "nppa-tests-service-token-0123456789abcdef"
SERVICE = {"authorization": f"Bearer {SERVICE_TOKEN}"}


def deployment(tmp_path: Path, base_url: str) -> str:
    path = tmp_path / "deployment.yaml"
    path.write_text(
        f"""policy: nppa-2021
store: memory://
subject_secret: {{value: test-subject-secret}}
identity:
  algorithms: [HS256]
  issuer: test
  audience: test
  hs_secret: {{value: a-test-signing-key-of-at-least-32-bytes}}
routes:
  - {{method: GET, path: /game/ping, activity: game}}
credentials:
  - {{name: accounts, token: {{value: {SERVICE_TOKEN}}}, may: [identity]}}
nppa:
  app_id: "{APP_ID}"
  biz_id: "{BIZ_ID}"
  secret_key: {{value: "{SECRET}"}}
  base_url: {base_url}
  wait_seconds: 0
""",
        encoding="utf-8",
    )
    return str(path)


async def post(app: object, path: str, json: object) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sidecar") as http:  # type: ignore[arg-type]
        return await http.post(path, json=json, headers=SERVICE)


async def get(app: object, path: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sidecar") as http:  # type: ignore[arg-type]
        return await http.get(path, headers=SERVICE)


async def test_a_verified_player_gets_status_pi_and_birthdate_and_no_personal_data(
    tmp_path: Path, fake: Fake
) -> None:
    """Success answers the pi and the birth date decoded from it; the name and ID number are not echoed."""
    app = build_sidecar(deployment(tmp_path, fake.url), registry=CollectorRegistry())
    try:
        answer = await post(app, "/v1/identity/verify", SUCCESS)
    finally:
        await app.nppa.aclose()  # type: ignore[union-attr]
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "success"
    assert body["birthdate"] == "1901-01-01"
    assert len(body["pi"]) == 38
    assert SUCCESS["name"] not in answer.text
    assert SUCCESS["id_num"] not in answer.text


async def test_a_pending_verification_answers_in_progress_and_can_be_queried(
    tmp_path: Path, fake: Fake
) -> None:
    """认证中 is answered as in_progress; GET /v1/identity/{ai} asks NPPA again."""
    app = build_sidecar(deployment(tmp_path, fake.url), registry=CollectorRegistry())
    try:
        answer = await post(app, "/v1/identity/verify", PENDING)
        again = await get(app, f"/v1/identity/{PENDING['ai']}")
    finally:
        await app.nppa.aclose()  # type: ignore[union-attr]
    assert answer.json()["status"] == "in_progress"
    assert again.status_code == 200
    assert again.json()["ai"] == PENDING["ai"]


async def test_a_wrong_check_digit_is_refused_before_nppa_is_called(tmp_path: Path, fake: Fake) -> None:
    """GB 11643: the last character is a check digit; a wrong one is a 400 and nothing is sent."""
    app = build_sidecar(deployment(tmp_path, fake.url), registry=CollectorRegistry())
    before = len(fake.nppa.requests) if hasattr(fake.nppa, "requests") else None
    try:
        answer = await post(app, "/v1/identity/verify", {**SUCCESS, "id_num": "110000190101010002"})
    finally:
        await app.nppa.aclose()  # type: ignore[union-attr]
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert "110000190101010002" not in answer.text
    if before is not None:
        assert len(fake.nppa.requests) == before


async def test_without_an_nppa_section_the_endpoint_says_so(tmp_path: Path) -> None:
    """A sidecar without NPPA settings answers 404 problem+json, not a crash."""
    path = Path(deployment(tmp_path, "http://127.0.0.1:9"))
    path.write_text(path.read_text(encoding="utf-8").split("nppa:")[0], encoding="utf-8")
    app = build_sidecar(str(path), registry=CollectorRegistry())
    answer = await post(app, "/v1/identity/verify", SUCCESS)
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"


async def test_verification_takes_a_service_credential(tmp_path: Path, fake: Fake) -> None:
    """Issue 14 item 9: without a credential that may `identity`, no NPPA call is made: the endpoint
    spends the operator's quota and would tell anyone whether a name and an ID number belong together."""
    app = build_sidecar(deployment(tmp_path, fake.url), registry=CollectorRegistry())
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://sidecar") as http:
            anonymous = await http.post("/v1/identity/verify", json=SUCCESS)
            wrong = await http.post(
                "/v1/identity/verify", json=SUCCESS, headers={"authorization": "Bearer nope"}
            )
            query = await http.get("/v1/identity/100000000000000001")
    finally:
        await app.nppa.aclose()  # type: ignore[union-attr]
    assert [r.status_code for r in (anonymous, wrong, query)] == [401, 401, 401]
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert fake.nppa.requests == []
