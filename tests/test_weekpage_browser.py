"""The week page in a real headless Chromium (issue 18 item 5): it renders (every cell laid out, in its
state's colour, the labels in the page's language), and the cells match `explain` at sampled instants,
the start of a cell and an instant inside it, in zh-CN and en.

The test appends a small script to the page that measures each cell after layout and writes the result
into data attributes; `--dump-dom` returns the DOM after it ran. Chromium is Debian's, installed by
scripts/chromium (scripts/test runs it); without it the test is skipped, except under CI.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from minorguard.explain import compile_policy
from minorguard.rules.compiled import CompiledPolicy
from minorguard.rules.evaluate import KnownUsage, explain
from minorguard.types import Activity, Facts, Subject
from minorguard.weekpage import COLOURS, render_week_html
from minorguard.weekview import AGES, _born

CHROMIUM = shutil.which("chromium")
MEASURE = """<script>
for (const td of document.querySelectorAll("td.c")) {
  const box = td.getBoundingClientRect();
  td.dataset.w = box.width; td.dataset.h = box.height;
  td.dataset.bg = getComputedStyle(td).backgroundColor;
}
document.body.dataset.measured = "yes";
</script>"""
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
]
SAMPLES = 80

pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"), reason="chromium is not installed (scripts/chromium)"
)


class Cells(HTMLParser):
    """Each cell's attributes, with its age band."""

    def __init__(self) -> None:
        super().__init__()
        self.band = ""
        self.cells: list[dict[str, str]] = []
        self.attributes: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "section":
            self.band = values.get("data-band", "")
        elif tag == "td" and "c" in values.get("class", "").split():
            self.cells.append({**values, "band": self.band})
        elif tag in ("html", "body"):
            self.attributes.update({f"{tag}:{k}": v for k, v in values.items()})


def rendered(page: str, folder: Path) -> Cells:
    path = folder / "week.html"
    path.write_text(page.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    assert CHROMIUM is not None, "CI must install chromium: scripts/chromium"
    result = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={folder / 'profile'}", "--dump-dom", path.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    parsed = Cells()
    parsed.feed(result.stdout)
    return parsed


def rgb(colour: str) -> str:
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


def answer(cp: CompiledPolicy, band: str, week: dt.date, at: dt.datetime) -> tuple[str, str]:
    age = next(a for b, a in AGES.items() if b.value == band)
    subject = Subject("browser", _born(week, age), True)
    decision = explain(cp, subject, Facts(Activity.GAME), at, KnownUsage())
    return decision.outcome.value, decision.reason.value


def check_page(cp: CompiledPolicy, week: dt.date, language: str, tmp_path: Path, words: list[str]) -> None:
    parsed = rendered(render_week_html(cp, week, language), tmp_path)
    assert parsed.attributes["html:lang"] == language
    assert parsed.attributes["body:data-measured"] == "yes", "the page did not finish loading"
    step = 1440 // (len(parsed.cells) // 21)
    assert len(parsed.cells) == 3 * 7 * (1440 // step)
    for cell in parsed.cells:  # laid out and painted in its state's colour
        assert float(cell["data-w"]) > 4, cell
        assert float(cell["data-h"]) > 10, cell
        kind = cell["class"].split()[1]
        assert cell["data-bg"] == rgb(COLOURS[kind]), cell
    sample = random.Random(f"{language}{week}").sample(parsed.cells, SAMPLES)
    for cell in sample:
        start = dt.datetime.fromisoformat(cell["data-at"])
        inside = start + dt.timedelta(seconds=random.Random(cell["data-at"]).randrange(step * 60))
        expected = (cell["data-outcome"], cell["data-reason"])
        assert answer(cp, cell["band"], week, start) == expected, cell
        assert answer(cp, cell["band"], week, inside) == expected, (cell, inside)
    text = (tmp_path / "week.html").read_text(encoding="utf-8")
    assert all(word in text for word in words)


def test_the_zh_cn_page_of_the_spring_festival_week_matches_explain(tmp_path: Path) -> None:
    """nppa-2021, 2027-02-01: the provisional Spring Festival days open 20:00-21:00, in Chinese."""
    check_page(compile_policy("nppa-2021"), dt.date(2027, 2, 1), "zh-CN", tmp_path, ["春节", "暂定", "宵禁"])


def test_the_en_page_of_a_half_hour_window_matches_explain(tmp_path: Path) -> None:
    """A window ending at 20:30 makes 30-minute cells; a report-only curfew shows as allowed-but-noted."""
    policy = tmp_path / "half-hour.yaml"
    policy.write_text(
        "name: half-hour\nextends: nppa-2021\ngame:\n"
        '  play_windows: {hours: [{start: "20:00", end: "20:30"}]}\n'
        "  curfew:\n    mode: report_only\n",
        encoding="utf-8",
    )
    cp = compile_policy(policy)
    check_page(
        cp, dt.date(2026, 9, 28), "en", tmp_path, ["National Day", "outside the play windows", "statutory"]
    )
