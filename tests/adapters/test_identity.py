"""Tests of JWT identity verification: real crypto (keys made by `cryptography`), real pyjwt, and the
JWKS served by a real HTTP server on 127.0.0.1. Each known JWT attack has a test of its own."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from minorguard.adapters.identity import (
    IdentityConfig,
    IdentityError,
    IdentityProblem,
    JwtVerifier,
    issue_token,
    parse_bearer,
)
from minorguard.adapters.nppa_pi import make_pi_prefix
from minorguard.types import Subject

ISSUER = "https://idp.example"
AUDIENCE = "minorguard"
SECRET = secrets.token_bytes(32)
BORN = dt.date(2012, 5, 1)
# Keys are made once per module: RSA generation is the slow part of this file.
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_KEY_2 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


RSA_PEM = public_pem(RSA_KEY)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(obj: object) -> str:
    return b64(json.dumps(obj).encode())


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": "user-1",
        "iat": now,
        "exp": now + 600,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "identity_verified": True,
        "birthdate": BORN.isoformat(),
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def hs_token(**overrides: Any) -> str:
    return jwt.encode(claims(**overrides), SECRET, algorithm="HS256")


def hs_config(**overrides: Any) -> IdentityConfig:
    settings: dict[str, Any] = {
        "algorithms": ("HS256",),
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "hs_secret": SECRET,
    }
    settings.update(overrides)
    return IdentityConfig(**settings)


@pytest.fixture
async def hs() -> AsyncIterator[JwtVerifier]:
    verifier = JwtVerifier(hs_config())
    yield verifier
    await verifier.close()


async def refused(verifier: JwtVerifier, token: str | None, kind: IdentityProblem, **kw: Any) -> None:
    with pytest.raises(IdentityError) as raised:
        await verifier.verify(token, **kw)
    assert raised.value.kind is kind, str(raised.value)
    for part in (token or "").split("."):
        if len(part) > 8:
            assert part not in str(raised.value)  # token contents never reach a message


# --- the happy path and the Subject -------------------------------------------------------------


async def test_verified_token_gives_its_subject(hs: JwtVerifier) -> None:
    token = hs_token(guardian_consent=["livestream_publisher"], device_id="dev-9")
    subject = await hs.verify(token)
    assert subject == Subject(
        subject_id="user-1",
        birthdate=BORN,
        verified=True,
        guardian_consent=frozenset({"livestream_publisher"}),
        device_id="dev-9",
    )


async def test_unverified_token_has_no_trusted_birthdate(hs: JwtVerifier) -> None:
    subject = await hs.verify(hs_token(identity_verified=False))
    assert subject == Subject("user-1", None, False)


@pytest.mark.parametrize("flag", ["true", 1, "yes", [True], {"v": True}])
async def test_only_boolean_true_means_verified(hs: JwtVerifier, flag: object) -> None:
    assert (await hs.verify(hs_token(identity_verified=flag))).verified is False


async def test_missing_verified_claim_means_unverified(hs: JwtVerifier) -> None:
    token = jwt.encode({k: v for k, v in claims().items() if k != "identity_verified"}, SECRET, "HS256")
    assert (await hs.verify(token)).verified is False


async def test_birthdate_from_pi_when_no_birthdate_claim(hs: JwtVerifier) -> None:
    token = hs_token(birthdate=None, pi="1fffbkmd9ebtwi7u7f4oswm9li6twjydqs7qjv")
    assert (await hs.verify(token)).birthdate == dt.date(1901, 1, 2)


async def test_birthdate_and_pi_that_agree(hs: JwtVerifier) -> None:
    pi = make_pi_prefix(BORN) + "0" * 32
    assert (await hs.verify(hs_token(pi=pi))).birthdate == BORN


@pytest.mark.parametrize(
    "overrides",
    [
        {"pi": make_pi_prefix(dt.date(2000, 1, 1)) + "0" * 32},  # disagrees with the birthdate claim
        {"birthdate": None},  # verified, but no birth date at all: not silently "unverified"
        {"birthdate": None, "pi": "1fffbj"},  # not a pi
        {"birthdate": None, "pi": 19010101},
        {"birthdate": "2010-13-01"},
        {"birthdate": "2010-02-30"},
        {"birthdate": "20100101"},  # fromisoformat would take it; OIDC says YYYY-MM-DD
        {"birthdate": "2010"},
        {"birthdate": "2010-01-01T00:00:00"},
        {"birthdate": "not a date"},
        {"birthdate": 20100101},
        {"birthdate": (dt.date.today() + dt.timedelta(days=5)).isoformat()},  # in the future
        {"guardian_consent": "livestream_publisher"},  # not a list
        {"guardian_consent": ["ok", 3]},
        {"device_id": 42},
        {"sub": ""},
        {"exp": str(int(time.time()) + 600)},  # pyjwt int()s it; a NumericDate is a number
    ],
)
async def test_bad_claims(hs: JwtVerifier, overrides: dict[str, Any]) -> None:
    await refused(hs, hs_token(**overrides), IdentityProblem.BAD_CLAIMS)


async def test_unverified_token_ignores_its_birthdate_entirely(hs: JwtVerifier) -> None:
    # An unverified age is not trusted, so it is not even parsed.
    subject = await hs.verify(hs_token(identity_verified=False, birthdate="garbage"))
    assert subject.birthdate is None


@pytest.mark.parametrize("missing", ["sub", "exp"])
async def test_sub_and_exp_are_required(hs: JwtVerifier, missing: str) -> None:
    token = jwt.encode({k: v for k, v in claims().items() if k != missing}, SECRET, "HS256")
    await refused(hs, token, IdentityProblem.BAD_CLAIMS)


async def test_sub_must_be_a_string(hs: JwtVerifier) -> None:
    await refused(hs, hs_token(sub=12345), IdentityProblem.BAD_CLAIMS)


async def test_issue_token_round_trips(hs: JwtVerifier) -> None:
    token = issue_token(
        secret_or_private_key=SECRET,
        algorithm="HS256",
        subject="u-7",
        birthdate=BORN,
        verified=True,
        guardian_consent=("a", "b"),
        issuer=ISSUER,
        audience=AUDIENCE,
        extra={"device_id": "d"},
    )
    assert await hs.verify(token) == Subject("u-7", BORN, True, frozenset({"a", "b"}), "d")
    no_exp = issue_token(
        secret_or_private_key=SECRET,
        algorithm="HS256",
        subject="u-7",
        birthdate=None,
        verified=False,
        issuer=ISSUER,
        audience=AUDIENCE,
        expires_in=None,
    )
    await refused(hs, no_exp, IdentityProblem.BAD_CLAIMS)


# --- JWT attacks ----------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
async def test_unsigned_token_is_refused(hs: JwtVerifier, alg: str) -> None:
    for signature in ("", b64(b"x" * 32)):
        token = f"{segment({'alg': alg, 'typ': 'JWT'})}.{segment(claims())}.{signature}"
        await refused(hs, token, IdentityProblem.ALGORITHM_NOT_ALLOWED)


async def test_header_without_alg_is_refused(hs: JwtVerifier) -> None:
    body = f"{segment({'typ': 'JWT'})}.{segment(claims())}"
    token = f"{body}.{b64(hmac.new(SECRET, body.encode(), hashlib.sha256).digest())}"
    await refused(hs, token, IdentityProblem.ALGORITHM_NOT_ALLOWED)


async def test_rs_hs_key_confusion_is_refused() -> None:
    # The classic: sign HS256 with the RSA *public* key as the HMAC secret, hoping the verifier feeds
    # its RSA key to HMAC. pyjwt will not even make such a token, so it is made by hand.
    verifier = JwtVerifier(
        IdentityConfig(algorithms=("RS256",), issuer=None, audience=None, pem_public_key=RSA_PEM)
    )
    good = jwt.encode(claims(iss=None, aud=None), RSA_KEY, algorithm="RS256")
    assert (await verifier.verify(good)).verified is True
    body = f"{segment({'alg': 'HS256', 'typ': 'JWT'})}.{segment(claims(iss=None, aud=None))}"
    forged = f"{body}.{b64(hmac.new(RSA_PEM, body.encode(), hashlib.sha256).digest())}"
    await refused(verifier, forged, IdentityProblem.ALGORITHM_NOT_ALLOWED)
    await verifier.close()


async def test_token_signed_by_another_key_is_refused() -> None:
    verifier = JwtVerifier(
        IdentityConfig(algorithms=("RS256",), issuer=None, audience=None, pem_public_key=RSA_PEM)
    )
    await refused(
        verifier, jwt.encode(claims(iss=None, aud=None), RSA_KEY_2, "RS256"), IdentityProblem.BAD_SIGNATURE
    )


async def test_tampered_payload_is_refused(hs: JwtVerifier) -> None:
    header, _, signature = hs_token(identity_verified=False).split(".")
    await refused(hs, f"{header}.{segment(claims())}.{signature}", IdentityProblem.BAD_SIGNATURE)


async def test_tampered_signature_is_refused(hs: JwtVerifier) -> None:
    header, payload, signature = hs_token().split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    await refused(hs, f"{header}.{payload}.{flipped}", IdentityProblem.BAD_SIGNATURE)
    await refused(hs, f"{header}.{payload}.", IdentityProblem.BAD_SIGNATURE)


async def test_token_for_another_secret_is_refused(hs: JwtVerifier) -> None:
    token = jwt.encode(claims(), secrets.token_bytes(32), algorithm="HS256")
    await refused(hs, token, IdentityProblem.BAD_SIGNATURE)


async def test_pinned_algorithm_refuses_another_of_the_same_family(hs: JwtVerifier) -> None:
    await refused(
        hs, jwt.encode(claims(), SECRET * 2, algorithm="HS512"), IdentityProblem.ALGORITHM_NOT_ALLOWED
    )


async def test_expiry_and_leeway(hs: JwtVerifier) -> None:
    now = int(time.time())
    assert await hs.verify(hs_token(exp=now - 10))  # within the 30 s leeway
    await refused(hs, hs_token(exp=now - 100), IdentityProblem.EXPIRED)
    strict = JwtVerifier(hs_config(leeway_seconds=0))
    await refused(strict, hs_token(exp=now - 10), IdentityProblem.EXPIRED)


async def test_not_before(hs: JwtVerifier) -> None:
    now = int(time.time())
    assert await hs.verify(hs_token(nbf=now + 10))  # within leeway
    await refused(hs, hs_token(nbf=now + 120), IdentityProblem.NOT_YET_VALID)
    await refused(hs, hs_token(iat=now + 120), IdentityProblem.NOT_YET_VALID)


async def test_injected_now_is_checked_as_well(hs: JwtVerifier) -> None:
    now = time.time()
    token = hs_token(exp=int(now) + 600, nbf=int(now) - 5)
    await refused(hs, token, IdentityProblem.EXPIRED, now=now + 3600)
    await refused(
        hs, hs_token(exp=int(now) + 600, nbf=int(now)), IdentityProblem.NOT_YET_VALID, now=now - 3600
    )


async def test_audience(hs: JwtVerifier) -> None:
    await refused(hs, hs_token(aud="another-service"), IdentityProblem.WRONG_AUDIENCE)
    await refused(hs, hs_token(aud=None), IdentityProblem.WRONG_AUDIENCE)
    no_audience = JwtVerifier(hs_config(audience=None))
    await refused(no_audience, hs_token(), IdentityProblem.WRONG_AUDIENCE)  # a token for someone else
    assert await no_audience.verify(hs_token(aud=None))


async def test_issuer(hs: JwtVerifier) -> None:
    await refused(hs, hs_token(iss="https://evil.example"), IdentityProblem.WRONG_ISSUER)
    await refused(hs, hs_token(iss=None), IdentityProblem.WRONG_ISSUER)


@pytest.mark.parametrize(
    "garbage",
    [
        "abc",
        "a.b.c",
        "a.b",
        "....",
        "eyJhbGciOiJIUzI1NiJ9",
        f"{b64(b'[1,2]')}.{segment(claims())}.sig",  # header is JSON, but not an object
        f"{b64(b'not json')}.{segment(claims())}.sig",
        f"{segment({'alg': 'HS256', 'kid': 7})}.{segment(claims())}.sig",  # kid must be a string
        "tökén.with.ümlauts",
        "Bearer abc.def.ghi",
    ],
)
async def test_garbage_is_malformed(hs: JwtVerifier, garbage: str) -> None:
    await refused(hs, garbage, IdentityProblem.MALFORMED)


async def test_payload_that_is_not_an_object(hs: JwtVerifier) -> None:
    body = f"{segment({'alg': 'HS256'})}.{b64(b'[1]')}"
    token = f"{body}.{b64(hmac.new(SECRET, body.encode(), hashlib.sha256).digest())}"
    await refused(hs, token, IdentityProblem.MALFORMED)


@pytest.mark.parametrize("token", [None, ""])
async def test_missing(hs: JwtVerifier, token: str | None) -> None:
    await refused(hs, token, IdentityProblem.MISSING)


def test_any_text_gives_an_identity_error() -> None:
    verifier = JwtVerifier(hs_config())
    jwt_like = st.from_regex(r"\A[A-Za-z0-9_-]{0,60}\.[A-Za-z0-9_-]{0,60}\.[A-Za-z0-9_-]{0,60}\Z")
    # A loop of its own (not the session's): hypothesis drives plain functions.
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:

        @settings(max_examples=300, deadline=None)
        @given(st.text(max_size=200) | jwt_like)
        def check(text: str) -> None:
            with pytest.raises(IdentityError):
                runner.run(verifier.verify(text))

        check()


async def test_oversized_token_is_refused_before_parsing(
    hs: JwtVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = hs_token(padding="x" * 9000)
    calls: list[str] = []
    monkeypatch.setattr(jwt, "get_unverified_header", lambda *a, **k: calls.append("header"))
    monkeypatch.setattr(jwt, "decode", lambda *a, **k: calls.append("decode"))
    await refused(hs, big, IdentityProblem.TOO_LARGE)
    await refused(hs, "é" * 9000, IdentityProblem.TOO_LARGE)
    assert calls == []
    monkeypatch.undo()
    roomy = JwtVerifier(hs_config(max_token_bytes=20_000))
    assert await roomy.verify(big)


# --- the cache of verified tokens -----------------------------------------------------------------


@pytest.fixture
def decode_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts pyjwt's decode (where the signature is checked), delegating to the real one."""
    calls: list[int] = []
    real = jwt.decode

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting)
    return calls


