"""A guardian's settings in words (policy/guardiansettings.py) against the policy in force: what they
may set, the stored form, and back.

A guardian may always make a rule stricter. Above the policy's own daily play time they may go only
up to `guardian.may_loosen.daily_minutes` of the band; above the policy's purchase caps not at all;
the rest-reminder exemption only where `may_loosen.rest_reminder` allows it. minorguard never stores a
child's age, so a value is checked against every minor band unless the request names the child's
`age_band`; it is re-clamped to the child's band at each decision anyway (rules/guardian.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from minorguard.policy.guardiansettings import DAY_TYPE_KEYS, Exemption, GuardianSettingsInput
from minorguard.policy.values import Hours, MinorBand, minutes_of
from minorguard.rules.compiled import CompiledPolicy
from minorguard.rules.guardian import GuardianSettings, Period
from minorguard.types import AgeBand, DayType, Mode

_CAPS = (("single", "single"), ("daily", "daily"), ("monthly", "monthly"))


@dataclass(frozen=True, slots=True)
class Beyond:
    """A value past what the policy lets a guardian set: the field, why, and the most allowed."""

    field: str
    message: str
    bound: int | None = None

    def json(self) -> dict[str, Any]:
        found: dict[str, Any] = {"field": self.field, "message": self.message}
        if self.bound is not None:
            found["bound"] = self.bound
        return found


def to_settings(given: GuardianSettingsInput, *, now: int, keep_seconds: int) -> GuardianSettings:
    minutes = _per_day_type(given.daily_play_minutes)
    hours = {t: _periods(v) for t, v in _per_day_type(given.allowed_hours).items()}
    caps = given.purchase_caps
    return GuardianSettings(
        minutes=minutes,
        hours=hours,
        single=None if caps is None else caps.single,
        daily=None if caps is None else caps.daily,
        monthly=None if caps is None else caps.monthly,
        tips_off=given.tipping is False,
        consent=given.publisher_consent,
        rest_exempt=Exemption.REST_REMINDER in given.exemptions,
        updated_at=now,
        keep_seconds=keep_seconds,
    )


def _per_day_type(group: Any) -> dict[DayType, Any]:
    """The value of each day type: its own, else the group's default (absent when neither is given)."""
    if group is None:
        return {}
    found = {}
    for key in DAY_TYPE_KEYS:
        value = getattr(group, key)
        value = group.default if value is None else value
        if value is not None:
            found[DayType(key)] = value
    return found


def _periods(hours: list[Hours]) -> tuple[Period, ...]:
    """Sorted, overlaps merged."""
    merged: list[Period] = []
    for start, end in sorted((minutes_of(h.start), minutes_of(h.end)) for h in hours):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


def beyond(given: GuardianSettingsInput, cp: CompiledPolicy) -> list[Beyond]:
    """Every value past what the policy in force lets a guardian set (empty: all within)."""
    bands = [AgeBand(given.age_band.value)] if given.age_band else [AgeBand(b.value) for b in MinorBand]
    found = _minutes_beyond(given, cp, bands) + _caps_beyond(given, cp, bands)
    may = cp.policy.spec.guardian.may_loosen
    if Exemption.REST_REMINDER in given.exemptions and not may.rest_reminder:
        found.append(
            Beyond("exemptions", "this policy does not let a guardian exempt from the rest reminder")
        )
    return found


def most_minutes(cp: CompiledPolicy, band: AgeBand, day_type: DayType) -> int | None:
    """The most minutes a day a guardian may allow the band (None: no bound, the policy has no limit)."""
    policy = cp.daily_limit_of(band, day_type)
    if policy is None:
        return None
    return max(policy, cp.guardian_bounds.get(band, 0)) // 60


