"""WebSub hubs: the outbox of feeds each hub is yet to be told of, and how the
notifications sent to each went, for /status and the metrics (see ``feedsvc.websub``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from feedsvc.store.schema import websub_hubs, websub_pending


@dataclass(frozen=True)
class HubState:
    """One hub's record: notifications it accepted (``notified_total``) and that failed
    after every retry (``failures_total``), failures since the last it accepted,
    the last error with its time, and the feeds still ``pending`` for it."""

    hub: str
    notified_total: int
    failures_total: int
    consecutive_failures: int
    last_success: dt.datetime | None
    last_error: str | None
    last_error_at: dt.datetime | None
    pending: int = 0


@dataclass(frozen=True)
class PendingPing:
    """A feed (``url``) that ``hub`` is yet to be told of, changed at ``queued``."""

    hub: str
    url: str
    queued: dt.datetime


def queue_pings(
    conn: Connection, hubs: Sequence[str], urls: Sequence[str], now: dt.datetime,
) -> None:
    """Put every (hub, url) in the outbox as changed at ``now`` (one row each: a feed
    already waiting is waiting for its newest change), and drop what is waiting for
    hubs no longer configured."""
    conn.execute(websub_pending.delete().where(websub_pending.c.hub.not_in(list(hubs))))
    for hub in hubs:
        for start in range(0, len(urls), 500):
            chunk = list(urls[start:start + 500])
            conn.execute(websub_pending.delete().where(
                websub_pending.c.hub == hub, websub_pending.c.url.in_(chunk)))
            conn.execute(websub_pending.insert(),
                         [{"hub": hub, "url": url, "queued": now} for url in chunk])


def pending_pings(conn: Connection, hubs: Sequence[str]) -> list[PendingPing]:
    """What the outbox holds for ``hubs``, oldest change first, by hub."""
    query = (sa.select(websub_pending.c.hub, websub_pending.c.url, websub_pending.c.queued)
             .where(websub_pending.c.hub.in_(list(hubs)))
             .order_by(websub_pending.c.hub, websub_pending.c.queued, websub_pending.c.url))
    return [PendingPing(*row) for row in conn.execute(query)]


def finish_ping(
    conn: Connection, ping: PendingPing, now: dt.datetime, error: str | None,
) -> None:
    """Record one attempt to tell ``ping.hub`` of ``ping.url``: taken out of the outbox
    when the hub accepted it (unless the feed changed again meanwhile), left in
    when not; and counted in the hub's record either way."""
    if error is None:
        conn.execute(websub_pending.delete().where(
            websub_pending.c.hub == ping.hub, websub_pending.c.url == ping.url,
            websub_pending.c.queued == ping.queued))
    record_notification(conn, ping.hub, now, error)


def record_notification(
    conn: Connection, hub: str, now: dt.datetime, error: str | None,
) -> None:
    """Count one notification to ``hub``: accepted when ``error`` is None, else failed."""
    row = conn.execute(sa.select(websub_hubs.c.hub).where(websub_hubs.c.hub == hub)).first()
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
    """Every hub with a record or something pending, by address."""
    pending: dict[str, int] = {hub: int(count) for hub, count in conn.execute(
        sa.select(websub_pending.c.hub, sa.func.count()).group_by(websub_pending.c.hub))}
    states = {row.hub: HubState(**row._asdict(), pending=pending.get(row.hub, 0))
              for row in conn.execute(sa.select(websub_hubs).order_by(websub_hubs.c.hub))}
    for hub, count in pending.items():
        states.setdefault(hub, HubState(hub, 0, 0, 0, None, None, None, pending=count))
    return states