async def test_cached_token_is_not_verified_again(hs: JwtVerifier, decode_calls: list[int]) -> None:
    token = hs_token()
    assert hs.verify_cached(token) is None
    first = await hs.verify(token)
    assert await hs.verify(token) is first
    assert hs.verify_cached(token) is first
    assert len(decode_calls) == 1


async def test_cached_token_expires(hs: JwtVerifier, decode_calls: list[int]) -> None:
    now = time.time()
    token = hs_token(exp=int(now) + 60)
    await hs.verify(token, now=now)
    assert hs.verify_cached(token, now + 60 + 29) is not None  # within leeway
    with pytest.raises(IdentityError) as raised:
        hs.verify_cached(token, now + 60 + 31)
    assert raised.value.kind is IdentityProblem.EXPIRED
    assert hs.verify_cached(token, now) is None  # an expired entry leaves the cache
    await refused(hs, token, IdentityProblem.EXPIRED, now=now + 120)
    assert len(decode_calls) == 2


def _subject(window: tuple[Subject, float] | None) -> Subject | None:
    return None if window is None else window[0]


async def test_a_raw_header_finds_the_cached_subject_exactly_when_verify_would(hs: JwtVerifier) -> None:
    """The front doors' hot path reads the raw Authorization bytes. It answers a subject only for a
    cached bearer token inside its time window (the same comparisons as verify, to the second), and
    None for anything else, which then takes the full path and its errors."""
    now = time.time()
    token = hs_token(exp=int(now) + 60)
    raw = token.encode()
    assert _subject(hs.cached_window(b"Bearer " + raw, now)) is None  # not verified yet
    subject = await hs.verify(token, now=now)
    for header in (b"Bearer " + raw, b"bearer " + raw, b"Bearer  " + raw + b" "):
        assert _subject(hs.cached_window(header, now)) is subject, header
    for header in (b"Basic " + raw, b"Bearer", b"", raw, b"Bearer " + raw[:-1], b"Bearer " + raw + b"x"):
        assert _subject(hs.cached_window(header, now)) is None, header
    leeway = hs_config().leeway_seconds
    exp = int(now) + 60
    assert _subject(hs.cached_window(b"Bearer " + raw, exp + leeway - 0.001)) is subject
    assert hs.cached_window(b"Bearer " + raw, now) == (subject, exp + leeway)  # valid until then
    assert _subject(hs.cached_window(b"Bearer " + raw, exp + leeway)) is None
    with pytest.raises(IdentityError):
        hs.verify_cached(token, exp + leeway)  # the full path refuses at the same instant
    nbf = int(now) + 10  # within pyjwt's leeway of the real clock, which it also checks
    later = hs_token(nbf=nbf)
    await hs.verify(later, now=nbf)
    assert _subject(hs.cached_window(b"Bearer " + later.encode(), nbf - leeway)) is not None
    assert _subject(hs.cached_window(b"Bearer " + later.encode(), nbf - leeway - 0.001)) is None


