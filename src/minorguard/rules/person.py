"""A subject's age facts at the instant of a request."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from minorguard.policy.schema import BirthdayRule
from minorguard.rules.age import age_on, age_reached_at, band_for_age
from minorguard.types import AgeBand, Subject


@dataclass(frozen=True, slots=True)
class Person:
    subject: Subject
    band: AgeBand
    age: int | None  # None when not identity-verified
    rule: BirthdayRule
    zone: ZoneInfo

    @classmethod
    def at(cls, subject: Subject, local_date: dt.date, rule: BirthdayRule, zone: ZoneInfo) -> Person:
        if not subject.verified or subject.birthdate is None:
            return cls(subject, AgeBand.UNVERIFIED, None, rule, zone)
        age = age_on(subject.birthdate, local_date, rule)
        return cls(subject, band_for_age(age), age, rule, zone)

    def turns(self, years: int) -> dt.datetime | None:
        """When the person reaches `years` (None when unknown or already past)."""
        if self.subject.birthdate is None or self.age is None or self.age >= years:
            return None
        return age_reached_at(self.subject.birthdate, years, self.rule, self.zone)
