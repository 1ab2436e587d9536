"""Loading policy files: every user-facing problem as `file:line:col  dotted.path  message` (one bad file
per problem in tests/policy/bad/), `extends:` a preset, the content revision, and the five presets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from minorguard.cli import main
from minorguard.errors import PolicyError
from minorguard.policy import PRESET_NAMES, load_policy
from minorguard.policy.presets import preset_path
from minorguard.policy.values import MinorBand

BAD = Path(__file__).parent / "bad"
REPO_POLICIES = Path(__file__).resolve().parents[2] / "policies"
PRESET_LIST = "law-minimum, nppa-2019, nppa-2021, minor-mode-2024, livestream-2022"

# fixture -> the problems it must produce: (line, column, dotted path, message)
PROBLEMS: dict[str, list[tuple[int, int, str, str]]] = {
    "unknown_key_close.yaml": [(5, 5, "game.curfew.strat", "unknown key — did you mean 'start'?")],
    "unknown_key_no_match.yaml": [(2, 1, "colour", "unknown key")],
    "unknown_key_in_age_band.yaml": [
        (8, 7, "purchase.caps.age_8_15.montly", "unknown key — did you mean 'monthly'?")
    ],
    "bare_time.yaml": [
        (
            5,
            12,
            "game.curfew.start",
            'write times in quotes, like "22:00": YAML 1.1 tools read a bare 22:00 as a number',
        )
    ],
    "yaml11_time.yaml": [
        (
            7,
            12,
            "game.curfew.start",
            'write times in quotes, like "22:00" (got the number 1320)',
        )
    ],
    "time_integer.yaml": [
        (5, 10, "game.curfew.end", 'write times in quotes, like "22:00" (got the number 8)')
    ],
    # 2200 read as YAML 1.2 is the number the user typed; no YAML reader makes it from a time ("36:40")
    "time_hhmm_integer.yaml": [
        (5, 12, "game.curfew.start", 'write times in quotes, like "22:00" (got the number 2200)')
    ],
    "malformed_time.yaml": [
        (5, 12, "game.curfew.start", 'write a time as "HH:MM" from "00:00" to "24:00" (got "25:00")')
    ],
    "float_money.yaml": [
        (
            5,
            24,
            "purchase.caps.age_8_15.single",
            "write a whole number (money in fen: 5000 is ¥50.00; got 50.0)",
        )
    ],
    "quoted_money.yaml": [
        (5, 24, "purchase.caps.age_8_15.single", "write a whole number without quotes (got '5000')")
    ],
    "negative_money.yaml": [(5, 24, "purchase.caps.age_8_15.single", "must be 0 or more (got -1)")],
    "unknown_age_band.yaml": [
        (
            5,
            5,
            "purchase.caps.age_8_16",
            "unknown key — did you mean 'age_8_15'? (allowed: under_8, age_8_15, age_16_17)",
        )
    ],
    "unknown_mode.yaml": [
        (4, 11, "game.curfew.mode", "write 'enforce', 'report_only' or 'off' (got 'enforced')")
    ],
    "unknown_timezone.yaml": [
        (2, 11, "timezone", "unknown time zone 'Asia/Beijing' (use an IANA name like \"Asia/Shanghai\")")
    ],
    "window_end_before_start.yaml": [
        (
            7,
            9,
            "game.play_windows.hours[0]",
            'end must be after start on the same day (use "24:00" for midnight)',
        )
    ],
    "curfew_empty.yaml": [
        (4, 5, "game.curfew", "start and end are the same time: the curfew would be empty")
    ],
    # "24:00" and "00:00" are the same time of day: from midnight to midnight is no curfew at all
    "curfew_empty_midnight.yaml": [
        (4, 5, "game.curfew", "start and end are the same time: the curfew would be empty")
    ],
    "single_over_monthly.yaml": [
        (6, 7, "purchase.caps.age_16_17", "single is larger than monthly: no purchase could reach it")
    ],
    "extends_unknown.yaml": [
        (
            2,
            10,
            "extends",
            f"unknown preset 'nppa-2012' — did you mean 'nppa-2021'? (presets: {PRESET_LIST})",
        )
    ],
    "extends_without_name.yaml": [(1, 1, "name", "give this policy a name of its own (name: ...)")],
    "yaml_syntax.yaml": [
        (
            5,
            4,
            "(top)",
            "not valid YAML: while parsing a block mapping expected <block end>, "
            "but found '<block mapping start>'",
        )
    ],
    "duplicate_key.yaml": [
        (
            3,
            1,
            "(top)",
            'not valid YAML: while constructing a mapping found duplicate key "timezone" '
            'with value "Asia/Shanghai" (original value: "Asia/Shanghai")',
        )
    ],
    "empty.yaml": [(1, 1, "(top)", "the file is empty")],
    "top_level_list.yaml": [(1, 1, "(top)", "a policy file is a mapping of keys to values")],
    "many_problems.yaml": [
        (2, 11, "timezone", "unknown time zone 'Mars/Olympus' (use an IANA name like \"Asia/Shanghai\")"),
        (
            6,
            12,
            "game.curfew.start",
            'write times in quotes, like "22:00": YAML 1.1 tools read a bare 22:00 as a number',
        ),
        (7, 10, "game.curfew.end", 'write a time as "HH:MM" from "00:00" to "24:00" (got "24:61")'),
        (9, 11, "game.play_windows.mode", "write 'enforce', 'report_only' or 'off' (got 'sometimes')"),
        (
            12,
            24,
            "purchase.caps.age_8_15.single",
            "write a whole number (money in fen: 5000 is ¥50.00; got 50.5)",
        ),
        (15, 5, "livestream_tip.adult_caps.per_tipp", "unknown key — did you mean 'per_tip'?"),
    ],
}


def expected_lines(name: str) -> list[str]:
    return [f"{BAD / name}:{line}:{col}  {path}  {message}" for line, col, path, message in PROBLEMS[name]]


def problems_of(path: Path) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    return [str(problem) for problem in caught.value.problems]


def test_every_bad_fixture_has_expected_problems() -> None:
    """Each file under tests/policy/bad/ is covered by PROBLEMS, and each entry has its file."""
    assert sorted(p.name for p in BAD.glob("*.yaml")) == sorted(PROBLEMS)


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_a_bad_policy_file_reports_its_exact_problems(name: str) -> None:
    """A broken policy is refused with each problem as `file:line:col  dotted.path  message`."""
    assert problems_of(BAD / name) == expected_lines(name)


def test_all_problems_of_a_file_are_reported_at_once_sorted_by_line() -> None:
    """Six problems of different kinds come back together, in file order, with a count."""
    with pytest.raises(PolicyError) as caught:
        load_policy(BAD / "many_problems.yaml")
    lines = [p.line for p in caught.value.problems]
    assert lines == sorted(lines)
    assert len(lines) == 6
    assert str(caught.value) == "\n".join(expected_lines("many_problems.yaml")) + "\n6 problems in 1 file"


def test_policy_check_exits_1_and_lists_every_problem(capsys: pytest.CaptureFixture[str]) -> None:
    """`minorguard policy check` prints every problem of every file on stderr and exits 1."""
    files = [BAD / "many_problems.yaml", BAD / "unknown_key_close.yaml"]
    assert main(["policy", "check", *map(str, files)]) == 1
    err = capsys.readouterr().err
    for line in expected_lines("many_problems.yaml") + expected_lines("unknown_key_close.yaml"):
        assert line in err.splitlines()
    assert "6 problems in 1 file" in err
    assert "1 problem in 1 file" in err


def test_policy_check_of_an_empty_file_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    """An empty policy file is a problem to report, not a crash."""
    assert main(["policy", "check", str(BAD / "empty.yaml")]) == 1
    assert f"{BAD / 'empty.yaml'}:1:1  (top)  the file is empty" in capsys.readouterr().err


# -- valid files ------------------------------------------------------------------------------------

USER_POLICY = """\
# yaml-language-server: $schema=policy.schema.json
name: star-fleet
extends: nppa-2021
description: {description}
purchase:
  caps:
    age_16_17: {{single: 10000, monthly: {monthly}}}   # {comment}
