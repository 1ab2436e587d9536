"""The Subject of a request, from the identity provider's JWT (real-name verification; LAW Art 75).

Security choices, each closing a known JWT attack:
- the algorithms are pinned in the configuration, `none` is refused and HS* never mixes with an
  asymmetric family (key confusion: an RS256 public key used as an HS256 secret);
- the header's `alg` is checked against that list before a key is even chosen;
- `exp` and `sub` are required; oversized tokens are refused before any parsing;
- a verified token is kept in a bounded LRU cache until its `exp` (so its signature is checked once),
  but every cache hit re-checks the time window against the caller's clock.
Token contents are never logged nor put in error messages.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import jwt

from minorguard.adapters.jwks import JwksKeyStore, JwksUnavailableError, KeyMismatchError, load_public_key
from minorguard.adapters.nppa_pi import birthdate_from_pi
from minorguard.errors import IdentityError, IdentityProblem
from minorguard.rules.birthdate import birthdate_problem
from minorguard.types import Subject

if TYPE_CHECKING:
    from jwt.algorithms import AllowedPrivateKeys, AllowedPublicKeys

_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)  # OIDC birthdate; fromisoformat takes far more


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentityConfig:
    """How tokens are verified. Exactly one key source: `hs_secret`, `pem_public_key`, `pem_file` or
    `jwks_url`. `issuer` and `audience` must be stated, even as None, so skipping a check is a choice."""

    algorithms: tuple[str, ...]
    issuer: str | None
    audience: str | None
    leeway_seconds: int = 30
    hs_secret: bytes | None = None
    pem_public_key: bytes | None = None
    pem_file: str | None = None
    jwks_url: str | None = None
    subject_claim: str = "sub"
    birthdate_claim: str = "birthdate"
    verified_claim: str = "identity_verified"
    consent_claim: str = "guardian_consent"
    pi_claim: str = "pi"
    device_claim: str = "device_id"
    guardian_of_claim: str = "guardian_of"  # a guardian's children (their subject ids)
    max_token_bytes: int = 8192
    cache_size: int = 10000
    jwks_min_refresh_seconds: float = 30
    jwks_cache_seconds: float = 300
    jwks_timeout_seconds: float = 2.0

    def __post_init__(self) -> None:
        if isinstance(self.algorithms, str):
            raise ValueError("algorithms is a tuple of names, e.g. ('RS256',), not one string")
        object.__setattr__(self, "algorithms", tuple(self.algorithms))
        _check_algorithms(self.algorithms)
        _check_key_source(self)
        _check_limits(self)


def _check_algorithms(algorithms: tuple[str, ...]) -> None:
    known = jwt.algorithms.get_default_algorithms()
    if not algorithms:
        raise ValueError("algorithms must name at least one algorithm")
    for alg in algorithms:
        if alg.lower() == "none":
            raise ValueError("algorithm 'none' (unsigned tokens) is never allowed")
        if alg not in known:
            raise ValueError(f"unknown JWT algorithm {alg!r}")
    if len({_is_hmac(alg) for alg in algorithms}) > 1:
        raise ValueError("HS* algorithms cannot be mixed with asymmetric ones (key-confusion attacks)")


def _check_key_source(config: IdentityConfig) -> None:
    sources = [config.hs_secret, config.pem_public_key, config.pem_file, config.jwks_url]
    if sum(source is not None for source in sources) != 1:
        raise ValueError("exactly one of hs_secret, pem_public_key, pem_file and jwks_url must be set")
    if _is_hmac(config.algorithms[0]) != (config.hs_secret is not None):
        raise ValueError("HS* algorithms need hs_secret; asymmetric ones need a public key or jwks_url")
    if config.hs_secret is not None:
        # RFC 7518 §3.2: an HMAC key at least as long as the hash output.
        needed = max(int(alg[2:]) // 8 for alg in config.algorithms)
        if len(config.hs_secret) < needed:
            raise ValueError(f"hs_secret must be at least {needed} bytes for {', '.join(config.algorithms)}")
    if config.jwks_url is not None:
        url = urlsplit(config.jwks_url)
        if not (url.scheme == "https" or (url.scheme == "http" and url.hostname in _LOOPBACK)):
            raise ValueError("jwks_url must be https (plain http only to a loopback address)")


def _check_limits(config: IdentityConfig) -> None:
    if config.leeway_seconds < 0 or config.max_token_bytes <= 0 or config.cache_size < 0:
        raise ValueError("leeway_seconds and cache_size must be >= 0, max_token_bytes > 0")
    if config.jwks_min_refresh_seconds < 0 or config.jwks_cache_seconds <= 0:
        raise ValueError("jwks_min_refresh_seconds must be >= 0 and jwks_cache_seconds > 0")
    if config.jwks_timeout_seconds <= 0:
        raise ValueError("jwks_timeout_seconds must be > 0")
    claims = [config.subject_claim, config.birthdate_claim, config.verified_claim]
    claims += [config.consent_claim, config.pi_claim, config.device_claim, config.guardian_of_claim]
    if not all(claims):
        raise ValueError("claim names must not be empty")


def _is_hmac(alg: str) -> bool:
    return alg.startswith("HS")


_TimeWindow = tuple[float, float | None]  # exp, nbf


class JwtVerifier:
    """Turns a bearer token into a Subject, or raises IdentityError. One per configuration; the cache
    and the key store are per instance and meant for one event loop."""

    def __init__(self, config: IdentityConfig, *, jwks_clock: Callable[[], float] = time.monotonic) -> None:
        self._config = config
        self._static_key: bytes | AllowedPublicKeys | None = config.hs_secret
        self._jwks: JwksKeyStore | None = None
        if config.pem_public_key is not None:
            self._static_key = load_public_key(config.pem_public_key, config.algorithms)
        elif config.pem_file is not None:
            # The file is read once, here: a key swapped on disk later needs a new verifier.
            self._static_key = load_public_key(Path(config.pem_file).read_bytes(), config.algorithms)
        elif config.jwks_url is not None:
            self._jwks = JwksKeyStore(
                config.jwks_url,
                cache_seconds=config.jwks_cache_seconds,
                min_refresh_seconds=config.jwks_min_refresh_seconds,
                timeout_seconds=config.jwks_timeout_seconds,
                clock=jwks_clock,
            )
        # sha256(token) -> (subject, exp, nbf): digests bound the memory and keep no token text around.
        self._cache: OrderedDict[bytes, tuple[Subject, float, float | None]] = OrderedDict()

    async def verify(self, token: str | None, *, now: float | None = None) -> Subject:
        """The Subject of a valid token. `now` (epoch seconds) is for tests; pyjwt itself reads the
        real clock, so a token must be valid both at `now` and now."""
        token = self._checked_size(token)
        at = time.time() if now is None else now
        cached = self.verify_cached(token, at)
        if cached is not None:
            return cached
        claims = await self._decode(token)
        window = _time_window(claims)
        _check_window(window, at, self._config.leeway_seconds)
        subject = _subject_from(claims, self._config, at)
        self._remember(token, subject, window)
        return subject

    def verify_cached(self, token: str, now: float | None = None) -> Subject | None:
        """The Subject of a token verified before, or None when it is not cached. A cached token
        outside its time window at `now` raises (and leaves the cache). Never checks a signature."""
        if self._config.cache_size == 0 or len(token) > self._config.max_token_bytes:
            return None
        digest = hashlib.sha256(token.encode()).digest()
        entry = self._cache.get(digest)
        if entry is None:
            return None
        subject, exp, nbf = entry
        try:
            _check_window((exp, nbf), time.time() if now is None else now, self._config.leeway_seconds)
        except IdentityError:
            del self._cache[digest]
            raise
        self._cache.move_to_end(digest)
        return subject

    def cached_window(self, header: bytes, now: float) -> tuple[Subject, float] | None:
        """The hot path of every front door: the Subject of a raw `Authorization` header value whose
        bearer token was verified before, with the instant it stops being valid (its exp plus the
        leeway); or None (the caller then takes `verify`, which also answers every error). No text
        decoding, one digest, one lookup."""
        if header[:7] not in _BEARER or self._config.cache_size == 0:
            return None
        token = header[7:].strip()
        if len(token) > self._config.max_token_bytes:
            return None
        digest = hashlib.sha256(token).digest()
        entry = self._cache.get(digest)
        if entry is None:
            return None
        subject, exp, nbf = entry
        leeway = self._config.leeway_seconds
        if now >= exp + leeway or (nbf is not None and now < nbf - leeway):  # as _check_window
            return None  # expired or not yet valid: `verify` says which, and drops the entry
        self._cache.move_to_end(digest)
        return subject, exp + leeway

    async def usable(self) -> bool:
        """Whether tokens can be verified now: a configured key always; a JWKS URL once its key set has
        been fetched (readiness: a pod without keys would refuse every token as identity_invalid)."""
        return self._jwks is None or await self._jwks.usable()

    async def close(self) -> None:
        if self._jwks is not None:
            await self._jwks.close()

    def _checked_size(self, token: str | None) -> str:
        if not token:
            raise IdentityError(IdentityProblem.MISSING, "no token")
        # Characters never outnumber UTF-8 bytes, so this bounds the bytes before anything is parsed.
        if len(token) > self._config.max_token_bytes:
            raise IdentityError(IdentityProblem.TOO_LARGE, f"token over {self._config.max_token_bytes} bytes")
        if not token.isascii():
            raise IdentityError(IdentityProblem.MALFORMED, "a JWT is ASCII")
        return token

    async def _decode(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise IdentityError(IdentityProblem.MALFORMED, "not a JWT (compact serialisation)") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._config.algorithms:
            raise IdentityError(IdentityProblem.ALGORITHM_NOT_ALLOWED, "the token's alg is not allowed")
        key = await self._key(header.get("kid"), alg)
        try:
            return jwt.decode(
                token,
                key,
                algorithms=list(self._config.algorithms),
                issuer=self._config.issuer,
                audience=self._config.audience,
                leeway=self._config.leeway_seconds,
                options={"require": ["exp", "sub"], "enforce_minimum_key_length": True},
            )
        except jwt.PyJWTError as exc:
            raise _error_for(exc) from None

    async def _key(self, kid: str | None, alg: str) -> bytes | AllowedPublicKeys | jwt.PyJWK:
        if self._jwks is None:
            assert self._static_key is not None  # exactly one key source, checked by IdentityConfig
            return self._static_key
        try:
            key = await self._jwks.key(kid, alg)
        except JwksUnavailableError:
            raise IdentityError(IdentityProblem.KEYS_UNAVAILABLE, "no signing keys from the IdP") from None
        except KeyMismatchError as exc:
            raise IdentityError(IdentityProblem.ALGORITHM_NOT_ALLOWED, str(exc)) from None
        if key is None:
            raise IdentityError(IdentityProblem.UNKNOWN_KEY, "the token's kid is not in the IdP's key set")
        return key

    def _remember(self, token: str, subject: Subject, window: _TimeWindow) -> None:
        if self._config.cache_size == 0:
            return
        self._cache[hashlib.sha256(token.encode()).digest()] = (subject, *window)
        while len(self._cache) > self._config.cache_size:
            self._cache.popitem(last=False)


# pyjwt's errors, most specific first (InvalidSignatureError is a DecodeError, for one).
_PYJWT_PROBLEMS: tuple[tuple[type[jwt.PyJWTError], IdentityProblem, str], ...] = (
    (jwt.ExpiredSignatureError, IdentityProblem.EXPIRED, "the token has expired"),
    (jwt.ImmatureSignatureError, IdentityProblem.NOT_YET_VALID, "the token is not valid yet"),
    (jwt.InvalidIssuerError, IdentityProblem.WRONG_ISSUER, "the token is from another issuer"),
    (jwt.InvalidAudienceError, IdentityProblem.WRONG_AUDIENCE, "the token is for another audience"),
    (jwt.InvalidSignatureError, IdentityProblem.BAD_SIGNATURE, "the signature does not verify"),
    (jwt.InvalidAlgorithmError, IdentityProblem.ALGORITHM_NOT_ALLOWED, "the token's alg is not allowed"),
    (jwt.InvalidKeyError, IdentityProblem.ALGORITHM_NOT_ALLOWED, "the key cannot verify the token's alg"),
    (jwt.MissingRequiredClaimError, IdentityProblem.BAD_CLAIMS, "a required claim is missing"),
    (jwt.DecodeError, IdentityProblem.MALFORMED, "the token cannot be decoded"),
    (jwt.InvalidTokenError, IdentityProblem.BAD_CLAIMS, "a registered claim is invalid"),
)
_MISSING_CLAIM_PROBLEMS = {"iss": IdentityProblem.WRONG_ISSUER, "aud": IdentityProblem.WRONG_AUDIENCE}


def _error_for(exc: jwt.PyJWTError) -> IdentityError:
    if isinstance(exc, jwt.MissingRequiredClaimError):  # the claim's name is safe to say
        # A token without `iss`/`aud` is not for this issuer/audience either.
        problem = _MISSING_CLAIM_PROBLEMS.get(exc.claim, IdentityProblem.BAD_CLAIMS)
        return IdentityError(problem, f"required claim {exc.claim!r} is missing")
    for kind, problem, message in _PYJWT_PROBLEMS:
        if isinstance(exc, kind):
            return IdentityError(problem, message)
    return IdentityError(IdentityProblem.MALFORMED, "the token cannot be decoded")


def _time_window(claims: Mapping[str, Any]) -> _TimeWindow:
    exp = _number(claims, "exp")
    if exp is None:  # pyjwt required it; checked again because the cache relies on it
        raise IdentityError(IdentityProblem.BAD_CLAIMS, "required claim 'exp' is missing")
    return exp, _number(claims, "nbf")


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    # pyjwt int()s these, so it would take "1700000000" or true; NumericDate is a JSON number.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise IdentityError(IdentityProblem.BAD_CLAIMS, f"claim {name!r} is not a number")
    return float(value)


def _check_window(window: _TimeWindow, at: float, leeway: float) -> None:
    exp, nbf = window
    if exp <= at - leeway:  # the same comparisons as pyjwt's
        raise IdentityError(IdentityProblem.EXPIRED, "the token has expired")
    if nbf is not None and nbf > at + leeway:
        raise IdentityError(IdentityProblem.NOT_YET_VALID, "the token is not valid yet")


def _subject_from(claims: Mapping[str, Any], config: IdentityConfig, at: float) -> Subject:
    subject_id = claims.get(config.subject_claim)
    if not isinstance(subject_id, str) or not subject_id:
        raise IdentityError(IdentityProblem.BAD_CLAIMS, f"claim {config.subject_claim!r} is not a string")
    verified = claims.get(config.verified_claim) is True  # exactly true: "yes" or 1 is not verification
    return Subject(
        subject_id=subject_id,
        # An unverified age is not trusted, so an unverified subject has no birth date at all.
        birthdate=_birthdate(claims, config, at) if verified else None,
        verified=verified,
        guardian_consent=_consent(claims.get(config.consent_claim), config.consent_claim),
        device_id=_optional_string(claims.get(config.device_claim), config.device_claim),
        pi=_optional_string(claims.get(config.pi_claim), config.pi_claim) if verified else None,
        guardian_of=_children(claims.get(config.guardian_of_claim), config.guardian_of_claim),
    )


def _birthdate(claims: Mapping[str, Any], config: IdentityConfig, at: float) -> dt.date:
    """The birth date of a verified subject: from the birthdate claim, else from the NPPA pi. A verified
    token without either is refused rather than silently treated as unverified."""
    stated = _date_claim(claims.get(config.birthdate_claim), config.birthdate_claim)
    from_pi = _pi_claim(claims.get(config.pi_claim), config.pi_claim)
    if stated is not None and from_pi is not None and stated != from_pi:
        raise IdentityError(IdentityProblem.BAD_CLAIMS, "the birth date and the pi's birth date differ")
    birthdate = stated or from_pi
    if birthdate is None:
        raise IdentityError(IdentityProblem.BAD_CLAIMS, "a verified token must carry a birth date or pi")
    problem = birthdate_problem(birthdate, at)  # the same rule as `policy explain` (rules/birthdate.py)
    if problem is not None:
        raise IdentityError(IdentityProblem.BAD_CLAIMS, problem)
    return birthdate


def _date_claim(value: object, name: str) -> dt.date | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise IdentityError(IdentityProblem.BAD_CLAIMS, f"claim {name!r} is not a YYYY-MM-DD date")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise IdentityError(IdentityProblem.BAD_CLAIMS, f"claim {name!r} is not a valid date") from None


def _pi_claim(value: object, name: str) -> dt.date | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise IdentityError(IdentityProblem.BAD_CLAIMS, f"claim {name!r} is not a string")
    try:
        return birthdate_from_pi(value)
    except ValueError as exc:  # the message describes the pi's shape, never its value
        raise IdentityError(IdentityProblem.BAD_CLAIMS, f"claim {name!r}: {exc}") from None


def _consent(value: object, name: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(scope, str) for scope in value):
        raise IdentityError(IdentityProblem.BAD_CLAIMS, f"claim {name!r} is not a list of strings")
    return frozenset(value)


MAX_CHILDREN = 64


def _children(value: object, name: str) -> frozenset[str]:
    """The subject ids a guardian's token links them to: a short list of non-empty strings."""
    if value is None:
        return frozenset()
    if (
        not isinstance(value, list)
        or len(value) > MAX_CHILDREN
        or not all(isinstance(child, str) and 0 < len(child) <= 256 for child in value)
    ):
        raise IdentityError(
            IdentityProblem.BAD_CLAIMS, f"claim {name!r} is not a list of at most {MAX_CHILDREN} subject ids"
        )
    return frozenset(value)


