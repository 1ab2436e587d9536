"""`minorguard calendar import`: the State Council's notice text into a validated override file (issue
18 item 3). The 2025 and 2026 notices, written in their published form, must give exactly the days of
the chinesecalendar data; a notice that contradicts itself is refused with line and column; random and
mutated text never raises anything but PolicyError; a generated notice reads back as generated."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from minorguard.adapters.calendar_file import HolidayBlock, MakeupWorkday
from minorguard.adapters.calendar_notice import FESTIVALS, parse_notice
from minorguard.adapters.calendars import StatutoryCalendar
from minorguard.adapters.statutory import statutory_days
from minorguard.calendar_import import import_notice
from minorguard.cli import main
from minorguard.errors import PolicyError

NOTICES = Path(__file__).parent / "data" / "notices"
PACKAGE = StatutoryCalendar()


@pytest.mark.parametrize("year", [2025, 2026])
def test_a_published_notice_gives_exactly_the_official_days(year: int, tmp_path: Path) -> None:
    """Every day of the year, read from the imported file, has the type and statutory flag the
    chinesecalendar data (transcribed from the same notice) gives it."""
    rendered, _ = import_notice(NOTICES / f"notice-{year}.txt")
    path = tmp_path / f"holidays-{year}.yaml"
    path.write_text(rendered, encoding="utf-8")
    imported = StatutoryCalendar([path])
    day = dt.date(year, 1, 1)
    while day.year == year:
        mine, official = imported.day_info(day), PACKAGE.day_info(day)
        assert (mine.day_type, mine.statutory, mine.known) == (official.day_type, official.statutory, True), (
            day
        )
        day += dt.timedelta(days=1)
    assert imported.source_of(year) == str(path)


def test_policy_check_accepts_a_policy_with_the_imported_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command writes the file; a policy naming it passes `policy check`."""
    output = tmp_path / "holidays-2026.yaml"
    assert main(["calendar", "import", str(NOTICES / "notice-2026.txt"), "-o", str(output)]) == 0
    assert "7 holiday blocks, 6 make-up working days for 2026" in capsys.readouterr().err
    policy = tmp_path / "shop.yaml"
    policy.write_text("name: shop\nextends: nppa-2021\ncalendar: {override_files: [holidays-2026.yaml]}\n")
    assert main(["policy", "check", str(policy)]) == 0
    assert capsys.readouterr().out.startswith(f"ok  {policy}  shop (revision ")


def problems_of(text: str, year: int | None = 2027) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse_notice(text, "notice.txt", year)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "二、春节：2月5日（周四）至11日（周四）放假调休，共7天。",
            "notice.txt:1:6  (top)  2027-02-05 is a Friday, but the notice says 周四",
        ),
        (
            "二、春节：2月5日（周五）至11日（周四）放假调休，共8天。",
            "notice.txt:1:27  (top)  the notice says 共8天 but the dates give 7 days",
        ),
        (
            "二、春节：3月5日（周五）至11日（周四）放假调休，共7天。",
            "notice.txt:1:3  (top)  the 春节 block 2027-03-05..2027-03-11 misses its statutory days "
            "2027-02-05",
        ),
        ("二、春节：2月30日至3月3日放假调休。", "notice.txt:1:6  (top)  no such date: 2027-2-30"),
        (
            "八、腊八节：1月14日放假。",
            "notice.txt:1:3  (top)  unknown festival '腊八节' "
            "(known: 元旦、春节、清明节、劳动节、端午节、中秋节、国庆节)",
        ),
        (
            "二、春节：2月5日至11日放假调休，共7天。2月3日（周三）上班。",
            "notice.txt:1:23  (top)  2027-02-03 is a weekday: a make-up working day (调休) is a Saturday "
            "or Sunday",
        ),
        (
            "二、春节：另行通知。",
            "notice.txt:1:6  (top)  expected the days off, like 1月1日（周四）至3日（周六）放假调休，共3天 "
            "(got '另行通知')",
        ),
    ],
)
def test_a_notice_that_contradicts_itself_is_refused_where_it_does(line: str, expected: str) -> None:
    """Weekday, day count, festival, date, make-up weekday: each checked, each located."""
    assert problems_of(line) == [expected]


def test_a_notice_without_a_year_asks_for_one() -> None:
    """No title and no --year: refused, not guessed."""
    assert problems_of("一、元旦：1月1日放假。", None) == [
        "notice.txt:1:1  (top)  no year: the title (关于YYYY年部分节假日安排的通知) is missing; give --year"
    ]


def test_single_day_forms_are_read() -> None:
    """The single-day forms ("放假1天" and "与周末连休") are one-day blocks; the weekend stays a weekend."""
    schedule = parse_notice(
        "关于2024年部分节假日安排的通知\n一、元旦：1月1日（周一）放假1天，不调休。\n五、端午节：6月10日与周末连休。\n",
        "n.txt",
    )
    assert [(b.name, b.start, b.end) for b in schedule.holidays] == [
        ("New Year's Day", dt.date(2024, 1, 1), dt.date(2024, 1, 1)),
        ("Dragon Boat Festival", dt.date(2024, 6, 10), dt.date(2024, 6, 10)),
    ]


