"""The policy sections of issue 17: the rest reminder of continuous play (`game.rest_reminder`) and
what guardians may set for their child (`guardian`).

A guardian may always make a rule stricter; the policy says what a guardian may loosen and how far.
Hours (the curfew, the play windows) and spending caps are never a guardian's to loosen: every preset
takes them from the law or an NPPA notice. What a guardian may loosen is the daily play time (up to a
bound per age band) and the rest reminder (an exemption): the CAC minor-mode guidelines (G24) let
parents adjust durations and define exemptions.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from minorguard.policy.values import Looser, MinorBand, Minutes, Strict

G24 = "移动互联网未成年人模式建设指南 (CAC minor-mode guidelines 2024)"
R23_43 = (
    "未成年人保护法 第七十四条; 未成年人网络保护条例 第四十三条"
    " (Minors Protection Law Art 74 ¶2; Regulations Art 43)"
)


class ReminderMode(StrEnum):
    """`remind` adds a warning to the answer (a client shows it); `enforce` also refuses play until
    the break is over; `off` tracks nothing."""

    OFF = "off"
    REMIND = "remind"
    ENFORCE = "enforce"


class RestReminder(Strict):
    """A reminder to rest after `after_minutes` of continuous play (G24: 30 minutes). Play is
    continuous until no heartbeat arrives for more than `break_minutes`: that gap is a break, and the
    next heartbeat starts a new session."""

    mode: ReminderMode = ReminderMode.OFF
    looser_than_law: Looser = None
    after_minutes: int = Field(default=30, ge=1, le=600)
    break_minutes: int = Field(default=10, ge=1, le=600)
    legal_basis: str = G24


class GuardianLoosening(Strict):
    """What a guardian may loosen, and how far."""

    daily_minutes: dict[MinorBand, Minutes] = Field(
        default_factory=dict,
        description="per age band, the most minutes of play a day a guardian may allow "
        "(above the policy's own limit); a band not named: a guardian may only lower the limit",
    )
    rest_reminder: bool = Field(
        default=False, description="a guardian may exempt their child from the rest reminder"
    )


class GuardianRules(Strict):
    """Guardian settings per child (LAW Art 74 ¶2; R23 Art 43, 44; G24): a lower daily play time, fewer
    hours, lower or zero spending caps, tipping off, consent to a publisher account given or withdrawn,
    and the exemptions `may_loosen` allows. `enabled: false` never reads them. Settings are kept as
    long as the child keeps using the service or the guardian changes them, and forgotten after
    `keep_days` of neither."""

    enabled: bool = False
    looser_than_law: Looser = None
    keep_days: int = Field(default=400, ge=30, le=3660)
    may_loosen: GuardianLoosening = Field(default_factory=GuardianLoosening)
    legal_basis: str = R23_43
