"""The identity provider's signing keys: a PEM public key checked against the pinned algorithms, or
the keys of its JWKS URL, kept for `cache_seconds`.

The store is the only part of identity checking that does network I/O, so it is built to stay cheap
under attack: a token naming an unknown `kid` triggers at most one fetch per `min_refresh_seconds`
(a flood of random kids cannot hammer the IdP), concurrent refreshes share one fetch, and when a fetch
fails the keys already held stay in use (nor is a failed fetch retried within that interval: a down
IdP is not hammered either, and requests fail fast instead of each waiting for a timeout).
Symmetric (`oct`) keys in a published set are ignored: a JWKS is public, and honouring one would
reopen HS/RS key confusion.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from minorguard.errors import MinorguardError

if TYPE_CHECKING:
    from jwt.algorithms import AllowedPublicKeys

_log = logging.getLogger(__name__)

MAX_JWKS_BYTES = 256 * 1024  # a real key set is a few KiB; more is a broken or hostile endpoint
MIN_RSA_BITS = 2048  # NIST SP 800-131A; pyjwt would only warn about weaker keys


class JwksUnavailableError(MinorguardError):
    """No key set could be fetched and none is held."""


class KeyMismatchError(MinorguardError):
    """The key a token names cannot verify the token's algorithm (wrong type, curve or declared alg)."""


