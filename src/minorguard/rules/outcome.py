"""Building Decisions: findings of report-only rules ride along; the first enforced deny decides."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from minorguard.types import AgeBand, Decision, Finding, Mode, Outcome, Reason, Warning


@dataclass(slots=True)
class Findings:
    """The report-only denies met so far while checking one request."""

    band: AgeBand
    report_only: list[Finding] = field(default_factory=list)
    notes: list[Warning] = field(default_factory=list)  # warnings every allow carries (e.g. calendar gaps)

    def check(self, mode: Mode, finding: Finding) -> Decision | None:
        """Record a deny found by a rule in `mode`; return the deny Decision when the rule enforces."""
        if mode is Mode.ENFORCE:
            return self.deny(finding)
        if mode is Mode.REPORT_ONLY:
            self.report_only.append(finding)
        return None

    def deny(self, finding: Finding) -> Decision:
        return Decision(
            outcome=Outcome.DENY,
            reason=finding.reason,
            band=self.band,
            rule=finding.rule,
            legal_basis=finding.legal_basis,
            allowed_again_at=finding.allowed_again_at,
            detail=finding.detail,
            warnings=tuple(self.notes),  # a refusal on a provisional or unknown calendar day says so
            report_only=tuple(self.report_only),
        )

    def allow(
        self,
        *,
        remaining_seconds: int | None = None,
        remaining_budget_fen: int | None = None,
        warnings: tuple[Warning, ...] = (),
        reservation_id: str | None = None,
        replayed: bool = False,
    ) -> Decision:
        return Decision(
            outcome=Outcome.ALLOW,
            reason=Reason.ALLOWED,
            band=self.band,
            remaining_seconds=remaining_seconds,
            remaining_budget_fen=remaining_budget_fen,
            warnings=(*self.notes, *warnings) if self.notes else warnings,
            report_only=tuple(self.report_only),
            reservation_id=reservation_id,
            replayed=replayed,
        )


def finding(
    reason: Reason, rule: str, legal_basis: str, mode: Mode, detail: str, again: dt.datetime | None = None
) -> Finding:
    return Finding(reason, rule, legal_basis, mode, again, detail)
