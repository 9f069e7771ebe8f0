"""Refresh runs: when each started and finished, whether it was ok, and its summary."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from feedsvc.store.schema import refresh_runs


@dataclass(frozen=True)
class RunRecord:
    """One refresh run. ``finished`` and ``ok`` are None while it runs (or if it died)."""

    id: int
    started: dt.datetime
    finished: dt.datetime | None
    ok: bool | None
    published: bool | None
    summary: Mapping[str, Any] | None

    @property
    def duration_seconds(self) -> float | None:
        if self.finished is None:
            return None
        return (self.finished - self.started).total_seconds()


def start_run(conn: Connection, now: dt.datetime) -> int:
    key = conn.execute(refresh_runs.insert().values(started=now)).inserted_primary_key
    assert key is not None
    return int(key[0])


def finish_run(
    conn: Connection, run_id: int, now: dt.datetime, *, ok: bool, published: bool,
    summary: Mapping[str, Any], keep: int | None = None,
) -> None:
    """Record the end of run ``run_id``; with ``keep``, delete all but the newest ``keep``
    runs."""
    conn.execute(refresh_runs.update().where(refresh_runs.c.id == run_id).values(
        finished=now, ok=ok, published=published,
        summary=json.dumps(summary, ensure_ascii=False, sort_keys=True),
    ))
    if keep is not None:
        oldest_kept = conn.execute(sa.select(refresh_runs.c.id).order_by(refresh_runs.c.id.desc())
                                   .offset(keep - 1).limit(1)).scalar()
        if oldest_kept is not None:
            conn.execute(refresh_runs.delete().where(refresh_runs.c.id < oldest_kept))


def last_run(conn: Connection, *, finished: bool) -> RunRecord | None:
    query = sa.select(refresh_runs).order_by(refresh_runs.c.id.desc()).limit(1)
    if finished:
        query = query.where(refresh_runs.c.finished.is_not(None))
    row = conn.execute(query).mappings().first()
    if row is None:
        return None
    return RunRecord(
        id=row["id"], started=row["started"], finished=row["finished"], ok=row["ok"],
        published=row["published"],
        summary=json.loads(row["summary"]) if row["summary"] else None,
    )


def run_count(conn: Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(refresh_runs)).scalar_one())


def run_durations(conn: Connection) -> list[float]:
    query = (sa.select(refresh_runs.c.started, refresh_runs.c.finished)
             .where(refresh_runs.c.finished.is_not(None))
             .order_by(refresh_runs.c.started, refresh_runs.c.id))
    return [(finished - started).total_seconds() for started, finished in conn.execute(query)]
