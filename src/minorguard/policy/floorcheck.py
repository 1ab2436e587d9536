"""The floor applied to a loaded policy: each shortfall (policy/floor.py) is a located problem naming the
article, unless the policy file acknowledges that rule; an acknowledgement with nothing to acknowledge
is a problem too, so none outlives the looser value it was written for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from minorguard.errors import Problem
from minorguard.policy.floor import Shortfall, shortfalls
from minorguard.policy.schema import PolicyFile
from minorguard.policy.values import Acknowledgement
from minorguard.policy.yamlfile import Document, Path_, dotted

ACKNOWLEDGE = "looser_than_law"
RULES = (
    "game.curfew",
    "game.play_windows",
    "game.play_time",
    "game.rest_reminder",
    "game.guest",
    "game.rating",
    "purchase",
    "livestream_publisher",
    "livestream_tip",
    "guardian",
)


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """A rule the policy file knowingly keeps looser than the law, and the articles it falls short of."""

    rule: str  # e.g. "game.curfew"
    articles: tuple[str, ...]
    reason: str


def check_floor(
    spec: PolicyFile,
    claims: tuple[str, ...],
    origin: dict[Path_, Document],
    top: Document,
    problems: list[Problem],
) -> tuple[Acknowledged, ...]:
    """Add a problem for each unacknowledged shortfall and each idle acknowledgement; return the
    acknowledgements in force."""
    found = shortfalls(spec, claims)
    given = {rule: ack for rule in RULES if (ack := _acknowledgement(spec, rule)) is not None}
    for shortfall in found:
        if shortfall.rule not in given:
            problems.append(_problem(shortfall, origin, top))
    acknowledged = []
    for rule, ack in given.items():
        articles = tuple(dict.fromkeys(s.article for s in found if s.rule == rule))
        if articles:
            acknowledged.append(Acknowledged(rule, articles, ack.reason))
            continue
        mark = top.mark((*rule.split("."), ACKNOWLEDGE), key=True)
        message = f"{rule} is not looser than the law or its preset's notice: remove {ACKNOWLEDGE}"
        problems.append(Problem(mark.file, mark.line, mark.column, f"{rule}.{ACKNOWLEDGE}", message))
    return tuple(acknowledged)


def _acknowledgement(spec: PolicyFile, rule: str) -> Acknowledgement | None:
    node: Any = spec
    for part in rule.split("."):
        node = getattr(node, part)
    found: Acknowledgement | None = node.looser_than_law
    return found


def _problem(shortfall: Shortfall, origin: dict[Path_, Document], top: Document) -> Problem:
    message = (
        f"looser than {shortfall.article}: {shortfall.detail}. Keep within it, or acknowledge it under "
        f"{shortfall.rule} with {ACKNOWLEDGE}: {{reason: ...}}"
    )
    owner = _owner(shortfall.path, origin)
    if owner is None or owner is top:
        mark = top.mark(shortfall.path)
        return Problem(mark.file, mark.line, mark.column, dotted(shortfall.path), message)
    mark = top.mark(("extends",))  # a preset's own looser value, not acknowledged by this file
    inherited = f"{message} (inherited from {owner.data.get('name', owner.file)})"
    return Problem(mark.file, mark.line, mark.column, dotted(shortfall.path), inherited)


def _owner(path: Path_, origin: dict[Path_, Document]) -> Document | None:
    """The file that set the value at `path` or, for a default, at its nearest set ancestor."""
    for end in range(len(path), 0, -1):
        if path[:end] in origin:
            return origin[path[:end]]
    return None
