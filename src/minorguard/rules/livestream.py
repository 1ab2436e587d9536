"""Live-stream publisher registration (LAW Art 76; LS22): none under 16; 16-17 need a verified identity
and a guardian's consent; adults need a verified identity.

A guardian's consent comes from the identity token's claim, or from the guardian's own settings where
the policy reads them: then a 16-17's registration is a ConsentCheck, settled by one read of those
settings (`finish_consent`). A guardian's withdrawal wins over the token's claim.
"""

from __future__ import annotations

from dataclasses import dataclass

from minorguard.rules.age import ADULT_AGE
from minorguard.rules.compiled import CompiledPolicy, Instant
from minorguard.rules.guardian import GuardianSettings
from minorguard.rules.outcome import Findings, finding
from minorguard.rules.person import Person
from minorguard.types import AgeBand, Decision, FailurePolicy, Mode, Reason


@dataclass(slots=True)
class ConsentCheck:
    """A 16-17's registration whose consent the guardian's settings may give or withdraw."""

    findings: Findings
    instant: Instant
    person: Person
    token_consent: bool  # the identity token carries the consent scope
    on_store_error: FailurePolicy  # without the settings: the token's word (open when it consents)
    legal_basis: str
    rule: str = "livestream_publisher"


def check_publisher(cp: CompiledPolicy, person: Person, now: Instant) -> Decision | ConsentCheck:
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
    if person.band is AgeBand.ADULT:
        return found.allow()
    consent = rule.consent_scope in person.subject.guardian_consent
    if cp.guardian_on:
        failure = FailurePolicy.OPEN if consent else FailurePolicy.CLOSED
        return ConsentCheck(found, now, person, consent, failure, rule.legal_basis)
    return found.allow() if consent else _consent_required(cp, found, person)


def finish_consent(cp: CompiledPolicy, check: ConsentCheck, guardian: GuardianSettings | None) -> Decision:
    """The guardian's settings read: a withdrawal refuses, a consent given (there or in the token)
    allows, and without either the law's refusal stands."""
    given = None if guardian is None else guardian.consent
    found, person = check.findings, check.person
    if given is False:
        detail = "your guardian withdrew consent to a publisher account"
        basis = cp.policy.spec.guardian.legal_basis
        again = person.turns(ADULT_AGE)
        return found.deny(
            finding(Reason.GUARDIAN_LIMIT, "guardian.consent", basis, Mode.ENFORCE, detail, again)
        )
    if given or check.token_consent:
        return found.allow()
    return _consent_required(cp, found, person)


def _consent_required(cp: CompiledPolicy, found: Findings, person: Person) -> Decision:
    rule = cp.policy.spec.livestream_publisher
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
