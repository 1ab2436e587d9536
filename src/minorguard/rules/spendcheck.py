"""A reservation the store must make: the stateless spending rules hand it to the engine, and
`finish_spend` (rules/spending.py) decides once the store answered."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from minorguard.counters import Bucket, SpendKind
from minorguard.rules.compiled import Instant
from minorguard.rules.outcome import Findings
from minorguard.types import FailurePolicy, Mode


@dataclass(slots=True)
class SpendCheck:
    findings: Findings
    instant: Instant
    kind: SpendKind
    amount: int
    single_cap: int | None  # what the store enforces (None under report_only)
    buckets: tuple[Bucket, ...]  # caps the store enforces (None under report_only)
    caps: tuple[int | None, ...]  # the configured caps of the buckets, for budgets and report_only
    mode: Mode
    on_store_error: FailurePolicy
    reservation_ttl: int
    rule: str
    legal_basis: str  # what a refusal for an unavailable store cites: the rule's period cap
    basis: Callable[[str], str]  # the citation of a reason (PurchaseBasis / TipBasis field names)
    warn_at_percent: int | None
    again: dict[str, dt.datetime]  # bucket period -> when it rolls over
    guardian: bool = False  # the reserve reads the child's guardian settings and applies their caps
    guardian_basis: str = ""  # what a guardian's refusal cites
