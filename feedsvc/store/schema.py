"""The store's tables, its connection to the database, and the steps that upgrade it.

SQLAlchemy Core only, so that the same statements run on SQLite (the default)
and PostgreSQL (psycopg 3), and the tests run on both. SQLite runs in WAL
mode with a busy timeout so that web workers can read while a refresh writes,
and its write transactions take the write lock up front (``BEGIN
IMMEDIATE``). Times are stored as naive UTC (``TIMESTAMP WITHOUT TIME ZONE``
on PostgreSQL, whatever the session's time zone) and returned timezone-aware
(UTC). Text the store sorts by is compared in code point order on both
(``SortedText``), so both publish the same bytes.

The schema is versioned: ``MIGRATIONS`` lists, in order, the steps that bring
a store made by an older feedsvc up to ``SCHEMA_VERSION``. Opening a store
creates, upgrades and checks it in one transaction under ``lock_schema``
(PostgreSQL's DDL is transactional: a failed step leaves the store as it was).
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from feedsvc.errors import StoreError
from feedsvc.identity import slugify

SCHEMA_VERSION = 6
"""1: the first schema. 2: ``sources.config_fingerprint`` and the ``categories`` table.
3: ``sources.failures_total``. 4: ``items.category_slug`` and the indexes each feed's
newest entries are read from, ``sources.body_digest``, the ``source_snapshots`` and
``publication_state`` and ``removals`` tables. 5: ``items.language`` and
``items.archive_seq`` with its indexes, the ``archive_pages`` table.
6: on PostgreSQL, the ``SORTED_COLUMNS`` compared in code point order (collation
``C``)."""
SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_MERGE_CACHE_KIB = 4_096
"""Page cache of an SQLite connection that has merged (a merge touches every index of
the items); readers, such as web workers, keep SQLite's small default."""
KEYS_PER_QUERY = 500
"""How many keys one ``IN (...)`` lookup names: well under every engine's limit."""


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


SortedText = sa.String().with_variant(sa.String(collation="C"), "postgresql")
"""Text the store sorts by (item keys, category slugs, source names): compared byte by
byte (code point order), as SQLite does, whatever collation a PostgreSQL database
was created with, so feeds list tied items in the same order on every engine."""
SORTED_COLUMNS = (("items", "key"), ("items", "category_slug"), ("item_sources", "item_key"),
                  ("item_sources", "source"), ("sources", "name"), ("categories", "slug"))
"""The ``SortedText`` columns, as (table, column)."""

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version", metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
)

items = sa.Table(
    "items", metadata,
    sa.Column("key", SortedText, primary_key=True),
    # Both derive from the key: unique as it is. item_id is looked up by item pages.
    sa.Column("guid", sa.String, nullable=False),
    sa.Column("item_id", sa.String, nullable=False, unique=True),
    sa.Column("title", sa.String, nullable=False),
    sa.Column("date", sa.Date, nullable=False),
    sa.Column("category", sa.String),
    # slugify(category): the category feed the item belongs to, for indexed lookups.
    sa.Column("category_slug", SortedText),
    sa.Column("credit", sa.String),
    sa.Column("summary", sa.Text),
    sa.Column("link", sa.String),
    sa.Column("image", sa.String),
    sa.Column("first_seen", UTCDateTime, nullable=False),
    # Unique: feed validators reject entries sharing an ``updated`` time (see merge).
    sa.Column("updated", UTCDateTime, nullable=False, unique=True),
    # Order of items of one date: lower first (see feedsvc.store.decide.listing_ranks).
    sa.Column("listing_rank", sa.Integer, nullable=False),
    # The language of the source that first listed the item; NULL: the site's.
    sa.Column("language", sa.String),
    # Arrival order, 1 for the first item ever stored; never changes. Archive pages
    # are runs of it (see feedsvc.archive). NULL only inside the upgrade to 5.
    sa.Column("archive_seq", sa.Integer),
)

# Each feed's newest entries are read straight off these indexes, and a category's
# first-seen label off the second (see feedsvc.store.items). Neither is unique, so a
# bulk load into an empty store may drop them and build them once at the end.
newest_index = sa.Index(
    "ix_items_newest", items.c.date.desc(), items.c.listing_rank, items.c.key,
)
category_newest_index = sa.Index(
    "ix_items_category_newest",
    items.c.category_slug, items.c.date.desc(), items.c.listing_rank, items.c.key,
)