async def test_an_oversized_header_is_never_looked_up() -> None:
    verifier = JwtVerifier(hs_config(max_token_bytes=64))
    assert _subject(verifier.cached_window(b"Bearer " + b"a" * 65, time.time())) is None


async def test_cache_is_bounded_lru(decode_calls: list[int]) -> None:
    verifier = JwtVerifier(hs_config(cache_size=2))
    a, b, c = (hs_token(sub=name) for name in "abc")
    for token in (a, b, a, c):  # c evicts b, the least recently used
        await verifier.verify(token)
    assert len(decode_calls) == 3
    assert verifier.verify_cached(a) is not None
    assert verifier.verify_cached(c) is not None
    assert verifier.verify_cached(b) is None


async def test_cache_can_be_off(decode_calls: list[int]) -> None:
    verifier = JwtVerifier(hs_config(cache_size=0))
    token = hs_token()
    await verifier.verify(token)
    await verifier.verify(token)
    assert len(decode_calls) == 2
    assert verifier.verify_cached(token) is None


async def test_refused_tokens_are_not_cached(hs: JwtVerifier, decode_calls: list[int]) -> None:
    token = hs_token(birthdate="bad")
    for _ in range(2):
        await refused(hs, token, IdentityProblem.BAD_CLAIMS)
    assert len(decode_calls) == 2