def _minutes_beyond(given: GuardianSettingsInput, cp: CompiledPolicy, bands: list[AgeBand]) -> list[Beyond]:
    group = given.daily_play_minutes
    if group is None:
        return []
    found = []
    for key in ("default", *DAY_TYPE_KEYS):
        value = getattr(group, key)
        types = [DayType(k) for k in DAY_TYPE_KEYS if key == "default" and getattr(group, k) is None]
        types = types if key == "default" else [DayType(key)]
        if value is None or not types:
            continue
        bound = _bound(cp, bands, types)
        if bound is not None and value > bound:
            message = f"{value} minutes is more than this policy lets a guardian allow (at most {bound})"
            found.append(Beyond(f"daily_play_minutes.{key}", message, bound))
    return found


def _bound(cp: CompiledPolicy, bands: list[AgeBand], types: list[DayType]) -> int | None:
    """The most a value for all of `types` may be: within each day type's bound, where a day type's
    bound is the loosest of the bands (the child's band is not known); None when nothing bounds it."""
    per_type = []
    for day_type in types:
        bounds = [most_minutes(cp, band, day_type) for band in bands]
        if all(b is not None for b in bounds):
            per_type.append(max(b for b in bounds if b is not None))
    return min(per_type) if per_type else None


def _caps_beyond(given: GuardianSettingsInput, cp: CompiledPolicy, bands: list[AgeBand]) -> list[Beyond]:
    caps = given.purchase_caps
    rule = cp.policy.spec.purchase
    if caps is None or rule.mode is Mode.OFF:
        return []
    found = []
    for key, _ in _CAPS:
        value = getattr(caps, key)
        bounds = [_policy_cap(rule.caps.get(MinorBand(b.value)), key) for b in bands]
        if value is None or None in bounds:
            continue
        bound = max(b for b in bounds if b is not None)
        if value > bound:
            message = f"{value} fen is above the policy's cap ({bound}): a guardian may only lower caps"
            found.append(Beyond(f"purchase_caps.{key}", message, bound))
    return found


def _policy_cap(cap: Any, key: str) -> int | None:
    if cap is None:
        return None
    value: int | None = getattr(cap, key)
    return cap.monthly if value is None else value


def settings_json(settings: GuardianSettings) -> dict[str, Any]:
    """The settings in words, every day type spelt out: sent back as a PUT body, they store the same."""
    found: dict[str, Any] = {}
    if settings.minutes:
        found["daily_play_minutes"] = {t.value: m for t, m in _ordered(settings.minutes)}
    if settings.hours:
        found["allowed_hours"] = {
            t.value: [{"start": _hhmm(a), "end": _hhmm(b)} for a, b in periods]
            for t, periods in _ordered(settings.hours)
        }
    caps = {
        k: v
        for k, v in (("single", settings.single), ("daily", settings.daily), ("monthly", settings.monthly))
        if v is not None
    }
    if caps:
        found["purchase_caps"] = caps
    if settings.tips_off:
        found["tipping"] = False
    if settings.consent is not None:
        found["publisher_consent"] = settings.consent
    if settings.rest_exempt:
        found["exemptions"] = [Exemption.REST_REMINDER.value]
    return found


def bounds_json(cp: CompiledPolicy) -> dict[str, Any]:
    """What a guardian may set under the policy in force, per age band: the most minutes a day per
    day type (null: no bound), the policy's purchase caps (a guardian may only go lower; null: none),
    and the exemptions a guardian may grant."""
    rule = cp.policy.spec.purchase
    bands: dict[str, Any] = {}
    for band in MinorBand:
        age = AgeBand(band.value)
        cap = rule.caps.get(band) if rule.mode is not Mode.OFF else None
        bands[band.value] = {
            "daily_play_minutes": {k: most_minutes(cp, age, DayType(k)) for k in DAY_TYPE_KEYS},
            "purchase_caps": {k: _policy_cap(cap, k) for k, _ in _CAPS},
        }
    may = cp.policy.spec.guardian.may_loosen
    return {"bands": bands, "exemptions": [Exemption.REST_REMINDER.value] if may.rest_reminder else []}


def _ordered(values: Any) -> list[tuple[DayType, Any]]:
    order = {DayType(k): i for i, k in enumerate(DAY_TYPE_KEYS)}
    return sorted(values.items(), key=lambda item: order[item[0]])


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