# An archive page's items are read off these by arrival order (see feedsvc.archive).
archive_index = sa.Index("ix_items_archive", items.c.archive_seq)
category_archive_index = sa.Index(
    "ix_items_category_archive", items.c.category_slug, items.c.archive_seq)

item_sources = sa.Table(
    "item_sources", metadata,
    sa.Column("item_key", SortedText, sa.ForeignKey("items.key"), primary_key=True),
    sa.Column("source", SortedText, primary_key=True),
    # When the source first listed the item, or last listed it saying something new.
    sa.Column("last_seen", UTCDateTime, nullable=False),
    sa.Column("content_hash", sa.String, nullable=False),
)

sources = sa.Table(
    "sources", metadata,
    sa.Column("name", SortedText, primary_key=True),
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
    # A digest of the bytes last read and merged under ``config_fingerprint``.
    sa.Column("body_digest", sa.String),
)

source_snapshots = sa.Table(
    "source_snapshots", metadata,
    sa.Column("source", sa.String, primary_key=True),
    sa.Column("config_fingerprint", sa.String, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("charset", sa.String),
    sa.Column("language", sa.String, nullable=False),
    sa.Column("item_count", sa.Integer, nullable=False),
    sa.Column("warnings", sa.Text, nullable=False),
    sa.Column("plain", sa.Boolean, nullable=False),
    sa.Column("repeats", sa.Boolean, nullable=False),
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
    sa.Column("slug", SortedText, primary_key=True),
    sa.Column("label", sa.String, nullable=False),
    sa.Column("first_seen", UTCDateTime, nullable=False),
)

removals = sa.Table(
    "removals", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String, nullable=False),
    sa.Column("ident", sa.String, nullable=False),
    sa.Column("label", sa.String, nullable=False),
    sa.Column("items", sa.Integer, nullable=False),
    sa.Column("removed_at", UTCDateTime, nullable=False),
)

archive_pages = sa.Table(
    "archive_pages", metadata,
    # "all" or "category/<slug>": the feed whose archive page this is.
    sa.Column("feed_key", sa.String, primary_key=True),
    sa.Column("page", sa.Integer, primary_key=True, autoincrement=False),
    # The page holds the feed's items with archive_seq above the page before's last_seq
    # and up to its own: fixed once the page is recorded.
    sa.Column("last_seq", sa.Integer, nullable=False),
)

publication_state = sa.Table(
    "publication_state", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    # Set by a merge that changed items, cleared once a publication shows them: still
    # set when a refresh starts, its predecessor merged but did not publish.
    sa.Column("render_pending", sa.Boolean, nullable=False),
)

# One row per WebSub hub ever notified: how its notifications went (see
# feedsvc.websub). A new table: create_all adds it to an older store as it is.
websub_hubs = sa.Table(
    "websub_hubs", metadata,
    sa.Column("hub", sa.String, primary_key=True),
    sa.Column("notified_total", sa.Integer, nullable=False),
    sa.Column("failures_total", sa.Integer, nullable=False),
    sa.Column("consecutive_failures", sa.Integer, nullable=False),
    sa.Column("last_success", UTCDateTime),
    sa.Column("last_error", sa.String),
    sa.Column("last_error_at", UTCDateTime),
)

# The outbox: each feed a hub is yet to be told of, since its bytes changed at
# ``queued``. Written by the refresh that published, emptied as hubs take them,
# so a hub that was down, or a process killed before telling it, is caught up.
websub_pending = sa.Table(
    "websub_pending", metadata,
    sa.Column("hub", sa.String, primary_key=True),
    sa.Column("url", sa.String, primary_key=True),
    sa.Column("queued", UTCDateTime, nullable=False),
)

# The publication kept in the database (``storage.publication = "database"``): each
# document once, by the ETag of its bytes; each generation's manifest and site; and
# one row naming the live generation, switched in one transaction.
published_documents = sa.Table(
    "published_documents", metadata,
    sa.Column("etag", sa.String, primary_key=True),
    sa.Column("content", sa.LargeBinary, nullable=False),
    sa.Column("gzip_content", sa.LargeBinary, nullable=False),
)

publication_generations = sa.Table(
    "publication_generations", metadata,
    sa.Column("generation", sa.String, primary_key=True),
    sa.Column("created", UTCDateTime, nullable=False),
    # JSON: {"files": {path: PublishedFile}, "render_key": ...}, as a directory's manifest.
    sa.Column("manifest", sa.Text, nullable=False),
    sa.Column("site", sa.LargeBinary, nullable=False),
)

publication_live = sa.Table(
    "publication_live", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("generation", sa.String),
    sa.Column("switched", UTCDateTime),
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
LOCK_ROW = 1
STATE_ROW = 1
LIVE_ROW = 1
"""The one row of ``publication_live``."""
"""The one row of ``publication_state`` (``LOCK_ROW`` is ``refresh_lock``'s)."""


class Database:
    """An engine and the two kinds of transaction the store uses. Thread-safe.

    A Database dropped without ``dispose()`` (a web app's store lives as long as
    its process) still closes its pooled connections when it is collected,
    rather than leaving them to the driver's finalizers.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        weakref.finalize(self, engine.dispose)

    @contextmanager
    def write(self, *, bulk: bool = False) -> Iterator[Connection]:
        """One write transaction; on SQLite it takes the write lock at once, and with
        ``bulk`` a larger page cache."""
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(feedsvc_immediate=True)
                with conn.begin():
                    if bulk and conn.dialect.name == "sqlite":
                        conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_MERGE_CACHE_KIB}")
                    yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"store write failed: {_first_line(exc)}") from exc

    @contextmanager
    def read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn, conn.begin():
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"store read failed: {_first_line(exc)}") from exc

    def dispose(self) -> None:
        self.engine.dispose()


def _first_line(exc: SQLAlchemyError) -> str:
    # SQLAlchemy appends the statement and its parameters, which can be huge.
    return str(getattr(exc, "orig", None) or exc).splitlines()[0]


def open_database(url: str) -> Database:
    """Connect to ``url``, create missing tables and upgrade an older store. Raises StoreError."""
    try:
        database = Database(_create_engine(url))
        _create_schema(database)
    except (SQLAlchemyError, OSError) as exc:
        raise StoreError(f"cannot open the store {redacted_url(url)}: {exc}") from exc
    return database


SECONDARY_INDEXES = (newest_index, category_newest_index, category_archive_index)
"""Indexes no constraint depends on: a bulk load may drop and rebuild them."""
KEPT_INDEXES = (archive_index,)
"""Indexes a merge reads (the next arrival number): never dropped."""


def ensure_indexes(conn: Connection) -> None:
    """Create any of ``SECONDARY_INDEXES`` and ``KEPT_INDEXES`` that is missing (an
    upgraded store, or a bulk load that died before rebuilding them)."""
    lock_schema(conn)
    for index in (*KEPT_INDEXES, *SECONDARY_INDEXES):
        index.create(conn, checkfirst=True)


def drop_indexes(conn: Connection) -> None:
    lock_schema(conn)
    for index in SECONDARY_INDEXES:
        index.drop(conn, checkfirst=True)


SCHEMA_LOCK_KEY = 0x66656564737663  # "feedsvc" in ASCII
"""The PostgreSQL advisory lock that serializes creating and upgrading the schema."""


def lock_schema(conn: Connection) -> None:
    """Keep every other process from changing the schema until ``conn``'s transaction
    ends: on PostgreSQL an advisory lock (taken again by the same transaction, it is
    held once more), on SQLite the write lock every write transaction holds already.
    Whoever creates or drops tables or indexes takes it first: two processes creating
    one index at once would otherwise both try, and one fail."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(SCHEMA_LOCK_KEY)))


def _create_schema(database: Database) -> None:
    """Create what is missing, upgrade an older store and check the version, in one
    transaction that excludes every other process doing the same: on SQLite its
    ``BEGIN IMMEDIATE`` does, on PostgreSQL a transaction-scoped advisory lock
    (DDL is transactional there, so a failed upgrade leaves the store as it was)."""
    with database.write() as conn:
        lock_schema(conn)
        version = _stored_version(conn)
        if version is not None and version > SCHEMA_VERSION:
            raise StoreError(f"store schema version {version} is newer than this feedsvc's "
                             f"({SCHEMA_VERSION}): upgrade feedsvc")
        metadata.create_all(conn)
        _migrate(conn)
        ensure_indexes(conn)
        for table, row in ((schema_version, {"version": SCHEMA_VERSION}),
                           (refresh_lock, {"id": LOCK_ROW}),
                           (publication_state, {"id": STATE_ROW, "render_pending": True}),
                           (publication_live, {"id": LIVE_ROW, "generation": None})):
            if conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 0:
                conn.execute(table.insert().values(**row))
        version = _stored_version(conn)
    if version != SCHEMA_VERSION:
        raise StoreError(f"store schema version {version}, expected {SCHEMA_VERSION}")


def _stored_version(conn: Connection) -> int | None:
    """The store's schema version; None for a new store (no table or no row yet)."""
    if not sa.inspect(conn).has_table(schema_version.name):
        return None
    version = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar()
    return None if version is None else int(version)


def _add_column(conn: Connection, table: str, column: str, ddl: str) -> None:
    present = {c["name"] for c in sa.inspect(conn).get_columns(table)}
    if column not in present:
        conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}"))


