"""The log events (feedsvc.logevents): each is logged somewhere, README.md lists
them as declared, and ``log_event`` puts the event and its fields on the record
without changing the text."""

from __future__ import annotations

import ast
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from log_events import events, field, records

from feedsvc.logevents import Event, EventFormatter, log_event

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "feedsvc"
README = (ROOT / "README.md").read_text(encoding="utf-8")

RECORD_ATTRIBUTES = frozenset(
    logging.LogRecord("x", logging.INFO, "x", 1, "x", None, None).__dict__) | {
    "message", "asctime"}
"""What ``extra`` may not name: logging refuses to overwrite a record's own attributes."""


@cache
def log_event_calls() -> tuple[tuple[str, ast.Call], ...]:
    """Every ``log_event(...)`` call in feedsvc, with the file it is in."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id == "log_event":
                found.append((str(path.relative_to(ROOT)), node))
    return tuple(found)


def logged_events() -> Iterator[str]:
    """The member names (``OUTAGE_STARTED``, ...) that log_event calls pass as the event."""
    for _, call in log_event_calls():
        event = call.args[1] if len(call.args) > 1 else None
        if isinstance(event, ast.Attribute) and isinstance(event.value, ast.Name) \
                and event.value.id == "Event":
            yield event.attr


def test_every_event_is_logged_somewhere() -> None:
    unused = {event.name for event in Event} - set(logged_events())
    assert not unused, f"events no log_event call in feedsvc logs: {sorted(unused)}"


def test_every_log_event_call_names_its_event_as_a_member() -> None:
    # So that the test above sees each use: no event passed through a variable.
    indirect = [f"{path}:{call.lineno}" for path, call in log_event_calls()
                if not (len(call.args) > 2 and isinstance(call.args[1], ast.Attribute))]
    assert not indirect


def test_no_field_overwrites_a_record_attribute() -> None:
    clashes = [f"{path}:{call.lineno} {keyword.arg}" for path, call in log_event_calls()
               for keyword in call.keywords if keyword.arg != "exc_info"
               and keyword.arg in RECORD_ATTRIBUTES | {"event"}]
    assert not clashes


def test_event_names_are_distinct_and_dotted() -> None:
    # An Enum member with the value of another is an alias, silently the same event.
    assert len(Event.__members__) == len(list(Event))
    for event in Event:
        assert re.fullmatch(r"[a-z]+\.[a-z]+(-[a-z]+)*", event.value), event.value
        assert event.meaning and "\n" not in event.meaning


def readme_rows() -> list[str]:
    section = README.split("**Log events.**", 1)[1].split("\n**", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| `")]


def declared_rows() -> list[str]:
    return [f"| `{event.value}` | {logging.getLevelName(event.level)} | {event.meaning} |"
            for event in Event]


def test_readme_lists_the_events_as_declared() -> None:
    expected = "\n".join(declared_rows())
    assert readme_rows() == declared_rows(), f"README's Log events table should be:\n{expected}"


# --- log_event ------------------------------------------------------------------------------

log = logging.getLogger("feedsvc.test_log_events")


def test_log_event_keeps_the_text_and_adds_the_event_and_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=log.name)
    log_event(log, Event.OUTAGE_STARTED, "%s: %s (said once)", "the thing", "gone",
              task="the thing")
    record, = caplog.records
    assert record.getMessage() == "the thing: gone (said once)"
    assert events(caplog, log.name) == [(logging.WARNING, Event.OUTAGE_STARTED)]
    assert records(caplog, Event.OUTAGE_STARTED) == [record]
    assert field(record, "event") == "outage.started"
    assert field(record, "task") == "the thing"
    # The record names the caller, not the helper.
    assert record.funcName == "test_log_event_keeps_the_text_and_adds_the_event_and_fields"
    assert record.exc_info is None


def test_log_event_logs_at_the_event_level_only(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=log.name)
    log_event(log, Event.OUTAGE_CONTINUES, "still failing")
    log_event(log, Event.OUTAGE_ENDED, "working again")
    assert events(caplog, log.name) == [(logging.INFO, Event.OUTAGE_ENDED)]


def test_log_event_can_carry_the_exception(caplog: pytest.LogCaptureFixture) -> None:
    try:
        raise RuntimeError("disk on fire")
    except RuntimeError:
        log_event(log, Event.REFRESH_ERROR, "refresh failed", exc_info=True, error="x")
    record, = records(caplog, Event.REFRESH_ERROR)
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError


def test_the_default_format_ends_an_event_s_line_with_its_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    formatter = EventFormatter("%(levelname)s %(message)s")
    logger = logging.getLogger("feedsvc.test_log_events.format")
    with caplog.at_level(logging.INFO, logger=logger.name):
        log_event(logger, Event.OUTAGE_STARTED, "reading %s: gone", "the thing", task="x")
        logger.warning("no event here")
    assert [formatter.format(record) for record in caplog.records] == [
        "WARNING reading the thing: gone [event=outage.started]",
        "WARNING no event here",
    ]


LOGGING_CHILD = """
import logging
from feedsvc.cli import configure_logging
from feedsvc.logevents import Event, log_event

configure_logging()
try:
    1 / 0
except ZeroDivisionError:
    log_event(logging.getLogger("feedsvc.child"), Event.REFRESH_ERROR,
              "refresh ok=false error=%r", "boom", exc_info=True, error="boom")
"""


@pytest.mark.slow
def test_the_commands_log_the_event_on_the_line_not_after_the_traceback() -> None:
    """What ``feedsvc`` and ``wsgi.py`` install (``configure_logging``), in a process
    of its own: the name ends the record's line, and the traceback follows it."""
    child = subprocess.run([sys.executable, "-c", LOGGING_CHILD], capture_output=True,
                           text=True, check=True, timeout=60)
    first, *rest = child.stderr.splitlines()
    assert first.endswith(" ERROR feedsvc.child refresh ok=false error='boom' "
                          "[event=scheduler.refresh-error]")
    assert rest[0] == "Traceback (most recent call last):"
    assert rest[-1] == "ZeroDivisionError: division by zero"