def _optional_string(value: object, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise IdentityError(IdentityProblem.BAD_CLAIMS, f"claim {name!r} is not a string")
    return value


_BEARER = frozenset((b"Bearer ", b"bearer ", b"BEARER "))


def parse_bearer(header_value: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (scheme case-insensitive), else None."""
    if header_value is None:
        return None
    scheme, _, token = header_value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def issue_token(
    *,
    secret_or_private_key: str | bytes | AllowedPrivateKeys,
    algorithm: str,
    subject: str,
    birthdate: dt.date | None,
    verified: bool,
    guardian_consent: tuple[str, ...] | list[str] = (),
    issuer: str | None = None,
    audience: str | None = None,
    expires_in: float | None = 3600,
    now: float | None = None,
    kid: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """A signed token with the default claim names, for demos and tests. `expires_in=None` leaves out
    `exp` (such a token is refused); `extra` claims are added last and may override the others."""
    issued_at = int(time.time() if now is None else now)
    claims: dict[str, Any] = {"sub": subject, "iat": issued_at, "identity_verified": verified}
    if expires_in is not None:
        claims["exp"] = issued_at + int(expires_in)
    if birthdate is not None:
        claims["birthdate"] = birthdate.isoformat()
    if guardian_consent:
        claims["guardian_consent"] = list(guardian_consent)
    if issuer is not None:
        claims["iss"] = issuer
    if audience is not None:
        claims["aud"] = audience
    claims.update(extra or {})
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(claims, secret_or_private_key, algorithm=algorithm, headers=headers)
