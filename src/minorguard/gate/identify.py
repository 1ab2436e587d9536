"""What the gate needs from identity: a token in, a Subject out (or the 401 deny every door answers)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from minorguard.errors import IdentityError
from minorguard.types import AgeBand, Decision, Outcome, Reason, Subject

if TYPE_CHECKING:
    from minorguard.metrics import Metrics


class Verifier(Protocol):
    async def verify(self, token: str | None) -> Subject:
        """The verified subject of a bearer token; raises IdentityError when missing or invalid."""
        ...

    def verify_cached(self, token: str, now: float | None = None) -> Subject | None:
        """The subject of a token verified before (no signature check), or None when not cached."""
        ...

    def cached_window(self, header: bytes, now: float) -> tuple[Subject, float] | None:
        """The subject of a raw `Authorization` header whose token was verified before, with the
        instant the token stops being valid; or None."""
        ...

    async def usable(self) -> bool:
        """Whether tokens can be verified now (the keys are at hand)."""
        ...

    async def close(self) -> None: ...


def bearer(header: bytes | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value (scheme case-insensitive)."""
    if header is None:
        return None
    scheme, _, token = header.decode("latin-1").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


async def identify(verifier: Verifier, token: str | None, metrics: Metrics | None) -> Subject | Decision:
    """The subject of a bearer token (a cached one without an await), or the 401 deny every front door
    answers for a missing or invalid token."""
    try:
        cached = verifier.verify_cached(token) if token is not None else None
        return cached if cached is not None else await verifier.verify(token)
    except IdentityError as exc:
        if metrics is not None:
            metrics.identity_failures.labels(exc.kind.value).inc()
        reason = Reason.IDENTITY_MISSING if token is None else Reason.IDENTITY_INVALID
        return Decision(Outcome.DENY, reason, AgeBand.UNVERIFIED, rule="identity", detail=str(exc))
