"""The item store: every item ever seen, each source's health, refresh runs, the refresh lock,
and every category ever published.

SQLAlchemy Core over any database URL; SQLite (the default) runs in WAL mode
with a busy timeout so that web workers can read while a refresh writes.
Tables are created when missing. Times are stored in UTC and returned
timezone-aware (UTC).

Merging is idempotent and never forgets: items absent from a listing stay,
an item's key, guid and id never change, and each source's items are written
in one transaction, so a refresh that dies midway leaves the store as it was
after the last source it finished.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from feedsvc.errors import RefreshInProgressError, StoreError
from feedsvc.identity import guid_for_key, id_for_key, item_key
from feedsvc.models import ListingItem
from feedsvc.sources import Validators

SCHEMA_VERSION = 3
"""1: the first schema. 2: ``sources.config_fingerprint`` and the ``categories`` table.
3: ``sources.failures_total``."""
SQLITE_BUSY_TIMEOUT_MS = 30_000
LOCK_TTL_SECONDS = 3600
"""A lock not renewed for this long is taken over: its holder is presumed dead."""
LOCK_POLL_SECONDS = 0.05


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """Aware datetimes in, stored as naive UTC, aware UTC out."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise StoreError("times given to the store must be timezone-aware")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version", metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
)

items = sa.Table(
    "items", metadata,
    sa.Column("key", sa.String, primary_key=True),
    sa.Column("guid", sa.String, nullable=False, unique=True),
    sa.Column("item_id", sa.String, nullable=False, unique=True),
    sa.Column("title", sa.String, nullable=False),
    sa.Column("date", sa.Date, nullable=False, index=True),
    sa.Column("category", sa.String),
    sa.Column("credit", sa.String),
    sa.Column("summary", sa.Text),
    sa.Column("link", sa.String),
    sa.Column("image", sa.String),
    sa.Column("first_seen", UTCDateTime, nullable=False),
    # Unique: feed validators reject entries sharing an ``updated`` time (see merge).
    sa.Column("updated", UTCDateTime, nullable=False, unique=True),
    sa.Column("listing_rank", sa.Integer, nullable=False),
)

item_sources = sa.Table(
    "item_sources", metadata,
    sa.Column("item_key", sa.String, sa.ForeignKey("items.key"), primary_key=True),
    sa.Column("source", sa.String, primary_key=True),
    sa.Column("last_seen", UTCDateTime, nullable=False),
    sa.Column("content_hash", sa.String, nullable=False),
)

sources = sa.Table(
    "sources", metadata,
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("etag", sa.String),
    sa.Column("last_modified", sa.String),
    # The configuration the validators and the failure count belong to (see merge).
    sa.Column("config_fingerprint", sa.String),
    sa.Column("last_success", UTCDateTime),
    sa.Column("last_attempt", UTCDateTime),
    sa.Column("last_error", sa.Text),
    sa.Column("last_error_at", UTCDateTime),
    sa.Column("failing_since", UTCDateTime),
    sa.Column("consecutive_failures", sa.Integer, nullable=False, default=0),
    sa.Column("failures_total", sa.Integer, nullable=False, default=0),
    sa.Column("item_count", sa.Integer, nullable=False, default=0),
    sa.Column("last_found", sa.Integer, nullable=False, default=0),
    sa.Column("last_new", sa.Integer, nullable=False, default=0),
    sa.Column("last_updated", sa.Integer, nullable=False, default=0),
    sa.Column("last_warnings", sa.Integer, nullable=False, default=0),
)

refresh_runs = sa.Table(
    "refresh_runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("started", UTCDateTime, nullable=False),
    sa.Column("finished", UTCDateTime),
    sa.Column("ok", sa.Boolean),
    sa.Column("published", sa.Boolean),
    sa.Column("summary", sa.Text),
)

categories = sa.Table(
    "categories", metadata,
    sa.Column("slug", sa.String, primary_key=True),
    sa.Column("label", sa.String, nullable=False),
    sa.Column("first_seen", UTCDateTime, nullable=False),
)

refresh_lock = sa.Table(
    "refresh_lock", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("token", sa.String),
    sa.Column("owner", sa.String),
    sa.Column("host", sa.String),
    sa.Column("pid", sa.Integer),
    sa.Column("acquired", sa.Float),
    sa.Column("expires", sa.Float),
)
_LOCK_ROW = 1