# --- configuration --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"algorithms": ("none",)}, "none"),
        ({"algorithms": ("HS256", "none")}, "none"),
        ({"algorithms": ("HS256", "RS256")}, "mixed"),
        (
            {"algorithms": ("RS256", "HS512"), "hs_secret": None, "jwks_url": "https://idp.example/jwks"},
            "mixed",
        ),
        ({"algorithms": "HS256"}, "tuple"),
        ({"algorithms": ()}, "at least one"),
        ({"algorithms": ("HS1024",)}, "unknown"),
        ({"pem_public_key": RSA_PEM}, "exactly one"),
        ({"hs_secret": None}, "exactly one"),
        ({"algorithms": ("RS256",)}, "need"),
        ({"hs_secret": None, "pem_public_key": RSA_PEM}, "need"),
        ({"hs_secret": b"short"}, "at least 32 bytes"),
        ({"algorithms": ("HS512",)}, "at least 64 bytes"),
        ({"algorithms": ("RS256",), "hs_secret": None, "jwks_url": "http://idp.example/jwks"}, "https"),
        ({"leeway_seconds": -1}, ">= 0"),
        ({"max_token_bytes": 0}, "> 0"),
        ({"jwks_cache_seconds": 0}, "> 0"),
        ({"jwks_timeout_seconds": 0}, "> 0"),
        ({"birthdate_claim": ""}, "empty"),
    ],
)
def test_bad_configuration(overrides: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        hs_config(**overrides)


def test_issuer_and_audience_must_be_stated() -> None:
    with pytest.raises(TypeError):
        IdentityConfig(algorithms=("HS256",), hs_secret=SECRET)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("pem", "algorithms", "says"),
    [
        (public_pem(EC_KEY), ("RS256",), "does not fit"),
        (RSA_PEM, ("ES256",), "does not fit"),
        (public_pem(ec.generate_private_key(ec.SECP384R1())), ("ES256",), "does not fit"),  # wrong curve
        (public_pem(rsa.generate_private_key(65537, 1024)), ("RS256",), "2048"),
        (
            RSA_KEY.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
            ("RS256",),
            None,  # a private key: the verifier must never hold one
        ),
        (b"not a pem", ("RS256",), None),
    ],
)
def test_unfit_public_keys(pem: bytes, algorithms: tuple[str, ...], says: str | None) -> None:
    config = IdentityConfig(algorithms=algorithms, issuer=None, audience=None, pem_public_key=pem)
    with pytest.raises(ValueError, match=says):
        JwtVerifier(config)


