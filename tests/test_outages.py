"""A failure repeated at every retry is logged once: a warning when it starts, debug
lines while it lasts, one info line when it ends (feedsvc.outages), as the scheduler's
heartbeat does while its database is away."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import sqlalchemy as sa
from log_events import events, field, records

from feedsvc.logevents import Event
from feedsvc.outages import Outage
from feedsvc.store import Lease
from feedsvc.store.schema import Database, open_database

log = logging.getLogger("feedsvc.test_outages")


def test_an_outage_is_one_warning_then_debug_then_one_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=log.name)
    outage = Outage(log, "reading the thing")
    outage.succeeded()
    assert events(caplog, log.name) == []
    for attempt in range(4):
        outage.failed(OSError(f"gone {attempt}"))
    assert outage.failing
    outage.succeeded()
    outage.succeeded()
    assert not outage.failing
    outage.failed(OSError("gone again"))
    assert events(caplog, log.name) == [
        (logging.WARNING, Event.OUTAGE_STARTED),
        (logging.DEBUG, Event.OUTAGE_CONTINUES),
        (logging.DEBUG, Event.OUTAGE_CONTINUES),
        (logging.DEBUG, Event.OUTAGE_CONTINUES),
        (logging.INFO, Event.OUTAGE_ENDED),
        (logging.WARNING, Event.OUTAGE_STARTED),
    ]
    assert {field(r, "task") for r in caplog.records} == {"reading the thing"}


def test_a_scheduler_lease_without_its_database_warns_once(
    caplog: pytest.LogCaptureFixture, tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG, logger="feedsvc.store.leases")
    # A database that cannot be opened: every heartbeat fails alike.
    unreachable = Database(sa.create_engine(f"sqlite:///{tmp_path}/missing/dir/db.sqlite3"))
    lease = Lease(unreachable, "host:1:abc", 60)
    for _ in range(5):
        assert lease.step() is False
    warnings = [r for r in caplog.records
                if r.name == "feedsvc.store.leases" and r.levelno >= logging.WARNING]
    assert [r.__dict__.get("event") for r in warnings] == [Event.OUTAGE_STARTED]
    started = records(caplog, Event.OUTAGE_STARTED)
    assert field(started[0], "task") == "scheduler lease"

    # The database is back: the lease is taken, and the log says the outage is over.
    (tmp_path / "missing" / "dir").mkdir(parents=True)
    open_database(f"sqlite:///{tmp_path}/missing/dir/db.sqlite3").engine.dispose()  # its tables
    assert lease.step() is True
    ended = records(caplog, Event.OUTAGE_ENDED, "feedsvc.store.leases")
    assert [field(r, "task") for r in ended] == ["scheduler lease"]
    unreachable.engine.dispose()
