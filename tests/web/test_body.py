"""JSON bodies from the network (issue 14 item 4): nesting is bounded before parsing, so a deep body is
refused instead of recursing until RecursionError (a 500)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from minorguard.web.body import MAX_JSON_DEPTH, json_object, too_deep

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab', max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(alphabet='[]{}"\\k', max_size=4), inner, max_size=3)
    ),
    max_leaves=40,
)


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


def test_a_body_nested_ten_thousand_deep_is_not_an_object() -> None:
    assert json_object(b"[" * 10_000 + b"]" * 10_000) is None
    assert json_object(b'{"a":' * 10_000 + b"1" + b"}" * 10_000) is None


def test_a_body_just_within_the_depth_is_read() -> None:
    inner: Any = {"amount_fen": 1}
    for _ in range(MAX_JSON_DEPTH - 1):
        inner = {"x": inner}
    assert json_object(json.dumps(inner).encode()) == inner


def test_brackets_inside_strings_do_not_count() -> None:
    body = json.dumps({"note": "[" * 100 + '\\"{' * 50, "amount_fen": 5}).encode()
    assert json_object(body) == {"note": "[" * 100 + '\\"{' * 50, "amount_fen": 5}


@settings(max_examples=500, derandomize=True)
@given(JSON, st.integers(0, 6))
def test_too_deep_agrees_with_the_parsed_depth(value: Any, limit: int) -> None:
    assert too_deep(json.dumps(value).encode(), limit) == (depth(value) > limit)


@settings(max_examples=500, derandomize=True)
@given(st.binary(max_size=200))
def test_any_bytes_are_an_object_or_none(raw: bytes) -> None:
    found = json_object(raw)
    assert found is None or isinstance(found, dict)
