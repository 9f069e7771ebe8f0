"""Refresh runs: when each started and finished, whether it was ok, and its summary
(``feedsvc.outcomes.RunSummary``), kept as columns and read back as that type."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from feedsvc.outcomes import RunSummary, SourceReport, SourceStatus
from feedsvc.store.schema import refresh_run_sources, refresh_run_warnings, refresh_runs


@dataclass(frozen=True)
class RunRecord:
    """One refresh run. ``finished``, ``ok``, ``published`` and ``summary`` are None
    while it runs (or if it died without a word)."""

    id: int
    started: dt.datetime
    finished: dt.datetime | None
    ok: bool | None
    published: bool | None
    summary: RunSummary | None

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
    summary: RunSummary, keep: int | None = None,
) -> None:
    """Record the end of run ``run_id`` and its summary; with ``keep``, delete all but
    the newest ``keep`` runs."""
    conn.execute(refresh_runs.update().where(refresh_runs.c.id == run_id).values(
        finished=now, ok=ok, published=published, error=summary.error,
        feed_count=summary.feed_count, item_count=summary.item_count,
    ))
    if summary.sources:
        conn.execute(refresh_run_sources.insert(), [
            {"run_id": run_id, "position": position, "name": report.name,
             "status": report.status.value, "found": report.found, "new": report.new,
             "updated": report.updated, "warnings": report.warnings, "error": report.error,
             "retry_at": report.retry_at, "stale": report.stale}
            for position, report in enumerate(summary.sources)])
    lines = [{"run_id": run_id, "source_position": position, "position": index,
              "message": message}
             for position, report in enumerate(summary.sources)
             for index, message in enumerate(report.warning_messages)]
    if lines:
        conn.execute(refresh_run_warnings.insert(), lines)
    if keep is not None:
        oldest_kept = conn.execute(sa.select(refresh_runs.c.id).order_by(refresh_runs.c.id.desc())
                                   .offset(keep - 1).limit(1)).scalar()
        if oldest_kept is not None:
            for table in (refresh_run_warnings, refresh_run_sources):
                conn.execute(table.delete().where(table.c.run_id < oldest_kept))
            conn.execute(refresh_runs.delete().where(refresh_runs.c.id < oldest_kept))


def last_run(conn: Connection, *, finished: bool) -> RunRecord | None:
    """The latest run (the latest finished one when ``finished``), summary and all."""
    query = sa.select(refresh_runs).order_by(refresh_runs.c.id.desc()).limit(1)
    if finished:
        query = query.where(refresh_runs.c.finished.is_not(None))
    row = conn.execute(query).mappings().first()
    if row is None:
        return None
    summary = None if row["finished"] is None else RunSummary(
        error=row["error"], feed_count=row["feed_count"] or 0,
        item_count=row["item_count"] or 0, sources=_source_reports(conn, row["id"]),
    )
    return RunRecord(id=row["id"], started=row["started"], finished=row["finished"],
                     ok=row["ok"], published=row["published"], summary=summary)


def _source_reports(conn: Connection, run_id: int) -> tuple[SourceReport, ...]:
    messages: defaultdict[int, list[str]] = defaultdict(list)
    for position, message in conn.execute(
            sa.select(refresh_run_warnings.c.source_position, refresh_run_warnings.c.message)
            .where(refresh_run_warnings.c.run_id == run_id)
            .order_by(refresh_run_warnings.c.source_position, refresh_run_warnings.c.position)):
        messages[position].append(message)
    rows = conn.execute(sa.select(refresh_run_sources)
                        .where(refresh_run_sources.c.run_id == run_id)
                        .order_by(refresh_run_sources.c.position)).mappings()
    return tuple(
        SourceReport(
            name=row["name"], status=SourceStatus(row["status"]), found=row["found"],
            new=row["new"], updated=row["updated"], warnings=row["warnings"],
            error=row["error"], retry_at=row["retry_at"], stale=row["stale"],
            warning_messages=tuple(messages[row["position"]]),
        )
        for row in rows)


def run_count(conn: Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(refresh_runs)).scalar_one())


def run_durations(conn: Connection) -> list[float]:
    query = (sa.select(refresh_runs.c.started, refresh_runs.c.finished)
             .where(refresh_runs.c.finished.is_not(None))
             .order_by(refresh_runs.c.started, refresh_runs.c.id))
    return [(finished - started).total_seconds() for started, finished in conn.execute(query)]
