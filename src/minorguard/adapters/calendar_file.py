"""Operator override files for the holiday calendar: one year of the State Council holiday schedule.

Why: the NPPA play windows (国新出发〔2021〕14号 §1) depend on whether a day is a weekend, a statutory
holiday or a make-up working day (调休). The `chinesecalendar` package covers 2004-2026; the schedule of
the next year is published by the General Office of the State Council (国务院办公厅关于YYYY年部分节假日
安排的通知) around November. Until a package release has it, compliance staff transcribe the notice
into one YAML file per year and list it in the policy. A file may also cover a year the package has: it
then replaces the package data of that year (for a correction).

Format (YAML 1.2; dates as YYYY-MM-DD, quoted or not). The example is illustrative, NOT the real 2027
schedule::

    # 国务院办公厅关于2027年部分节假日安排的通知, transcribed by <who>, checked by <who>
    year: 2027                      # required: the file covers this whole calendar year
    source: 国办发明电〔2026〕N号     # optional: where the data comes from (free text)
    holidays:                       # required: one entry per block of the notice
      - name: New Year's Day        # the festival, as it should appear in logs and explanations
        from: 2027-01-01            # first day off of the block
        to: 2027-01-03              # last day off (inclusive); weekend days inside the block included
        statutory: [2027-01-01]     # the statutory days (法定节假日) of the block; not in-lieu days
      - name: Spring Festival
        from: 2027-02-05
        to: 2027-02-13
        statutory: [2027-02-05, 2027-02-06, 2027-02-07, 2027-02-08]
    makeup_workdays:                # optional: 调休, weekend days the notice declares working days
      - {date: 2027-01-30, name: Spring Festival}

Rules, each checked and reported with file:line:column (all problems at once, nothing is loaded):

- Every day of the year that is not in a block or a make-up day is a working day (Mon-Fri) or a weekend
  day (Sat/Sun), and the calendar reports it as known.
- A block is what the notice gives off ("X月X日至Y日放假调休，共N天"). When the notice gives a single day
  "与周末连休" (joined with the weekend), list only that day: the weekend stays a weekend, which the NPPA
  windows treat like a holiday anyway. This is also how the package data reads.
- `statutory` lists the days the 全国年节及纪念日放假办法 makes holidays (since 2025: 13 a year); days off
  given in exchange for make-up days (调休) or for a festival falling on a weekend (补休) are not statutory.
- All dates lie in `year`; `from` <= `to`; blocks do not overlap; statutory days lie in their block; a
  make-up day is a Saturday or a Sunday and not in a block; no date is listed twice.
- A notice that reaches into December of the previous year (as the 2008 one did) needs that year's file
  too, since a file covers exactly one year.
"""

# ruff: noqa: RUF002  (the docstrings quote official Chinese titles verbatim: 〔2021〕, full-width commas)

from __future__ import annotations

import datetime as dt
import difflib
import itertools
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from minorguard.errors import PolicyError, Problem
from minorguard.policy.yamlsafe import YamlRefused, check_structure, read_text
from minorguard.types import DayInfo, DayType

__all__ = ["HolidayBlock", "MakeupWorkday", "OverrideYear", "load_override_file"]

_TOP_KEYS = ("year", "source", "holidays", "makeup_workdays")
_TOP_REQUIRED = ("year", "holidays")
_BLOCK_KEYS = ("name", "from", "to", "statutory")
_BLOCK_REQUIRED = ("name", "from", "to")
_MAKEUP_KEYS = ("date", "name")
_YEARS = range(2000, 2101)  # catches a mistyped year (207, 20277) without limiting real use
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

Mark = tuple[int, int]  # 0-based (line, column), as ruamel keeps them


@dataclass(frozen=True, slots=True)
class HolidayBlock:
    name: str
    start: dt.date  # `from` in the file
    end: dt.date  # `to` in the file, inclusive
    statutory: frozenset[dt.date] = frozenset()

    def days(self) -> Iterator[dt.date]:
        for offset in range((self.end - self.start).days + 1):
            yield self.start + dt.timedelta(days=offset)


@dataclass(frozen=True, slots=True)
class MakeupWorkday:
    date: dt.date
    name: str


