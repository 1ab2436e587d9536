"""Service credentials of the sidecar's state-changing and support endpoints.

A caller sends `Authorization: Bearer <token>`. Tokens are kept as SHA-256 digests and every one is
compared, in constant time, whatever matched first: neither the answer's timing nor its content tells
which credentials exist. A missing or unknown token is a 401, a known one without the permission a 403,
and each use is written to the `minorguard.audit` log with the credential's name (never the token).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterable

from minorguard.deployment import Permission
from minorguard.gate.identify import bearer
from minorguard.web.answers import Answer, problem_answer
from minorguard.web.headers import header

AUDIT = logging.getLogger("minorguard.audit")
_REALM = (b"www-authenticate", b'Bearer realm="minorguard-service"')


class Credentials:
    def __init__(self, credentials: Iterable[tuple[str, bytes, frozenset[Permission]]]) -> None:
        self._known = [(name, hashlib.sha256(token).digest(), may) for name, token, may in credentials]

    def holder(self, headers: list[tuple[bytes, bytes]]) -> tuple[str, frozenset[Permission]] | None:
        token = bearer(header(headers, b"authorization"))
        if token is None:
            return None
        given = hashlib.sha256(token.encode("latin-1")).digest()
        found = None
        for name, digest, may in self._known:
            if hmac.compare_digest(given, digest) and found is None:
                found = (name, may)
        return found

    def refusal(
        self, headers: list[tuple[bytes, bytes]], wanted: Permission
    ) -> tuple[str | None, Answer | None]:
        """The caller's credential name when it may do `wanted`, else the 401 or 403 to answer."""
        holder = self.holder(headers)
        if holder is None:
            detail = f"send Authorization: Bearer <token of a credential that may {wanted.value}>"
            return None, problem_answer(401, "Service credential required", detail, headers=[_REALM])
        name, may = holder
        if wanted not in may:
            return None, problem_answer(403, "Not permitted", f"credential {name!r} may not {wanted.value}")
        return name, None


def audit(event: str, **fields: object) -> None:
    """One JSON line for the audit trail (who did what to which reservation or subject key)."""
    if AUDIT.isEnabledFor(logging.INFO):
        AUDIT.info(json.dumps({"event": event, "ts": round(time.time(), 3), **fields}, ensure_ascii=False))
