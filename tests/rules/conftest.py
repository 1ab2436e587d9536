"""Fixtures of the rule tests: the process runs in UTC, so nothing may lean on the machine's zone."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def process_in_utc() -> Iterator[None]:
    """Run each rule test with TZ=UTC (Beijing is 8 hours ahead), then put the old zone back."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()
