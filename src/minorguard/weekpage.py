"""The week of a policy as a self-contained HTML page (zh-CN or en) or as text for a terminal.

`render_week_html(cp, week_start, language)` is what `minorguard policy week --format html` writes and
what a read-only sidecar endpoint may serve for the policy in force: one HTML string, no script, no
external resource, every cell carrying its instant and answer as data attributes.
"""

from __future__ import annotations

import datetime as dt
from html import escape

from minorguard.rules.compiled import CompiledPolicy
from minorguard.weekview import BandWeek, Day, Week, week_grid

LANGUAGES = ("zh-CN", "en")
TEXT = {
    "zh-CN": {
        "title": "每周游戏时间",
        "week": "周",
        "weekdays": "一二三四五六日",
        "band": {"under_8": "未满8周岁", "age_8_15": "8至15周岁", "age_16_17": "16至17周岁"},
        "age": "示例年龄",
        "day_types": {
            "working_day": "工作日",
            "weekend": "周末",
            "holiday": "节假日",
            "makeup_workday": "调休上班",
        },
        "provisional": "暂定",
        "statutory": "法定",
        "limit": "每日时长",
        "minutes": "分钟",
        "no_limit": "不限",
        "kinds": {
            "allow": "可以游戏",
            "report_only": "仅记录（观察模式规则）",
            "curfew": "宵禁",
            "outside_play_window": "不在允许时段",
            "daily_play_limit": "当日无游戏时长",
            "calendar_no_data": "无节假日数据",
        },
        "caps": "充值上限",
        "single": "单次",
        "monthly": "每月",
        "no_cap": "不限额",
        "no_pay": "不得充值",
        "tips": "直播打赏：未成年人不得打赏",
        "fen": "分",
        "zone": "时区",
    },
    "en": {
        "title": "The week of play",
        "week": "week of",
        "weekdays": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
        "band": {"under_8": "under 8", "age_8_15": "8 to 15", "age_16_17": "16 and 17"},
        "age": "example age",
        "day_types": {
            "working_day": "working day",
            "weekend": "weekend",
            "holiday": "holiday",
            "makeup_workday": "make-up working day",
        },
        "provisional": "provisional",
        "statutory": "statutory",
        "limit": "a day",
        "minutes": "min",
        "no_limit": "no limit",
        "kinds": {
            "allow": "may play",
            "report_only": "allowed: a report-only rule would refuse",
            "curfew": "curfew",
            "outside_play_window": "outside the play windows",
            "daily_play_limit": "no play time that day",
            "calendar_no_data": "no holiday data",
        },
        "caps": "top-up caps",
        "single": "per purchase",
        "monthly": "a month",
        "no_cap": "not capped",
        "no_pay": "no payments",
        "tips": "live-stream tips: none by minors",
        "fen": "fen",
        "zone": "time zone",
    },
}
FESTIVALS_ZH = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "Mid-autumn Festival": "中秋节",
    "National Day": "国庆节",
}
COLOURS = {
    "allow": "#2e7d32",
    "report_only": "#f9a825",
    "curfew": "#37474f",
    "outside_play_window": "#cfd8dc",
    "daily_play_limit": "#ef9a9a",
    "calendar_no_data": "#8d6e63",
}
STYLE = """
body{font-family:"Noto Sans CJK SC","Noto Sans",sans-serif;margin:1.5em;color:#212121}
table.week{border-collapse:collapse;margin:.5em 0 1.5em}
table.week th,table.week td{border:1px solid #fff;padding:0}
table.week th{font-weight:normal;font-size:12px;padding:2px 6px;text-align:left;white-space:nowrap}
table.week td.c{width:14px;height:22px}
.legend span.c{display:inline-block;width:14px;height:14px;margin:0 4px 0 12px;vertical-align:middle}
th.holiday{background:#fff3e0}th.makeup_workday{background:#e3f2fd}
"""


