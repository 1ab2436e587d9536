"""GET /v1/policy/week: the week of the policy in force as a self-contained HTML page (weekpage.py),
read-only, for policy staff and support. `?week=YYYY-MM-DD` (a day of the week; default this week in
the policy's zone) and `?lang=zh-CN|en`. A page takes some hundred explain calls to draw, so pages are
kept per policy revision, week and language, and only weeks within a year of today are drawn."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs

from minorguard.gate.gate import Gate
from minorguard.sidecar.http import Request, send_answer
from minorguard.web.answers import Answer, problem_answer
from minorguard.weekpage import LANGUAGES, render_week_html

_KEPT = 32
_REACH = dt.timedelta(days=371)


class WeekPage:
    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self._pages: dict[tuple[str, dt.date, str], bytes] = {}

    async def __call__(self, request: Request) -> None:
        cp = self.gate.engine.policy
        today = cp.instant(self.gate.engine.clock()).date
        try:
            fields = parse_qs(request.query, max_num_fields=4, strict_parsing=False)
        except ValueError:
            fields = {}
        language = (fields.get("lang") or ["zh-CN"])[0]
        week = (fields.get("week") or [today.isoformat()])[0]
        try:
            day = dt.date.fromisoformat(week) if len(week) == 10 else None
        except ValueError:
            day = None
        if day is None or abs(day - today) > _REACH or language not in LANGUAGES:
            detail = f"give week=YYYY-MM-DD within a year of {today} and lang={' or '.join(LANGUAGES)}"
            await send_answer(request.send, problem_answer(400, "Invalid week page request", detail))
            return
        monday = day - dt.timedelta(days=day.weekday())
        key = (cp.policy.revision, monday, language)
        page = self._pages.get(key)
        if page is None:
            if len(self._pages) >= _KEPT:
                self._pages.clear()
            page = self._pages[key] = render_week_html(cp, monday, language).encode()
        headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(page)).encode()),
            (b"cache-control", b"no-cache"),
            (b"content-security-policy", b"default-src 'none'; style-src 'unsafe-inline'"),
        ]
        await send_answer(request.send, Answer(200, headers, page))
