"""What the front doors need from identity: a token in, a Subject out (or IdentityError)."""

from __future__ import annotations

from typing import Protocol

from minorguard.types import Subject


class Verifier(Protocol):
    async def verify(self, token: str | None) -> Subject:
        """The verified subject of a bearer token; raises IdentityError when missing or invalid."""
        ...

    def verify_cached(self, token: str, now: float | None = None) -> Subject | None:
        """The subject of a token verified before (no signature check), or None when not cached."""
        ...
