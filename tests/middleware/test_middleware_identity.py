"""JWT attacks through the middleware: every forged, stale or misdirected token is a 401 problem+json
with `identity_invalid` (or `identity_missing` without a bearer token) and a WWW-Authenticate header."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import math
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from mwkit import (
    AGE_15,
    AUDIENCE,
    ISSUER,
    PROBLEM_JSON,
    SECRET,
    Clock,
    bearer,
    build,
    client,
    token,
    write_deployment,
)

from minorguard.adapters.identity import issue_token
from minorguard.errors import PolicyError

PLAY_TIME = "2026-11-20 20:30:00"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "sub": "attacker",
        "iat": now,
        "exp": now + 3600,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "identity_verified": True,
        "birthdate": "1990-01-01",
        **extra,
    }


def _hs256_by_hand(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    """An HS256 token signed with any bytes (pyjwt refuses a PEM as an HMAC secret; attackers do not)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _unsigned(claims: dict[str, Any], alg: str = "none") -> str:
    header = _b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}."


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _assert_unauthorized(response: Any, reason: str = "identity_invalid") -> dict[str, Any]:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["www-authenticate"] == 'Bearer realm="minorguard"'
    assert response.headers["minorguard-reason"] == reason
    body: dict[str, Any] = response.json()
    assert body["reason"] == reason
    assert body["status"] == 401
    assert body["rule"] == "identity"
    assert body["allowed_again_at"] is None
    assert "retry-after" not in response.headers
    return body


HS_ATTACKS = {
    "alg-none": lambda: _unsigned(_claims()),
    "alg-None-capitalised": lambda: _unsigned(_claims(), alg="None"),
    "alg-none-with-signature": lambda: _unsigned(_claims()) + _b64(b"x" * 32),
    "expired": lambda: token("attacker", AGE_15, now=time.time() - 7200, expires_in=3600),
    "not-yet-valid": lambda: token("attacker", AGE_15, extra={"nbf": int(time.time()) + 3600}),
    "no-exp": lambda: token("attacker", AGE_15, expires_in=None),
    "wrong-audience": lambda: token("attacker", AGE_15, audience="another-service"),
    "no-audience": lambda: token("attacker", AGE_15, audience=None),
    "wrong-issuer": lambda: token("attacker", AGE_15, issuer="https://evil.example"),
    "no-issuer": lambda: token("attacker", AGE_15, issuer=None),
    "wrong-secret": lambda: token(
        "attacker", AGE_15, secret_or_private_key="another-secret-that-is-long-enough-0123456789"
    ),
    "hs512-not-pinned": lambda: token(
        "attacker", AGE_15, algorithm="HS512", secret_or_private_key=SECRET * 2
    ),
    "tampered-payload": lambda: _tampered(token("attacker", AGE_15)),
    "garbage": lambda: "this-is-not-a-jwt",
    "three-garbage-parts": lambda: "aaaa.bbbb.cccc",
    "non-ascii": lambda: "eyJ\u00e9.eyJ.sig",
    "oversized": lambda: token("attacker", AGE_15, extra={"pad": "x" * 9000}),
    "birthdate-in-the-future": lambda: token("attacker", None, extra={"birthdate": "2999-01-01"}),
    "birthdate-not-a-date": lambda: token("attacker", None, extra={"birthdate": "15 years old"}),
}


def _tampered(value: str) -> str:
    header, payload, signature = value.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["birthdate"] = "1990-01-01"  # a 15-year-old claiming to be an adult
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