def render_week_html(cp: CompiledPolicy, week_start: dt.date, language: str = "zh-CN") -> str:
    """The page: a days x hours grid per minor age band, the day types, the daily limits and the caps."""
    words = TEXT[language if language in TEXT else "en"]
    week = week_grid(cp, week_start)
    end = week.start + dt.timedelta(days=6)
    title = f"{words['title']} · {week.policy} · {words['week']} {week.start}"
    css = STYLE + "".join(f"td.{k},span.{k}{{background:{v}}}" for k, v in COLOURS.items())
    parts = [
        f'<!DOCTYPE html><html lang="{escape(language)}"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{css}</style></head><body>",
        f'<h1>{escape(title)}</h1><p class="meta">{escape(week.policy)} (revision {week.revision}) · '
        f"{week.start} .. {end} · {words['zone']} {escape(week.zone)}</p>",
        _legend(words),
        *(_band(band, week, words) for band in week.bands),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _legend(words: dict) -> str:  # type: ignore[type-arg]
    items = "".join(f'<span class="c {k}"></span>{escape(v)}' for k, v in words["kinds"].items())
    return f'<p class="legend">{items}</p>'


def _band(band: BandWeek, week: Week, words: dict) -> str:  # type: ignore[type-arg]
    span = 60 // week.step
    hours = "".join(f'<th colspan="{span}">{h:02d}</th>' for h in range(24))
    rows = "".join(_row(day, week, words) for day in band.days)
    name = words["band"][band.band.value]
    return (
        f'<section class="band" data-band="{band.band.value}" data-age="{band.age}">'
        f"<h2>{escape(name)} ({words['age']} {band.age})</h2>"
        f'<table class="week"><tr><th></th><th>{words["limit"]}</th>{hours}</tr>{rows}</table>'
        f'<p class="caps">{escape(_caps(band, words))}</p></section>'
    )


def _row(day: Day, week: Week, words: dict) -> str:  # type: ignore[type-arg]
    info = day.info
    label = (
        f"{day.date.strftime('%m-%d')} {_weekday(day.date, words)} {words['day_types'][info.day_type.value]}"
    )
    if info.name and info.day_type.value in ("holiday", "makeup_workday"):
        name = FESTIVALS_ZH.get(info.name, info.name) if words is TEXT["zh-CN"] else info.name
        label += f" · {name}" + (f" ({words['statutory']})" if info.statutory else "")
    if day.provisional:
        label += f" · {words['provisional']}"
    limit = words["no_limit"] if day.minutes is None else f"{day.minutes} {words['minutes']}"
    cells = "".join(
        f'<td class="c {c.kind}" data-at="{c.start.isoformat()}" data-outcome="{c.outcome}" '
        f'data-reason="{c.reason}" title="{c.start.strftime("%H:%M")} {escape(_kind(c.kind, words))}"></td>'
        for c in day.cells
    )
    return (
        f'<tr data-date="{day.date}" data-day-type="{info.day_type.value}">'
        f'<th class="{info.day_type.value}">{escape(label)}</th><th>{escape(limit)}</th>{cells}</tr>'
    )


def _kind(kind: str, words: dict) -> str:  # type: ignore[type-arg]
    return str(words["kinds"].get(kind, kind))


def _caps(band: BandWeek, words: dict) -> str:  # type: ignore[type-arg]
    if band.caps is None:
        caps = words["no_cap"]
    elif band.caps[1] == 0:
        caps = words["no_pay"]
    else:
        single, monthly = band.caps
        caps = f"{words['single']} {single} {words['fen']}, {words['monthly']} {monthly} {words['fen']}"
    return f"{words['caps']}: {caps}" + (f" · {words['tips']}" if band.tips else "")


def _weekday(date: dt.date, words: dict) -> str:  # type: ignore[type-arg]
    name = words["weekdays"][date.weekday()]
    return f"周{name}" if len(name) == 1 else name


SYMBOLS = {
    "allow": "#",
    "report_only": "r",
    "curfew": ".",
    "outside_play_window": "-",
    "daily_play_limit": "x",
    "calendar_no_data": "?",
}


def render_week_text(cp: CompiledPolicy, week_start: dt.date) -> str:
    """The same grid for a terminal: one character per cell, one line per day."""
    week = week_grid(cp, week_start)
    width = 1440 // week.step
    ruler = "".join(f"{h:<{6 * 60 // week.step}}" for h in range(0, 24, 6))[:width]
    lines = [
        f"{week.policy} (revision {week.revision}), week of {week.start} ({week.zone}); "
        f"one character is {week.step} minutes",
        "# may play   r allowed by a report-only rule   . curfew   - outside the play windows   "
        "x no play time that day   ? no holiday data",
    ]
    for band in week.bands:
        lines += ["", f"{band.band.value} (age {band.age}); {_caps(band, TEXT['en'])}", f"{'':<24}{ruler}"]
        for day in band.days:
            label = f"{day.date.strftime('%a %m-%d')} {day.info.day_type.value}"
            row = "".join(SYMBOLS.get(c.kind, "!") for c in day.cells)
            limit = "no limit" if day.minutes is None else f"{day.minutes} min"
            note = f"  {day.info.name}" if day.info.name and day.info.day_type.value != "working_day" else ""
            lines.append(f"{label:<24}{row}  {limit}{note}{' (provisional)' if day.provisional else ''}")
    return "\n".join(line.rstrip() for line in lines) + "\n"
