"""`minorguard policy info`: what a policy is made of, for the people who answer for it. Where it comes
from, which documents' numbers it keeps (the floor of policy/floor.py), the calendar it reads, and the
rules it knowingly keeps looser than the law, with their reasons."""

from __future__ import annotations

import datetime as dt
from typing import Any

from minorguard.adapters.calendars import StatutoryCalendar
from minorguard.policy.loader import Policy

LAW = "the Law on the Protection of Minors, Arts 74-76"
DOCUMENTS = {
    "nppa-2019": "国新出发〔2019〕34号 (NPPA notice 2019)",
    "nppa-2021": "国新出发〔2021〕14号 (NPPA notice 2021)",
    "minor-mode-2024": "移动互联网未成年人模式建设指南 (CAC minor-mode guidelines 2024)",
    "livestream-2022": "LS22 tipping opinions and the NRTA notice of 2020",
}


def policy_info(policy: Policy, today: dt.date) -> dict[str, Any]:
    """The facts `policy info` prints, as plain data (its --format json)."""
    spec = policy.spec
    calendar = StatutoryCalendar(policy.calendar_files)
    return {
        "policy": policy.name,
        "revision": policy.revision,
        "description": spec.description,
        "file": policy.sources[0],
        "extends": [name for name in policy.claims if name != policy.name],
        "floor": [LAW, *(DOCUMENTS[name] for name in policy.claims if name in DOCUMENTS)],
        "timezone": spec.timezone,
        "calendar": {
            "mode": spec.calendar.mode.value,
            "missing_data": spec.calendar.missing_data.value,
            "override_files": [str(f) for f in policy.calendar_files],
            "data_until": calendar.last_covered_date.isoformat(),
            "days_of_data_left": calendar.days_of_data_left(today),
        },
        "looser_than_law": [
            {"rule": a.rule, "articles": list(a.articles), "reason": a.reason} for a in policy.acknowledged
        ],
        "guardian": guardian_info(policy),
        "rest_reminder": _rest_reminder(policy),
    }


def guardian_info(policy: Policy) -> dict[str, Any]:
    """What a guardian may set: always stricter; looser only as `guardian.may_loosen` says."""
    rules = policy.spec.guardian
    may = rules.may_loosen
    return {
        "enabled": rules.enabled,
        "keep_days": rules.keep_days,
        "may_raise_daily_minutes_to": {band.value: m for band, m in may.daily_minutes.items()},
        "may_exempt_from_rest_reminder": may.rest_reminder,
    }


def _rest_reminder(policy: Policy) -> dict[str, Any]:
    rest = policy.spec.game.rest_reminder
    return {"mode": rest.mode.value, "after_minutes": rest.after_minutes, "break_minutes": rest.break_minutes}


def guardian_lines(policy: Policy) -> list[str]:
    """What `policy check` says of guardian settings: read or not, and how far a guardian may go."""
    info = guardian_info(policy)
    if not info["enabled"]:
        return ["    guardian settings: not read (guardian.enabled: false)"]
    return [f"    guardian settings: {_guardian_text(info)}"]


def _guardian_text(info: dict[str, Any]) -> str:
    raised = info["may_raise_daily_minutes_to"]
    parts = ["read; a guardian may make every limit stricter (less play, fewer hours, lower caps, no tips)"]
    if raised:
        bands = ", ".join(f"{band} to {minutes} min" for band, minutes in raised.items())
        parts.append(f"may raise the daily play time: {bands}")
    else:
        parts.append("may not raise the daily play time")
    if info["may_exempt_from_rest_reminder"]:
        parts.append("may exempt from the rest reminder")
    parts.append(f"kept {info['keep_days']} days after the last use or change")
    return "; ".join(parts)


def info_lines(info: dict[str, Any]) -> list[str]:
    """The text form: one `key  value` row per fact, then one row per acknowledged rule."""
    calendar = info["calendar"]
    overrides = ", ".join(calendar["override_files"]) or "none"
    rows = [
        ("policy", f"{info['policy']} (revision {info['revision']})"),
        ("file", info["file"]),
        ("extends", " -> ".join(info["extends"]) or "nothing"),
        ("keeps the floor of", "; ".join(info["floor"])),
        ("time zone", info["timezone"]),
        ("calendar", f"{calendar['mode']}; a day without data: {calendar['missing_data']}"),
        ("override files", overrides),
        ("holiday data", f"until {calendar['data_until']}, {calendar['days_of_data_left']} days left"),
        ("rest reminder", _rest_text(info["rest_reminder"])),
        (
            "guardian settings",
            "not read" if not info["guardian"]["enabled"] else _guardian_text(info["guardian"]),
        ),
    ]
    looser = info["looser_than_law"]
    if not looser:
        rows.append(("looser than the law", "none"))
    for item in looser:
        rows.append(("looser than the law", f"{item['rule']}: {'; '.join(item['articles'])}"))
        rows.append(("  because", item["reason"]))
    return [f"{key:<22}{value}" for key, value in rows]


def _rest_text(rest: dict[str, Any]) -> str:
    if rest["mode"] == "off":
        return "off"
    after, pause = rest["after_minutes"], rest["break_minutes"]
    return f"{rest['mode']} after {after} min of continuous play (a break: {pause} min)"


def acknowledgement_lines(policy: Policy) -> list[str]:
    """What `policy check` adds under an ok line: each acknowledged rule and its reason."""
    return [
        f"    looser than the law, acknowledged: {a.rule} ({'; '.join(a.articles)}): {a.reason}"
        for a in policy.acknowledged
    ]
