"""A failure repeated at every retry is logged once: a warning when it starts, debug
lines while it lasts, one info line when it ends (feedsvc.outages), as the scheduler's
heartbeat does while its database is away."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import sqlalchemy as sa

from feedsvc.outages import Outage
from feedsvc.store import Lease
from feedsvc.store.schema import Database, open_database

log = logging.getLogger("feedsvc.test_outages")


def records(caplog: pytest.LogCaptureFixture, name: str) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == name]


def test_an_outage_is_one_warning_then_debug_then_one_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=log.name)
    outage = Outage(log, "reading the thing")
    outage.succeeded()
    assert records(caplog, log.name) == []
    for attempt in range(4):
        outage.failed(OSError(f"gone {attempt}"))
    assert outage.failing
    outage.succeeded()
    outage.succeeded()
    assert not outage.failing
    outage.failed(OSError("gone again"))
    assert records(caplog, log.name) == [
        (logging.WARNING, "reading the thing: gone 0 (said once; retrying quietly)"),
        (logging.DEBUG, "reading the thing: still failing: gone 1"),
        (logging.DEBUG, "reading the thing: still failing: gone 2"),
        (logging.DEBUG, "reading the thing: still failing: gone 3"),
        (logging.INFO, "reading the thing: working again"),
        (logging.WARNING, "reading the thing: gone again (said once; retrying quietly)"),
    ]


def test_a_scheduler_lease_without_its_database_warns_once(
    caplog: pytest.LogCaptureFixture, tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG, logger="feedsvc.store.leases")
    # A database that cannot be opened: every heartbeat fails alike.
    unreachable = Database(sa.create_engine(f"sqlite:///{tmp_path}/missing/dir/db.sqlite3"))
    lease = Lease(unreachable, "host:1:abc", 60)
    for _ in range(5):
        assert lease.step() is False
    warnings = [m for level, m in records(caplog, "feedsvc.store.leases")
                if level == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("scheduler lease: ")

    # The database is back: the lease is taken, and the log says the outage is over.
    (tmp_path / "missing" / "dir").mkdir(parents=True)
    open_database(f"sqlite:///{tmp_path}/missing/dir/db.sqlite3").engine.dispose()  # its tables
    assert lease.step() is True
    infos = [m for level, m in records(caplog, "feedsvc.store.leases") if level == logging.INFO]
    assert "scheduler lease: working again" in infos
    unreachable.engine.dispose()