async def test_pem_file_is_read_once(tmp_path: Path) -> None:
    path = tmp_path / "idp.pem"
    path.write_bytes(public_pem(EC_KEY))
    verifier = JwtVerifier(
        IdentityConfig(algorithms=("ES256",), issuer=None, audience=None, pem_file=str(path))
    )
    path.unlink()  # read at construction, not per token
    assert await verifier.verify(jwt.encode(claims(iss=None, aud=None), EC_KEY, algorithm="ES256"))


async def test_eddsa_public_key() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    config = IdentityConfig(
        algorithms=("EdDSA",), issuer=ISSUER, audience=AUDIENCE, pem_public_key=public_pem(key)
    )
    verifier = JwtVerifier(config)
    assert (await verifier.verify(jwt.encode(claims(), key, algorithm="EdDSA"))).birthdate == BORN


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer abc.def.ghi", "abc.def.ghi"),
        ("BEARER   abc.def.ghi  ", "abc.def.ghi"),
        ("  Bearer abc", "abc"),
        ("Basic dXNlcjpwYXNz", None),
        ("Bearer", None),
        ("Bearer   ", None),
        ("Bearerabc", None),
        ("abc.def.ghi", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_bearer(header: str | None, token: str | None) -> None:
    assert parse_bearer(header) == token


# --- JWKS from a real HTTP server -----------------------------------------------------------------


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and hung up is what some tests are about


class JwksServer:
    """A JWKS endpoint on 127.0.0.1 in a thread; counts the GETs it answers."""

    def __init__(self) -> None:
        self.document: Any = {"keys": []}
        self.status = 200
        self.delay = 0.0
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                time.sleep(server.delay)
                body = server.document if isinstance(server.document, bytes) else json.dumps(server.document)
                data = body if isinstance(body, bytes) else body.encode()
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                pass

        self._httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/.well-known/jwks.json"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.01,), daemon=True)
        self._thread.start()
        self.running = True

    def stop(self) -> None:
        if self.running:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join()
            self.running = False


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def jwk(
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, kid: str, **extra: Any
) -> dict[str, Any]:
    public = private_key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        data = jwt.algorithms.RSAAlgorithm.to_jwk(public, as_dict=True)
    else:
        data = jwt.algorithms.ECAlgorithm.to_jwk(public, as_dict=True)
    return {**data, "kid": kid, "use": "sig", **extra}


@pytest.fixture
def idp() -> Iterator[JwksServer]:
    server = JwksServer()
    server.document = {"keys": [jwk(RSA_KEY, "rsa-1", alg="RS256"), jwk(EC_KEY, "ec-1", alg="ES256")]}
    yield server
    server.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def make_verifier(idp: JwksServer, clock: Clock) -> AsyncIterator[Callable[..., JwtVerifier]]:
    made: list[JwtVerifier] = []

    def make(**overrides: Any) -> JwtVerifier:
        settings: dict[str, Any] = {
            "algorithms": ("RS256", "ES256"),
            "issuer": ISSUER,
            "audience": AUDIENCE,
            "jwks_url": idp.url,
        }
        settings.update(overrides)
        verifier = JwtVerifier(IdentityConfig(**settings), jwks_clock=clock)
        made.append(verifier)
        return verifier

    yield make
    for verifier in made:
        await verifier.close()


def signed(key: Any, alg: str, kid: str | None, **overrides: Any) -> str:
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(claims(**overrides), key, algorithm=alg, headers=headers)


async def test_jwks_rsa_and_ec_keys(idp: JwksServer, make_verifier: Callable[..., JwtVerifier]) -> None:
    verifier = make_verifier()
    assert idp.requests == 0  # nothing fetched at construction
    assert (await verifier.verify(signed(RSA_KEY, "RS256", "rsa-1"))).birthdate == BORN
    assert (await verifier.verify(signed(EC_KEY, "ES256", "ec-1", sub="other"))).subject_id == "other"
    assert idp.requests == 1


async def test_jwks_unknown_kid_refreshes_at_most_once_per_interval(
    idp: JwksServer, make_verifier: Callable[..., JwtVerifier], clock: Clock
) -> None:
    verifier = make_verifier()
    await verifier.verify(signed(RSA_KEY, "RS256", "rsa-1"))
    assert idp.requests == 1
    clock.now += 31  # past jwks_min_refresh_seconds, within jwks_cache_seconds
    await refused(verifier, signed(RSA_KEY, "RS256", "nope-1"), IdentityProblem.UNKNOWN_KEY)
    assert idp.requests == 2  # one refresh for the unknown kid
    for n in range(20):  # a flood of random kids within the interval costs no fetch
        clock.now += 1
        await refused(verifier, signed(RSA_KEY, "RS256", f"random-{n}"), IdentityProblem.UNKNOWN_KEY)
    assert idp.requests == 2
    clock.now += 10
    await refused(verifier, signed(RSA_KEY, "RS256", "nope-2"), IdentityProblem.UNKNOWN_KEY)
    assert idp.requests == 3


async def test_jwks_key_rotation(
    idp: JwksServer, make_verifier: Callable[..., JwtVerifier], clock: Clock
) -> None:
    verifier = make_verifier()
    await verifier.verify(signed(RSA_KEY, "RS256", "rsa-1"))
    idp.document = {"keys": [jwk(RSA_KEY_2, "rsa-2", alg="RS256"), *idp.document["keys"]]}
    rotated = signed(RSA_KEY_2, "RS256", "rsa-2")
    clock.now += 1  # the last fetch was too recent to fetch again
    await refused(verifier, rotated, IdentityProblem.UNKNOWN_KEY)
    clock.now += 30
    assert (await verifier.verify(rotated)).verified is True
    assert idp.requests == 2
    idp.document = {"keys": [jwk(RSA_KEY_2, "rsa-2", alg="RS256")]}  # the old key retired
    clock.now += 300  # the cached set is stale: fetched again before use
    await refused(verifier, signed(RSA_KEY, "RS256", "rsa-1", sub="late"), IdentityProblem.UNKNOWN_KEY)
    assert idp.requests == 3


async def test_jwks_idp_down_with_nothing_cached(
    idp: JwksServer, make_verifier: Callable[..., JwtVerifier]
) -> None:
    idp.stop()
    verifier = make_verifier()
    await refused(verifier, signed(RSA_KEY, "RS256", "rsa-1"), IdentityProblem.KEYS_UNAVAILABLE)


@pytest.mark.parametrize(
    "document",
    [
        b"not json",
        b"[" * 100_000,  # deep nesting
        {"keys": "no"},
        {"keys": []},
        {"keys": [{"kty": "oct", "k": b64(SECRET), "kid": "rsa-1"}]},  # symmetric keys are never used
        {"keys": [jwk(rsa.generate_private_key(65537, 1024), "rsa-1")]},  # too weak
        {"keys": [jwk(RSA_KEY, "rsa-1", use="enc")]},
        {"nothing": True},
        b"x" * 300_000,  # oversized
    ],
)
async def test_jwks_unusable_document(
    idp: JwksServer, make_verifier: Callable[..., JwtVerifier], document: Any
) -> None:
    idp.document = document
    await refused(make_verifier(), signed(RSA_KEY, "RS256", "rsa-1"), IdentityProblem.KEYS_UNAVAILABLE)


async def test_jwks_error_status(idp: JwksServer, make_verifier: Callable[..., JwtVerifier]) -> None:
    idp.status = 500
    await refused(make_verifier(), signed(RSA_KEY, "RS256", "rsa-1"), IdentityProblem.KEYS_UNAVAILABLE)


async def test_jwks_timeout(idp: JwksServer, make_verifier: Callable[..., JwtVerifier]) -> None:
    idp.delay = 0.5
    verifier = make_verifier(jwks_timeout_seconds=0.1)
    await refused(verifier, signed(RSA_KEY, "RS256", "rsa-1"), IdentityProblem.KEYS_UNAVAILABLE)


async def test_jwks_failed_fetch_is_not_retried_at_once(
    idp: JwksServer, make_verifier: Callable[..., JwtVerifier], clock: Clock
) -> None:
    idp.status = 503
    verifier = make_verifier()
    token = signed(RSA_KEY, "RS256", "rsa-1")
    await refused(verifier, token, IdentityProblem.KEYS_UNAVAILABLE)
    idp.status = 200
    await refused(verifier, token, IdentityProblem.KEYS_UNAVAILABLE)  # no hammering of a failing IdP
    assert idp.requests == 1
    clock.now += 30
    assert await verifier.verify(token)
    assert idp.requests == 2


async def test_jwks_idp_down_keeps_old_keys(
    idp: JwksServer, make_verifier: Callable[..., JwtVerifier], clock: Clock
) -> None:
    verifier = make_verifier()
    await verifier.verify(signed(RSA_KEY, "RS256", "rsa-1"))
    idp.stop()
    clock.now += 400  # stale: a refresh is tried, fails, and the old keys stay in use
    assert (await verifier.verify(signed(EC_KEY, "ES256", "ec-1"))).verified is True


async def test_jwks_concurrent_refreshes_share_one_fetch(
    idp: JwksServer, make_verifier: Callable[..., JwtVerifier]
) -> None:
    idp.delay = 0.1
    verifier = make_verifier()
    tokens = [signed(RSA_KEY, "RS256", "rsa-1", sub=f"user-{n}") for n in range(20)]
    subjects = await asyncio.gather(*(verifier.verify(token) for token in tokens))
    assert [s.subject_id for s in subjects] == [f"user-{n}" for n in range(20)]
    assert idp.requests == 1


async def test_jwks_caller_that_gives_up_does_not_cancel_the_fetch(
    idp: JwksServer, make_verifier: Callable[..., JwtVerifier]
) -> None:
    idp.delay = 0.2
    verifier = make_verifier()
    impatient = asyncio.create_task(verifier.verify(signed(RSA_KEY, "RS256", "rsa-1", sub="a")))
    patient = asyncio.create_task(verifier.verify(signed(RSA_KEY, "RS256", "rsa-1", sub="b")))
    await asyncio.sleep(0.05)
    impatient.cancel()
    assert (await patient).subject_id == "b"
    with pytest.raises(asyncio.CancelledError):
        await impatient
    assert idp.requests == 1


async def test_jwks_algorithm_checked_before_any_key_lookup(
    idp: JwksServer, make_verifier: Callable[..., JwtVerifier]
) -> None:
    verifier = make_verifier()
    body = f"{segment({'alg': 'HS256', 'kid': 'rsa-1'})}.{segment(claims())}"
    forged = f"{body}.{b64(hmac.new(RSA_PEM, body.encode(), hashlib.sha256).digest())}"
    await refused(verifier, forged, IdentityProblem.ALGORITHM_NOT_ALLOWED)
    assert idp.requests == 0


async def test_jwks_symmetric_key_is_never_used(
    idp: JwksServer, make_verifier: Callable[..., JwtVerifier]
) -> None:
    idp.document["keys"].append({"kty": "oct", "k": b64(SECRET), "kid": "oct-1", "alg": "HS256"})
    verifier = make_verifier()
    assert await verifier.verify(signed(RSA_KEY, "RS256", "rsa-1"))  # the set itself is still usable
    await refused(verifier, signed(RSA_KEY, "RS256", "oct-1", sub="x"), IdentityProblem.UNKNOWN_KEY)


async def test_jwks_key_bound_to_its_algorithm(
    idp: JwksServer, make_verifier: Callable[..., JwtVerifier]
) -> None:
    idp.document["keys"].append(jwk(RSA_KEY_2, "rsa-any"))  # no `alg`: bound to the token's
    verifier = make_verifier(algorithms=("RS256", "RS384", "ES256"))
    # rsa-1 declares RS256: an RS384 token naming it is refused even though RS384 is allowed.
    await refused(verifier, signed(RSA_KEY, "RS384", "rsa-1"), IdentityProblem.ALGORITHM_NOT_ALLOWED)
    # an RSA key cannot verify ES256
    await refused(verifier, signed(EC_KEY, "ES256", "rsa-any"), IdentityProblem.ALGORITHM_NOT_ALLOWED)
    assert await verifier.verify(signed(RSA_KEY_2, "RS384", "rsa-any"))
    assert await verifier.verify(signed(RSA_KEY_2, "RS256", "rsa-any", sub="again"))


async def test_jwks_token_without_kid(
    idp: JwksServer, make_verifier: Callable[..., JwtVerifier], clock: Clock
) -> None:
    verifier = make_verifier()
    await refused(verifier, signed(RSA_KEY, "RS256", None), IdentityProblem.UNKNOWN_KEY)  # two keys: no guess
    idp.document = {"keys": [jwk(RSA_KEY, "rsa-1", alg="RS256")]}
    clock.now += 400
    assert await verifier.verify(signed(RSA_KEY, "RS256", None, sub="single"))


async def test_jwks_bad_signature(idp: JwksServer, make_verifier: Callable[..., JwtVerifier]) -> None:
    await refused(make_verifier(), signed(RSA_KEY_2, "RS256", "rsa-1"), IdentityProblem.BAD_SIGNATURE)