@dataclass(frozen=True)
class MergeCounts:
    """What one merge did: items in the listing, items new to the store, items changed.

    ``duplicates`` are the listing items dropped because an item above them
    in the same listing has the same key (date and normalised title) but says
    something different (a different spelling, summary, category...): by the
    identity rule they are one item, and the first one listed is kept. Exact
    repeats (a paginated listing showing an item twice) are dropped silently.
    """

    found: int
    new: int
    updated: int
    duplicates: tuple[ListingItem, ...] = ()


@dataclass(frozen=True)
class StoredItem:
    """One item as the store remembers it.

    ``listing_rank`` is its 0-based position in the listing that last showed
    it (0 = top), which orders items of the same date.
    """

    key: str
    guid: str
    item_id: str
    title: str
    date: dt.date
    category: str | None
    credit: str | None
    summary: str | None
    link: str | None
    image: str | None
    first_seen: dt.datetime
    updated: dt.datetime
    listing_rank: int


@dataclass(frozen=True)
class SourceState:
    """What the store knows of one source's health. Times are aware, UTC."""

    name: str
    validators: Validators
    last_success: dt.datetime | None
    last_attempt: dt.datetime | None
    last_error: str | None
    last_error_at: dt.datetime | None
    failing_since: dt.datetime | None
    consecutive_failures: int
    item_count: int
    last_found: int
    last_new: int
    last_updated: int
    last_warnings: int
    config_fingerprint: str | None = None
    """The fingerprint of the source's configuration last recorded (None: never recorded)."""
    failures_total: int = 0
    """Every failed attempt ever recorded for the source (a counter: it never goes down)."""


@dataclass(frozen=True)
class CategoryRecord:
    """A category the store has published: its slug, its label as last published, and
    when it was first published."""

    slug: str
    label: str
    first_seen: dt.datetime


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


@dataclass(frozen=True)
class LockHolder:
    """Who holds the refresh lock."""

    owner: str
    host: str
    pid: int
    acquired: float
    expires: float


_CONTENT_FIELDS = ("title", "category", "credit", "summary", "link", "image")


def _content_hash(item: ListingItem) -> str:
    """Fingerprint of what a listing says about an item, to notice when it changes."""
    data = json.dumps([getattr(item, name) for name in _CONTENT_FIELDS], ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:32]