@dataclass(frozen=True, slots=True)
class OverrideYear:
    """One validated override file."""

    file: str
    year: int
    holidays: tuple[HolidayBlock, ...]
    makeup_workdays: tuple[MakeupWorkday, ...]
    source: str | None = None
    year_line: int = field(default=1, compare=False)  # 1-based position of `year`, for later problems
    year_column: int = field(default=1, compare=False)

    def day_infos(self) -> dict[dt.date, DayInfo]:
        """The days of the year that are not plain working or weekend days."""
        infos: dict[dt.date, DayInfo] = {}
        for block in self.holidays:
            for day in block.days():
                infos[day] = DayInfo(day, DayType.HOLIDAY, day in block.statutory, block.name)
        for makeup in self.makeup_workdays:
            infos[makeup.date] = DayInfo(makeup.date, DayType.MAKEUP_WORKDAY, False, makeup.name)
        return infos


def load_override_file(path: str | os.PathLike[str]) -> OverrideYear:
    """Read and validate one override file. Raises `PolicyError` listing every problem found."""
    checker = _Checker(os.fspath(path))
    root = checker.parse()
    result = checker.read_year_file(root) if not checker.problems else None
    if checker.problems or result is None:
        raise PolicyError(sorted(checker.problems, key=lambda p: (p.line, p.column)))
    return result


class _Constructor(RoundTripConstructor):
    """Round-trip constructor that keeps an impossible unquoted date (2027-02-30) as its text, so the
    validator reports it with its position instead of ruamel raising a bare ValueError."""

    def construct_lenient_timestamp(self, node: Any, values: Any = None) -> Any:
        try:
            return self.construct_yaml_timestamp(node, values)
        except ValueError:
            return str(node.value)


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", _Constructor.construct_lenient_timestamp)


def _yaml() -> YAML:
    yaml = YAML(typ="rt")  # a new instance per file: YAML objects keep state and are not thread-safe
    yaml.Constructor = _Constructor
    return yaml


@dataclass(slots=True)
class _Block:
    """A block whose dates parsed, with where it came from (for overlap and make-up checks)."""

    index: int
    mark: Mark
    block: HolidayBlock


@dataclass(slots=True)
class _Makeup:
    index: int
    mark: Mark
    makeup: MakeupWorkday


