"""Copying a whole store to another database: ``feedsvc copy-store --to URL``.

Every table of the store is copied row for row through the store's own table
definitions, so values keep their meaning across engines (times stay UTC,
bytes stay bytes): items with their keys, ids, guids and times, each source's
state and snapshot, refresh runs with their ids, removals, categories, the
database publication if any. What belongs to the processes running against
the source (the refresh lock, scheduler leases and instances, queued refresh
requests) is not copied: the target starts with none.

The source is read in one snapshot while its refresh lock is held, so no
refresh changes it midway; the target is written in one transaction under
its own refresh lock, so a copy that fails leaves it as it was. A target that
holds any data is refused unless ``replace`` says to overwrite it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from feedsvc.errors import StoreError
from feedsvc.store.lock import hold_refresh_lock
from feedsvc.store.schema import (
    Database,
    drop_indexes,
    ensure_indexes,
    metadata,
    open_database,
    redacted_url,
)

NOT_COPIED = frozenset({"refresh_lock", "leases", "scheduler_instances", "refresh_requests"})
"""Tables of the processes running against a store, not of its data."""
SEEDED = frozenset({"schema_version", "publication_state", "publication_live"})
"""Tables every opened store has a row in: no sign that it holds data."""
ROWS_PER_BATCH = 2_000
"""Rows read and written at a time: bounds memory, not the transaction."""
LOCK_WAIT = 120.0
"""Seconds to wait for a refresh running on either store to end."""


@dataclass(frozen=True)
class CopyReport:
    """What a copy did: rows copied by table, and the two stores (URLs without passwords)."""

    source: str
    target: str
    rows: Mapping[str, int]

    def summary(self) -> str:
        def count(table: str, noun: str) -> str:
            return f"{self.rows.get(table, 0)} {noun}"

        return (f"copied {count('items', 'items')}, {count('sources', 'sources')}, "
                f"{count('refresh_runs', 'runs')}, {count('categories', 'categories')}, "
                f"{count('removals', 'removals')} and "
                f"{sum(self.rows.values())} rows in all from {self.source} to {self.target}")


def copied_tables() -> list[sa.Table]:
    """The store's tables a copy carries, parents before children."""
    return [table for table in metadata.sorted_tables if table.name not in NOT_COPIED]


def copy_store(source_url: str, target_url: str, *, replace: bool = False) -> CopyReport:
    """Copy the store at ``source_url`` into the database at ``target_url`` (created and
    brought to the current schema if need be; both stores are upgraded first).

    Raises StoreError when either cannot be opened, when both are one database,
    when the target holds data and ``replace`` is false, or when the copy fails
    (the target is then left as it was).
    """
    if _same_database(source_url, target_url):
        raise StoreError("the source and the target are the same database")
    source = open_database(source_url)
    try:
        target = open_database(target_url)
        try:
            with hold_refresh_lock(source, "feedsvc copy-store (source)", wait=LOCK_WAIT), \
                    hold_refresh_lock(target, "feedsvc copy-store (target)", wait=LOCK_WAIT):
                rows = _copy(source, target, replace=replace, target_url=target_url)
        finally:
            target.dispose()
    finally:
        source.dispose()
    return CopyReport(source=redacted_url(source_url), target=redacted_url(target_url),
                      rows=rows)


def _same_database(one: str, other: str) -> bool:
    first, second = sa.make_url(one), sa.make_url(other)
    if first.get_backend_name() == second.get_backend_name() == "sqlite":
        # One file under two spellings (relative, absolute, through a link) is one store.
        return bool(first.database and second.database) and (
            Path(str(first.database)).resolve() == Path(str(second.database)).resolve())
    return (first.host, first.port, first.database) == (second.host, second.port,
                                                         second.database)


def _copy(source: Database, target: Database, *, replace: bool,
          target_url: str) -> dict[str, int]:
    tables = copied_tables()
    rows: dict[str, int] = {}
    with _snapshot(source) as reading, target.write(bulk=True) as writing:
        held = _rows_held(writing, tables)
        if held and not replace:
            raise StoreError(
                f"the target {redacted_url(target_url)} is not empty ("
                + ", ".join(f"{count} in {name}" for name, count in held.items())
                + "): copy into an empty database, or overwrite it with --replace")
        for table in reversed(tables):
            writing.execute(table.delete())
        drop_indexes(writing)
        for table in tables:
            rows[table.name] = _copy_table(reading, writing, table)
        ensure_indexes(writing)
        _move_sequences_on(writing, tables)
    return rows


@contextmanager
def _snapshot(database: Database) -> Iterator[Connection]:
    """One read transaction that sees the store as it was when it began."""
    try:
        with database.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn
    except SQLAlchemyError as exc:
        raise StoreError(f"store read failed: {str(getattr(exc, 'orig', exc)).splitlines()[0]}"
                         ) from exc


def _rows_held(conn: Connection, tables: list[sa.Table]) -> dict[str, int]:
    held = {}
    for table in tables:
        if table.name not in SEEDED:
            count = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            if count:
                held[table.name] = int(count)
    return held


def _copy_table(reading: Connection, writing: Connection, table: sa.Table) -> int:
    query = sa.select(table).order_by(*table.primary_key.columns)
    result = reading.execution_options(yield_per=ROWS_PER_BATCH).execute(query)
    copied = 0
    for batch in result.mappings().partitions():
        writing.execute(table.insert(), [dict(row) for row in batch])
        copied += len(batch)
    return copied


def _move_sequences_on(conn: Connection, tables: list[sa.Table]) -> None:
    """Copied ids were given explicitly: on PostgreSQL, move each id sequence past them
    (SQLite takes the next rowid from the rows themselves)."""
    if conn.dialect.name != "postgresql":
        return
    for table in tables:
        column = table.autoincrement_column
        if column is None:
            continue
        conn.execute(sa.select(sa.func.setval(
            sa.func.pg_get_serial_sequence(table.name, column.name),
            sa.select(sa.func.coalesce(sa.func.max(column), 0) + 1).scalar_subquery(),
            False)))
