"""A heartbeat the store must count: the stateless game rules hand it to the engine, and
`finish_play` (rules/game.py) decides once the store answered."""

from __future__ import annotations

from dataclasses import dataclass

from minorguard.rules.compiled import Instant
from minorguard.rules.outcome import Findings
from minorguard.rules.person import Person
from minorguard.types import FailurePolicy, Mode


@dataclass(slots=True)
class PlayCheck:
    """A heartbeat the store must count: then `finish_play` decides."""

    findings: Findings
    instant: Instant
    mode: Mode
    on_store_error: FailurePolicy
    limit_seconds: int | None  # the policy's (None: no limit, but guardian settings or rest apply)
    max_gap: int
    window_remaining: int | None  # seconds until the allowed interval in force ends
    person: Person  # for "allowed again", worked out only when the limit is reached
    warn_before: tuple[int, ...]  # seconds, largest first
    legal_basis: str

    def at(self, now: Instant) -> PlayCheck:
        """The same check at a later instant of the same local minute. Only a report-only play-time
        rule adds a finding to the check's findings (`finish_play`): then the copy gets its own."""
        found = self.findings
        if self.mode is Mode.REPORT_ONLY:
            found = Findings(found.band, found.report_only.copy(), found.notes.copy())
        remaining = self.window_remaining
        return PlayCheck(
            found,
            now,
            self.mode,
            self.on_store_error,
            self.limit_seconds,
            self.max_gap,
            None if remaining is None else remaining - (now.epoch - self.instant.epoch),
            self.person,
            self.warn_before,
            self.legal_basis,
        )