class _Checker:
    """Walks the YAML tree once, converting values and collecting every problem."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def add(self, mark: Mark, path: str, message: str) -> None:
        self.problems.append(Problem(self.file, mark[0] + 1, mark[1] + 1, path, message))

    def parse(self) -> Any:
        try:
            text = read_text(self.file)
            check_structure(text)
            return _yaml().load(text)
        except OSError as exc:
            self.add((0, 0), "", f"cannot read the file: {exc.strerror or exc}")
        except YamlRefused as exc:
            self.add((exc.line - 1, exc.column - 1), "", exc.message)
        except MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            message = f"not valid YAML: {exc.problem}"
            if exc.context and exc.context_mark and exc.context_mark is not mark:
                where = exc.context_mark
                message += f" ({exc.context} at line {where.line + 1}, column {where.column + 1})"
            self.add((mark.line, mark.column) if mark else (0, 0), "", message)
        except (YAMLError, ValueError) as exc:
            self.add((0, 0), "", f"not valid YAML: {exc}")
        return None

    def read_year_file(self, root: Any) -> OverrideYear | None:
        if root is None:
            self.add((0, 0), "", "the file is empty; expected the keys year, holidays, makeup_workdays")
            return None
        if not isinstance(root, CommentedMap):
            message = f"expected a mapping with the keys year, holidays, makeup_workdays; got {_show(root)}"
            self.add((0, 0), "", message)
            return None
        self.check_keys(root, "", _TOP_KEYS, _TOP_REQUIRED)
        year = self.year(root)
        source = self.text(root, "source", "source") if "source" in root else None
        blocks = self.blocks(root, year)
        makeups = self.makeups(root, year)
        self.check_overlaps(blocks)
        self.check_makeups_outside_blocks(makeups, blocks)
        if year is None or self.problems:
            return None
        line, column = root.lc.value("year")
        return OverrideYear(
            file=self.file,
            year=year,
            holidays=tuple(b.block for b in blocks),
            makeup_workdays=tuple(m.makeup for m in makeups),
            source=source,
            year_line=line + 1,
            year_column=column + 1,
        )

    # -- generic checks -------------------------------------------------------------------------

    def check_keys(self, node: Any, path: str, allowed: tuple[str, ...], required: tuple[str, ...]) -> None:
        suggested: set[str] = set()
        for key in node:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                suggested.update(close)
                self.add(node.lc.key(key), _join(path, str(key)), _unknown_key(key, close, allowed))
        for key in required:
            if key not in node and key not in suggested:  # "did you mean" already names it
                self.add((node.lc.line, node.lc.col), path, f"missing required key '{key}'")

    def mapping(self, seq: Any, index: int, path: str, keys: tuple[str, ...]) -> Any:
        item = seq[index]
        if isinstance(item, CommentedMap):
            return item
        self.add(
            seq.lc.item(index), path, f"expected a mapping with the keys {', '.join(keys)}; got {_show(item)}"
        )
        return None

    def sequence(self, node: Any, key: str, path: str) -> Any:
        value = node.get(key)
        if isinstance(value, CommentedSeq):
            return value
        if value is None and key not in node:
            return None
        hint = " (write [] for none)" if value is None else ""
        self.add(_value_mark(node, key), path, f"expected a list{hint}; got {_show(value)}")
        return None

    def text(self, node: Any, key: str, path: str) -> str | None:
        value = node.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
        self.add(_value_mark(node, key), path, f"expected non-empty text; got {_show(value)}")
        return None

    def date(self, value: Any, mark: Mark, path: str, year: int | None) -> dt.date | None:
        if isinstance(value, dt.datetime):
            self.add(mark, path, f"expected a date without a time of day; got {value}")
            return None
        parsed = _as_date(value)
        if parsed is None:
            self.add(mark, path, f"expected a date (YYYY-MM-DD); got {_show(value)}")
            return None
        if year is not None and parsed.year != year:
            self.add(mark, path, f"{parsed} is not in {year}; a file covers one calendar year")
            return None
        return parsed

    def date_at(self, node: Any, key: str, path: str, year: int | None) -> dt.date | None:
        if key not in node:
            return None  # reported as a missing required key
        return self.date(node[key], _value_mark(node, key), path, year)

    # -- the parts of the file ------------------------------------------------------------------

    def year(self, root: Any) -> int | None:
        if "year" not in root:
            return None
        value = root["year"]
        if isinstance(value, int) and not isinstance(value, bool) and value in _YEARS:
            return int(value)
        message = f"expected a year between {_YEARS[0]} and {_YEARS[-1]}; got {_show(value)}"
        self.add(_value_mark(root, "year"), "year", message)
        return None

    def blocks(self, root: Any, year: int | None) -> list[_Block]:
        seq = self.sequence(root, "holidays", "holidays")
        if seq is None:
            return []
        blocks = []
        for index in range(len(seq)):
            block = self.block(seq, index, year)
            if block is not None:
                blocks.append(block)
        return blocks

    def block(self, seq: Any, index: int, year: int | None) -> _Block | None:
        path = f"holidays[{index}]"
        node = self.mapping(seq, index, path, _BLOCK_KEYS)
        if node is None:
            return None
        self.check_keys(node, path, _BLOCK_KEYS, _BLOCK_REQUIRED)
        name = self.text(node, "name", f"{path}.name") if "name" in node else None
        start = self.date_at(node, "from", f"{path}.from", year)
        end = self.date_at(node, "to", f"{path}.to", year)
        if start is not None and end is not None and start > end:
            self.add(node.lc.value("to"), f"{path}.to", f"'to' {end} is before 'from' {start}")
            end = None
        statutory = self.statutory(node, path, year, start, end)
        if start is None or end is None:
            return None
        # a block with a bad name or statutory list still takes part in the overlap checks; the file
        # is rejected anyway, so its placeholders never reach a calendar
        block = HolidayBlock(name or "", start, end, statutory or frozenset())
        return _Block(index, node.lc.value("from"), block)

    def statutory(
        self, node: Any, path: str, year: int | None, start: dt.date | None, end: dt.date | None
    ) -> frozenset[dt.date] | None:
        seq = self.sequence(node, "statutory", f"{path}.statutory")
        if seq is None:
            return frozenset() if "statutory" not in node else None
        days: dict[dt.date, int] = {}
        ok = True
        for index, value in enumerate(seq):
            item_path = f"{path}.statutory[{index}]"
            mark = seq.lc.item(index)
            day = self.date(value, mark, item_path, year)
            if day is None:
                ok = False
            elif day in days:
                self.add(mark, item_path, f"{day} is listed twice (also statutory[{days[day]}])")
            elif start is not None and end is not None and not start <= day <= end:
                self.add(mark, item_path, f"statutory day {day} is outside its block {start}..{end}")
                ok = False
            else:
                days[day] = index
        return frozenset(days) if ok else None

    def makeups(self, root: Any, year: int | None) -> list[_Makeup]:
        seq = self.sequence(root, "makeup_workdays", "makeup_workdays")
        if seq is None:
            return []
        found: list[_Makeup] = []
        seen: dict[dt.date, int] = {}
        for index in range(len(seq)):
            path = f"makeup_workdays[{index}]"
            node = self.mapping(seq, index, path, _MAKEUP_KEYS)
            if node is None:
                continue
            self.check_keys(node, path, _MAKEUP_KEYS, _MAKEUP_KEYS)
            name = self.text(node, "name", f"{path}.name") if "name" in node else None
            day = self.date_at(node, "date", f"{path}.date", year)
            if day is None or name is None:
                continue
            mark = node.lc.value("date")
            if day.weekday() < 5:
                message = (
                    f"{day} is a {_WEEKDAYS[day.weekday()]}; a make-up workday (调休) is a Saturday or Sunday"
                )
                self.add(mark, f"{path}.date", message)
            elif day in seen:
                self.add(mark, f"{path}.date", f"{day} is listed twice (also makeup_workdays[{seen[day]}])")
            else:
                seen[day] = index
                found.append(_Makeup(index, mark, MakeupWorkday(day, name)))
        return found

    # -- checks across entries ------------------------------------------------------------------

    def check_overlaps(self, blocks: list[_Block]) -> None:
        ordered = sorted(blocks, key=lambda b: (b.block.start, b.index))
        for earlier, later in itertools.pairwise(ordered):
            first, second = earlier.block, later.block
            if second.start > first.end:
                continue
            path = f"holidays[{later.index}].from"
            other = f"holidays[{earlier.index}] ({first.name} {first.start}..{first.end})"
            if (first.start, first.end) == (second.start, second.end):
                self.add(later.mark, path, f"block {second.start}..{second.end} repeats {other}")
            else:
                self.add(later.mark, path, f"block {second.start}..{second.end} overlaps {other}")

    def check_makeups_outside_blocks(self, makeups: list[_Makeup], blocks: list[_Block]) -> None:
        for found in makeups:
            day = found.makeup.date
            for b in blocks:
                if b.block.start <= day <= b.block.end:
                    where = f"holidays[{b.index}] ({b.block.name} {b.block.start}..{b.block.end})"
                    message = f"{day} is both a make-up workday and a day off of {where}"
                    self.add(found.mark, f"makeup_workdays[{found.index}].date", message)


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _unknown_key(key: Any, close: list[str], allowed: tuple[str, ...]) -> str:
    if close:
        return f"unknown key '{key}'; did you mean '{close[0]}'?"
    return f"unknown key '{key}'; allowed keys: {', '.join(allowed)}"


def _value_mark(node: Any, key: str) -> Mark:
    """Where a value is; the key's place for an empty value (ruamel marks it at the next token)."""
    line, column = node.lc.key(key) if node[key] is None else node.lc.value(key)
    return line, column


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _show(value: Any) -> str:
    """A value as a person wrote it, for messages."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, CommentedMap | dict):
        return "a mapping"
    if isinstance(value, CommentedSeq | list):
        return "a list"
    return str(value)
