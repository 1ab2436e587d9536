"""The body of POST /v1/decisions: validated strictly; every problem becomes a 400 problem+json."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from minorguard.types import Activity


class DecisionRequest(BaseModel):
    """Either an `activity`, or the original `method` + `path` to classify by the routes; the subject's
    token directly or inside the original request's `headers`."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    token: str | None = Field(default=None, max_length=8192)
    headers: dict[str, str] = Field(default_factory=dict)
    activity: Activity | None = None
    method: str | None = Field(default=None, pattern=r"^[A-Z]{3,7}$")
    path: str | None = Field(default=None, pattern=r"^/", max_length=2048)
    amount_fen: int | None = Field(default=None, ge=0, le=10**12)
    game_id: str | None = Field(default=None, max_length=128)
    game_rating: int | None = Field(default=None, ge=0, le=18)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=256)
    body: dict[str, Any] | None = None  # the original JSON body, for routes that read one

    @model_validator(mode="after")
    def _one_way(self) -> DecisionRequest:
        if (self.activity is None) == (self.path is None):
            raise ValueError("give either `activity`, or `method` and `path` to classify by the routes")
        if self.activity in (Activity.PURCHASE, Activity.LIVESTREAM_TIP) and self.amount_fen is None:
            raise ValueError(f"{self.activity.value} needs `amount_fen` (an integer number of fen)")
        return self


def parse_decision_request(raw: bytes) -> DecisionRequest | list[dict[str, str]]:
    """The request, or the list of problems (`field`, `message`). Strict JSON: strings stay strings, a
    float amount or a quoted number is an error, enums are their names."""
    try:
        return DecisionRequest.model_validate_json(raw or b"null", strict=True)
    except ValidationError as exc:
        return [
            {
                "field": ".".join(str(p) for p in e["loc"]) or "(body)",
                "message": e["msg"].replace("Value error, ", ""),
            }
            for e in exc.errors()
        ]