class Store:
    """The item store. Open with ``Store.open(url)``; thread-safe; close when done."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @classmethod
    def open(cls, url: str) -> Store:
        """Connect to ``url`` and create any missing tables. Raises StoreError."""
        try:
            engine = _create_engine(url)
            store = cls(engine)
            store._create_schema()
        except (SQLAlchemyError, OSError) as exc:
            raise StoreError(f"cannot open the store {_redacted(url)}: {exc}") from exc
        return store

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- transactions -------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One write transaction; on SQLite it takes the write lock at once."""
        try:
            with self._engine.connect() as conn:
                conn = conn.execution_options(feedsvc_immediate=True)
                with conn.begin():
                    yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"store write failed: {exc}") from exc

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self._engine.connect() as conn, conn.begin():
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"store read failed: {exc}") from exc

    def _create_schema(self) -> None:
        # One immediate transaction: another process creating the same tables
        # waits for us, then finds them, instead of failing halfway.
        with self._write() as conn:
            metadata.create_all(conn)
            _migrate(conn)
        for table, row in ((schema_version, {"version": SCHEMA_VERSION}),
                           (refresh_lock, {"id": _LOCK_ROW})):
            try:
                with self._write() as conn:
                    if conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one():
                        continue
                    conn.execute(table.insert().values(**row))
            except StoreError as exc:
                # Another process created the row first: what we wanted.
                if not isinstance(exc.__cause__, IntegrityError):
                    raise
        with self._read() as conn:
            version = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar()
        if version != SCHEMA_VERSION:
            raise StoreError(f"store schema version {version}, expected {SCHEMA_VERSION}")

    # --- items ----------------------------------------------------------------

    def merge(
        self,
        source: str,
        listing: Sequence[ListingItem],
        now: dt.datetime,
        *,
        validators: Validators | None = None,
        warnings: int = 0,
        fingerprint: str | None = None,
    ) -> MergeCounts:
        """Merge one source's listing into the store and record the source's success.

        ``listing`` is in listing order (top first). An item is matched by its
        key (date + normalised title) whatever source listed it before. A new
        item gets ``first_seen = now``. A known item is changed only
        when this source says something different about it than it said last
        time (so two listings that describe one item differently do not undo
        each other on every refresh); then its fields are replaced, except that
        a field the listing leaves empty keeps its stored value, and its
        ``updated`` is set anew if any field changed. Items absent from the
        listing are kept. One transaction. Raises StoreError.

        ``updated`` (new or changed items) is a whole second, unique across
        the store: the latest free second at or before ``now``, handed out in
        listing order so the top item is the most recent. Feed entries use it
        as is, so no two entries ever share an ``updated`` time and an edit
        changes the time of the edited item only.

        Items sharing a key are merged into the first one listed; those that
        differ from it are returned as ``duplicates`` and counted in the
        source's recorded warnings on top of ``warnings`` (the listing's
        own). ``validators`` and ``fingerprint`` (of the source's
        configuration; None leaves the stored one) are recorded as in
        ``record_success``.
        """
        unique, duplicates = _first_of_each_key(listing)
        # Whole seconds: these times end up in HTTP dates and feeds, which say no more.
        now = now.replace(microsecond=0)
        new = updated = 0
        with self._write() as conn:
            clock = _UpdatedClock(conn, now)
            for rank, (key, item) in enumerate(unique.items()):
                outcome = self._merge_one(conn, source, key, item, rank, now, clock)
                new += outcome == "new"
                updated += outcome == "updated"
            counts = MergeCounts(found=len(unique), new=new, updated=updated,
                                 duplicates=duplicates)
            self._record_success(conn, source, now, validators or Validators(), counts,
                                 warnings + len(duplicates), fingerprint)
        return counts

    def _merge_one(
        self, conn: Connection, source: str, key: str, item: ListingItem, rank: int,
        now: dt.datetime, clock: _UpdatedClock,
    ) -> str:
        fingerprint = _content_hash(item)
        stored = conn.execute(sa.select(items).where(items.c.key == key)).mappings().first()
        seen = conn.execute(
            sa.select(item_sources.c.content_hash).where(
                item_sources.c.item_key == key, item_sources.c.source == source
            )
        ).scalar()
        outcome = "same"
        if stored is None:
            conn.execute(items.insert().values(
                key=key, guid=guid_for_key(key), item_id=id_for_key(key),
                **{name: getattr(item, name) for name in _CONTENT_FIELDS},
                date=item.date, first_seen=now, updated=clock.next(), listing_rank=rank,
            ))
            outcome = "new"
        else:
            changes: dict[str, Any] = {}
            if seen != fingerprint:
                changes = {
                    name: getattr(item, name) for name in _CONTENT_FIELDS
                    if getattr(item, name) is not None and getattr(item, name) != stored[name]
                }
            if changes:
                changes["updated"] = clock.next()
                outcome = "updated"
            if changes or stored["listing_rank"] != rank:
                conn.execute(items.update().where(items.c.key == key)
                             .values(listing_rank=rank, **changes))
        link = {"last_seen": now, "content_hash": fingerprint}
        if seen is None:
            conn.execute(item_sources.insert().values(item_key=key, source=source, **link))
        else:
            conn.execute(item_sources.update().where(
                item_sources.c.item_key == key, item_sources.c.source == source
            ).values(**link))
        return outcome

    def all_items(self) -> list[StoredItem]:
        """Every stored item: newest date first, then listing order, then key."""
        with self._read() as conn:
            rows = conn.execute(
                sa.select(items).order_by(
                    items.c.date.desc(), items.c.listing_rank, items.c.key
                )
            ).mappings().all()
        return [
            StoredItem(
                key=row["key"], guid=row["guid"], item_id=row["item_id"], title=row["title"],
                date=row["date"], category=row["category"], credit=row["credit"],
                summary=row["summary"], link=row["link"], image=row["image"],
                first_seen=row["first_seen"], updated=row["updated"],
                listing_rank=row["listing_rank"],
            )
            for row in rows
        ]

    # --- sources ----------------------------------------------------------------

    def source_state(self, name: str) -> SourceState | None:
        """What is known of the source ``name``, or None if it never ran."""
        with self._read() as conn:
            row = conn.execute(sa.select(sources).where(sources.c.name == name)).mappings().first()
        return None if row is None else _source_state(row)

    def source_states(self) -> dict[str, SourceState]:
        with self._read() as conn:
            rows = conn.execute(sa.select(sources).order_by(sources.c.name)).mappings().all()
        return {row["name"]: _source_state(row) for row in rows}

    def record_success(
        self, source: str, now: dt.datetime, *, validators: Validators,
        fingerprint: str | None = None,
    ) -> None:
        """Record a success that merged nothing (e.g. the source was not modified).

        ``validators`` replace the stored ones; ``fingerprint`` (of the source's
        configuration) is stored beside them, so that a later refresh can tell
        whether they still belong to the configuration it reads; None leaves
        the stored fingerprint as it was.
        """
        with self._write() as conn:
            self._record_success(conn, source, now, validators, None, 0, fingerprint)

    def _record_success(
        self, conn: Connection, source: str, now: dt.datetime, validators: Validators,
        counts: MergeCounts | None, warnings: int, fingerprint: str | None,
    ) -> None:
        linked = conn.execute(
            sa.select(sa.func.count()).select_from(item_sources)
            .where(item_sources.c.source == source)
        ).scalar_one()
        values: dict[str, Any] = {
            "etag": validators.etag, "last_modified": validators.last_modified,
            "last_success": now, "last_attempt": now, "failing_since": None,
            "consecutive_failures": 0, "item_count": linked,
        }
        if counts is not None:
            values.update(last_found=counts.found, last_new=counts.new,
                          last_updated=counts.updated, last_warnings=warnings)
        if fingerprint is not None:
            values["config_fingerprint"] = fingerprint
        self._upsert_source(conn, source, values)

    def record_failure(
        self, source: str, now: dt.datetime, error: str, *, fingerprint: str | None = None
    ) -> SourceState:
        """Record a failed attempt; the source's items are kept.

        The validators are kept too, unless ``fingerprint`` (of the source's
        configuration) differs from the stored one: then they belonged to the
        old configuration and are dropped, the new fingerprint is stored, and
        the failure count starts again at 1 (the back-off restarts for the
        new configuration; ``failing_since`` still dates from the first
        failure, since the source has had no success since). None leaves the
        stored fingerprint and validators as they were.
        """
        with self._write() as conn:
            row = conn.execute(
                sa.select(sources).where(sources.c.name == source)
            ).mappings().first()
            changed = (fingerprint is not None and row is not None
                       and row["config_fingerprint"] != fingerprint)
            failures = 1 + (row["consecutive_failures"] if row and not changed else 0)
            since = row["failing_since"] if row and row["failing_since"] else now
            values: dict[str, Any] = {
                "last_attempt": now, "last_error": error, "last_error_at": now,
                "failing_since": since, "consecutive_failures": failures,
                "failures_total": 1 + (row["failures_total"] or 0 if row else 0),
            }
            if fingerprint is not None:
                values["config_fingerprint"] = fingerprint
            if changed:
                values.update(etag=None, last_modified=None)
            self._upsert_source(conn, source, values)
            stored = conn.execute(
                sa.select(sources).where(sources.c.name == source)
            ).mappings().one()
        return _source_state(stored)

    @staticmethod
    def _upsert_source(conn: Connection, source: str, values: Mapping[str, Any]) -> None:
        done = conn.execute(sources.update().where(sources.c.name == source).values(**values))
        if done.rowcount == 0:
            conn.execute(sources.insert().values(name=source, **values))

    # --- refresh runs -------------------------------------------------------------

    def start_run(self, now: dt.datetime) -> int:
        """Record the start of a refresh; returns the run's id."""
        with self._write() as conn:
            result = conn.execute(refresh_runs.insert().values(started=now))
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def finish_run(
        self, run_id: int, now: dt.datetime, *, ok: bool, published: bool,
        summary: Mapping[str, Any],
    ) -> None:
        with self._write() as conn:
            conn.execute(refresh_runs.update().where(refresh_runs.c.id == run_id).values(
                finished=now, ok=ok, published=published,
                summary=json.dumps(summary, ensure_ascii=False, sort_keys=True),
            ))

    def last_run(self, *, finished: bool = True) -> RunRecord | None:
        """The latest run (the latest finished one when ``finished``), or None."""
        query = sa.select(refresh_runs).order_by(refresh_runs.c.id.desc()).limit(1)
        if finished:
            query = query.where(refresh_runs.c.finished.is_not(None))
        with self._read() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        return RunRecord(
            id=row["id"], started=row["started"], finished=row["finished"], ok=row["ok"],
            published=row["published"],
            summary=json.loads(row["summary"]) if row["summary"] else None,
        )

    def run_count(self) -> int:
        with self._read() as conn:
            query = sa.select(sa.func.count()).select_from(refresh_runs)
            return int(conn.execute(query).scalar_one())

    def run_durations(self) -> list[float]:
        """Seconds each finished run took (abandoned ones included), oldest first.

        Runs still going, or that died without being recorded as finished, have
        no duration and are left out. ``feedsvc.metrics`` turns these into the
        ``feedsvc_refresh_duration_seconds`` histogram.
        """
        query = (sa.select(refresh_runs.c.started, refresh_runs.c.finished)
                 .where(refresh_runs.c.finished.is_not(None))
                 .order_by(refresh_runs.c.started, refresh_runs.c.id))
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [(finished - started).total_seconds() for started, finished in rows]

    # --- categories -------------------------------------------------------------------

    def known_categories(self) -> list[CategoryRecord]:
        """Every category ever remembered (see ``remember_categories``), by slug."""
        with self._read() as conn:
            rows = conn.execute(sa.select(categories).order_by(categories.c.slug)).mappings().all()
        return [CategoryRecord(slug=row["slug"], label=row["label"],
                               first_seen=row["first_seen"]) for row in rows]

    def remember_categories(self, published: Mapping[str, str], now: dt.datetime) -> None:
        """Remember the categories just published (slug -> label shown).

        A category is never forgotten, so its feed keeps being published (empty
        if need be) after its last item moved to another category: subscribers
        keep a working feed. A new slug gets ``first_seen = now``; a known one
        takes the label given. One transaction.
        """
        now = now.replace(microsecond=0)
        with self._write() as conn:
            stored = dict(conn.execute(sa.select(categories.c.slug, categories.c.label)).all())
            for slug, label in sorted(published.items()):
                if slug not in stored:
                    conn.execute(categories.insert().values(slug=slug, label=label,
                                                            first_seen=now))
                elif stored[slug] != label:
                    conn.execute(categories.update().where(categories.c.slug == slug)
                                 .values(label=label))

    # --- the refresh lock ------------------------------------------------------------

    @contextmanager
    def refresh_lock(
        self, owner: str, *, wait: float = 0, ttl: float = LOCK_TTL_SECONDS
    ) -> Iterator[RefreshLock]:
        """Hold the store-wide refresh lock for the duration of the ``with`` block.

        Waits up to ``wait`` seconds for it, then raises RefreshInProgressError
        naming the holder. The lock lives in the database, so it excludes
        refreshes in other processes too. A holder that has not renewed it for
        ``ttl`` seconds, or whose process on this host is gone, is presumed
        dead and its lock is taken over. Long holders call ``renew()``.
        """
        lock = RefreshLock(self, owner, ttl)
        deadline = time.monotonic() + wait
        while not lock._try_acquire():
            if time.monotonic() >= deadline:
                holder = self.lock_holder()
                who = f" ({holder.owner}, pid {holder.pid} on {holder.host})" if holder else ""
                raise RefreshInProgressError(f"a refresh is already running{who}")
            time.sleep(LOCK_POLL_SECONDS)
        try:
            yield lock
        finally:
            lock._release()

    def lock_holder(self) -> LockHolder | None:
        """Who holds the refresh lock now, or None (expired locks count as free)."""
        with self._read() as conn:
            row = conn.execute(
                sa.select(refresh_lock).where(refresh_lock.c.id == _LOCK_ROW)
            ).mappings().first()
        if row is None or row["token"] is None or row["expires"] < time.time():
            return None
        return LockHolder(owner=row["owner"], host=row["host"], pid=row["pid"],
                          acquired=row["acquired"], expires=row["expires"])


