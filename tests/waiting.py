"""Waiting for what a server, a scheduler or a child process does in its own time."""

from __future__ import annotations

import time
from collections.abc import Callable

DEFAULT_WAIT = 30.0
"""Seconds allowed by default: a bound on hanging, not a measure of speed."""


def wait_for(condition: Callable[[], object], what: str = "", *,
             timeout: float = DEFAULT_WAIT, interval: float = 0.05) -> None:
    """Return as soon as ``condition()`` is true, checking every ``interval`` seconds;
    fail the test after ``timeout`` seconds, naming ``what`` (else the condition)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(interval)
