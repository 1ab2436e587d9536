"""Hostile policy, case and holiday files: each is refused with a `file:line:col` problem, in bounded
time and memory, never a traceback or a hang (issue 14 item 6)."""

from __future__ import annotations

import os
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from minorguard.adapters.calendars import StatutoryCalendar
from minorguard.errors import PolicyError
from minorguard.explain import compile_policy
from minorguard.policy.cases import load_cases
from minorguard.policy.loader import load_policy

SECONDS = 10.0  # catches a hang or an explosion (the old alias bomb took 16 s); not a speed claim
MEGABYTES = 16.0


def alias_bomb() -> str:
    """360-odd bytes: nine levels of ten aliases each expand to 10^9 strings."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(8):
        name, below = chr(98 + level), chr(97 + level)
        lines.append(f"{name}: &{name} [{','.join(['*' + below] * 10)}]")
    return "\n".join(lines) + "\n"


def refused(load: Callable[[], object]) -> PolicyError:
    """Run `load`, which must raise PolicyError within the time and memory bounds."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(PolicyError) as caught:
            load()
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()
    assert elapsed < SECONDS, f"took {elapsed:.1f} s"
    assert peak < MEGABYTES, f"peak {peak:.1f} MB"
    return caught.value


def only_problem(error: PolicyError) -> str:
    assert len(error.problems) == 1, error.problems
    return str(error.problems[0])


HOSTILE_POLICIES = {
    "deep_flow": ("name: x\ngame: " + "[" * 10_000 + "]" * 10_000 + "\n", "2:38", "nested more than 32"),
    "deep_block": (
        "name: x\n" + "".join(" " * i + "k:\n" for i in range(200)),
        "34:33",
        "nested more than 32",
    ),
    "nul_byte": ("name: x\ndescription: a\x00b\n", "2:15", "control character (U+0000)"),
    "escape_byte": ("name: x\n\x1b[31m: red\n", "2:1", "control character (U+001B)"),
    "python_tag": (
        "name: x\ngame: !!python/object/apply:os.system [echo owned]\n",
        "2:7",
        "the tag !!python/object/apply:os.system is not allowed",
    ),
    "local_tag": ("name: !secret x\n", "1:7", "the tag !secret is not allowed"),
    "alias_bomb": ("name: x\n" + alias_bomb(), "6:", "more than 20000 values once aliases"),
    "huge": ("name: x\ndescription: '" + "a" * 300_000 + "'\n", "1:1", "larger than 256 KiB"),
    "not_utf8": ("name: caf\udce9\n", "1:10", "not UTF-8 text"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_POLICIES))
def test_a_hostile_policy_file_is_one_located_problem(case: str, tmp_path: Path) -> None:
    """Deep nesting, control bytes, unknown tags, an alias bomb, a huge or non-UTF-8 file:
    one problem naming the place, quickly and in little memory."""
    text, where, message = HOSTILE_POLICIES[case]
    path = tmp_path / "policy.yaml"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    problem = only_problem(refused(lambda: load_policy(path)))
    assert problem.startswith(f"{path}:{where}"), problem
    assert message in problem


def test_the_alias_bomb_is_360_bytes_of_yaml(tmp_path: Path) -> None:
    """The bomb of the report is this small: the bound is on what it expands to, not on its size."""
    assert 350 <= len(alias_bomb()) <= 400


def test_a_few_honest_aliases_still_load(tmp_path: Path) -> None:
    """Anchors and aliases are YAML: reusing one cap for two bands is fine."""
    path = tmp_path / "policy.yaml"
    path.write_text(
        "name: x\nextends: nppa-2021\npurchase:\n  caps:\n"
        "    age_8_15: &cap {single: 5000, monthly: 20000}\n    age_16_17: *cap\n",
        encoding="utf-8",
    )
    assert load_policy(path).spec.purchase.caps["age_16_17"].monthly == 20000  # type: ignore[index]


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_an_override_file_that_is_a_device_is_refused_at_once(device: str, tmp_path: Path) -> None:
    """`override_files: [/dev/zero]` would read forever or fill memory: only regular files are read."""
    path = tmp_path / "policy.yaml"
    path.write_text(
        f"name: x\nextends: nppa-2021\ncalendar:\n  override_files: [{device}]\n", encoding="utf-8"
    )
    problem = only_problem(refused(lambda: compile_policy(path)))
    assert problem == f"{device}:1:1  (top)  not a regular file (a directory, device or pipe cannot be read)"


def test_an_override_file_that_is_a_fifo_never_blocks(tmp_path: Path) -> None:
    """A named pipe with no writer would block `open()` forever; it is refused without waiting."""
    fifo = tmp_path / "holidays.yaml"
    os.mkfifo(fifo)
    result: list[BaseException] = []

    def load() -> None:
        try:
            StatutoryCalendar([fifo])
        except BaseException as exc:  # handed to the test thread
            result.append(exc)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(SECONDS)
    assert not worker.is_alive(), "opening the FIFO blocked"
    assert isinstance(result[0], PolicyError)
    assert "not a regular file" in str(result[0])


def test_a_policy_that_is_a_directory_is_a_problem(tmp_path: Path) -> None:
    """Giving a folder where a file belongs is a problem at 1:1, not IsADirectoryError."""
    problem = only_problem(refused(lambda: load_policy(tmp_path)))
    assert problem.startswith(f"{tmp_path}:1:1")


@pytest.mark.parametrize("case", ["alias_bomb", "python_tag", "nul_byte", "deep_flow"])
def test_hostile_override_and_case_files_are_refused_the_same_way(case: str, tmp_path: Path) -> None:
    """The holiday loader and the case loader read through the same bounds."""
    text, where, message = HOSTILE_POLICIES[case]
    path = tmp_path / "file.yaml"
    path.write_text(text, encoding="utf-8")
    for load in (lambda: StatutoryCalendar([path]), lambda: load_cases(path)):
        problem = only_problem(refused(load))
        assert problem.startswith(f"{path}:{where}"), problem
        assert message in problem
