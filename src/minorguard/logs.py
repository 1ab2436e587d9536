"""The sidecar's logs: one JSON object per line and per event (or plain text), on standard error, and
the switch of the decision log (`minorguard.decisions`, one line per decision: decisionlog.py).

    logging:                 # in the deployment config (all optional)
      format: json           # json (default) or text
      level: info            # debug, info, warning, error
      decisions: false       # the decision log (an audit trail; costs a few µs a decision)

A JSON line always has `ts` (Unix seconds), `level`, `logger` and either `message` (and `exception`
with the traceback, escaped onto the line) or, from the decision log, `decision` (its object as
decisionlog.py wrote it). The HTTP server's own lines (granian's) get the same format through
`server_log_config`. Nothing is configured at import; `configure_logging` is called by the sidecar.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import IO, Any, Literal

DECISIONS = "minorguard.decisions"
LogFormat = Literal["json", "text"]
LogLevel = Literal["debug", "info", "warning", "error"]
_HANDLER_NAME = "minorguard"
_TEXT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line whatever the message holds."""

    def format(self, record: logging.LogRecord) -> str:
        head = {"ts": round(record.created, 3), "level": record.levelname.lower(), "logger": record.name}
        if record.name == DECISIONS and isinstance(record.msg, str) and not record.args:
            text = record.msg
            if text.startswith("{") and "\n" not in text and _is_object(text):  # decisionlog's line
                return json.dumps(head, ensure_ascii=False)[:-1] + f', "decision": {text}}}'
        event: dict[str, Any] = {**head, "message": record.getMessage()}
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        return json.dumps(event, ensure_ascii=False, default=str)


def _is_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def formatter(fmt: LogFormat) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else logging.Formatter(_TEXT)


def configure_logging(
    *,
    fmt: LogFormat = "json",
    level: LogLevel = "info",
    decisions: bool = False,
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Send the `minorguard` loggers to `stream` (standard error) in `fmt`, at `level`; the decision
    log on or off. Called again, it replaces its own handler (each worker process calls it)."""
    root = logging.getLogger("minorguard")
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter(fmt))
    root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False  # one line per event: not again through the root logger's handlers
    # off: above CRITICAL, so decisionlog.record's isEnabledFor check skips building the line at all
    logging.getLogger(DECISIONS).setLevel(logging.INFO if decisions else logging.CRITICAL + 1)
    return handler


def server_log_config(fmt: LogFormat) -> dict[str, Any]:
    """A logging.config.dictConfig for the HTTP server's own loggers (granian's `_granian`), in the
    same format as ours, on standard error."""
    factory = {"()": f"{__name__}.JsonFormatter"} if fmt == "json" else {"format": _TEXT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"generic": factory, "access": factory},
        "handlers": {
            "console": {
                "formatter": "generic",
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
            },
            "access": {"formatter": "access", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
        },
        "loggers": {
            "_granian": {"handlers": ["console"], "level": "INFO", "propagate": False},
            "granian.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }
