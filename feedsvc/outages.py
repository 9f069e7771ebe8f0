"""One log line per outage, not one per attempt.

A process that retries on a timer (a scheduler's heartbeat, a web worker's
notification listener) meets the same failure at every attempt while the
database is away; logging each would bury the log. ``Outage`` logs the first
failure as a warning, the repeats at debug level, and the end of the outage
once, at info level.
"""

from __future__ import annotations

import logging
import threading


class Outage:
    """The failures of one repeated task (``what``, as the log says it), on ``logger``.
    Thread-safe."""

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self._log = logger
        self._what = what
        self._failing = False
        self._lock = threading.Lock()

    @property
    def failing(self) -> bool:
        return self._failing

    def failed(self, exc: BaseException) -> None:
        """Report a failure: a warning when it starts an outage, else debug."""
        with self._lock:
            first, self._failing = not self._failing, True
        if first:
            self._log.warning("%s: %s (said once; retrying quietly)", self._what, exc)
        else:
            self._log.debug("%s: still failing: %s", self._what, exc)

    def succeeded(self) -> None:
        """Report a success: says once that the outage, if any, is over."""
        with self._lock:
            ended, self._failing = self._failing, False
        if ended:
            self._log.info("%s: working again", self._what)