def test_a_block_reaching_into_the_previous_year_is_kept_to_this_year_with_a_note() -> None:
    """2023's 元旦 began on 2022-12-31: the file covers 2023, and the note says where the rest goes."""
    schedule = parse_notice(
        "关于2023年部分节假日安排的通知\n一、元旦：2022年12月31日至2023年1月2日放假调休，共3天。\n", "n.txt"
    )
    assert (schedule.holidays[0].start, schedule.holidays[0].end) == (
        dt.date(2023, 1, 1),
        dt.date(2023, 1, 2),
    )
    assert schedule.notes == ["New Year's Day: 2022-12-31 belong to another year's file"]


# -- generated notices read back as generated ----------------------------------------------------------

NUMERALS = "一二三四五六七八九十"
WEEKDAY = "一二三四五六日"


def cn(day: dt.date, *, month: bool = True, bracket: bool = True) -> str:
    text = f"{day.month}月{day.day}日" if month else f"{day.day}日"
    return text + (f"（周{WEEKDAY[day.weekday()]}）" if bracket else "")


@st.composite
def schedules(draw: st.DrawFn) -> tuple[str, int, list[HolidayBlock], list[MakeupWorkday]]:
    year = draw(st.integers(2027, 2060))
    decreed = statutory_days(year)
    names = [n for n in FESTIVALS if n != "中秋节"]  # Mid-Autumn can fall inside the National Day block
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=6, unique=True))
    blocks, lines = [], []
    for index, name in enumerate(sorted(chosen, key=list(FESTIVALS).index)):
        days = sorted(d for d, f in decreed.items() if f == FESTIVALS[name])
        start = max(days[0] - dt.timedelta(days=draw(st.integers(0, 3))), dt.date(year, 1, 1))
        end = days[-1] + dt.timedelta(days=draw(st.integers(0, 3)))
        statutory = frozenset(
            d for d in decreed if start <= d <= end
        )  # another festival's day may fall inside
        block = HolidayBlock(FESTIVALS[name], start, end, statutory)
        bracket = draw(st.booleans())
        same_month = start.month == end.month and draw(st.booleans())
        until = "" if start == end else f"至{cn(end, month=not same_month, bracket=bracket)}"
        count = (end - start).days + 1
        lines.append(
            (
                block,
                f"　　{NUMERALS[index]}、{name}：{cn(start, bracket=bracket)}{until}放假调休，共{count}天。",
            )
        )
        blocks.append(block)
    for before, after in itertools.pairwise(blocks):
        assume(before.end < after.start)
    makeups, text = [], [f"国务院办公厅关于{year}年部分节假日安排的通知\n国办发明电〔{year - 1}〕9号\n"]
    for block, line in lines:
        near = [block.start - dt.timedelta(days=n) for n in range(1, 8)] + [
            block.end + dt.timedelta(days=n) for n in range(1, 8)
        ]
        weekend = [
            d
            for d in near
            if d.weekday() >= 5 and d.year == year and not any(b.start <= d <= b.end for b in blocks)
        ]
        picked = sorted(set(draw(st.lists(st.sampled_from(weekend), max_size=2)))) if weekend else []
        picked = [d for d in picked if d not in {m.date for m in makeups}]
        makeups += [MakeupWorkday(d, block.name) for d in picked]
        text.append(line + ("、".join(cn(d) for d in picked) + "上班。" if picked else "") + "\n")
    return "".join(text), year, blocks, makeups


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(schedules())
def test_a_generated_notice_reads_back_as_generated(
    case: tuple[str, int, list[HolidayBlock], list[MakeupWorkday]],
) -> None:
    """Blocks, statutory days and make-up days survive the notice's wording, with and without weekdays."""
    text, year, blocks, makeups = case
    schedule = parse_notice(text, "generated.txt")
    assert schedule.year == year
    assert schedule.source == f"国务院办公厅关于{year}年部分节假日安排的通知 (国办发明电〔{year - 1}〕9号)"
    assert schedule.holidays == blocks
    assert schedule.makeup_workdays == makeups


NOTICE_2026 = (NOTICES / "notice-2026.txt").read_text(encoding="utf-8")


@settings(max_examples=300, deadline=None)
@given(
    cut=st.integers(0, len(NOTICE_2026)),
    span=st.integers(0, 30),
    insert=st.text(
        alphabet="0123456789一二三四五六七八九十月日至年共天周（）、。：放假调休上班\n农历除夕", max_size=12
    ),
)
def test_a_mutated_notice_is_read_or_refused_never_crashes(cut: int, span: int, insert: str) -> None:
    """Any cut and insertion of notice-like characters: a schedule, or PolicyError with located problems."""
    text = NOTICE_2026[:cut] + insert + NOTICE_2026[cut + span :]
    problems = []
    try:
        parse_notice(text, "mutated.txt")
    except PolicyError as exc:
        problems = exc.problems
        assert problems
    assert all(p.line >= 1 and p.column >= 1 for p in problems)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_any_text_is_read_or_refused_never_crashes(text: str) -> None:
    """Arbitrary text, with or without a year: never an exception other than PolicyError."""
    for year in (None, 2027):
        with contextlib.suppress(PolicyError):
            parse_notice(text, "random.txt", year)
