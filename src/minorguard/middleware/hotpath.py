"""The path of most traffic, shared by the middleware and the sidecar's nginx door: a cached token of
an adult on a route that reads nothing but the token. It answers from the raw Authorization bytes (one
SHA-256, one lookup), a cached 18th-birthday instant and the shared ADULT_ALLOWED decision, and counts
and logs the decision; the caller then answers without building anything else.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from minorguard import decisionlog
from minorguard.engine import ADULT_ALLOWED, Engine
from minorguard.middleware.verifier import Verifier
from minorguard.types import Facts, Subject

if TYPE_CHECKING:
    from minorguard.metrics import Metrics


def cached_adult(
    verifier: Verifier,
    engine: Engine,
    metrics: Metrics | None,
    auth: bytes | None,
    facts: Facts | None,
    started: float,
    door: str,
) -> tuple[Subject | None, bool]:
    """The subject of a cached token (None when there is no cached one), and whether it is an adult the
    route's plain `facts` allow (then recorded as ADULT_ALLOWED, by `door`)."""
    subject = None if auth is None else verifier.cached_header(auth, time.time())
    if subject is None or facts is None or not engine.adult_allows(subject, facts.activity, engine.clock()):
        return subject, False
    decisionlog.record(metrics, engine, subject.subject_id, facts.activity, ADULT_ALLOWED, started, door)
    return subject, True
