"""The sidecar's logs (logs.py): one JSON object per line and per event, tracebacks included; the
decision log on or off; text when asked."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minorguard.logs import DECISIONS, JsonFormatter, configure_logging


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    yield out
    root = logging.getLogger("minorguard")
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.propagate, root.level = True, logging.NOTSET
    logging.getLogger(DECISIONS).setLevel(logging.NOTSET)


def test_each_event_is_one_json_line(stream: io.StringIO) -> None:
    configure_logging(stream=stream)
    log = logging.getLogger("minorguard.sidecar")
    log.info("started %s", "x\ny")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("it broke")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert (first["level"], first["logger"], first["message"]) == (
        "info",
        "minorguard.sidecar",
        "started x\ny",
    )
    assert "ValueError: boom" in second["exception"]


def test_the_decision_log_is_off_unless_switched_on(stream: io.StringIO) -> None:
    configure_logging(stream=stream)
    assert not logging.getLogger(DECISIONS).isEnabledFor(logging.INFO)
    configure_logging(stream=stream, decisions=True)  # again: its handler replaced, not doubled
    logging.getLogger(DECISIONS).info(json.dumps({"outcome": "deny", "reason": "curfew"}))
    (line,) = stream.getvalue().splitlines()
    event = json.loads(line)
    assert event["decision"] == {"outcome": "deny", "reason": "curfew"}
    assert event["logger"] == DECISIONS


def test_text_format_and_level(stream: io.StringIO) -> None:
    configure_logging(stream=stream, fmt="text", level="warning")
    log = logging.getLogger("minorguard.x")
    log.info("hidden")
    log.warning("shown")
    assert stream.getvalue().count("\n") == 1
    assert "WARNING minorguard.x shown" in stream.getvalue()


@given(
    st.text() | st.text().map(lambda t: "{" + t) | st.just('{"a": 1}'),
    st.sampled_from(["minorguard.x", DECISIONS]),
)
def test_any_message_stays_on_one_line_of_json(message: str, name: str) -> None:
    record = logging.LogRecord(name, logging.INFO, __file__, 1, message, None, None)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    event = json.loads(line)
    assert event["message"] == message if "message" in event else json.loads(message) == event["decision"]