def _to_2(conn: Connection) -> None:
    _add_column(conn, "sources", "config_fingerprint", "VARCHAR")


def _to_3(conn: Connection) -> None:
    _add_column(conn, "sources", "failures_total", "INTEGER NOT NULL DEFAULT 0")


def _to_4(conn: Connection) -> None:
    _add_column(conn, "items", "category_slug", "VARCHAR")
    _add_column(conn, "sources", "body_digest", "VARCHAR")
    labels = conn.execute(
        sa.select(items.c.category).where(items.c.category.is_not(None)).distinct()
    ).scalars().all()
    for label in labels:
        conn.execute(items.update().where(items.c.category == label)
                     .values(category_slug=slugify(label)))
    # The indexes themselves: see ensure_indexes.


def _to_5(conn: Connection) -> None:
    _add_column(conn, "items", "language", "VARCHAR")
    _add_column(conn, "items", "archive_seq", "INTEGER")
    # Arrival order for the items already stored: first seen first, then as a first
    # refresh numbers a listing (oldest date first, the bottom of a day first).
    # Sorted here, not by the database: a PostgreSQL store still in its database's
    # collation (before step 6) would order keys otherwise. Two stable sorts: key
    # descending, then the rest.
    rows = list(conn.execute(sa.select(items.c.key, items.c.first_seen, items.c.date,
                                       items.c.listing_rank)))
    rows.sort(key=lambda row: row[0], reverse=True)
    rows.sort(key=lambda row: (row[1], row[2], -row[3]))
    keys = [row[0] for row in rows]
    statement = items.update().where(items.c.key == sa.bindparam("match_key")).values(
        archive_seq=sa.bindparam("seq"))
    for start in range(0, len(keys), 2_000):
        conn.execute(statement, [{"match_key": key, "seq": start + offset + 1}
                                 for offset, key in enumerate(keys[start:start + 2_000])])
    # The indexes themselves: see ensure_indexes.


def _to_6(conn: Connection) -> None:
    if conn.dialect.name != "postgresql":
        return  # SQLite compares text byte by byte already
    for table, column in SORTED_COLUMNS:
        conn.execute(sa.text(f'ALTER TABLE {table} ALTER COLUMN {column} TYPE VARCHAR COLLATE "C"'))


MIGRATIONS: tuple[tuple[int, Callable[[Connection], None]], ...] = (
    (2, _to_2), (3, _to_3), (4, _to_4), (5, _to_5), (6, _to_6),
)
"""(version, step): each step upgrades a store of the version before it."""


def _migrate(conn: Connection) -> None:
    """Bring a store made by an older feedsvc up to ``SCHEMA_VERSION``, in ``conn``'s
    transaction. A new store has no version yet and needs nothing: ``create_all``
    made every table and index as they are now."""
    version = _stored_version(conn)
    if version is None:
        return
    for target, step in MIGRATIONS:
        if version < target:
            step(conn)
            conn.execute(schema_version.insert().values(version=target))
            version = target


def _create_engine(url: str) -> Engine:
    parsed = sa.engine.make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        # No driver named: psycopg 3, which feedsvc[postgres] installs (SQLAlchemy's
        # default would be psycopg2).
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True)
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
        # In WAL mode NORMAL never corrupts the database; a power cut may lose the
        # last commits, which the next refresh reads again.
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("feedsvc_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def redacted_url(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except SQLAlchemyError:
        return "<invalid URL>"
