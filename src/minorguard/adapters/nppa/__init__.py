"""NPPA (国家新闻出版署) anti-addiction real-name authentication and behaviour reporting.

Client side (httpx, cryptography): `NppaClient` with `check`, `query`, `loginout`; `verify_identity`
and `poll_pending` for the sidecar; `validate_id_number` (GB 11643). Behaviour reporting (Redis,
prometheus_client) lives in the submodules `sessions`, `queue`, `reporting` and `metrics`, imported
explicitly so that this package does not need them.
"""

from __future__ import annotations

from minorguard.adapters.nppa.client import NppaClient
from minorguard.adapters.nppa.codes import Failure, NppaCode, NppaError
from minorguard.adapters.nppa.crypto import SecretKey, encrypted_body, sign
from minorguard.adapters.nppa.idnumber import InvalidIdentity, InvalidIdNumber, validate_id_number
from minorguard.adapters.nppa.models import (
    AuthResult,
    AuthStatus,
    BehaviourType,
    Endpoints,
    ItemResult,
    LoginoutItem,
    LoginoutResult,
    UserType,
)
from minorguard.adapters.nppa.ratelimit import RateLimiter, RateLimits
from minorguard.adapters.nppa.verify import (
    PendingExpired,
    error_response,
    poll_pending,
    query_identity,
    verify_identity,
)

__all__ = [
    "AuthResult",
    "AuthStatus",
    "BehaviourType",
    "Endpoints",
    "Failure",
    "InvalidIdNumber",
    "InvalidIdentity",
    "ItemResult",
    "LoginoutItem",
    "LoginoutResult",
    "NppaClient",
    "NppaCode",
    "NppaError",
    "PendingExpired",
    "RateLimiter",
    "RateLimits",
    "SecretKey",
    "UserType",
    "encrypted_body",
    "error_response",
    "poll_pending",
    "query_identity",
    "sign",
    "validate_id_number",
    "verify_identity",
]
