"""`minorguard nppa check | query | selftest` against the fake NPPA, as a new user would run them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from nppafake import APP_ID, BIZ_ID, SECRET, TEST_CODE, Fake

from minorguard.nppa_cli import add_nppa_commands, main

KEY_ENV = "MINORGUARD_TEST_NPPA_KEY"


@pytest.fixture
def key_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_ENV, SECRET)
    return KEY_ENV


def _account(key_env: str) -> list[str]:
    return ["--app-id", APP_ID, "--biz-id", BIZ_ID, "--secret-key-env", key_env]


def test_selftest_passes_all_8_cases(fake: Fake, key_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["selftest", "--base-url", fake.url, "--test-code", TEST_CODE, *_account(key_env)])
    out = capsys.readouterr().out
    assert code == 0, out
    lines = [line for line in out.splitlines() if line.startswith("case ")]
    assert len(lines) == 8, out
    assert all(" PASS " in line for line in lines), out
    assert "8/8 cases passed" in out
    # 3 check cases x 8 + 3 query cases x 8 + 2 loginout batches
    assert [r["interface"] for r in fake.nppa.requests].count("check") == 24
    assert sum(fake.nppa.accepted.values()) == 16


def test_selftest_with_one_code_per_case_and_a_base_ending_in_test(
    fake: Fake, key_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    codes = [arg for _ in range(2) for arg in ("--test-code", TEST_CODE)]
    args = ["selftest", "--base-url", fake.url + "/test/", *codes, "--case", "4", "--case", "8"]
    assert main([*args, *_account(key_env)]) == 0
    assert "2/2 cases passed" in capsys.readouterr().out


def test_selftest_fails_on_a_wrong_test_code(
    fake: Fake, key_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["selftest", "--base-url", fake.url, "--test-code", "nosuchcode", *_account(key_env)])
    out = capsys.readouterr().out
    assert code == 1
    assert out.count(" FAIL ") == 8
    assert "4002" in out
    assert "0/8 cases passed" in out


def test_check_and_query_print_status_pi_and_birthdate(
    fake: Fake, key_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["check", "--base-url", fake.url, *_account(key_env)]
    person = ["--ai", "100000000000000005", "--name", "某一五", "--id-num", "11000019010101001X"]
    assert main([*args, *person]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["status"] == "success"
    assert answer["birthdate"] == "1901-01-01"
    assert answer["pi"].startswith("1fffbj")

    key_file = tmp_path / "nppa.key"
    key_file.write_text(SECRET + "\n")
    account = ["--app-id", APP_ID, "--biz-id", BIZ_ID, "--secret-key-file", str(key_file)]
    assert main(["query", "--base-url", fake.url, *account, "--ai", "100000000000000005"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "success"

    code = main(
        ["query", "--base-url", fake.url, "--test-code", TEST_CODE, *account, "--ai", "200000000000000001"]
    )
    assert code == 0
    assert json.loads(capsys.readouterr().out) == {
        "ai": "200000000000000001",
        "status": "in_progress",
        "code": 1,
        "pi": None,
        "birthdate": None,
    }


def test_check_errors_never_echo_the_person(
    fake: Fake, key_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bad_id = "110000190101010002"
    args = [
        "check",
        "--base-url",
        fake.url,
        *_account(key_env),
        "--ai",
        "x1",
        "--name",
        "某某",
        "--id-num",
        bad_id,
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "check character" in err
    assert bad_id not in err
    assert "某某" not in err
    assert fake.nppa.requests == []
    assert main(["query", "--base-url", fake.url, *_account(key_env), "--ai", "nosuchai"]) == 1
    assert "2003" in capsys.readouterr().err


def test_missing_key_is_a_usage_error(fake: Fake, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "query",
        "--base-url",
        fake.url,
        "--app-id",
        "a",
        "--biz-id",
        "b",
        "--secret-key-env",
        "NO_SUCH_VAR_X",
    ]
    assert main([*args, "--ai", "1"]) == 2
    assert "NO_SUCH_VAR_X" in capsys.readouterr().err


def test_mounts_under_a_parent_parser() -> None:
    parser = argparse.ArgumentParser(prog="minorguard")
    nppa = parser.add_subparsers().add_parser("nppa").add_subparsers()
    add_nppa_commands(nppa)
    args = parser.parse_args(
        ["nppa", "query", "--app-id", "a", "--biz-id", "b", "--secret-key-env", "V", "--ai", "1"]
    )
    assert callable(args.run)
    assert args.base_url == "production"
    with pytest.raises(SystemExit):
        parser.parse_args(["nppa", "selftest", "--app-id", "a", "--biz-id", "b", "--secret-key-env", "V"])
