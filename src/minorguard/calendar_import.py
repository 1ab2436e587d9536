"""`minorguard calendar import NOTICE`: the State Council's holiday notice, as published, into a holiday
override file that is validated before it is written (docs/calendar.md says when and how)."""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
from pathlib import Path

from minorguard.adapters.calendar_file import load_override_file
from minorguard.adapters.calendar_notice import Schedule, parse_notice
from minorguard.errors import PolicyError, Problem
from minorguard.policy.yamlsafe import YamlRefused, read_text


def import_notice(notice: Path, year: int | None = None) -> tuple[str, Schedule]:
    """The override file's text for a notice, validated by the override loader. Raises PolicyError."""
    try:
        text = read_text(notice)
    except OSError as exc:
        raise PolicyError([Problem(str(notice), 1, 1, "", f"cannot read the file: {exc}")]) from None
    except YamlRefused as exc:
        raise PolicyError([Problem(str(notice), exc.line, exc.column, "", exc.message)]) from None
    schedule = parse_notice(text, str(notice), year)
    rendered = render_override(schedule, notice.name)
    _validate(rendered)
    return rendered, schedule


def render_override(schedule: Schedule, notice_name: str) -> str:
    """An override file (adapters/calendar_file.py) with the blocks and make-up days of `schedule`."""
    lines = [
        f"# {schedule.source}",
        f"# imported by `minorguard calendar import {notice_name}`: compare with the notice, have a second",
        "# person check it, then list this file under calendar.override_files in the policy",
        f"year: {schedule.year}",
        f"source: {_quoted(schedule.source)}",
        "holidays:",
    ]
    for block in schedule.holidays:
        statutory = ", ".join(d.isoformat() for d in sorted(block.statutory))
        lines += [
            f"  - name: {_quoted(block.name)}",
            f"    from: {block.start.isoformat()}",
            f"    to: {block.end.isoformat()}",
            f"    statutory: [{statutory}]",
        ]
    lines.append("makeup_workdays:" if schedule.makeup_workdays else "makeup_workdays: []")
    for makeup in schedule.makeup_workdays:
        lines.append(f"  - {{date: {makeup.date.isoformat()}, name: {_quoted(makeup.name)}}}")
    return "\n".join(lines) + "\n"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _validate(rendered: str) -> None:
    """Load the rendered file through the override loader: what is written is what policies will read."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "imported.yaml"
        path.write_text(rendered, encoding="utf-8")
        load_override_file(path)


def write_output(rendered: str, output: str | None) -> None:
    if output is None:
        sys.stdout.write(rendered)
        return
    target = Path(output)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    partial.write_text(rendered, encoding="utf-8")
    partial.replace(target)  # a watching policy reload never sees half a file


def summary(schedule: Schedule, today: dt.date) -> list[str]:
    """What the command tells a person on stderr besides the file itself."""
    lines = [
        f"{len(schedule.holidays)} holiday blocks, {len(schedule.makeup_workdays)} make-up working days "
        f"for {schedule.year} (imported {today})"
    ]
    return lines + [f"note: {note}" for note in schedule.notes]