"""


def write_user_policy(
    directory: Path, *, monthly: int = 30000, description: str = "ours", comment: str = "fen"
) -> Path:
    path = directory / "star-fleet.yaml"
    path.write_text(USER_POLICY.format(monthly=monthly, description=description, comment=comment), "utf-8")
    return path


def test_a_user_policy_extending_nppa_2021_overrides_one_value_and_keeps_the_rest(tmp_path: Path) -> None:
    """Only age_16_17's monthly cap changes; the other caps, the windows and the curfew come from the
    presets."""
    policy = load_policy(write_user_policy(tmp_path))
    preset = load_policy("nppa-2021").spec
    spec = policy.spec
    assert policy.name == "star-fleet"
    assert spec.extends == "nppa-2021"
    assert spec.purchase.caps[MinorBand.AGE_16_17].monthly == 30000
    assert spec.purchase.caps[MinorBand.AGE_16_17].single == 10000
    assert spec.purchase.caps[MinorBand.AGE_8_15] == preset.purchase.caps[MinorBand.AGE_8_15]
    assert spec.purchase.caps[MinorBand.UNDER_8] == preset.purchase.caps[MinorBand.UNDER_8]
    assert spec.game == preset.game
    assert spec.purchase.mode == preset.purchase.mode
    assert policy.sources == (
        str(tmp_path / "star-fleet.yaml"),
        str(preset_path("nppa-2021")),
        str(preset_path("nppa-2019")),
        str(preset_path("law-minimum")),
    )


def test_the_revision_changes_with_a_value_but_not_with_a_comment_or_description(tmp_path: Path) -> None:
    """The revision hashes the effective values: comments and the description do not count."""
    directory = {name: tmp_path / name for name in ("a", "b", "c", "d")}
    for path in directory.values():
        path.mkdir()
    base = load_policy(write_user_policy(directory["a"])).revision
    commented = load_policy(write_user_policy(directory["b"], comment="¥300 a month, our choice")).revision
    described = load_policy(write_user_policy(directory["c"], description="something else")).revision
    changed = load_policy(write_user_policy(directory["d"], monthly=30001)).revision
    assert re.fullmatch(r"[0-9a-f]{12}", base)
    assert commented == base
    assert described == base
    assert changed != base


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_every_preset_loads_by_name_and_from_the_repository_file(name: str) -> None:
    """All five presets load by name, and `policies/<name>.yaml` is the same policy."""
    by_name = load_policy(name)
    by_file = load_policy(REPO_POLICIES / f"{name}.yaml")
    assert by_name.name == name
    assert by_name.revision == by_file.revision
    assert by_name.spec == by_file.spec


def test_load_policy_by_preset_name_reads_the_bundled_file() -> None:
    """`load_policy("nppa-2021")` reads the bundled preset, then the presets it extends."""
    policy = load_policy("nppa-2021")
    assert policy.name == "nppa-2021"
    assert policy.sources == (
        str(preset_path("nppa-2021")),
        str(preset_path("nppa-2019")),
        str(preset_path("law-minimum")),
    )
    assert policy.spec.game.play_windows.mode.value == "enforce"
    assert policy.spec.game.guest.mode.value == "off"


def test_nppa_2021_gives_minors_one_hour_on_every_day_type_holidays_included() -> None:
    """N21 §1 allows one hour (1小时) on play days, holidays included: nppa-2019's 3 holiday hours
    must not leak into nppa-2021 through `extends`."""
    minutes = load_policy("nppa-2021").spec.game.play_time.daily_minutes
    for band in MinorBand:
        per_day = minutes[band]
        effective = {
            kind: getattr(per_day, kind) if getattr(per_day, kind) is not None else per_day.default
            for kind in ("working_day", "weekend", "holiday", "makeup_workday")
        }
        assert effective == dict.fromkeys(effective, 60), f"{band.value}: {effective}"
