"""Reading YAML that may be hostile, within fixed bounds of time and memory.

Policy, case and holiday files come from people and from deployment pipelines, so a file may be huge, a
device (`/dev/zero`), a FIFO, nested ten thousand deep, an alias bomb (a few hundred bytes that expand to
a billion values), or carry `!!python/...` tags. Each of these becomes a located `YamlRefused` before
ruamel composes the document: the file is read with a size limit (regular files only), its characters
are checked, and its event stream (which ruamel produces without recursion) is walked once to bound
depth, aliases and the number of values after aliases are expanded.
"""

from __future__ import annotations

import os
import re
import stat

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    NodeEvent,
    ScalarEvent,
)

MAX_BYTES = 256 * 1024  # the largest bundled file (a case file) is about 25 KiB
MAX_DEPTH = 32  # a policy nests 5 deep
MAX_ALIASES = 64
MAX_VALUES = 20_000  # scalars and collections once aliases are expanded
_CORE_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "seq", "map")
)
# C0 controls but tab, newline and carriage return; DEL; C1 controls; surrogates; U+FFFE/U+FFFF
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


class YamlRefused(Exception):
    """A file that is not read: where (1-based line and column) and why, in words for policy staff."""

    def __init__(self, line: int, column: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.column = column
        self.message = message


def read_bounded(path: str | os.PathLike[str], limit: int = MAX_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes. Opening never blocks (a FIFO with no
    writer) and reading stops at the limit (a device that never ends)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise YamlRefused(1, 1, "not a regular file (a directory, device or pipe cannot be read)")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:
        raise YamlRefused(1, 1, f"the file is larger than {limit // 1024} KiB")
    return b"".join(chunks)


def read_text(path: str | os.PathLike[str]) -> str:
    """The UTF-8 text of a file, bounded and free of control characters. OSError when it cannot be
    opened; YamlRefused for everything else."""
    data = read_bounded(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise YamlRefused(line, column, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    check_characters(text.removeprefix("\ufeff"))
    return text


def check_characters(text: str) -> None:
    found = _CONTROL.search(text)
    if found is None:
        return
    line, column = _position(text, found.start())
    raise YamlRefused(line, column, f"a control character (U+{ord(found.group()):04X}) is not allowed here")


def check_structure(text: str) -> None:
    """Walk the events of `text` once: bounded depth, aliases and expanded size, core tags only.
    Syntax errors are left to the full load, which reports them with their position."""
    walk = _Walk()
    try:
        for event in YAML(typ="rt").parse(text):
            walk.see(event)
    except MarkedYAMLError:
        return
    except YAMLError as exc:
        raise YamlRefused(1, 1, f"not valid YAML: {exc}") from None


class _Walk:
    def __init__(self) -> None:
        self.depth = self.values = self.aliases = 0
        self.sizes: dict[str, int] = {}  # anchor -> how many values it stands for
        self.starts: list[tuple[str | None, int]] = []

    def see(self, event: object) -> None:
        if isinstance(event, NodeEvent) and not isinstance(event, AliasEvent):
            _check_tag(event)
        if isinstance(event, CollectionStartEvent):
            self.depth, self.values = self.depth + 1, self.values + 1
            self.starts.append((event.anchor, self.values))
            if self.depth > MAX_DEPTH:
                _refuse(event, f"nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, CollectionEndEvent):
            self.depth -= 1
            anchor, start = self.starts.pop()
            if anchor is not None:
                self.sizes[anchor] = self.values - start + 1
        elif isinstance(event, ScalarEvent):
            self.values += 1
            if event.anchor is not None:
                self.sizes[event.anchor] = 1
        elif isinstance(event, AliasEvent):
            self.aliases += 1
            self.values += self.sizes.get(event.anchor, 1)
            if self.aliases > MAX_ALIASES:
                _refuse(event, f"more than {MAX_ALIASES} aliases (*name)")
        if self.values > MAX_VALUES:
            _refuse(event, f"more than {MAX_VALUES} values once aliases (*name) are expanded")


def _check_tag(event: NodeEvent) -> None:
    raw = getattr(event, "tag", None)
    tag = None if raw is None else str(raw)
    if tag is not None and tag not in _CORE_TAGS:
        shown = tag.replace("tag:yaml.org,2002:", "!!")
        _refuse(event, f"the tag {shown} is not allowed: write plain values (text, numbers, lists)")


def _refuse(event: object, message: str) -> None:
    mark = getattr(event, "start_mark", None)
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    raise YamlRefused(line, column, message)


def _position(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1
