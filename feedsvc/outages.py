"""One log line per outage, not one per attempt.

A process that retries on a timer (a scheduler's heartbeat, a web worker's
notification listener) meets the same failure at every attempt while the
database is away; logging each would bury the log. ``Outage`` logs the first
failure as a warning, the repeats at debug level, and the end of the outage
once, at info level. Each line is an event (feedsvc.logevents: ``outage.started``,
``outage.continues``, ``outage.ended``) whose ``task`` field is ``what``.
"""

from __future__ import annotations

import logging
import threading

from feedsvc.logevents import Event, log_event


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
            log_event(self._log, Event.OUTAGE_STARTED, "%s: %s (said once; retrying quietly)",
                      self._what, exc, task=self._what)
        else:
            log_event(self._log, Event.OUTAGE_CONTINUES, "%s: still failing: %s",
                      self._what, exc, task=self._what)

    def succeeded(self) -> None:
        """Report a success: says once that the outage, if any, is over."""
        with self._lock:
            ended, self._failing = self._failing, False
        if ended:
            log_event(self._log, Event.OUTAGE_ENDED, "%s: working again", self._what,
                      task=self._what)
