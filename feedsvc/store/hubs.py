"""WebSub hubs: how the notifications sent to each went, for /status and the metrics."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from feedsvc.store.schema import websub_hubs


@dataclass(frozen=True)
class HubState:
    """One hub's record: notifications delivered (``notified_total``) and failed
    (``failures_total``: after every retry), failures since the last delivery, and
    the last error with its time."""

    hub: str
    notified_total: int
    failures_total: int
    consecutive_failures: int
    last_success: dt.datetime | None
    last_error: str | None
    last_error_at: dt.datetime | None


def record_notification(
    conn: Connection, hub: str, now: dt.datetime, error: str | None,
) -> None:
    """Count one notification to ``hub``: delivered when ``error`` is None, else failed."""
    row = conn.execute(sa.select(websub_hubs).where(websub_hubs.c.hub == hub)).first()
    if row is None:
        conn.execute(websub_hubs.insert().values(
            hub=hub, notified_total=0, failures_total=0, consecutive_failures=0))
    if error is None:
        values = {"notified_total": websub_hubs.c.notified_total + 1,
                  "consecutive_failures": 0, "last_success": now}
    else:
        values = {"failures_total": websub_hubs.c.failures_total + 1,
                  "consecutive_failures": websub_hubs.c.consecutive_failures + 1,
                  "last_error": error, "last_error_at": now}
    conn.execute(websub_hubs.update().where(websub_hubs.c.hub == hub).values(**values))


def hub_states(conn: Connection) -> dict[str, HubState]:
    return {row.hub: HubState(**row._asdict())
            for row in conn.execute(sa.select(websub_hubs).order_by(websub_hubs.c.hub))}
