"""What tests read of the logs: events (feedsvc.logevents), their levels and fields,
never a message's wording, which is for people and may change: the captured
records (caplog), or the lines of a child process's log that carry an event."""

from __future__ import annotations

import logging

import pytest

from feedsvc.logevents import Event


def events(caplog: pytest.LogCaptureFixture,
           logger: str | None = None) -> list[tuple[int, str]]:
    """(level, event name) of each captured record that carries an event, in order;
    only those of ``logger`` when given."""
    return [(record.levelno, record.__dict__["event"]) for record in caplog.records
            if "event" in record.__dict__ and (logger is None or record.name == logger)]


def records(caplog: pytest.LogCaptureFixture, event: Event,
            logger: str | None = None) -> list[logging.LogRecord]:
    """The captured records of ``event`` (of ``logger`` when given), in order."""
    return [record for record in caplog.records
            if record.__dict__.get("event") == event.value
            and (logger is None or record.name == logger)]


def field(record: logging.LogRecord, name: str) -> object:
    """A structured field of an event's record (``task``, ``reason``, ...)."""
    return record.__dict__[name]


# --- the log output of a child process, in the default format ----------------------------


def tag(event: Event) -> str:
    """What the default log format (``feedsvc.cli.configure_logging``, which the
    ``feedsvc`` commands and ``wsgi.py`` install) ends the line of an ``event`` with."""
    return f" [event={event.value}]"


def lines_of(log: str, event: Event) -> list[str]:
    """The lines of ``log`` (a process's log output, in the default format) that
    carry ``event``, in order."""
    return [line for line in log.splitlines() if line.endswith(tag(event))]


def logged(log: str, event: Event) -> bool:
    """Whether ``log`` (a process's log output, in the default format) has a line of
    ``event``."""
    return bool(lines_of(log, event))