@pytest.mark.parametrize("attack", list(HS_ATTACKS))
async def test_a_forged_or_misdirected_token_is_refused_with_401(
    tmp_path: Path, clock: Clock, attack: str
) -> None:
    """alg none, expired, wrong audience or issuer, wrong key, garbage, oversized: 401 identity_invalid."""
    app, seen, registry = build(write_deployment(tmp_path), clock)
    clock.set(PLAY_TIME)
    forged = HS_ATTACKS[attack]()
    if attack == "oversized":
        assert len(forged) > 8192
    async with client(app) as http:
        # latin-1 bytes: a header may carry what no JWT has
        response = await http.get(
            "/game/ping", headers={"Authorization": f"Bearer {forged}".encode("latin-1")}
        )
    _assert_unauthorized(response)
    assert seen.calls == []
    failures = registry.get_sample_value(
        "minorguard_decisions_total", {"activity": "game", "outcome": "deny", "reason": "identity_invalid"}
    )
    assert failures == 1


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="no-header"),
        pytest.param("", id="empty"),
        pytest.param("Bearer", id="bearer-without-token"),
        pytest.param("Bearer    ", id="bearer-blank"),
        pytest.param("Basic " + base64.b64encode(b"user:password").decode(), id="basic"),
        pytest.param("Token abc.def.ghi", id="other-scheme"),
    ],
)
async def test_a_request_without_a_bearer_token_is_refused_with_identity_missing(
    tmp_path: Path, clock: Clock, authorization: str | None
) -> None:
    """No header, an empty one, or another scheme such as Basic: 401 identity_missing."""
    app, seen, registry = build(write_deployment(tmp_path), clock)
    clock.set(PLAY_TIME)
    headers = {} if authorization is None else {"Authorization": authorization}
    async with client(app) as http:
        response = await http.get("/game/ping", headers=headers)
    _assert_unauthorized(response, "identity_missing")
    assert seen.calls == []
    assert registry.get_sample_value("minorguard_identity_failures_total", {"problem": "missing"}) == 1


async def test_the_bearer_scheme_is_case_insensitive_and_a_valid_token_passes(
    tmp_path: Path, clock: Clock
) -> None:
    """Control: the same checks let a genuine token through, whatever the case of `Bearer`."""
    app, seen, _ = build(write_deployment(tmp_path), clock)
    clock.set(PLAY_TIME)
    genuine = token("genuine-teen", AGE_15)
    async with client(app) as http:
        for scheme in ("Bearer", "bearer", "BEARER"):
            response = await http.get("/game/ping", headers={"Authorization": f"{scheme} {genuine}"})
            assert response.status_code == 200
    assert len(seen.calls) == 3


async def test_a_401_speaks_english_when_asked(tmp_path: Path, clock: Clock) -> None:
    """The identity refusals have titles in both languages."""
    app, _, _ = build(write_deployment(tmp_path), clock)
    async with client(app) as http:
        zh = await http.get("/game/ping", headers=bearer("garbage"))
        en = await http.get("/game/ping", headers={**bearer("garbage"), "Accept-Language": "en"})
        missing = await http.get("/game/ping", headers={"Accept-Language": "en"})
    assert zh.json()["title"] == "身份凭证无效"
    assert en.json()["title"] == "Invalid identity token"
    assert missing.json()["title"] == "Sign-in required"


def _rsa_deployment(tmp_path: Path, key: rsa.RSAPrivateKey) -> Path:
    (tmp_path / "idp-public.pem").write_bytes(_public_pem(key))
    return write_deployment(
        tmp_path,
        identity={
            "algorithms": ["RS256"],
            "issuer": ISSUER,
            "audience": AUDIENCE,
            "pem_file": "idp-public.pem",
        },
    )


async def test_an_hs256_token_signed_with_the_rsa_public_key_is_refused(
    tmp_path: Path, clock: Clock, rsa_key: rsa.RSAPrivateKey
) -> None:
    """RS/HS key confusion: HS256 signed with the verifier's own public PEM is refused; RS256 passes."""
    app, seen, registry = build(_rsa_deployment(tmp_path, rsa_key), clock)
    clock.set(PLAY_TIME)
    pem = _public_pem(rsa_key)
    confused = _hs256_by_hand({"alg": "HS256", "typ": "JWT"}, _claims(), pem)
    genuine = issue_token(
        secret_or_private_key=rsa_key,
        algorithm="RS256",
        subject="rs-adult",
        birthdate=None,
        verified=True,
        issuer=ISSUER,
        audience=AUDIENCE,
        extra={"birthdate": "1990-01-01"},
    )
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    foreign = jwt.encode(_claims(), other_key, algorithm="RS256")
    async with client(app) as http:
        confused_answer = await http.get("/game/ping", headers=bearer(confused))
        stripped = await http.get("/game/ping", headers=bearer(_unsigned(_claims(), alg="RS256")))
        foreign_answer = await http.get("/game/ping", headers=bearer(foreign))
        genuine_answer = await http.get("/game/ping", headers=bearer(genuine))
    _assert_unauthorized(confused_answer)
    _assert_unauthorized(stripped)
    _assert_unauthorized(foreign_answer)
    assert genuine_answer.status_code == 200
    assert len(seen.calls) == 1
    problems = {
        s.labels["problem"]: s.value
        for m in registry.collect()
        if m.name == "minorguard_identity_failures"
        for s in m.samples
        if s.name.endswith("_total")
    }
    assert problems.get("algorithm_not_allowed") == 1
    assert problems.get("bad_signature", 0) + problems.get("malformed", 0) == 2


