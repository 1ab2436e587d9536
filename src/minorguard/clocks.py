"""Clocks: epoch seconds, real or shifted (the demo's `--start-at`)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

Clock = Callable[[], float]


def offset_clock(start_at: dt.datetime | None) -> Clock:
    """A clock that starts at `start_at` and runs at the real pace."""
    if start_at is None:
        return time.time
    offset = start_at.timestamp() - time.time()
    return lambda: time.time() + offset
