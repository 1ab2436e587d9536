"""The `minorguard` command line, called in-process through `minorguard.cli.main`."""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from minorguard.cli import main
from minorguard.policy.jsonschema import policy_json_schema

REPO_POLICIES = Path(__file__).resolve().parents[1] / "policies"
F_SETPIPE_SZ = 1031  # Linux fcntl: set a pipe's capacity
FIFTEEN = ["--birthdate", "2011-05-01"]


@pytest.fixture(autouse=True)
def process_in_utc() -> Iterator[None]:
    """Times without an offset are Beijing time whatever the machine's zone: run the CLI in UTC."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def explain_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    code, out, err = run(capsys, "policy", "explain", "--format", "json", *argv)
    assert (code, err) == (0, "")
    result: dict[str, object] = json.loads(out)
    return result


# -- policy check -----------------------------------------------------------------------------------


def test_policy_check_of_good_files_exits_0_with_one_ok_line_each(capsys: pytest.CaptureFixture[str]) -> None:
    """Valid files and preset names each get `ok  FILE  NAME (revision R)`, then a line on what a
    guardian may set; exit code 0."""
    code, out, err = run(capsys, "policy", "check", str(REPO_POLICIES / "law-minimum.yaml"), "nppa-2021")
    assert (code, err) == (0, "")
    lines = [line for line in out.splitlines() if not line.startswith("    guardian settings: read; ")]
    assert len(lines) == 2
    assert out.count("    guardian settings: read; a guardian may make every limit stricter") == 2
    assert re.fullmatch(
        rf"ok  {re.escape(str(REPO_POLICIES / 'law-minimum.yaml'))}  law-minimum "
        r"\(revision [0-9a-f]{12}\)",
        lines[0],
    )
    assert re.fullmatch(r"ok  nppa-2021  nppa-2021 \(revision [0-9a-f]{12}\)", lines[1])


def test_policy_check_with_a_bad_file_exits_1_and_still_checks_the_others(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A bad file's problems go to stderr; the good file is still reported ok; exit code 1."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ntimezon: Asia/Shanghai\n", encoding="utf-8")
    code, out, err = run(capsys, "policy", "check", str(bad), "nppa-2019")
    assert code == 1
    assert err.splitlines() == [
        f"{bad}:2:1  timezon  unknown key — did you mean 'timezone'?",
        "1 problem in 1 file",
    ]
    assert out.startswith("ok  nppa-2019  nppa-2019 (revision ")


def test_policy_check_of_a_missing_file_exits_1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A file that does not exist (and is no preset name) is a problem at 1:1, not a crash."""
    missing = tmp_path / "nowhere.yaml"
    code, out, err = run(capsys, "policy", "check", str(missing))
    assert (code, out) == (1, "")
    assert err.startswith(f"{missing}:1:1  (top)  cannot read the file: ")


# -- policy explain ---------------------------------------------------------------------------------

JSON_KEYS = {"outcome", "reason", "rule", "legal_basis", "allowed_again_at", "remaining_seconds"}