class _JwksHandler(BaseHTTPRequestHandler):
    document: bytes = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.document)))
        self.end_headers()
        self.wfile.write(self.document)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def jwks_server(rsa_key: rsa.RSAPrivateKey) -> Iterator[str]:
    """An identity provider's JWKS endpoint on loopback, publishing one key, kid "k1"."""
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    handler = type(
        "Handler", (_JwksHandler,), {"document": json.dumps({"keys": [{**jwk, "kid": "k1"}]}).encode()}
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


async def test_a_token_naming_an_unknown_kid_is_refused(
    tmp_path: Path, clock: Clock, rsa_key: rsa.RSAPrivateKey, jwks_server: str, closing: list[Any]
) -> None:
    """With a JWKS, a kid the IdP never published is refused (401); the published kid passes."""
    config = write_deployment(
        tmp_path,
        identity={"algorithms": ["RS256"], "issuer": ISSUER, "audience": AUDIENCE, "jwks_url": jwks_server},
    )
    app, seen, registry = build(config, clock)
    closing.append(app)
    clock.set(PLAY_TIME)

    def signed(kid: str) -> str:
        return jwt.encode(_claims(sub=f"kid-{kid}"), rsa_key, algorithm="RS256", headers={"kid": kid})

    async with client(app) as http:
        known = await http.get("/game/ping", headers=bearer(signed("k1")))
        unknown = await http.get("/game/ping", headers=bearer(signed("k-unknown")))
    assert known.status_code == 200
    _assert_unauthorized(unknown)
    assert registry.get_sample_value("minorguard_identity_failures_total", {"problem": "unknown_key"}) == 1
    assert len(seen.calls) == 1


async def test_an_expired_token_is_refused_even_after_it_was_cached(tmp_path: Path, clock: Clock) -> None:
    """A token verified once is cached; once past exp (plus leeway) it is refused all the same."""
    app, seen, _ = build(write_deployment(tmp_path, policy="nppa-2021"), clock)
    clock.set(PLAY_TIME)
    leeway = 30  # the deployment's default
    exp = math.ceil(time.time()) - leeway + 1  # valid for about one more second, leeway included
    short = token("short-lived", AGE_15, extra={"exp": exp})
    async with client(app) as http:
        first = await http.get("/game/ping", headers=bearer(short))
        await asyncio.sleep(max(exp + leeway - time.time(), 0) + 0.05)
        second = await http.get("/game/ping", headers=bearer(short))
    assert first.status_code == 200
    _assert_unauthorized(second)
    assert len(seen.calls) == 1


def test_the_hs_secret_of_a_deployment_must_be_long_enough(tmp_path: Path) -> None:
    """An HS256 secret under 32 bytes is a configuration error, not a weak deployment."""
    config = write_deployment(
        tmp_path,
        identity={
            "algorithms": ["HS256"],
            "issuer": ISSUER,
            "audience": AUDIENCE,
            "hs_secret": {"value": "short"},
        },
    )
    located = r"deployment\.yaml:\d+:\d+  identity\.hs_secret  .*at least 32 bytes"
    with pytest.raises(PolicyError, match=located):
        build(config, Clock(0))
    assert len(SECRET) >= 32
