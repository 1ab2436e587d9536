"""What a guardian sends: their settings for one child, in words (the body of PUT
/v1/guardian/children/{subject}/settings, `minorguard guardian set`, `policy explain --guardian` and
the `guardian:` of a table case). Strict like a policy file: unknown keys, floats, quoted numbers and
times that are not "HH:MM" are refused. Whether the values stay within what the policy lets a guardian
set is checked against the policy in force (rules/guardianbounds.py).

    {"daily_play_minutes": {"default": 30, "weekend": 60},
     "allowed_hours": {"default": [{"start": "19:00", "end": "20:00"}]},
     "purchase_caps": {"single": 1000, "daily": 2000, "monthly": 5000},
     "tipping": false,
     "publisher_consent": true,
     "exemptions": ["rest_reminder"]}
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from minorguard.policy.values import Hours, MinorBand, Minutes, Strict

MAX_FEN = 10**12
CapFen = Annotated[int, Field(ge=0, le=MAX_FEN, description="money in fen (分): 5000 is ¥50.00")]
Periods = Annotated[list[Hours], Field(max_length=8)]
DAY_TYPE_KEYS = ("working_day", "weekend", "holiday", "makeup_workday")


class DayMinutes(Strict):
    """Minutes of play a day; `default` for every day type not named."""

    default: Minutes | None = None
    working_day: Minutes | None = None
    weekend: Minutes | None = None
    holiday: Minutes | None = None
    makeup_workday: Minutes | None = None


class DayHours(Strict):
    """The hours a child may play (within the policy's); `default` for every day type not named, and an
    empty list for no play that day type."""

    default: Periods | None = None
    working_day: Periods | None = None
    weekend: Periods | None = None
    holiday: Periods | None = None
    makeup_workday: Periods | None = None


class PurchaseCaps(Strict):
    """Lower caps than the policy's (0: no purchases), in fen."""

    single: CapFen | None = None
    daily: CapFen | None = None
    monthly: CapFen | None = None


class Exemption(StrEnum):
    REST_REMINDER = "rest_reminder"


class GuardianSettingsInput(Strict):
    """A guardian's settings for one child. Every key is optional; what is not given keeps the
    policy's value. The whole set replaces what was stored before."""

    daily_play_minutes: DayMinutes | None = None
    allowed_hours: DayHours | None = None
    purchase_caps: PurchaseCaps | None = None
    tipping: bool | None = Field(default=None, description="false: no tipping (true: as the policy says)")
    publisher_consent: bool | None = Field(
        default=None, description="consent to a live-stream publisher account (16-17): given or withdrawn"
    )
    exemptions: list[Exemption] = Field(default_factory=list, max_length=4)
    age_band: MinorBand | None = Field(
        default=None, description="check the bounds of this age band only (never stored)"
    )
