"""The value types every layer shares: activities, age bands, day types, reasons and decisions.

Everything here is a frozen value or a closed enum. Enum values double as metric labels and as the
`reason` field of deny answers, so they never change once released.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple


class Activity(StrEnum):
    GAME = "game"
    PURCHASE = "purchase"
    LIVESTREAM_PUBLISHER_REGISTRATION = "livestream_publisher_registration"
    LIVESTREAM_TIP = "livestream_tip"

    @property
    def spends(self) -> bool:
        """Purchases and tips move money: they reserve, then commit or release."""
        return self in (Activity.PURCHASE, Activity.LIVESTREAM_TIP)


class AgeBand(StrEnum):
    UNDER_8 = "under_8"
    AGE_8_15 = "age_8_15"
    AGE_16_17 = "age_16_17"
    ADULT = "adult"
    UNVERIFIED = "unverified"

    @property
    def is_minor(self) -> bool:
        return self in (AgeBand.UNDER_8, AgeBand.AGE_8_15, AgeBand.AGE_16_17)


class Outcome(StrEnum):
    ALLOW = "allow"
    DENY = "deny"


class Mode(StrEnum):
    """How a rule acts: `report_only` decides, logs and counts, but lets the request through."""

    ENFORCE = "enforce"
    REPORT_ONLY = "report_only"
    OFF = "off"


class FailurePolicy(StrEnum):
    """What a stateful rule does when the counter store cannot answer."""

    OPEN = "open"
    CLOSED = "closed"


class DayType(StrEnum):
    WORKING_DAY = "working_day"
    WEEKEND = "weekend"
    HOLIDAY = "holiday"  # every day of the official holiday block, in-lieu weekdays included
    MAKEUP_WORKDAY = "makeup_workday"  # 调休: a weekend day declared a working day


class Reason(StrEnum):
    """Why a decision came out as it did. Closed: also the `reason` metric label."""

    ALLOWED = "allowed"
    IDENTITY_MISSING = "identity_missing"
    IDENTITY_INVALID = "identity_invalid"
    IDENTITY_UNVERIFIED = "identity_unverified"
    CURFEW = "curfew"
    OUTSIDE_PLAY_WINDOW = "outside_play_window"
    DAILY_PLAY_LIMIT = "daily_play_limit"
    GUEST_LIMIT = "guest_limit"
    GAME_RATING = "game_rating"
    PURCHASE_NOT_ALLOWED = "purchase_not_allowed"
    PURCHASE_SINGLE_CAP = "purchase_single_cap"
    PURCHASE_DAILY_CAP = "purchase_daily_cap"  # R23 Art 44: a single day's cumulative spending
    PURCHASE_MONTHLY_CAP = "purchase_monthly_cap"
    TIP_MINOR = "tip_minor"
    TIP_PER_TIP_CAP = "tip_per_tip_cap"
    TIP_DAILY_CAP = "tip_daily_cap"
    TIP_MONTHLY_CAP = "tip_monthly_cap"
    PUBLISHER_UNDER_MIN_AGE = "publisher_under_min_age"
    PUBLISHER_CONSENT_REQUIRED = "publisher_guardian_consent_required"
    CALENDAR_NO_DATA = "calendar_no_data"
    REST_REQUIRED = "rest_required"  # G24: a break after continuous play, where the policy enforces it
    GUARDIAN_LIMIT = "guardian_limit"  # a guardian's own setting decided (its `rule` says which)
    STORE_UNAVAILABLE = "store_unavailable"
    DUPLICATE_REQUEST = "duplicate_request"  # an Idempotency-Key whose purchase went ahead or is in flight


class WarningCode(StrEnum):
    PLAY_TIME_LOW = "play_time_low"  # remaining play seconds under a configured threshold
    TIP_HALF_DAILY = "tip_half_daily_limit"  # LS20: confirm when half of a tipping limit is reached
    TIP_HALF_MONTHLY = "tip_half_monthly_limit"
    REST_REMINDER = "rest_reminder"  # G24: continuous play reached the policy's reminder
    CALENDAR_NO_DATA = "calendar_no_data"  # the day was judged by the weekday rule
    CALENDAR_PROVISIONAL = (
        "calendar_provisional"  # no official schedule: statutory days computed, provisional
    )


@dataclass(frozen=True, slots=True)
class DayInfo:
    """What the calendar says about one local date."""

    date: dt.date
    day_type: DayType
    statutory: bool = False  # one of the statutory holiday days (not an in-lieu day of the block)
    name: str | None = None  # the festival a holiday or make-up day belongs to
    known: bool = True  # False when the calendar had no data and the weekday rule was applied


@dataclass(frozen=True, slots=True)
class Subject:
    """The verified facts about the person behind a request (from a JWT or the CLI)."""

    subject_id: str
    birthdate: dt.date | None  # None when not identity-verified
    verified: bool
    guardian_consent: frozenset[str] = frozenset()
    device_id: str | None = None  # guests (nppa-2019) are counted per device
    pi: str | None = None  # the NPPA identity of a verified player, for behaviour reporting
    guardian_of: frozenset[str] = frozenset()  # the children a guardian's token links them to


@dataclass(frozen=True, slots=True)
class Facts:
    """What the request is: the activity and the numbers it carries."""

    activity: Activity
    amount_fen: int | None = None
    game_id: str | None = None
    game_rating: int | None = None  # minimum age of the game, when the request states it


@dataclass(frozen=True, slots=True)
class Warning:
    code: WarningCode
    message: str
    threshold_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """A deny found by one rule (enforced or report-only)."""

    reason: Reason
    rule: str
    legal_basis: str
    mode: Mode
    allowed_again_at: dt.datetime | None = None
    detail: str = ""


class Decision(NamedTuple):
    """The answer for one request. A deny is a value, never an exception.

    `outcome` is what the front door must do. Denies of `report_only` rules are in `report_only`
    and do not change the outcome.

    A NamedTuple rather than a frozen dataclass: as immutable, and built in a quarter of the time
    (a frozen dataclass sets each of its 14 fields through object.__setattr__, ~2.3 µs a decision,
    on the path of every request that is not a cached adult's). `_replace` makes a changed copy.
    """

    outcome: Outcome
    reason: Reason
    band: AgeBand
    rule: str | None = None
    legal_basis: str | None = None
    allowed_again_at: dt.datetime | None = None
    remaining_seconds: int | None = None
    remaining_budget_fen: int | None = None
    warnings: tuple[Warning, ...] = ()
    report_only: tuple[Finding, ...] = ()
    detail: str = ""
    reservation_id: str | None = None
    failed_open: bool = False  # the store could not answer and the rule's failure policy is `open`
    replayed: bool = False  # the answer of an earlier request with the same Idempotency-Key

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.ALLOW
