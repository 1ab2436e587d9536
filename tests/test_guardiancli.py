"""`minorguard guardian show|set|clear` against a real Redis (so one command's change is the next
command's answer), and `policy explain --guardian` saying which limit decided."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from middleware.mwkit import write_deployment
from minorguard.cli import main
from redis_servers import RedisServer, fail_without

STRICTER = '{"daily_play_minutes": {"default": 30}, "purchase_caps": {"single": 1000}}'


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    fail_without("redis-server")
    with RedisServer.launch(tmp_path_factory.mktemp("guardian-cli")) as server:
        yield server.url


@pytest.fixture
def config(tmp_path: Path, redis_url: str) -> Path:
    return write_deployment(tmp_path, store=redis_url)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_support_staff_set_show_and_clear_a_childs_settings(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each change prints the settings and one audit line (via cli, by whom) on standard error."""
    where = ("--config", str(config), "--subject", "child-9")
    code, out, err = run(capsys, "guardian", "set", *where, "--by", "li.wei", "--settings", STRICTER)
    assert code == 0, err
    assert json.loads(out)["settings"]["purchase_caps"] == {"single": 1000}
    audit = json.loads(err.strip().splitlines()[-1])
    assert (audit["event"], audit["action"], audit["via"], audit["by"]) == (
        "guardian_settings",
        "set",
        "cli",
        "li.wei",
    )
    assert "child-9" not in err
    code, out, _ = run(capsys, "guardian", "show", *where)
    assert json.loads(out)["settings"]["purchase_caps"] == {"single": 1000}
    code, out, err = run(capsys, "guardian", "clear", *where, "--by", "li.wei")
    assert (code, json.loads(out)["cleared"]) == (0, True)
    assert json.loads(run(capsys, "guardian", "show", *where)[1])["settings"] is None


def test_a_loosening_is_refused_with_the_field_and_the_bound(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = tmp_path / "loose.json"
    settings.write_text('{"daily_play_minutes": {"default": 600}}')
    code, out, err = run(
        capsys, "guardian", "set", "--config", str(config), "--subject", "c", "--settings", f"@{settings}"
    )
    assert (code, out) == (1, "")
    assert "daily_play_minutes.default: 600 minutes is more than this policy lets a guardian allow" in err
    assert "(bound 60)" in err
    missing = run(capsys, "guardian", "set", "--config", str(config), "--subject", "c", "--settings", "@nope")
    assert missing[0] == 2
    assert "cannot read nope" in missing[2]


def test_explain_takes_guardian_settings_and_names_the_limit_that_decided(
    capsys: pytest.CaptureFixture[str],
) -> None:
    where = ("--policy", "minor-mode-2024", "--activity", "game", "--birthdate", "2011-05-01")
    at = ("--at", "2026-11-21 15:00", "--played", "30m")
    code, out, _ = run(
        capsys, "policy", "explain", *where, *at, "--guardian", '{"daily_play_minutes": {"weekend": 30}}'
    )
    assert code == 0
    assert "reason                guardian_limit — the daily play time of 30 minutes your guardian set" in out
    assert "rule                  guardian.play_time" in out
    assert 'guardian settings     {"daily_play_minutes": {"weekend": 30}}' in out
    code, out, _ = run(capsys, "policy", "explain", *where, *at, "--format", "json")
    assert json.loads(out)["outcome"] == "allow"


def test_explain_refuses_settings_a_guardian_could_not_set(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys,
        "policy",
        "explain",
        "--policy",
        "nppa-2021",
        "--activity",
        "game",
        "--birthdate",
        "2011-05-01",
        "--at",
        "2026-11-20 20:30",
        "--guardian",
        '{"exemptions": ["rest_reminder"], "bedtime": 1}',
    )
    assert code == 2
    assert "bedtime: Extra inputs are not permitted" in err


def test_explain_shows_the_rest_reminder_after_thirty_minutes(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(
        capsys,
        "policy",
        "explain",
        "--policy",
        "minor-mode-2024",
        "--activity",
        "game",
        "--birthdate",
        "2011-05-01",
        "--at",
        "2026-11-21 15:00",
        "--continuous",
        "35m",
        "--format",
        "json",
    )
    assert [w["code"] for w in json.loads(out)["warnings"]] == ["rest_reminder"]
