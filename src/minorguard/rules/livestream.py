"""Live-stream publisher registration (LAW Art 76; LS22): none under 16; 16-17 need a verified identity
and a guardian's consent; adults need a verified identity."""

from __future__ import annotations

from minorguard.rules.age import ADULT_AGE
from minorguard.rules.compiled import CompiledPolicy
from minorguard.rules.outcome import Findings, finding
from minorguard.rules.person import Person
from minorguard.types import AgeBand, Decision, Mode, Reason


def check_publisher(cp: CompiledPolicy, person: Person) -> Decision:
    rule = cp.policy.spec.livestream_publisher
    found = Findings(person.band)
    if rule.mode is Mode.OFF:
        return found.allow()
    if person.age is None:
        return (
            found.check(
                rule.mode,
                finding(
                    Reason.IDENTITY_UNVERIFIED,
                    "livestream_publisher",
                    rule.legal_basis,
                    rule.mode,
                    "publisher accounts need a verified identity",
                ),
            )
            or found.allow()
        )
    if person.age < rule.min_age:
        return (
            found.check(
                rule.mode,
                finding(
                    Reason.PUBLISHER_UNDER_MIN_AGE,
                    "livestream_publisher",
                    rule.legal_basis,
                    rule.mode,
                    f"no publisher accounts under {rule.min_age}",
                    person.turns(rule.min_age),
                ),
            )
            or found.allow()
        )
    if person.band is not AgeBand.ADULT and rule.consent_scope not in person.subject.guardian_consent:
        return (
            found.check(
                rule.mode,
                finding(
                    Reason.PUBLISHER_CONSENT_REQUIRED,
                    "livestream_publisher",
                    rule.legal_basis,
                    rule.mode,
                    f"a guardian's consent ({rule.consent_scope}) is required",
                    person.turns(ADULT_AGE),
                ),
            )
            or found.allow()
        )
    return found.allow()
