"""YAML 1.2 loading that keeps where every key and value stood, for file:line:col problems.

ruamel.yaml's round-trip loader reads YAML 1.2: `22:00` is the string "22:00", never the base-60 number
1320 that YAML 1.1 loaders (PyYAML) make of it, and `off` stays a string. Policy files are also read by
other tools (editors, yq, Helm), many of them YAML 1.1, so an unquoted time is still reported: quoting it
is the only way every reader agrees.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarstring import ScalarString

from minorguard.errors import Problem
from minorguard.policy.yamlsafe import YamlRefused, check_characters, check_structure, read_text

Path_ = tuple[str | int, ...]
_BARE_TIME = re.compile(r"^\d{1,2}:\d{2}$")


@dataclass(frozen=True, slots=True)
class Mark:
    file: str
    line: int  # 1-based
    column: int  # 1-based


@dataclass
class Document:
    """Plain data (dicts, lists, str, int, float, bool, None) plus the marks of every key and value."""

    file: str
    data: Any
    value_marks: dict[Path_, Mark] = field(default_factory=dict)
    key_marks: dict[Path_, Mark] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def mark(self, path: Path_, *, key: bool = False) -> Mark:
        """The mark of `path`, or of its nearest ancestor that has one."""
        marks = self.key_marks if key else self.value_marks
        for end in range(len(path), -1, -1):
            found = marks.get(path[:end]) or (self.key_marks.get(path[:end]) if key else None)
            if found is not None:
                return found
        return Mark(self.file, 1, 1)


def dotted(path: Path_) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in path).replace(".[", "[")


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True  # tells a quoted "22:00" from a bare one
    yaml.allow_duplicate_keys = False
    return yaml


def load_document(file: Path | str, text: str | None = None) -> Document:
    """Parse one YAML file. Every problem, a hostile file's included, becomes a located Problem
    (never an exception); `data` is then None."""
    name = str(file)
    doc = Document(name, None)
    try:
        if text is None:
            source = read_text(file)
        else:
            check_characters(text)
            source = text
        check_structure(source)
        raw = _yaml().load(source)
    except OSError as exc:
        doc.problems.append(Problem(name, 1, 1, "", f"cannot read the file: {exc}"))
        return doc
    except YamlRefused as exc:
        doc.problems.append(Problem(name, exc.line, exc.column, "", exc.message))
        return doc
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        message = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        doc.problems.append(Problem(name, line, col, "", f"not valid YAML: {message}"))
        return doc
    except (YAMLError, ValueError) as exc:  # e.g. an impossible date 2026-02-30 in a case file
        doc.problems.append(Problem(name, 1, 1, "", f"not valid YAML: {exc}"))
        return doc
    doc.value_marks[()] = Mark(name, 1, 1)
    doc.data = _plain(raw, (), doc)
    return doc


def _plain(node: Any, path: Path_, doc: Document) -> Any:
    if isinstance(node, CommentedMap):
        out: dict[str, Any] = {}
        for key, value in node.items():
            line, col = node.lc.key(key)
            child = (*path, str(key))
            doc.key_marks[child] = Mark(doc.file, line + 1, col + 1)
            vline, vcol = node.lc.value(key)
            doc.value_marks[child] = Mark(doc.file, vline + 1, vcol + 1)
            if not isinstance(key, str):
                doc.problems.append(
                    Problem(
                        doc.file,
                        line + 1,
                        col + 1,
                        dotted(child),
                        f"keys must be words, not {type(key).__name__} {key!r}",
                    )
                )
            out[str(key)] = _plain(value, child, doc)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            child = (*path, index)
            line, col = node.lc.item(index)
            doc.value_marks[child] = Mark(doc.file, line + 1, col + 1)
            items.append(_plain(value, child, doc))
        return items
    if isinstance(node, ScalarString):
        return str(node)
    if isinstance(node, str) and _BARE_TIME.match(node):
        mark = doc.mark(path)
        doc.problems.append(
            Problem(
                doc.file,
                mark.line,
                mark.column,
                dotted(path),
                f'write times in quotes, like "{node}": YAML 1.1 tools read a bare {node} as a number',
            )
        )
        return node
    if isinstance(node, dt.datetime | dt.date):
        return node.isoformat()
    for plain_type in (bool, int, float, str):  # drop ruamel's Scalar* subclasses
        if isinstance(node, plain_type):
            return plain_type(node)
    return node if node is None else str(node)
