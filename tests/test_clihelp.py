"""The command line's habits of a released tool: --version, a sentence and the default for every option
of every command, the exit codes in --help."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

import minorguard
from minorguard.cli import _parser, main
from minorguard.clihelp import EXIT_CODES, undocumented


def commands(parser: argparse.ArgumentParser, path: str = "") -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += commands(sub, f"{path} {name}".strip())
    return found


def test_version_prints_the_packages_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith(f"minorguard {minorguard.__version__} (Python 3.")


def test_the_installed_distribution_has_the_same_version() -> None:
    """pyproject reads the version from minorguard.__version__: one place to change it."""
    from importlib.metadata import version

    assert version("minorguard") == minorguard.__version__


def test_every_option_of_every_command_has_a_sentence() -> None:
    assert undocumented(_parser()) == []


@pytest.mark.parametrize("path", [path for path, _ in commands(_parser())])
def test_help_shows_defaults_and_exit_codes(path: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([*path.split(), "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert " ".join(EXIT_CODES.split()) in text
    parser = dict(commands(_parser()))[path]
    for action in parser._actions:
        default = action.default
        if action.option_strings and default not in (None, False, [], argparse.SUPPRESS) and action.help:
            assert f"(default: {default})" in text or "(default" in (action.help or ""), (path, action.dest)


def test_an_interrupt_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(args: argparse.Namespace) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", lambda *_: argparse.Namespace(run=interrupted))
    assert main([]) == 130


def test_a_usage_error_exits_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "minorguard.cli", "policy", "explain"], check=False, capture_output=True
    )
    assert done.returncode == 2