class JwksKeyStore:
    """Keys by `kid` from one JWKS URL. The HTTP client is created on the first fetch, not before."""

    def __init__(
        self,
        url: str,
        *,
        cache_seconds: float,
        min_refresh_seconds: float,
        timeout_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._cache_seconds = cache_seconds
        self._min_refresh_seconds = min_refresh_seconds
        self._timeout_seconds = timeout_seconds
        self._clock = clock
        self._client: httpx.AsyncClient | None = None
        self._keys: dict[str | None, dict[str, Any]] = {}  # kid (None: a key without one) -> JWK
        self._prepared: dict[tuple[str | None, str], jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._inflight: asyncio.Task[None] | None = None

    async def key(self, kid: str | None, alg: str) -> jwt.PyJWK | None:
        """The key `kid` bound to `alg`, or None when the set has no such key even after a refresh.

        A token without `kid` matches only a set of exactly one key. Raises JwksUnavailableError when no
        keys are held, KeyMismatchError when the key exists but cannot verify `alg`."""
        if self._fetched_at is None or self._clock() - self._fetched_at >= self._cache_seconds:
            await self._refresh()
        if self._fetched_at is None:
            raise JwksUnavailableError("the identity provider's key set could not be fetched")
        found = self._lookup(kid, alg)
        if found is None and kid is not None:
            await self._refresh()  # maybe a rotation; rate-limited, so a guessed kid costs no fetch
            found = self._lookup(kid, alg)
        return found

    async def usable(self) -> bool:
        """Whether a key set is held, fetching one when none is or it is due (rate-limited like every
        fetch). A set fetched earlier stays usable while the identity provider is down."""
        if self._fetched_at is None or self._clock() - self._fetched_at >= self._cache_seconds:
            await self._refresh()
        return self._fetched_at is not None

    async def close(self) -> None:
        inflight = self._inflight
        if inflight is not None:
            inflight.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await inflight
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _lookup(self, kid: str | None, alg: str) -> jwt.PyJWK | None:
        if kid is None:
            if len(self._keys) != 1:
                return None  # without a kid, any choice among several keys would be a guess
            kid = next(iter(self._keys))
        jwk = self._keys.get(kid)
        if jwk is None:
            return None
        prepared = self._prepared.get((kid, alg))
        if prepared is None:
            prepared = _bind(jwk, alg)
            self._prepared[(kid, alg)] = prepared
        return prepared

    async def _refresh(self) -> None:
        """Fetch the set unless a fetch is under way (then wait for it) or one started too recently."""
        if self._inflight is None:
            now = self._clock()
            if self._attempted_at is not None and now - self._attempted_at < self._min_refresh_seconds:
                return
            self._attempted_at = now
            self._inflight = asyncio.create_task(self._fetch_and_store())
        # shield: a caller that gives up (client gone) must not cancel the fetch the others wait for.
        await asyncio.shield(self._inflight)

    async def _fetch_and_store(self) -> None:
        try:
            keys = _usable_keys(await self._fetch())
        except Exception as exc:
            # Whatever went wrong (network, status, size, JSON, no usable key), the old keys (if any)
            # stay in use and verification fails closed without them. No token is involved here.
            _log.warning("JWKS fetch from %s failed: %s: %s", self._url, type(exc).__name__, exc)
            return
        finally:
            self._inflight = None
        self._keys, self._prepared, self._fetched_at = keys, {}, self._clock()

    async def _fetch(self) -> Any:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout_seconds, follow_redirects=False)
        # httpx times each read; the overall bound stops an endpoint that drips bytes.
        async with (
            asyncio.timeout(self._timeout_seconds),
            self._client.stream("GET", self._url, headers={"Accept": "application/json"}) as response,
        ):
            if response.status_code != 200:
                raise ValueError(f"HTTP status {response.status_code}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_JWKS_BYTES:
                    raise ValueError(f"key set larger than {MAX_JWKS_BYTES} bytes")
        return json.loads(body)


def _usable_keys(document: Any) -> dict[str | None, dict[str, Any]]:
    """The signing keys of a JWKS document by kid; ValueError when it has none (the old set stays)."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document (an object with a `keys` list)")
    keys: dict[str | None, dict[str, Any]] = {}
    for jwk in document["keys"]:
        if isinstance(jwk, dict) and _usable(jwk):
            kid = jwk.get("kid")
            keys.setdefault(kid if isinstance(kid, str) else None, jwk)  # the first of a duplicate kid wins
    if not keys:
        raise ValueError("the key set has no usable signing keys")
    return keys


def _usable(jwk: dict[str, Any]) -> bool:
    if jwk.get("kty") == "oct" or jwk.get("use", "sig") != "sig":
        return False
    try:
        parsed = jwt.PyJWK(jwk)  # parses with the key's own (or inferred) alg: drops what cannot
    except jwt.PyJWTError:
        return False
    return not (isinstance(parsed.key, RSAPublicKey) and parsed.key.key_size < MIN_RSA_BITS)


def _bind(jwk: dict[str, Any], alg: str) -> jwt.PyJWK:
    """The key bound to the token's algorithm; a key that declares another alg refuses it."""
    declared = jwk.get("alg")
    if declared is not None and declared != alg:
        raise KeyMismatchError(f"the key is declared for another algorithm than {alg}")
    try:
        return jwt.PyJWK(jwk, algorithm=alg)
    except jwt.PyJWTError:
        raise KeyMismatchError(f"the key cannot verify {alg}") from None


def load_public_key(pem: bytes, algorithms: tuple[str, ...]) -> AllowedPublicKeys:
    """A PEM public key checked to fit every configured algorithm (type, curve, RSA >= 2048 bits).
    ValueError otherwise, including for a private key: the verifier must never hold one."""
    key = load_pem_public_key(pem)
    if not isinstance(key, RSAPublicKey | EllipticCurvePublicKey | Ed25519PublicKey | Ed448PublicKey):
        raise ValueError("the public key is of a type no JWT algorithm uses")
    for alg in algorithms:
        algorithm = jwt.algorithms.get_default_algorithms()[alg]
        try:
            prepared = algorithm.prepare_key(key)
        except (jwt.InvalidKeyError, TypeError):
            raise ValueError(f"the public key does not fit algorithm {alg}") from None
        weakness = algorithm.check_key_length(prepared)
        if weakness:
            raise ValueError(weakness)
    return key
