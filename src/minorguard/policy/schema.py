"""The schema of a policy file, as strict pydantic models.

`extra="forbid"` makes an unknown key an error (the loader adds a "did you mean" hint); `strict=True`
keeps YAML's types honest: money is an integer number of fen, never a float or a string; a time is an
"HH:MM" string, never a number. Defaults here are the *neutral* values (a rule that is not configured is
off); the bundled presets set the regulated numbers, each with its source.
"""

from __future__ import annotations

import zoneinfo
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from minorguard.policy.guardianrules import GuardianRules, ReminderMode, RestReminder
from minorguard.policy.values import Fen, Hours, Looser, MinorBand, Minutes, Time, minutes_of
from minorguard.policy.values import Strict as _Strict
from minorguard.types import FailurePolicy, Mode

# The neutral citations: what the statute itself says. Presets that implement a notice cite it instead.
LAW_74 = (
    "未成年人保护法 第七十四条; 未成年人网络保护条例 第四十四条"
    " (Minors Protection Law Art 74; Regulations Art 44)"
)
LAW_75 = "未成年人保护法 第七十五条 (Minors Protection Law Art 75)"
LS20 = "国家广播电视总局关于加强网络秀场直播和电商直播管理的通知 (NRTA notice on live streaming 2020)"
LS22_1 = "关于规范网络直播打赏 加强未成年人保护的意见 第一条 (live-stream tipping opinions 2022 §1)"


class BirthdayRule(StrEnum):
    """When a new year of age begins: at local midnight of the birthday (the default, as every public
    SDK does), or of the day after (the SPC's criminal-law reading; regulations.md §0)."""

    ON_BIRTHDAY = "on_birthday"
    DAY_AFTER = "day_after"


class CalendarMode(StrEnum):
    """How NPPA 2021's "Fridays, Saturdays, Sundays and statutory holidays" is read.

    practice: make-up working days (调休) are not play days, and every day of an official holiday block
    is (the calendars Tencent and NetEase publish). literal: Fri/Sat/Sun always, plus the statutory
    holiday days only."""

    PRACTICE = "practice"
    LITERAL = "literal"


class MissingCalendarData(StrEnum):
    """What a day without official holiday data is: `provisional` (the default) makes the statutory days
    of its year holidays, computed from the decree and the lunar calendar, and judges other days by
    their weekday, with a `calendar_provisional` warning; `weekday_rule` judges every such day by its
    weekday, with a `calendar_no_data` warning; `deny` refuses minors game service that day."""

    PROVISIONAL = "provisional"
    WEEKDAY_RULE = "weekday_rule"
    DENY = "deny"


class DayName(StrEnum):
    MONDAY = "monday"
    TUESDAY = "tuesday"
    WEDNESDAY = "wednesday"
    THURSDAY = "thursday"
    FRIDAY = "friday"
    SATURDAY = "saturday"
    SUNDAY = "sunday"
    HOLIDAY = "holiday"


class Identity(_Strict):
    """Real-name verification (LAW Art 75 ¶2; N19 §1, N21 §2 where a preset implements them): who counts
    as verified is decided by the identity provider's token; this says which law refusing play to an
    unverified player cites."""

    legal_basis: str = LAW_75


class CalendarSettings(_Strict):
    mode: CalendarMode = CalendarMode.PRACTICE
    missing_data: MissingCalendarData = MissingCalendarData.PROVISIONAL
    override_files: list[str] = Field(default_factory=list, description="paths relative to this file")


class Curfew(_Strict):
    """No game service to minors between `start` and `end` (LAW Art 75: 22:00 to 08:00)."""

    mode: Mode = Mode.OFF
    looser_than_law: Looser = None
    start: Time = "22:00"
    end: Time = "08:00"
    legal_basis: str = LAW_75

    @model_validator(mode="after")
    def _not_empty(self) -> Curfew:
        if minutes_of(self.start) % 1440 == minutes_of(self.end) % 1440:
            raise PydanticCustomError("curfew", "start and end are the same time: the curfew would be empty")
        return self