EXPLAIN_CASES = [
    (
        ["--policy", "nppa-2021", "--activity", "game", *FIFTEEN, "--at", "2026-11-20 20:59:59"],
        {
            "outcome": "allow",
            "reason": "allowed",
            "rule": None,
            "legal_basis": None,
            "allowed_again_at": None,
            "remaining_seconds": 1,
        },
    ),
    (
        ["--policy", "nppa-2021", "--activity", "game", *FIFTEEN, "--at", "2026-11-20 21:00:00"],
        {
            "outcome": "deny",
            "reason": "outside_play_window",
            "rule": "game.play_windows",
            "legal_basis": "国新出发〔2021〕14号 第一条 (NPPA notice 2021 §1)",
            "allowed_again_at": "2026-11-21T20:00:00+08:00",
            "remaining_seconds": None,
        },
    ),
    (  # the same instant written in UTC
        ["--policy", "nppa-2021", "--activity", "game", *FIFTEEN, "--at", "2026-11-20T13:00:00+00:00"],
        {
            "outcome": "deny",
            "reason": "outside_play_window",
            "rule": "game.play_windows",
            "legal_basis": "国新出发〔2021〕14号 第一条 (NPPA notice 2021 §1)",
            "allowed_again_at": "2026-11-21T20:00:00+08:00",
            "remaining_seconds": None,
        },
    ),
    (
        ["--policy", "law-minimum", "--activity", "game", *FIFTEEN, "--at", "2026-11-23 22:00"],
        {
            "outcome": "deny",
            "reason": "curfew",
            "rule": "game.curfew",
            "legal_basis": "未成年人保护法 第七十五条 (Minors Protection Law Art 75)",
            "allowed_again_at": "2026-11-24T08:00:00+08:00",
            "remaining_seconds": None,
        },
    ),
    (
        ["--policy", "nppa-2021", "--activity", "game", *FIFTEEN, "--at", "2026-11-20 20:30",
         "--played", "1h"],
        {
            "outcome": "deny",
            "reason": "daily_play_limit",
            "rule": "game.play_time",
            "legal_basis": "国新出发〔2021〕14号 第一条 (NPPA notice 2021 §1)",
            "allowed_again_at": "2026-11-21T20:00:00+08:00",
            "remaining_seconds": None,
        },
    ),
    (
        ["--policy", "nppa-2019", "--activity", "purchase", *FIFTEEN, "--at", "2026-11-30 23:59:59",
         "--amount", "5000", "--month-spent", "15001"],
        {
            "outcome": "deny",
            "reason": "purchase_monthly_cap",
            "rule": "purchase",
            "legal_basis": "国新出发〔2019〕34号 第三条 (NPPA notice 2019 §3)",
            "allowed_again_at": "2026-12-01T00:00:00+08:00",
            "remaining_seconds": None,
        },
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "expected"), EXPLAIN_CASES, ids=["20:59:59", "21:00", "21:00Z", "curfew", "1h", "cap"]
)
def test_policy_explain_json_answers_boundary_cases(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: dict[str, object]
) -> None:
    """`--format json` has outcome, reason, rule, legal_basis, allowed_again_at and remaining_seconds."""
    result = explain_json(capsys, *argv)
    assert set(result) >= JSON_KEYS
    assert {key: result[key] for key in JSON_KEYS} == expected


def test_policy_explain_text_reads_like_the_readme(capsys: pytest.CaptureFixture[str]) -> None:
    """The text format lists the instant in Beijing time with its weekday, the outcome and the reason."""
    argv = ["--policy", "nppa-2021", "--activity", "game", *FIFTEEN, "--at", "2026-11-20 21:30"]
    code, out, err = run(capsys, "policy", "explain", *argv)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert re.fullmatch(r"policy {16}nppa-2021 \(revision [0-9a-f]{12}\)", lines[0])
    assert lines[1:] == [
        "at                    2026-11-20T21:30:00+08:00 (Friday, working_day)",
        "person                age_8_15, age 15",
        "outcome               DENY",
        "reason                outside_play_window — minors may play only 20:00-21:00 on play days",
        "rule                  game.play_windows",
        "legal basis           国新出发〔2021〕14号 第一条 (NPPA notice 2021 §1)",
        "allowed again at      2026-11-21T20:00:00+08:00",
    ]


def test_policy_explain_text_shows_remaining_seconds_and_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    """An allowed game one minute before the window closes shows the seconds left and the warning."""
    argv = ["--policy", "nppa-2021", "--activity", "game", *FIFTEEN, "--at", "2026-11-20 20:59"]
    code, out, _ = run(capsys, "policy", "explain", *argv)
    assert code == 0
    assert "outcome               ALLOW" in out.splitlines()
    assert "remaining seconds     60" in out.splitlines()
    assert "warning               1 minute(s) or less of play left" in out.splitlines()


@pytest.mark.parametrize("activity", ["purchase", "livestream_tip"])
def test_policy_explain_of_a_payment_without_amount_exits_2(
    capsys: pytest.CaptureFixture[str], activity: str
) -> None:
    """Purchases and tips need --amount: exit code 2 and a message naming the option."""
    argv = ["--policy", "nppa-2019", "--activity", activity, *FIFTEEN, "--at", "2026-11-20 12:00"]
    code, out, err = run(capsys, "policy", "explain", *argv)
    assert (code, out) == (2, "")
    assert err == f"minorguard: {activity} needs --amount FEN\n"


def test_policy_explain_without_a_birthdate_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """Neither --birthdate nor --unverified: exit code 2 saying which to give."""
    argv = ["--policy", "nppa-2021", "--activity", "game", "--at", "2026-11-20 20:30"]
    code, _, err = run(capsys, "policy", "explain", *argv)
    assert code == 2
    assert err == "minorguard: give --birthdate YYYY-MM-DD, or --unverified\n"


