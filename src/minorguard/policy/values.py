"""The value types of policy files: "HH:MM" times, money in fen, minutes, age bands, and the strict
base model every section of a policy (and of a guardian's settings) is built on."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$|^24:00$")


def _check_hhmm(value: str) -> str:
    if not _HHMM.match(value):
        raise PydanticCustomError(
            "time", 'write a time as "HH:MM" from "00:00" to "24:00" (got "{value}")', {"value": value}
        )
    return value


def minutes_of(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _reject_numbers(value: object) -> object:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise PydanticCustomError(
            "time", 'write times in quotes, like "22:00" (got the number {value})', {"value": value}
        )
    return value


Time = Annotated[str, BeforeValidator(_reject_numbers), AfterValidator(_check_hhmm)]

Fen = Annotated[int, Field(ge=0, description="money in fen (分): 5000 is ¥50.00")]
Minutes = Annotated[int, Field(ge=0, le=1440)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, use_enum_values=False)


class Acknowledgement(Strict):
    """A rule knowingly left looser than the law or than the notice its preset claims (policy/floor.py).
    Only the policy file itself can acknowledge: what a preset acknowledges is not inherited. The
    reason is shown by `policy check` and `policy info`, logged with every decision and exported as a
    metric label, so an auditor sees it."""

    reason: str = Field(min_length=10, description="why, who decided, and until when")


Looser = Annotated[
    Acknowledgement | None,
    Field(description="acknowledge that this rule is looser than the law, with a reason"),
]


class MinorBand(StrEnum):
    UNDER_8 = "under_8"
    AGE_8_15 = "age_8_15"
    AGE_16_17 = "age_16_17"


class Hours(Strict):
    start: Time
    end: Time

    @model_validator(mode="after")
    def _ordered(self) -> Hours:
        if minutes_of(self.end) <= minutes_of(self.start):
            raise PydanticCustomError(
                "hours", 'end must be after start on the same day (use "24:00" for midnight)'
            )
        return self
