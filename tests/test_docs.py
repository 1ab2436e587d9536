"""The documentation cannot drift (issue 18 items 4 and 6).

Every YAML example that is a policy validates both with policies/policy.schema.json (what editors show)
and with `minorguard policy check`, or is refused by both when the document marks it invalid; holiday
and case examples load with their own loaders. Every `$ minorguard …` command of a console block runs,
in a folder holding the document's example files, and prints what the document shows ("…" stands for
any text within a line, or for any lines when alone on one).

Markers (HTML comments, invisible when rendered) on the line before a fenced block:
`<!-- file: NAME -->` writes the block to NAME for the commands that follow; `<!-- file: NAME invalid -->`
marks an example both must refuse, `<!-- file: NAME looser -->` one that is well formed but looser than
the law (only `policy check` knows the law).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

from minorguard.adapters.calendar_file import load_override_file
from minorguard.cli import main
from minorguard.errors import PolicyError
from minorguard.policy.cases import load_cases
from minorguard.policy.loader import load_policy

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = [REPO / "README.md", REPO / "policies" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SCHEMA = json.loads((REPO / "policies" / "policy.schema.json").read_text(encoding="utf-8"))
FENCE = re.compile(
    r"(?:<!-- file: (?P<file>\S+)(?: (?P<mark>invalid|looser))? -->\n)?```(?P<lang>\w*)\n(?P<body>.*?)```",
    re.S,
)


@dataclass(frozen=True)
class Block:
    document: Path
    line: int
    lang: str
    body: str
    file: str | None
    mark: str | None  # "invalid": refused by both; "looser": well formed, below the law's floor

    @property
    def where(self) -> str:
        return f"{self.document.relative_to(REPO)}:{self.line}"


def blocks(document: Path) -> list[Block]:
    text = document.read_text(encoding="utf-8")
    return [
        Block(
            document,
            text.count("\n", 0, m.start("body")),
            m.group("lang"),
            m.group("body"),
            m.group("file"),
            m.group("mark"),
        )
        for m in FENCE.finditer(text)
    ]


def kind(block: Block) -> str:
    """policy, holidays, cases or other (deployment configs, proxy configs: not policy files)."""
    documents = list(YAML(typ="safe").load_all(block.body))
    data = documents[0] if len(documents) == 1 else None
    if not isinstance(data, dict):
        return "other"
    if "cases" in data:
        return "cases"
    if "year" in data and "holidays" in data:
        return "holidays"
    if "name" in data and not {"store", "routes", "policy", "static_resources", "http"} & set(data):
        return "policy"
    return "other"


YAML_EXAMPLES = [b for d in DOCUMENTS for b in blocks(d) if b.lang == "yaml"]
POLICY_EXAMPLES = [b for b in YAML_EXAMPLES if kind(b) == "policy"]


def test_the_documents_have_policy_examples_to_check() -> None:
    """The checks below cannot pass by finding nothing."""
    assert len(POLICY_EXAMPLES) >= 5
    assert {b.mark for b in POLICY_EXAMPLES} >= {None, "invalid", "looser"}


def scratch(tmp_path: Path, document: Path) -> Path:
    """A folder with every file the document writes, so examples may refer to each other."""
    for block in blocks(document):
        if block.file is not None:
            (tmp_path / block.file).write_text(block.body, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("block", POLICY_EXAMPLES, ids=lambda b: b.where)
def test_a_policy_example_is_judged_alike_by_the_schema_and_by_policy_check(
    block: Block, tmp_path: Path
) -> None:
    """Valid for both, or (marked invalid) refused by both: the editor agrees with the CLI. An example
    marked looser is well formed (the schema cannot know the law) and refused for the floor alone."""
    folder = scratch(tmp_path, block.document)
    path = folder / (block.file or "example.yaml")
    path.write_text(block.body, encoding="utf-8")
    data = YAML(typ="safe").load(block.body)
    schema_errors = [e.message for e in jsonschema.Draft202012Validator(SCHEMA).iter_errors(data)]
    try:
        load_policy(path)
        problems: list[str] = []
    except PolicyError as exc:
        problems = [str(p) for p in exc.problems]
    if block.mark == "invalid":
        assert schema_errors, f"{block.where}: the schema accepts an example marked invalid"
        assert problems, f"{block.where}: policy check accepts an example marked invalid"
    elif block.mark == "looser":
        assert schema_errors == [], f"{block.where}: {schema_errors}"
        assert problems, f"{block.where}: policy check accepts an example marked looser"
        assert all("looser than" in p for p in problems), problems
    else:
        assert schema_errors == [], f"{block.where}: {schema_errors}"
        assert problems == [], f"{block.where}: {problems}"


@pytest.mark.parametrize("block", [b for b in YAML_EXAMPLES if kind(b) == "holidays"], ids=lambda b: b.where)
def test_a_holiday_example_loads(block: Block, tmp_path: Path) -> None:
    """The override-file examples follow every rule of the format."""
    path = tmp_path / (block.file or "holidays.yaml")
    path.write_text(block.body, encoding="utf-8")
    assert load_override_file(path).year >= 2026


@pytest.mark.parametrize("block", [b for b in YAML_EXAMPLES if kind(b) == "cases"], ids=lambda b: b.where)
def test_a_case_example_loads_and_passes(block: Block, tmp_path: Path) -> None:
    """The case examples are valid case files whose cases pass."""
    folder = scratch(tmp_path, block.document)
    path = folder / (block.file or "example.cases.yaml")
    path.write_text(block.body, encoding="utf-8")
    load_cases(path)
    assert main(["policy", "test", str(path)]) == 0


# -- console blocks ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    block: Block
    argv: list[str]
    expected: list[str]


def commands(document: Path) -> list[Command]:
    found = []
    for block in blocks(document):
        if block.lang != "console":
            continue
        lines = block.body.rstrip("\n").split("\n")
        index = 0
        while index < len(lines):
            if not lines[index].startswith("$ "):
                index += 1
                continue
            text = lines[index][2:]
            while text.endswith("\\"):
                index += 1
                text = text[:-1] + " " + lines[index].strip()
            index += 1
            expected = []
            while index < len(lines) and not lines[index].startswith("$ "):
                expected.append(lines[index])
                index += 1
            argv = shlex.split(text)
            if argv and argv[0].endswith("minorguard"):
                found.append(Command(block, argv[1:], expected))
    return found


def matches(expected: list[str], actual: list[str]) -> bool:
    """Line by line; "…" alone matches any lines, "…" within a line any text."""
    if not expected:
        return not actual
    head, rest = expected[0], expected[1:]
    if head == "…":
        return any(matches(rest, actual[n:]) for n in range(len(actual) + 1))
    if not actual:
        return False
    pattern = ".*".join(re.escape(part) for part in head.split("…"))
    return re.fullmatch(pattern, actual[0]) is not None and matches(rest, actual[1:])


COMMANDS = [c for d in DOCUMENTS for c in commands(d)]


def test_the_documents_have_commands_to_run() -> None:
    """The guide's commands are found (policy check, explain, calendar show and import, info)."""
    ran = {" ".join(c.argv[:2]) for c in COMMANDS}
    assert {"policy check", "policy explain", "calendar show", "calendar import", "policy info"} <= ran


@pytest.mark.parametrize(
    "document", [d for d in DOCUMENTS if commands(d)], ids=lambda d: str(d.relative_to(REPO))
)
def test_the_commands_of_a_document_print_what_it_shows(
    document: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In order, in one folder with the document's files (a command may use what an earlier one
    wrote): stdout and stderr together match the output the document shows."""
    monkeypatch.chdir(scratch(tmp_path, document))
    mismatches = []
    for command in commands(document):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main(command.argv)
        actual = (out.getvalue() + err.getvalue()).rstrip("\n").split("\n")
        if not matches(command.expected, actual):
            mismatches.append(
                "\n".join(
                    [
                        f"{command.block.where}: $ minorguard {' '.join(command.argv)}",
                        "--- the document shows",
                        *command.expected,
                        "--- the command prints",
                        *actual,
                    ]
                )
            )
    assert not mismatches, "\n\n".join(mismatches)
