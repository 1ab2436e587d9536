"""Reading the State Council's holiday notice (国务院办公厅关于YYYY年部分节假日安排的通知) as written.

Every year's notice lists one item per festival in the same form, e.g. (2026):

    一、元旦：1月1日（周四）至3日（周六）放假调休，共3天。1月4日（周日）上班。
    二、春节：2月15日（农历腊月二十八、周日）至23日（农历正月初七、周一）放假调休，共9天。2月14日（周六）、2月28日（周六）上班。
    三、清明节：4月4日（周六）至6日（周一）放假，共3天。

and, in some years, "1月1日（周三）放假1天，不调休" or "6月10日与周末连休" (one day, joined with the
weekend). `parse_notice` turns the text into holiday blocks and make-up working days, checking what the
notice states about itself: each weekday in brackets, each "共N天", each festival's statutory days
(from the decree and the lunar calendar) inside its block. Whatever it cannot read is a problem with
its line and column in the notice; nothing is guessed.
"""

# ruff: noqa: RUF002  (the notice's full-width punctuation is quoted verbatim)

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from minorguard.adapters.calendar_file import HolidayBlock, MakeupWorkday
from minorguard.adapters.statutory import statutory_days
from minorguard.errors import PolicyError, Problem

FESTIVALS = {  # the notice's names -> the names the calendar data uses
    "元旦": "New Year's Day",
    "春节": "Spring Festival",
    "清明节": "Tomb-sweeping Day",
    "劳动节": "Labour Day",
    "端午节": "Dragon Boat Festival",
    "中秋节": "Mid-autumn Festival",
    "国庆节": "National Day",
}
_TITLE = re.compile(r"关于\s*(\d{4})\s*年部分节假日安排的通知")
_NUMBER = re.compile(r"国办发明电〔\d{4}〕\d+号")
_ITEM = re.compile(r"^[ \t\u3000]*([一二三四五六七八九十]+)、([^：:\n]{1,40})[：:]", re.MULTILINE)
_DATE = re.compile(r"(?:(\d{4})年)?(\d{1,2})月(\d{1,2})日(?:（([^）\n]{0,30})）)?")
_UNTIL = re.compile(r"至(?:(?:(\d{4})年)?(\d{1,2})月)?(\d{1,2})日(?:（([^）\n]{0,30})）)?")
_DAYS = re.compile(r"共\s*(\d{1,3})\s*天")
_WEEKDAY = re.compile(r"(?:周|星期)([一二三四五六日天])")
_WEEKDAYS = "一二三四五六日"
MAX_CHARS = 20_000  # a notice is about 1,000 characters


@dataclass
class Schedule:
    """What a notice says for one year."""

    year: int
    source: str
    holidays: list[HolidayBlock] = field(default_factory=list)
    makeup_workdays: list[MakeupWorkday] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what a person should know (dates of another year)


def parse_notice(text: str, file: str, year: int | None = None) -> Schedule:
    """The schedule of a notice. Raises PolicyError listing every problem found."""
    reader = _Reader(text[: MAX_CHARS + 1], file)
    if len(text) > MAX_CHARS:
        reader.add(0, f"longer than {MAX_CHARS} characters: this is not a holiday notice")
        raise PolicyError(reader.problems)
    schedule = reader.read(year)
    if reader.problems or schedule is None:
        raise PolicyError(reader.problems)
    return schedule