class RefreshLock:
    """A held refresh lock (see ``Store.refresh_lock``)."""

    def __init__(self, store: Store, owner: str, ttl: float) -> None:
        self.owner = owner
        self._store = store
        self._ttl = ttl
        self._token = uuid.uuid4().hex

    def _try_acquire(self) -> bool:
        with self._store._write() as conn:
            row = conn.execute(
                sa.select(refresh_lock).where(refresh_lock.c.id == _LOCK_ROW).with_for_update()
            ).mappings().one()
            now = time.time()
            if row["token"] is not None and not _is_stale(row, now):
                return False
            conn.execute(refresh_lock.update().where(refresh_lock.c.id == _LOCK_ROW).values(
                token=self._token, owner=self.owner, host=socket.gethostname(),
                pid=os.getpid(), acquired=now, expires=now + self._ttl,
            ))
            return True

    def renew(self) -> None:
        """Push the lock's expiry ``ttl`` seconds from now. Raises StoreError if it was lost."""
        with self._store._write() as conn:
            done = conn.execute(refresh_lock.update().where(
                refresh_lock.c.id == _LOCK_ROW, refresh_lock.c.token == self._token
            ).values(expires=time.time() + self._ttl))
            if done.rowcount != 1:
                raise StoreError("the refresh lock was taken over by another refresh")

    def _release(self) -> None:
        with self._store._write() as conn:
            conn.execute(refresh_lock.update().where(
                refresh_lock.c.id == _LOCK_ROW, refresh_lock.c.token == self._token
            ).values(token=None, owner=None, host=None, pid=None, acquired=None, expires=None))


