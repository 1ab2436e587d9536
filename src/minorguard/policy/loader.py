"""Load a policy file: YAML 1.2, `extends:` a preset, strict validation, every problem at once.

A problem reads `file:line:col  dotted.path  message`; unknown keys get a "did you mean" hint. Nothing is
returned unless the whole policy is valid, so a broken file can never half-apply.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from minorguard.errors import PolicyError, Problem
from minorguard.policy.floorcheck import ACKNOWLEDGE, Acknowledged, check_floor
from minorguard.policy.presets import PRESET_NAMES, preset_path
from minorguard.policy.schema import PolicyFile
from minorguard.policy.yamlfile import Document, Mark, Path_, dotted, load_document
from minorguard.policy.yamlsafe import YamlRefused, read_bounded

MAX_EXTENDS_DEPTH = 4


@dataclass(frozen=True, slots=True)
class Policy:
    """A validated policy: the effective values, where they came from and a content revision."""

    name: str
    revision: str  # first 12 hex of the SHA-256 of the effective values: same values, same revision
    spec: PolicyFile
    sources: tuple[str, ...]  # the file, then the presets it extends
    calendar_files: tuple[Path, ...]  # override files, resolved against the file that named them
    claims: tuple[str, ...] = ()  # the presets in the chain: the documents whose numbers it keeps
    acknowledged: tuple[Acknowledged, ...] = ()  # rules looser than the law, by the file's own word

    @property
    def looser_rules(self) -> tuple[str, ...]:
        return tuple(a.rule for a in self.acknowledged)


def load_policy(source: str | Path) -> Policy:
    """Load a policy from a file path, or a bundled preset by name. Raises PolicyError listing every
    problem found."""
    path = Path(source)
    if not path.exists() and str(source) in PRESET_NAMES:
        path = preset_path(str(source))
    elif not path.exists() and _looks_like_a_name(str(source)):
        hint = _did_you_mean(str(source), PRESET_NAMES)
        message = (
            f"no such file, and no preset named {str(source)!r}{hint} (presets: {', '.join(PRESET_NAMES)})"
        )
        raise PolicyError([Problem(str(source), 1, 1, "", message)])
    problems: list[Problem] = []
    chain = _read_chain(path, problems)
    if not chain:
        raise PolicyError(_sorted(problems))
    merged: dict[str, Any] = {}
    origin: dict[Path_, Document] = {}
    top = chain[0]
    for doc in reversed(chain):  # the preset first, the file last: later values win
        _merge(merged, doc.data, (), doc, origin, own=doc is top)
    merged.pop("extends", None)
    merged["extends"] = top.data.get("extends")
    spec = _validate(merged, origin, top, problems)
    if problems or spec is None:
        raise PolicyError(_sorted(problems))
    claims = tuple(name for doc in chain for name in PRESET_NAMES if _same_file(doc.file, preset_path(name)))
    acknowledged = check_floor(spec, claims, origin, top, problems)
    if problems:
        raise PolicyError(_sorted(problems))
    base = path.parent
    calendar_files = tuple(
        (base / f).resolve() for f in top.data.get("calendar", {}).get("override_files", [])
    )
    digest = hashlib.sha256(spec.model_dump_json(exclude={"description"}).encode())
    for file in calendar_files:  # an edited holiday override changes decisions, so it changes the revision
        digest.update(_contents(file))
    revision = digest.hexdigest()[:12]
    return Policy(
        spec.name, revision, spec, tuple(d.file for d in chain), calendar_files, claims, acknowledged
    )


def _same_file(file: str, preset: Path) -> bool:
    """A preset given by name or by its repository path (the package's presets are a link to it)."""
    return Path(file) == preset or Path(file).resolve() == preset.resolve()


def _looks_like_a_name(source: str) -> bool:
    return "/" not in source and "\\" not in source and not source.endswith((".yaml", ".yml"))


def _contents(file: Path) -> bytes:
    try:
        return read_bounded(file)
    except (OSError, YamlRefused):
        return b"(unreadable)"  # the calendar loader reports why


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.file, p.line, p.column))


def _read_chain(path: Path, problems: list[Problem]) -> list[Document]:
    chain: list[Document] = []
    seen: set[str] = set()
    current: Path | None = path
    while current is not None:
        doc = load_document(current)
        problems.extend(doc.problems)
        if doc.data is None:
            if not doc.problems:
                problems.append(Problem(doc.file, 1, 1, "", "the file is empty"))
            return chain
        if not isinstance(doc.data, dict):
            problems.append(Problem(doc.file, 1, 1, "", "a policy file is a mapping of keys to values"))
            return chain
        chain.append(doc)
        seen.add(str(current))
        current = _parent(doc, len(chain), seen, problems)
    return chain