def test_policy_explain_guest_limit(capsys: pytest.CaptureFixture[str]) -> None:
    """nppa-2019 guest mode: a device with 60 minutes used is refused for 15 days."""
    result = explain_json(
        capsys, "--policy", "nppa-2019", "--activity", "game", "--unverified", "--device", "d-1",
        "--guest-used", "60m", "--at", "2026-11-23 10:00",
    )  # fmt: skip
    assert (result["outcome"], result["reason"], result["rule"]) == ("deny", "guest_limit", "game.guest")
    assert result["allowed_again_at"] == "2026-12-08T10:00:00+08:00"
    assert result["band"] == "unverified"


# -- policy test ------------------------------------------------------------------------------------

CASES = """\
policy: nppa-2021
cases:
  - name: a 15-year-old may play on Friday at 20:59 Beijing time
    activity: game
    birthdate: 2011-05-01
    at: 2026-11-20 20:59
    played: 30m
    expect: {outcome: allow, remaining_seconds: 60}
  - name: wrongly expects play on a Monday evening
    activity: game
    birthdate: 2011-05-01
    at: 2026-11-23 20:30
    expect: {outcome: allow}
"""


def test_policy_test_with_a_failing_case_exits_1_and_names_its_file_and_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """One passing and one failing case: a FAIL line with file:line, what differed, a summary, exit 1."""
    cases = tmp_path / "mine.cases.yaml"
    cases.write_text(CASES, encoding="utf-8")
    failing_line = CASES.splitlines().index("  - name: wrongly expects play on a Monday evening") + 1
    code, out, _ = run(capsys, "policy", "test", str(tmp_path))
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == f"FAIL {cases}:{failing_line}  wrongly expects play on a Monday evening"
    assert "       outcome: expected 'allow', got 'deny'" in lines
    assert lines[-1] == "1 passed, 1 failed"


