"""What tests read of the logs: events (feedsvc.logevents), their levels and fields,
never a message's wording, which is for people and may change."""

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
