"""The path of most traffic, shared by the middleware and the sidecar's nginx door: a verified adult on
a route that reads nothing but the token.

The first requests of a token take `cached_adult` (one SHA-256 of the token, the verified-token cache,
the 18th-birthday instant, a timed and logged decision). It then admits the raw header value to
`AdultPasses`, and from then on `AdultPasses.let_through` answers it with one dict probe and one
counter, until the token expires or the policy is reloaded.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from minorguard import decisionlog
from minorguard.engine import ADULT_ALLOWED, UNLIMITED_FOR_ADULTS, Engine
from minorguard.gate.identify import Verifier
from minorguard.types import Facts, Subject

if TYPE_CHECKING:
    from minorguard.metrics import Metrics
    from minorguard.rules.compiled import CompiledPolicy

_MAX_PASSES = 65536


class AdultPasses:
    """Raw `Authorization` header values of verified adults, each with the instant its token stops
    being valid and its holder's 18th birthday.

    Keyed by the raw value, not by a digest: a SHA-256 per request cost about 5% of a served request
    (benchmarks/README.md). So it keeps up to `size` adults' live tokens in memory, as the requests
    carrying them do; only tokens that verified are admitted. Emptied when full and when the policy is
    reloaded (the birthday rule or the zone may change)."""

    def __init__(self, size: int = _MAX_PASSES) -> None:
        self.size = size
        self._entries: dict[bytes, tuple[float, float]] = {}  # valid until, adult from
        self._of: CompiledPolicy | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def let_through(
        self, auth: bytes | None, facts: Facts | None, engine: Engine, metrics: Metrics | None
    ) -> bool:
        """Whether an admitted adult passes on a route whose `facts` are plain: the token is still valid
        (by the real clock, as the verifier checks it) and its holder adult (by the engine's clock).
        Counted in minorguard_decisions_total but not timed (it is one dict probe); not taken while the
        decisions log is on, whose line carries the latency. One frame: this runs on most requests."""
        if auth is None or facts is None or facts.activity not in UNLIMITED_FOR_ADULTS:
            return False
        entry = self._entries.get(auth)
        if entry is None:
            return False
        valid_until, adult_from = entry
        if time.time() >= valid_until or engine.policy is not self._of or engine.clock() < adult_from:
            del self._entries[auth]
            return False
        if decisionlog.LOGGER.isEnabledFor(logging.INFO):
            return False
        if metrics is not None:
            counts = metrics.fast.counts
            key = (facts.activity, ADULT_ALLOWED.outcome, ADULT_ALLOWED.reason)
            counts[key] = counts.get(key, 0) + 1
        return True

    def admit(self, auth: bytes, valid_until: float, adult_from: float, engine: Engine) -> None:
        if self._of is not engine.policy or len(self._entries) >= self.size:
            self._entries.clear()
            self._of = engine.policy
        self._entries[auth] = (valid_until, adult_from)


def cached_adult(
    passes: AdultPasses,
    verifier: Verifier,
    engine: Engine,
    metrics: Metrics | None,
    auth: bytes | None,
    facts: Facts | None,
    started: float,
    door: str,
) -> tuple[Subject | None, bool]:
    """The subject of a cached token (None when there is no cached one), and whether it is an adult the
    route's plain `facts` allow (then recorded as ADULT_ALLOWED, by `door`, and admitted to `passes`)."""
    if auth is None:
        return None, False
    cached = verifier.cached_window(auth, time.time())
    if cached is None:
        return None, False
    subject, valid_until = cached
    if facts is None:
        return subject, False
    adult_from = engine.adult_since(subject, facts.activity)
    if adult_from is None or engine.clock() < adult_from:
        return subject, False
    passes.admit(auth, valid_until, adult_from, engine)
    decisionlog.record(metrics, engine, subject.subject_id, facts.activity, ADULT_ALLOWED, started, door)
    return subject, True