def test_policy_test_verbose_lists_passing_cases_and_exits_0(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """With only passing cases the exit code is 0; -v lists each as `ok   file:line  name`."""
    cases = tmp_path / "ok.cases.yaml"
    cases.write_text("\n".join(CASES.splitlines()[:8]) + "\n", encoding="utf-8")
    code, out, _ = run(capsys, "policy", "test", "-v", str(cases))
    assert code == 0
    assert out.splitlines() == [
        f"ok   {cases}:3  a 15-year-old may play on Friday at 20:59 Beijing time",
        "1 passed, 0 failed",
    ]


# -- calendar show, policy schema -------------------------------------------------------------------


def test_calendar_show_lists_make_up_days_and_the_days_of_data_left(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """2026-02-14 is a make-up working day; on 2026-11-22 the data (to 2026-12-31) has 39 days left."""
    code, out, err = run(capsys, "calendar", "show", "--year", "2026", "--today", "2026-11-22")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert "2026-02-14 Sat  makeup_workday Spring Festival" in lines
    assert "2026-10-01 Thu  holiday statutory National Day" in lines
    assert lines[-1].endswith("39 days of data left from 2026-11-22")


def test_calendar_show_of_a_year_without_data_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    """2027 has no official data yet: its 13 statutory days are listed as provisional, and the output
    says how to import the notice."""
    code, out, _ = run(capsys, "calendar", "show", "--year", "2027", "--today", "2026-11-22")
    assert code == 0
    assert out.count("(provisional)") == 13
    assert "2027-02-08 Mon  holiday statutory Spring Festival (provisional)" in out
    assert "no official holiday data for 2027: its statutory days are provisional" in out
    assert "minorguard calendar import" in out


def test_calendar_show_with_a_weekday_rule_policy_lists_no_provisional_days(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A policy with missing_data: weekday_rule computes nothing: every 2027 day is judged by its weekday."""
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "name: p\nextends: nppa-2021\ncalendar: {missing_data: weekday_rule}\n", encoding="utf-8"
    )
    code, out, _ = run(
        capsys, "calendar", "show", "--year", "2027", "--policy", str(policy), "--today", "2026-11-22"
    )
    assert code == 0
    assert "no holiday data for 365 days of 2027" in out
    assert "(provisional)" not in out


def test_policy_schema_prints_the_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    """`policy schema` prints valid JSON: the schema of policy files."""
    code, out, _ = run(capsys, "policy", "schema")
    assert code == 0
    schema = json.loads(out)
    assert schema == policy_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "name" in schema["required"]


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a command the usage is printed and the exit code is 2."""
    code, out, _ = run(capsys)
    assert code == 2
    assert "usage: minorguard" in out


# -- staff-facing polish (issue 18 item 6) ----------------------------------------------------------


def test_a_mistyped_preset_name_gets_a_did_you_mean(capsys: pytest.CaptureFixture[str]) -> None:
    """`--policy nppa2021` is neither a file nor a preset: the answer names the preset meant."""
    code, out, err = run(
        capsys,
        "policy",
        "explain",
        "--policy",
        "nppa2021",
        "--activity",
        "game",
        *FIFTEEN,
        "--at",
        "2026-11-20 20:30",
    )
    assert (code, out) == (1, "")
    assert err.startswith(
        "nppa2021:1:1  (top)  no such file, and no preset named 'nppa2021' — did you mean 'nppa-2021'?"
    )


def test_a_name_that_breaks_the_pattern_gets_a_sentence(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Not pydantic's "String should match pattern '^[a-z0-9]…'", but what a name may be."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: Acme Games\nextends: nppa-2021\n", encoding="utf-8")
    code, _, err = run(capsys, "policy", "check", str(bad))
    assert code == 1
    assert err.splitlines()[0] == (
        f"{bad}:1:7  name  a name is lower-case letters, digits, '-', '_' or '.', starting with a letter "
        "or a digit (got 'Acme Games')"
    )


def test_explain_refuses_a_birth_date_in_the_future_as_a_token_would_be(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--birthdate 2030-01-01` was "age 0 ... ALLOW"; a token with it is refused: now both refuse."""
    result = explain_json(
        capsys,
        "--policy",
        "nppa-2021",
        "--activity",
        "game",
        "--birthdate",
        "2030-01-01",
        "--at",
        "2026-11-20 20:30",
    )
    assert (result["outcome"], result["reason"], result["age"]) == ("deny", "identity_invalid", None)


def test_output_piped_into_head_ends_quietly() -> None:
    """A reader that stops early (`| head -1`) gives no BrokenPipeError traceback, and the exit status a
    shell reports for a filter ended by SIGPIPE."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, F_SETPIPE_SZ, 4096)  # smaller than the schema: the writer must meet the close
    with subprocess.Popen(
        [sys.executable, "-m", "minorguard.cli", "policy", "schema"], stdout=write_end, stderr=subprocess.PIPE
    ) as process:
        os.close(write_end)
        with os.fdopen(read_end, "rb") as reader:
            reader.readline()  # like head after its first line, then it closes the pipe
        assert process.stderr is not None
        stderr = process.stderr.read()
        assert process.wait(timeout=30) == 141
    assert b"Traceback" not in stderr
    assert stderr == b""


def test_policy_check_lists_the_acknowledged_looser_rules(capsys: pytest.CaptureFixture[str]) -> None:
    """nppa-2019 keeps its historical guest mode by acknowledgement: check says so under its ok line."""
    code, out, _ = run(capsys, "policy", "check", "nppa-2019")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("ok  nppa-2019  nppa-2019 (revision ")
    assert lines[1].startswith(
        "    looser than the law, acknowledged: game.guest (未成年人保护法 第七十五条 (Art 75 ¶2)): "
        "N19 §1 guest mode"
    )


def test_policy_info_shows_floor_calendar_and_acknowledgements(capsys: pytest.CaptureFixture[str]) -> None:
    """`policy info --format json` names the chain, the documents kept, the calendar and the exceptions."""
    code, out, _ = run(capsys, "policy", "info", "nppa-2019", "--format", "json")
    assert code == 0
    info = json.loads(out)
    assert info["extends"] == ["law-minimum"]
    assert info["floor"] == [
        "the Law on the Protection of Minors, Arts 74-76",
        "国新出发〔2019〕34号 (NPPA notice 2019)",
    ]
    assert info["calendar"]["missing_data"] == "provisional"
    assert [a["rule"] for a in info["looser_than_law"]] == ["game.guest"]
    code, out, _ = run(capsys, "policy", "info", "nppa-2021")
    assert "looser than the law   none" in out
