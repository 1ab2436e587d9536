"""A mutation fuzz of the bundled presets, case files and a holiday file: whatever the bytes, loading
gives a policy or a PolicyError, never another exception, within bounded time and memory (issue 14
item 6). Bounded for CI: a few hundred examples, a few seconds."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minorguard.adapters.calendars import StatutoryCalendar
from minorguard.errors import PolicyError
from minorguard.policy.cases import load_cases
from minorguard.policy.loader import load_policy

REPO = Path(__file__).resolve().parents[2]
SEEDS = {
    "policy": sorted((REPO / "policies").glob("*.yaml")),
    "cases": [REPO / "policies" / "cases" / "livestream-2022.cases.yaml"],
    "holidays": [REPO / "tests" / "adapters" / "data" / "override-2027-sample.yaml"],
}
SECONDS = 20.0  # a hang or an explosion, not a speed claim: the machine is shared and tracemalloc is slow
MEGABYTES = 24.0  # the memory bound is the exact one
# what YAML treats specially, plus bytes a parser must survive
NASTY = [*":[]{}&*!|>-#'\"%@,?\t\n ", "\x00", "\x1b", "\ufeff", "\u2028", "é", "二", "\ud800"]
SNIPPETS = [
    "!!python/object/apply:os.system [true]",
    "&a [1, 2, 3]",
    "*a",
    "*missing",
    "[" * 60,
    "{a: " * 40,
    "- " * 50,
    "%YAML 1.1\n---\n",
    "--- \n",
    "!!binary aGVsbG8=",
    "<<: *a",
    '"22:00"',
    "22:00",
    "1e400",
    "0x1F",
    "~",
]


@st.composite
def mutated(draw: st.DrawFn, kind: str) -> str:
    text = draw(st.sampled_from(SEEDS[kind])).read_text(encoding="utf-8")
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "replace", "snippet", "duplicate", "anchor"]))
        if action == "insert":
            text = text[:at] + "".join(draw(st.lists(st.sampled_from(NASTY), max_size=8))) + text[at:]
        elif action == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 40)) :]
        elif action == "replace":
            text = text[:at] + draw(st.text(max_size=6)) + text[at + 1 :]
        elif action == "snippet":
            text = text[:at] + draw(st.sampled_from(SNIPPETS)) + text[at:]
        elif action == "duplicate":
            lines = text.splitlines(keepends=True) or [""]
            line = draw(st.integers(0, len(lines) - 1))
            text = "".join(lines[: line + 1] + lines[line:])
        else:  # a key's value becomes an anchor, and a later key aliases it
            text = text.replace(": ", ": &x ", 1).replace(": ", ": *x #", draw(st.integers(2, 6)))
    return text


def bounded(path: Path, load: object) -> None:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        load()  # type: ignore[operator]
    except PolicyError:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
    elapsed = time.perf_counter() - started
    assert elapsed < SECONDS, f"{path}: {elapsed:.2f} s"
    assert peak < MEGABYTES, f"{path}: {peak:.1f} MB"


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )


@fuzz(150)
@given(text=mutated("policy"))
def test_a_mutated_preset_loads_or_is_refused_within_bounds(tmp_path_factory: object, text: str) -> None:
    """Never a traceback, never over the time and memory bounds."""
    path = tmp_path_factory.mktemp("fuzz") / "policy.yaml"  # type: ignore[attr-defined]
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    bounded(path, lambda: load_policy(path))


@fuzz(40)
@given(text=mutated("cases"))
def test_a_mutated_case_file_loads_or_is_refused_within_bounds(tmp_path_factory: object, text: str) -> None:
    """The case loader shares the reader: the same guarantees."""
    path = tmp_path_factory.mktemp("fuzz") / "x.cases.yaml"  # type: ignore[attr-defined]
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    bounded(path, lambda: load_cases(path))


@fuzz(100)
@given(text=mutated("holidays"))
def test_a_mutated_holiday_file_loads_or_is_refused_within_bounds(
    tmp_path_factory: object, text: str
) -> None:
    """The holiday override loader: the same guarantees."""
    path = tmp_path_factory.mktemp("fuzz") / "holidays.yaml"  # type: ignore[attr-defined]
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    bounded(path, lambda: StatutoryCalendar([path]))
