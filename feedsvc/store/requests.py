"""Refresh requests: ``POST /admin/refresh`` records one; the active scheduler runs it.

A request goes ``queued`` → ``running`` → ``done`` or ``failed``. At most one
is queued or running at a time: such a request holds ``pending = 1``, a
column with a unique constraint that every other request leaves NULL (NULLs
never clash, on SQLite as on PostgreSQL), so two web nodes recording a
request at the same instant cannot both succeed. Only the newest
``KEEP_REQUESTS`` are kept. SQLAlchemy Core only.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from feedsvc.store.schema import UTCDateTime, metadata

KEEP_REQUESTS = 100
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"

refresh_requests = sa.Table(
    "refresh_requests", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("state", sa.String, nullable=False),
    # 1 while queued or running, else NULL: unique, so one pending request at most.
    sa.Column("pending", sa.Integer, unique=True),
    sa.Column("requested", UTCDateTime, nullable=False),
    # Who asked (the client address the admin guard saw).
    sa.Column("requested_by", sa.String, nullable=False),
    sa.Column("started", UTCDateTime),
    sa.Column("finished", UTCDateTime),
    # The scheduler instance that ran it.
    sa.Column("runner", sa.String),
    sa.Column("error", sa.Text),
)


@dataclass(frozen=True)
class RefreshRequest:
    id: int
    state: str
    requested: dt.datetime
    requested_by: str
    started: dt.datetime | None
    finished: dt.datetime | None
    runner: str | None
    error: str | None


def add_request(conn: Connection, requested_by: str, now: dt.datetime) -> int:
    """Queue a request; returns its id. Raises IntegrityError (through the store's
    StoreError) when one is queued or running already."""
    key = conn.execute(refresh_requests.insert().values(
        state=QUEUED, pending=1, requested=now, requested_by=requested_by,
    )).inserted_primary_key
    assert key is not None
    request_id = int(key[0])
    conn.execute(refresh_requests.delete().where(
        refresh_requests.c.id <= request_id - KEEP_REQUESTS))
    return request_id


def pending_request(conn: Connection) -> RefreshRequest | None:
    """The queued or running request, if any."""
    row = conn.execute(sa.select(refresh_requests).where(refresh_requests.c.pending == 1)
                       ).mappings().first()
    return None if row is None else _request(row)


def claim_request(conn: Connection, runner: str, now: dt.datetime) -> RefreshRequest | None:
    """Mark the queued request running for ``runner`` and return it; None when none is
    queued (or another runner claimed it first: the update is conditional)."""
    found = pending_request(conn)
    if found is None or found.state != QUEUED:
        return None
    done = conn.execute(refresh_requests.update().where(
        refresh_requests.c.id == found.id, refresh_requests.c.state == QUEUED,
    ).values(state=RUNNING, started=now, runner=runner))
    if done.rowcount != 1:
        return None
    return dataclasses.replace(found, state=RUNNING, started=now, runner=runner)


def finish_request(conn: Connection, request_id: int, now: dt.datetime, *,
                   error: str | None) -> None:
    """Record a claimed request as ``done`` (no ``error``) or ``failed``."""
    conn.execute(refresh_requests.update().where(refresh_requests.c.id == request_id).values(
        state=DONE if error is None else FAILED, pending=None, finished=now, error=error))


def requeue_request(conn: Connection, request_id: int) -> None:
    """Put a claimed request back in the queue (its refresh could not start yet)."""
    conn.execute(refresh_requests.update().where(
        refresh_requests.c.id == request_id, refresh_requests.c.state == RUNNING,
    ).values(state=QUEUED, started=None, runner=None))


def fail_abandoned(conn: Connection, runner: str, now: dt.datetime) -> list[int]:
    """Record as failed a request left running by another runner (a scheduler that
    died or lost its lease); returns their ids. The new active scheduler calls it."""
    rows = conn.execute(sa.select(refresh_requests.c.id, refresh_requests.c.runner).where(
        refresh_requests.c.state == RUNNING, refresh_requests.c.runner != runner)).all()
    for request_id, other in rows:
        finish_request(conn, request_id, now,
                       error=f"abandoned: scheduler {other} stopped while running it")
    return [request_id for request_id, _ in rows]


def recent_requests(conn: Connection, limit: int) -> list[RefreshRequest]:
    """The newest ``limit`` requests, newest first."""
    rows = conn.execute(sa.select(refresh_requests).order_by(refresh_requests.c.id.desc())
                        .limit(limit)).mappings().all()
    return [_request(row) for row in rows]


def _request(row: sa.RowMapping) -> RefreshRequest:
    return RefreshRequest(
        id=row["id"], state=row["state"], requested=row["requested"],
        requested_by=row["requested_by"], started=row["started"], finished=row["finished"],
        runner=row["runner"], error=row["error"],
    )