def _is_stale(row: sa.RowMapping, now: float) -> bool:
    if row["expires"] is None or row["expires"] < now:
        return True
    return row["host"] == socket.gethostname() and not _process_alive(row["pid"])


def _process_alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _UpdatedClock:
    """Hands out whole seconds at or before ``now`` that no stored item uses, latest first."""

    def __init__(self, conn: Connection, now: dt.datetime) -> None:
        self._conn = conn
        self._cursor = now.replace(microsecond=0)

    def next(self) -> dt.datetime:
        moment = self._cursor
        while self._conn.execute(
            sa.select(items.c.key).where(items.c.updated == moment).limit(1)
        ).first() is not None:
            moment -= dt.timedelta(seconds=1)
        self._cursor = moment - dt.timedelta(seconds=1)
        return moment


def _first_of_each_key(
    listing: Sequence[ListingItem],
) -> tuple[dict[str, ListingItem], tuple[ListingItem, ...]]:
    """Items by key in listing order, each where first listed; and the later items
    of a key that say something different from the first (see MergeCounts)."""
    unique: dict[str, ListingItem] = {}
    duplicates: list[ListingItem] = []
    for item in listing:
        first = unique.setdefault(item_key(item.date, item.title), item)
        if first is not item and _listed_fields(first) != _listed_fields(item):
            duplicates.append(item)
    return unique, tuple(duplicates)


