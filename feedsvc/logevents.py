"""The names of the log lines operators rely on, and the one way to log them.

A log line's text is for people and may be reworded; its *event* is for
alerts, dashboards and tests, and stays. ``log_event`` logs the usual text at
the event's level with ``extra={"event": <name>, **fields}``, so a handler
(a JSON formatter, say) finds the name and the structured fields on the
record: ``record.event``, ``record.task``, ``record.reason``, ...

Each ``Event`` has one level and a one-line meaning; README.md's "Log events"
table lists them (tests/test_log_events.py checks that it agrees, and that
every event is logged somewhere). Imports nothing from feedsvc.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Self


class Event(StrEnum):
    """A log line's stable name (its value, e.g. ``"outage.started"``), with the level
    it is logged at and what it means."""

    level: int
    meaning: str

    def __new__(cls, name: str, level: int, meaning: str) -> Self:
        member = str.__new__(cls, name)
        member._value_ = name
        member.level = level
        member.meaning = meaning
        return member

    # A task retried on a timer (feedsvc.outages.Outage); field: task.
    OUTAGE_STARTED = (
        "outage.started", logging.WARNING,
        "A task retried on a timer failed; said once per outage (field `task`).")
    OUTAGE_CONTINUES = (
        "outage.continues", logging.DEBUG,
        "The same task failed again while its outage lasts (field `task`).")
    OUTAGE_ENDED = (
        "outage.ended", logging.INFO,
        "The task works again: its outage is over (field `task`).")

    # The scheduler's ticks and signals.
    REFRESH_SKIPPED = (
        "scheduler.refresh-skipped", logging.INFO,
        "A tick ran no refresh (field `reason`: `previous-running`, `lock-held`, "
        "`request-running`).")
    REFRESH_ERROR = (
        "scheduler.refresh-error", logging.ERROR,
        "A refresh did not run through (field `error`); the scheduler goes on.")
    TICK_DONE = (
        "scheduler.tick-done", logging.DEBUG,
        "A refresh run by the scheduler returned (field `ok`).")
    SIGNAL_RECEIVED = (
        "signal.received", logging.INFO,
        "A stop signal: the process shuts down (field `signal`).")
    SIGNAL_REPEATED = (
        "signal.repeated", logging.INFO,
        "A second stop signal with no refresh running: the shutdown just goes on "
        "(field `signal`).")
    REFRESH_ABANDONED = (
        "scheduler.refresh-abandoned", logging.WARNING,
        "A second stop signal during a refresh: the process exits at once, the last "
        "publication stays live (field `signal`).")

    # The scheduler lease (feedsvc.store.leases).
    LEASE_ACQUIRED = (
        "lease.acquired", logging.INFO,
        "This scheduler took the lease: it runs the refreshes (field `instance`).")
    LEASE_LOST = (
        "lease.lost", logging.WARNING,
        "Another scheduler took this one's lease over (field `instance`).")
    LEASE_TAKEN_OVER = (
        "lease.taken-over", logging.WARNING,
        "The active scheduler's lease expired; this one takes over (field `holder`).")
    LEASE_RELEASED = (
        "lease.released", logging.INFO,
        "This scheduler gave its lease up (field `instance`).")

    # A web node's publication and its notifications.
    NOTIFICATIONS_LOST = (
        "notifications.lost", logging.WARNING,
        "A web worker stopped hearing publication notifications; it polls meanwhile.")
    NOTIFICATIONS_STILL_LOST = (
        "notifications.still-lost", logging.DEBUG,
        "Reconnecting for publication notifications failed again.")
    NOTIFICATIONS_HEARD_AGAIN = (
        "notifications.heard-again", logging.INFO,
        "A web worker hears publication notifications again.")
    PUBLICATION_UNREADABLE = (
        "publication.unreadable", logging.WARNING,
        "A web node cannot read the live publication (field `fallback`: `memory` when it "
        "serves the one it holds, `unavailable` when it answers 503).")
    PUBLICATION_STILL_UNREADABLE = (
        "publication.still-unreadable", logging.DEBUG,
        "The live publication still cannot be read.")
    PUBLICATION_READABLE_AGAIN = (
        "publication.readable-again", logging.INFO,
        "A web node reads the live publication again.")

    # The web server and the admin guard.
    SERVER_STARTED = (
        "server.started", logging.INFO,
        "`feedsvc serve` listens (field `url`).")
    SERVER_PORT_MISMATCH = (
        "server.port-mismatch", logging.WARNING,
        "The server listens on another port than the local `site.base_url` its feed "
        "links use.")
    SERVER_STOPPING = (
        "server.stopping", logging.INFO,
        "`feedsvc serve` shuts down.")
    ADMIN_TOKEN_REFUSED = (
        "admin.token-refused", logging.WARNING,
        "A request carried a wrong admin token, or came from an address with too many "
        "(field `reason`: `wrong-token`, `too-many-failures`; `remote`).")

    # The scheduler's life.
    SCHEDULER_STARTED = (
        "scheduler.started", logging.INFO,
        "A scheduler started (fields `schedule`, `instance`).")
    SCHEDULER_STOPPED = (
        "scheduler.stopped", logging.INFO,
        "A scheduler stopped and recorded it in the store.")

    # A refresh (feedsvc.pipeline), wherever it runs.
    SOURCE_READ = (
        "source.read", logging.INFO,
        "A source was read (fields `source`, `status`: `ok`, `unchanged`, `not_modified`; "
        "`found`, `new`, `updated`, `warnings` when `ok`).")
    SOURCE_FAILED = (
        "source.failed", logging.WARNING,
        "A source could not be read; its items stay published (fields `source`, `error`, "
        "`stale`).")
    SOURCE_SKIPPED = (
        "source.skipped", logging.INFO,
        "A failing source is waiting for its retry (fields `source`, `retry_at`).")
    SOURCE_SKIPPED_STALE = (
        "source.skipped-stale", logging.WARNING,
        "A source failing for longer than `schedule.stale_after` is waiting for its retry "
        "(fields `source`, `retry_at`).")
    RUN_FINISHED = (
        "refresh.finished", logging.INFO,
        "A refresh ran through (fields `published`, `feeds`, `items`, `duration`).")
    RUN_FAILED = (
        "refresh.failed", logging.WARNING,
        "A refresh ran through with a failure: a source, or the publication (fields "
        "`failed`, `published`, `error`).")
    RUN_ABANDONED = (
        "refresh.abandoned", logging.ERROR,
        "A refresh stopped half-way on an unexpected error or a stop signal; the last "
        "publication stays live (field `error`).")
    REFRESH_TERMINATED = (
        "refresh.terminated", logging.WARNING,
        "`feedsvc refresh` got SIGTERM: it abandons the refresh, the last publication "
        "stays live (field `signal`).")
    FEED_CATEGORY_MISSING = (
        "feed.category-missing", logging.WARNING,
        "A custom feed names a category no item has (a typo, or one yet to come; "
        "fields `feed`, `category`).")


def log_event(logger: logging.Logger, event: Event, msg: str, *args: object,
              exc_info: bool = False, **fields: object) -> None:
    """Log ``msg % args`` on ``logger`` at ``event.level``, the record carrying
    ``event`` (its name) and ``fields`` as attributes. ``fields`` must not use
    the names of a LogRecord's own attributes (``name``, ``msg``, ...)."""
    logger.log(event.level, msg, *args, exc_info=exc_info or None,
               extra={"event": event.value, **fields}, stacklevel=2)


class EventFormatter(logging.Formatter):
    """A formatter that ends the line of a record carrying an event with
    `` [event=<name>]`` (before any traceback), so that the default log lines can
    be matched by event, whatever their wording."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        event = getattr(record, "event", None)
        return f"{line} [event={event}]" if isinstance(event, str) else line
