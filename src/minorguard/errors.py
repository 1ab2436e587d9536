"""Exceptions of minorguard. A deny is a Decision value, never an exception; these are for bad input
and broken infrastructure. This module imports nothing internal so every layer may raise from it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class MinorguardError(Exception):
    """Base class of every error minorguard raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem in a policy or calendar file, located for a person to fix it."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}  {self.path or '(top)'}  {self.message}"


class PolicyError(MinorguardError):
    """A policy file (or a file it names) has problems; all of them are listed, none was loaded."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        files = len({p.file for p in problems})
        super().__init__(
            "\n".join(str(p) for p in problems)
            + f"\n{len(problems)} problem{'s' if len(problems) != 1 else ''} in {files} file"
            + ("s" if files != 1 else "")
        )


class StoreErrorKind(StrEnum):
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    SCRIPT = "script"
    RESPONSE = "response"
    CONFIGURATION = "configuration"
    OTHER = "other"


class StoreError(MinorguardError):
    """A counter store could not answer. `kind` is a closed enum, also used as a metric label."""

    def __init__(self, kind: StoreErrorKind, message: str) -> None:
        self.kind = kind
        super().__init__(f"{kind.value}: {message}")


class IdentityProblem(StrEnum):
    """Why a token was refused. Closed: also a metric label."""

    MISSING = "missing"
    MALFORMED = "malformed"
    TOO_LARGE = "too_large"
    BAD_SIGNATURE = "bad_signature"
    ALGORITHM_NOT_ALLOWED = "algorithm_not_allowed"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    WRONG_ISSUER = "wrong_issuer"
    WRONG_AUDIENCE = "wrong_audience"
    UNKNOWN_KEY = "unknown_key"
    KEYS_UNAVAILABLE = "keys_unavailable"
    BAD_CLAIMS = "bad_claims"


class IdentityError(MinorguardError):
    """A token was refused. The message names the problem, never the token's contents."""

    def __init__(self, kind: IdentityProblem, message: str) -> None:
        self.kind = kind
        super().__init__(f"{kind.value}: {message}")