class _Reader:
    def __init__(self, text: str, file: str) -> None:
        self.text = text
        self.file = file
        self.problems: list[Problem] = []

    def add(self, offset: int, message: str) -> None:
        line = self.text.count("\n", 0, offset) + 1
        column = offset - (self.text.rfind("\n", 0, offset) + 1) + 1
        self.problems.append(Problem(self.file, line, column, "", message))

    def read(self, year: int | None) -> Schedule | None:
        title = _TITLE.search(self.text)
        stated = int(title.group(1)) if title else None
        if year is None and stated is None:
            self.add(0, "no year: the title (关于YYYY年部分节假日安排的通知) is missing; give --year")
            return None
        if year is not None and stated is not None and year != stated and title is not None:
            self.add(title.start(1), f"the notice is for {stated}, not {year}")
            return None
        chosen = year if year is not None else stated
        assert chosen is not None
        number = _NUMBER.search(self.text)
        name = f"国务院办公厅关于{chosen}年部分节假日安排的通知"
        schedule = Schedule(chosen, f"{name} ({number.group()})" if number else name)
        items = list(_ITEM.finditer(self.text))
        if not items:
            self.add(0, "no items like 一、元旦：… were found")
        for index, item in enumerate(items):
            end = items[index + 1].start() if index + 1 < len(items) else len(self.text)
            self.item(schedule, item, self.text[item.end() : end].split("\n", 1)[0], item.end())
        return schedule

    def item(self, schedule: Schedule, item: re.Match[str], body: str, at: int) -> None:
        names = [n.strip() for n in re.split(r"[、,，]", item.group(2))]
        unknown = [n for n in names if n not in FESTIVALS]
        if unknown or not names:
            known = "、".join(FESTIVALS)
            self.add(item.start(2), f"unknown festival {'、'.join(unknown)!r} (known: {known})")
            return
        label = ", ".join(FESTIVALS[n] for n in names)
        sentences = [(m.start() + at, m.group()) for m in re.finditer(r"[^。]+", body)]
        if not sentences:
            self.add(at, "the item says no dates")
            return
        block = self.block(schedule.year, label, *sentences[0], schedule)
        if block is None:
            return
        self.statutory_inside(block, names, item.start(2))
        schedule.holidays.append(block)
        for offset, sentence in sentences[1:]:
            if "上班" in sentence:
                self.makeups(schedule, label, offset, sentence)

    def block(
        self, year: int, label: str, offset: int, sentence: str, schedule: Schedule
    ) -> HolidayBlock | None:
        first = _DATE.search(sentence)
        if first is None or ("放假" not in sentence and "连休" not in sentence):
            example = "1月1日（周四）至3日（周六）放假调休，共3天"
            self.add(offset, f"expected the days off, like {example} (got {sentence[:40]!r})")
            return None
        start = self.date(first.group(1), first.group(2), first.group(3), year, offset + first.start())
        end = start
        until = _UNTIL.search(sentence, first.end())
        if start is not None and until is not None:
            month = until.group(2) or str(start.month)
            where = offset + until.start()
            end = self.date(until.group(1) or str(start.year), month, until.group(3), year, where)
            self.weekday(end, until.group(4), offset + until.start())
        if start is None or end is None:
            return None
        self.weekday(start, first.group(4), offset + first.start())
        if end < start:
            self.add(offset + first.start(), f"the block ends ({end}) before it starts ({start})")
            return None
        self.count(sentence, offset, (end - start).days + 1)
        days = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
        outside = [d for d in days if d.year != year]
        if outside:
            schedule.notes.append(f"{label}: {', '.join(map(str, outside))} belong to another year's file")
        inside = [d for d in days if d.year == year]
        if not inside:
            return None
        statutory = frozenset(d for d in inside if d in statutory_days(year))
        return HolidayBlock(label, inside[0], inside[-1], statutory)

    def makeups(self, schedule: Schedule, label: str, offset: int, sentence: str) -> None:
        for found in _DATE.finditer(sentence.split("上班", 1)[0]):
            where = offset + found.start()
            day = self.date(found.group(1), found.group(2), found.group(3), schedule.year, where)
            if day is None:
                continue
            self.weekday(day, found.group(4), where)
            if day.year != schedule.year:
                schedule.notes.append(f"{label}: make-up day {day} belongs to another year's file")
            elif day.weekday() < 5:
                self.add(where, f"{day} is a weekday: a make-up working day (调休) is a Saturday or Sunday")
            else:
                schedule.makeup_workdays.append(MakeupWorkday(day, label))

    def date(self, year: str | None, month: str, day: str, default: int, offset: int) -> dt.date | None:
        try:
            return dt.date(int(year) if year else default, int(month), int(day))
        except ValueError:
            self.add(offset, f"no such date: {year or default}-{month}-{day}")
            return None

    def weekday(self, day: dt.date | None, bracket: str | None, offset: int) -> None:
        stated = _WEEKDAY.search(bracket or "")
        if day is None or stated is None:
            return
        said = _WEEKDAYS.index("日" if stated.group(1) == "天" else stated.group(1))
        if said != day.weekday():
            self.add(offset, f"{day} is a {day.strftime('%A')}, but the notice says 周{stated.group(1)}")

    def count(self, sentence: str, offset: int, days: int) -> None:
        stated = _DAYS.search(sentence)
        if stated is not None and int(stated.group(1)) != days:
            where = offset + stated.start()
            self.add(where, f"the notice says {stated.group()} but the dates give {days} days")
        single = re.search(r"放假\s*(\d{1,3})\s*天", sentence)
        if single is not None and int(single.group(1)) != days:
            message = f"the notice says {single.group()} but the dates give {days} days"
            self.add(offset + single.start(), message)

    def statutory_inside(self, block: HolidayBlock, names: list[str], offset: int) -> None:
        """Each festival named by the item keeps its statutory days inside the block (a misread date
        would leave one out)."""
        decreed = statutory_days(block.start.year)
        for name in names:
            days = sorted(d for d, festival in decreed.items() if festival == FESTIVALS[name])
            missing = [d for d in days if not block.start <= d <= block.end]
            if days and len(missing) == len(days):
                span = f"{block.start}..{block.end}"
                self.add(offset, f"the {name} block {span} misses its statutory days {days[0]}")