def _parent(doc: Document, depth: int, seen: set[str], problems: list[Problem]) -> Path | None:
    name = doc.data.get("extends")
    if name is None:
        return None
    mark = doc.mark(("extends",))
    if not isinstance(name, str) or name not in PRESET_NAMES:
        hint = _did_you_mean(str(name), PRESET_NAMES)
        problems.append(
            Problem(
                doc.file,
                mark.line,
                mark.column,
                "extends",
                f"unknown preset {name!r}{hint} (presets: {', '.join(PRESET_NAMES)})",
            )
        )
        return None
    parent = preset_path(name)
    if str(parent) in seen or depth > MAX_EXTENDS_DEPTH:
        problems.append(
            Problem(
                doc.file,
                mark.line,
                mark.column,
                "extends",
                f"presets extend each other in a loop through {name!r}",
            )
        )
        return None
    return parent


def _merge(
    into: dict[str, Any],
    data: dict[str, Any],
    path: Path_,
    doc: Document,
    origin: dict[Path_, Document],
    *,
    own: bool,
) -> None:
    for key, value in data.items():
        child = (*path, key)
        if key == ACKNOWLEDGE and not own:
            continue  # a preset's acknowledgement covers the preset, not the files built on it
        if isinstance(value, dict) and (isinstance(into.get(key), dict) or not own):
            if not isinstance(into.get(key), dict):
                into[key] = {}  # merged key by key, so a preset's acknowledgements stay behind
            _merge(into[key], value, child, doc, origin, own=own)
        else:
            into[key] = json.loads(json.dumps(value))  # a deep copy of plain data
        origin[child] = doc


def _validate(
    merged: dict[str, Any], origin: dict[Path_, Document], top: Document, problems: list[Problem]
) -> PolicyFile | None:
    if "name" not in top.data and top.data.get("extends") is not None:
        problems.append(Problem(top.file, 1, 1, "name", "give this policy a name of its own (name: ...)"))
    try:
        return PolicyFile.model_validate_json(json.dumps(merged), strict=True)
    except ValidationError as exc:
        problems.extend(problem_of(PolicyFile, error, origin, top) for error in exc.errors())
        return None


def problem_of(model: type[BaseModel], error: Any, origin: dict[Path_, Document], top: Document) -> Problem:
    """A pydantic error as a located, friendly problem (unknown keys get a "did you mean")."""
    loc: Path_ = tuple(error["loc"])
    kind = error["type"]
    if loc and loc[-1] == "[key]":  # a dict key outside its enum, e.g. an unknown age band
        loc = loc[:-1]
        choices = _enum_choices(error)
        message = f"unknown key{_did_you_mean(str(loc[-1]), choices)} (allowed: {', '.join(choices)})"
        kind = "extra_forbidden"
    elif kind == "extra_forbidden":
        allowed = _fields_at(model, loc[:-1])
        message = f"unknown key{_did_you_mean(str(loc[-1]), allowed)}"
    elif kind == "missing":
        message = "this key is required"
    else:
        message = _friendly(error)
    doc = _owner(loc, origin, top)
    mark: Mark = doc.mark(loc, key=kind == "extra_forbidden")
    return Problem(mark.file, mark.line, mark.column, dotted(loc), message)


def _enum_choices(error: Any) -> list[str]:
    expected = error.get("ctx", {}).get("expected", "")
    return [part.strip(" '") for part in expected.replace(" or ", ",").split(",") if part.strip(" '")]


def _owner(loc: Path_, origin: dict[Path_, Document], top: Document) -> Document:
    for end in range(len(loc), 0, -1):
        if loc[:end] in origin:
            return origin[loc[:end]]
    return top


def _friendly(error: Any) -> str:
    kind, value = error["type"], error.get("input")
    if kind in ("int_type", "int_from_float") and isinstance(value, float):
        return f"write a whole number (money in fen: 5000 is ¥50.00; got {value})"
    if kind == "int_type":
        return f"write a whole number without quotes (got {value!r})"
    if kind == "enum":
        return f"{error['msg'].replace('Input should be', 'write')} (got {value!r})"
    if kind == "string_type":
        return f"write text (got {value!r})"
    if kind == "greater_than_equal":
        return f"must be {error['ctx']['ge']} or more (got {value!r})"
    if kind == "less_than_equal":
        return f"must be {error['ctx']['le']} or less (got {value!r})"
    if kind == "string_too_short":
        return f"write at least {error['ctx']['min_length']} characters (got {value!r})"
    if kind == "string_too_long":
        return f"write at most {error['ctx']['max_length']} characters (got {len(value)})"
    if kind == "string_pattern_mismatch" and tuple(error["loc"]) == ("name",):
        return (
            "a name is lower-case letters, digits, '-', '_' or '.', starting with a letter or a digit "
            f"(got {value!r})"
        )
    message: str = error["msg"]
    return message.replace("Value error, ", "")


def _fields_at(model: type[BaseModel], loc: Path_) -> list[str]:
    """The keys allowed at `loc` inside `model`, following nested models and dict values."""
    current: Any = model
    skip_key = False  # the part after a dict field is a key of that dict, not a field name
    for part in loc:
        if isinstance(part, int) or current is None:
            continue
        if skip_key:
            skip_key = False
            continue
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            current = _model_in(field.annotation) if field else None
            skip_key = field is not None and getattr(field.annotation, "__origin__", None) is dict
        else:
            current = None
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" — did you mean {close[0]!r}?" if close else ""