class PlayWindows(_Strict):
    """Minors may play only on `days`, only within `hours` (N21 §1: Fri/Sat/Sun and holidays, 20:00-21:00)."""

    mode: Mode = Mode.OFF
    looser_than_law: Looser = None
    days: list[DayName] = Field(default_factory=list)
    hours: list[Hours] = Field(default_factory=list)
    legal_basis: str = "国新出发〔2021〕14号 第一条 (NPPA notice 2021 §1)"


class DailyMinutes(_Strict):
    """Minutes of play per local day; `default` for every day type not named."""

    default: Minutes
    working_day: Minutes | None = None
    weekend: Minutes | None = None
    holiday: Minutes | None = None
    makeup_workday: Minutes | None = None


class PlayTime(_Strict):
    """Daily play time, counted on the server from heartbeats (N19 §2; G24)."""

    mode: Mode = Mode.OFF
    looser_than_law: Looser = None
    on_store_error: FailurePolicy = FailurePolicy.OPEN
    max_gap_seconds: int = Field(default=300, ge=10, le=3600)
    warn_before_minutes: list[Annotated[int, Field(ge=1, le=240)]] = Field(default_factory=lambda: [15, 1])
    daily_minutes: dict[MinorBand, DailyMinutes] = Field(default_factory=dict)
    legal_basis: str = "国新出发〔2019〕34号 第二条 (NPPA notice 2019 §2)"


class Guest(_Strict):
    """Guest mode for unverified players (N19 §1: at most 1 hour, not again on the device within 15 days;
    abolished by N21 §2)."""

    mode: Mode = Mode.OFF
    looser_than_law: Looser = None
    on_store_error: FailurePolicy = FailurePolicy.CLOSED
    minutes: int = Field(default=60, ge=1, le=1440)
    cooldown_days: int = Field(default=15, ge=1, le=366)
    legal_basis: str = "国新出发〔2019〕34号 第一条 (NPPA notice 2019 §1)"


class Rating(_Strict):
    """Age-appropriateness ratings (LAW Art 75 ¶3; R23 Art 47): a game's minimum age."""

    mode: Mode = Mode.OFF
    looser_than_law: Looser = None
    games: dict[str, Annotated[int, Field(ge=0, le=18)]] = Field(default_factory=dict)
    legal_basis: str = (
        "未成年人保护法 第七十五条; 未成年人网络保护条例 第四十七条 (Art 75; Regulations Art 47)"
    )


class Game(_Strict):
    curfew: Curfew = Field(default_factory=Curfew)
    play_windows: PlayWindows = Field(default_factory=PlayWindows)
    play_time: PlayTime = Field(default_factory=PlayTime)
    rest_reminder: RestReminder = Field(default_factory=RestReminder)
    guest: Guest = Field(default_factory=Guest)
    rating: Rating = Field(default_factory=Rating)

    @model_validator(mode="after")
    def _break_outlasts_a_gap(self) -> Game:
        rest, gap = self.rest_reminder, self.play_time.max_gap_seconds
        if rest.mode is not ReminderMode.OFF and rest.break_minutes * 60 < gap:
            raise PydanticCustomError(
                "rest",
                "rest_reminder.break_minutes ({minutes}) is shorter than play_time.max_gap_seconds "
                "({gap} s): a gap that still counts as play cannot be a break",
                {"minutes": rest.break_minutes, "gap": gap},
            )
        return self


class SpendCap(_Strict):
    """Caps in fen: per purchase, per local day (R23 Art 44; optional) and per calendar month."""

    single: Fen
    daily: Fen | None = None
    monthly: Fen

    @model_validator(mode="after")
    def _single_within_monthly(self) -> SpendCap:
        if self.single > self.monthly:
            raise PydanticCustomError("cap", "single is larger than monthly: no purchase could reach it")
        if self.daily is not None and not self.single <= self.daily <= self.monthly:
            raise PydanticCustomError(
                "cap", "daily must lie between single and monthly: otherwise one of them could never apply"
            )
        return self


