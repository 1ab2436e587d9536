"""The week picture as data and as text (issue 18 item 5); the page in a browser is
test_weekpage_browser.py."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from minorguard.cli import main
from minorguard.explain import compile_policy
from minorguard.weekpage import render_week_html, render_week_text
from minorguard.weekview import cell_minutes, week_grid


def test_the_text_form_of_the_2027_spring_festival_week() -> None:
    """nppa-2021: the provisional statutory days 02-05..02-07 open 20:00-21:00; Monday to Thursday none."""
    text = render_week_text(compile_policy("nppa-2021"), dt.date(2027, 2, 1))
    lines = text.splitlines()
    assert lines[0].startswith("nppa-2021 (revision ")
    assert lines[0].endswith("week of 2027-02-01 (Asia/Shanghai); one character is 60 minutes")
    band = lines.index("age_8_15 (age 15); top-up caps: per purchase 5000 fen, a month 20000 fen")
    assert lines[band + 2] == "Mon 02-01 working_day   ........--------------..  60 min (provisional)"
    assert (
        lines[band + 6]
        == "Fri 02-05 holiday       ........------------#-..  60 min  Spring Festival (provisional)"
    )


def test_cells_are_as_fine_as_the_policys_times(tmp_path: Path) -> None:
    """An hour for the presets, 30 minutes for a window ending at 20:30, 15 for one at 20:45."""
    assert cell_minutes(compile_policy("nppa-2021")) == 60
    for end, step in (("20:30", 30), ("20:45", 15)):
        path = tmp_path / f"p{step}.yaml"
        hours = f'[{{start: "20:00", end: "{end}"}}]'
        path.write_text(f"name: p\nextends: nppa-2021\ngame:\n  play_windows: {{hours: {hours}}}\n")
        assert cell_minutes(compile_policy(path)) == step


def test_a_report_only_rule_shows_as_allowed_but_noted(tmp_path: Path) -> None:
    """The curfew in report_only (acknowledged) lets minors play at 23:00; the cell says it is marked."""
    path = tmp_path / "trial.yaml"
    path.write_text(
        "name: trial\nextends: law-minimum\ngame:\n  curfew:\n    mode: report_only\n"
        "    looser_than_law: {reason: a staging trial of the curfew report (ticket 9)}\n",
        encoding="utf-8",
    )
    week = week_grid(compile_policy(path), dt.date(2026, 11, 16))
    cell = week.bands[1].days[0].cells[23]
    assert (cell.outcome, cell.kind, cell.report_only) == ("allow", "report_only", ("curfew",))


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_the_page_is_self_contained(language: str) -> None:
    """One HTML string: no script, no link to anything outside it."""
    page = render_week_html(compile_policy("nppa-2019"), dt.date(2026, 11, 16), language)
    assert page.startswith(f'<!DOCTYPE html><html lang="{language}">')
    assert "<script" not in page
    assert "http://" not in page
    assert "https://" not in page
    assert page.count('<td class="c ') == 3 * 7 * 24


def test_policy_week_writes_the_page_for_the_week_of_a_day(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--week` may be any day: the page starts on its Monday."""
    output = tmp_path / "week.html"
    args = [
        "policy",
        "week",
        "--policy",
        "nppa-2021",
        "--week",
        "2027-02-10",
        "--format",
        "html",
        "--lang",
        "en",
    ]
    assert main([*args, "-o", str(output)]) == 0
    assert "week of 2027-02-08" in output.read_text(encoding="utf-8")
    assert main(["policy", "week", "--policy", "nppa-2021", "--week", "2027-02-10"]) == 0
    assert "week of 2027-02-08" in capsys.readouterr().out