def _listed_fields(item: ListingItem) -> tuple[object, ...]:
    # What the listing says, not where (``line`` differs between any two entries).
    return tuple(getattr(item, name) for name in _CONTENT_FIELDS)


def _migrate(conn: Connection) -> None:
    """Bring a store made by an older feedsvc up to ``SCHEMA_VERSION``, in ``conn``'s
    transaction. A new store has no version yet and needs nothing: ``create_all``
    made every table as it is now, and ``categories`` is made for old ones too."""
    version = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar()
    if version is None or version >= SCHEMA_VERSION:
        return
    columns = {column["name"] for column in sa.inspect(conn).get_columns("sources")}
    if version == 1:
        if "config_fingerprint" not in columns:
            conn.execute(sa.text("ALTER TABLE sources ADD COLUMN config_fingerprint VARCHAR"))
        conn.execute(schema_version.insert().values(version=2))
        version = 2
    if version == 2:
        if "failures_total" not in columns:
            conn.execute(sa.text(
                "ALTER TABLE sources ADD COLUMN failures_total INTEGER NOT NULL DEFAULT 0"))
        conn.execute(schema_version.insert().values(version=3))


def _source_state(row: sa.RowMapping) -> SourceState:
    return SourceState(
        name=row["name"],
        validators=Validators(etag=row["etag"], last_modified=row["last_modified"]),
        last_success=row["last_success"], last_attempt=row["last_attempt"],
        last_error=row["last_error"], last_error_at=row["last_error_at"],
        failing_since=row["failing_since"],
        consecutive_failures=row["consecutive_failures"] or 0,
        item_count=row["item_count"] or 0, last_found=row["last_found"] or 0,
        last_new=row["last_new"] or 0, last_updated=row["last_updated"] or 0,
        last_warnings=row["last_warnings"] or 0,
        config_fingerprint=row["config_fingerprint"],
        failures_total=row["failures_total"] or 0,
    )


def _create_engine(url: str) -> Engine:
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True)
    database = parsed.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    """WAL, a busy timeout, and transactions that SQLAlchemy (not pysqlite) begins.

    pysqlite's own transaction handling defers BEGIN until the first write,
    which makes SELECT ... then UPDATE racy between processes; writes here
    begin with BEGIN IMMEDIATE so they take SQLite's write lock up front.
    """

    @sa.event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("feedsvc_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _redacted(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except SQLAlchemyError:
        return "<invalid URL>"