class PurchaseBasis(_Strict):
    """The citation of each purchase refusal: one reason may rest on different articles (an unverified
    player's purchase on real identity, an under-8's on the caps)."""

    unverified: str = LAW_75  # purchase_not_allowed for a player without a verified identity
    purchase_not_allowed: str = LAW_74  # a band that may not pay at all (under 8 in N19 §3)
    purchase_single_cap: str = LAW_74
    purchase_daily_cap: str = LAW_74
    purchase_monthly_cap: str = LAW_74


class Purchase(_Strict):
    """In-game top-ups by minors (N19 §3): per-purchase and calendar-month caps by age band."""

    mode: Mode = Mode.OFF
    looser_than_law: Looser = None
    on_store_error: FailurePolicy = FailurePolicy.CLOSED
    caps: dict[MinorBand, SpendCap] = Field(default_factory=dict)
    allow_unverified: bool = False
    reservation_ttl_seconds: int = Field(default=900, ge=10, le=86400)
    refund_restores_quota: bool = True
    legal_basis: str | PurchaseBasis = Field(
        default_factory=PurchaseBasis, description="one citation for every refusal, or one per reason"
    )

    def basis(self, reason: str) -> str:
        """The citation of a refusal: `reason` is a field of PurchaseBasis."""
        basis = self.legal_basis
        return basis if isinstance(basis, str) else str(getattr(basis, reason))


class PublisherRegistration(_Strict):
    """Live-stream publisher accounts (LAW Art 76): none under `min_age`; minors from `min_age` need a
    verified identity and the guardian's consent; adults need a verified identity."""

    mode: Mode = Mode.OFF
    looser_than_law: Looser = None
    min_age: int = Field(default=16, ge=0, le=18)
    consent_scope: str = Field(default="livestream_publisher", min_length=1)
    legal_basis: str = "未成年人保护法 第七十六条 (Minors Protection Law Art 76)"


class TipCaps(_Strict):
    per_tip: Fen | None = None
    daily: Fen | None = None
    monthly: Fen | None = None


class TipBasis(_Strict):
    """The citation of each tipping refusal: the ban on minors is LS22's, the rest LS20's."""

    unverified: str = LS20  # identity_unverified: users without real-name registration may not tip
    tip_minor: str = LS22_1
    tip_per_tip_cap: str = LS20
    tip_daily_cap: str = LS20
    tip_monthly_cap: str = LS20


class Tip(_Strict):
    """Tipping streamers: banned for minors and unverified users (LS22 §1; LS20); adults within
    platform-set per-tip, daily and monthly caps, with a warning at half of a limit (LS20)."""

    mode: Mode = Mode.OFF
    looser_than_law: Looser = None
    on_store_error: FailurePolicy = FailurePolicy.CLOSED
    adult_caps: TipCaps = Field(default_factory=TipCaps)
    warn_at_percent: int = Field(default=50, ge=1, le=100)
    reservation_ttl_seconds: int = Field(default=900, ge=10, le=86400)
    legal_basis: str | TipBasis = Field(
        default_factory=TipBasis, description="one citation for every refusal, or one per reason"
    )

    def basis(self, reason: str) -> str:
        """The citation of a refusal: `reason` is a field of TipBasis."""
        basis = self.legal_basis
        return basis if isinstance(basis, str) else str(getattr(basis, reason))


class PolicyFile(_Strict):
    """One policy file. `extends` names a bundled preset whose values this file overrides."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, strict=True, json_schema_extra={"title": "minorguard policy"}
    )

    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*$")
    description: str = ""
    extends: str | None = None
    timezone: str = "Asia/Shanghai"
    birthday: BirthdayRule = BirthdayRule.ON_BIRTHDAY
    calendar: CalendarSettings = Field(default_factory=CalendarSettings)
    identity: Identity = Field(default_factory=Identity)
    game: Game = Field(default_factory=Game)
    purchase: Purchase = Field(default_factory=Purchase)
    livestream_publisher: PublisherRegistration = Field(default_factory=PublisherRegistration)
    livestream_tip: Tip = Field(default_factory=Tip)
    guardian: GuardianRules = Field(default_factory=GuardianRules)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise PydanticCustomError(
                "timezone",
                "unknown time zone '{value}' (use an IANA name like \"Asia/Shanghai\")",
                {"value": value},
            ) from None
        return value
