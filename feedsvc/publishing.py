"""Where a refresh publishes and where web workers read: a directory or the database.

``storage.publication`` chooses. ``"directory"`` (the default) is a directory
with a ``current`` symlink (see ``feedsvc.publication``): one machine, or web
nodes sharing a filesystem. ``"database"`` keeps generations and their
documents in the store (see ``feedsvc.store.publications``): web nodes on any
machine need only the database URL, keep documents in memory by ETag, and
see a new generation within ``storage.publication_poll_seconds`` (at once on
PostgreSQL, which notifies them).

Both publishers take the same prepared generation (``prepare_generation``),
so the same inputs give the same generation name and the same ETags
wherever they are published.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from feedsvc.errors import PublishError, StoreError
from feedsvc.feeds import SiteSnapshot
from feedsvc.publication import (
    KEEP_GENERATIONS,
    Document,
    Publication,
    current_generation,
    load_manifest,
    manifest_files,
    open_publication,
    prepare_generation,
    publish,
)
from feedsvc.settings import Settings
from feedsvc.store import publications as stored
from feedsvc.store.schema import Database, open_database

log = logging.getLogger(__name__)

DOCUMENT_CACHE_BYTES = 64 * 1024 * 1024
"""Document bytes a web process keeps in memory (least recently used go first)."""


class Publisher(Protocol):
    """Publishes generations and opens the live one."""

    def live_generation(self) -> str | None:
        """The name of the live generation, or None when nothing is published. Cheap.
        Raises PublishError."""
        ...

    def live(self) -> Publication | None:
        """The live generation, opened, or None. Raises PublishError."""
        ...

    def publish(
        self, documents: Mapping[str, Document], site: SiteSnapshot, *,
        now: dt.datetime | None = None, carried: Sequence[str] = (),
        render_key: str | None = None,
    ) -> bool:
        """Make ``documents``, the ``carried`` files of the live generation and ``site``
        the live generation (see ``feedsvc.publication.publish``). Returns False when
        that generation was live already. Raises PublishError."""
        ...

    def describe(self) -> str:
        """Where it publishes, for messages."""
        ...


class DirectoryPublisher:
    """The publication in ``publish_dir`` (see ``feedsvc.publication``)."""

    def __init__(self, publish_dir: Path) -> None:
        self.publish_dir = publish_dir

    def live_generation(self) -> str | None:
        return current_generation(self.publish_dir)

    def live(self) -> Publication | None:
        return open_publication(self.publish_dir)

    def publish(
        self, documents: Mapping[str, Document], site: SiteSnapshot, *,
        now: dt.datetime | None = None, carried: Sequence[str] = (),
        render_key: str | None = None,
    ) -> bool:
        return publish(self.publish_dir, documents, site, now=now, carried=carried,
                       render_key=render_key)

    def describe(self) -> str:
        return str(self.publish_dir)


class DatabasePublisher:
    """The publication kept in the database ``database``.

    ``poll_seconds`` > 0 lets ``live_generation`` answer from memory for that long
    (web workers; a PostgreSQL notification cuts it short); 0 asks the database
    every time (the refresh). Documents read are kept in memory by ETag, at most
    ``cache_bytes`` of them.
    """

    def __init__(
        self, database: Database | Callable[[], Database], *, poll_seconds: float = 0.0,
        keep: int = KEEP_GENERATIONS, cache_bytes: int = DOCUMENT_CACHE_BYTES,
    ) -> None:
        self._database = database
        self._open_db: Database | None = database if isinstance(database, Database) else None
        self._poll_seconds = poll_seconds
        self._keep = keep
        self._documents = DocumentCache(lambda: self._db, cache_bytes)
        self._known: tuple[float, str | None] | None = None
        self._lock = threading.Lock()
        self._listener: NotificationListener | None = None
        self._closed = False

    def describe(self) -> str:
        return "the database"

    @property
    def _db(self) -> Database:
        """The database, opened on first use (a web node starts while it is down).
        Raises PublishError."""
        if self._open_db is None:
            with self._lock:
                if self._open_db is None:
                    opener = self._database
                    assert callable(opener)
                    try:
                        self._open_db = opener()
                    except StoreError as exc:
                        raise PublishError(f"cannot open the publication: {exc}") from exc
        return self._open_db

    def live_generation(self) -> str | None:
        if self._poll_seconds > 0:
            self._listen()
            known = self._known
            if known is not None and time.monotonic() - known[0] < self._poll_seconds:
                return known[1]
        try:
            with self._db.read() as conn:
                name = stored.live_generation(conn)
        except StoreError as exc:
            raise PublishError(f"cannot read the live publication: {exc}") from exc
        self._known = (time.monotonic(), name)
        return name

    def forget_live(self) -> None:
        """Ask the database at the next ``live_generation`` (a new one went live)."""
        self._known = None

    def live(self) -> Publication | None:
        try:
            with self._db.read() as conn:
                name = stored.live_generation(conn)
                found = None if name is None else stored.generation(conn, name)
        except StoreError as exc:
            raise PublishError(f"cannot read the live publication: {exc}") from exc
        if name is None:
            return None
        if found is None:
            raise PublishError(f"publication {name} is missing from the database")
        return self._publication(found)

    def _publication(self, found: stored.StoredGeneration) -> Publication:
        where = f"{found.generation} (database)"
        manifest = load_manifest(found.manifest, where)
        try:
            site = SiteSnapshot.from_json(found.site)
        except (ValueError, KeyError, TypeError) as exc:
            raise PublishError(f"publication {where} is unreadable: {exc}") from exc
        return Publication(directory=None, generation=found.generation,
                           files=manifest_files(manifest), site=site,
                           render_key=manifest.get("render_key"), documents=self._documents)

    def publish(
        self, documents: Mapping[str, Document], site: SiteSnapshot, *,
        now: dt.datetime | None = None, carried: Sequence[str] = (),
        render_key: str | None = None,
    ) -> bool:
        moment = now or dt.datetime.now(dt.UTC)
        try:
            with self._db.write() as conn:
                live = stored.live_generation(conn)
                found = None if live is None else stored.generation(conn, live)
                previous = {} if found is None else manifest_files(
                    load_manifest(found.manifest, f"{live} (database)"))
                prepared = prepare_generation(documents, site, previous, now=now,
                                              carried=carried, render_key=render_key)
                if prepared.generation == live:
                    return False
                new = [stored.NewDocument(prepared.files[path].etag, doc.content,
                                          prepared.gzipped[path])
                       for path, doc in documents.items()]
                stored.switch(conn, stored.StoredGeneration(
                    prepared.generation, prepared.manifest, prepared.site), new, moment)
                stored.prune(conn, self._keep, _manifest_etags)
        except StoreError as exc:
            raise PublishError(f"cannot publish to the database: {exc}") from exc
        self._known = None
        return True

    def close(self) -> None:
        """Stop hearing PostgreSQL's notifications (the publisher still polls)."""
        self._closed = True
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop(timeout=2 * NotificationListener.WAIT_SECONDS)

    def _listen(self) -> None:
        """Start, once per process, the thread that hears PostgreSQL's notifications."""
        if (self._listener is not None or self._closed
                or self._db.engine.dialect.name != "postgresql"):
            return
        with self._lock:
            if self._listener is None and not self._closed:
                self._listener = NotificationListener(self._db, self.forget_live)
                self._listener.start()


def _manifest_etags(manifest: bytes) -> Iterable[str]:
    files = manifest_files(load_manifest(manifest, "being pruned"))
    return (file.etag for file in files.values())


class DocumentCache:
    """Published documents by ETag, read from the database on first use and kept,
    least recently used first out, up to ``max_bytes``. Thread-safe."""

    def __init__(self, database: Callable[[], Database], max_bytes: int) -> None:
        self._database = database
        self._max_bytes = max_bytes
        self._kept: OrderedDict[tuple[str, bool], bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def read(self, etag: str, *, gzipped: bool) -> bytes:
        key = (etag, gzipped)
        with self._lock:
            data = self._kept.get(key)
            if data is not None:
                self._kept.move_to_end(key)
                return data
        try:
            with self._database().read() as conn:
                found = stored.document(conn, etag, gzipped=gzipped)
        except (StoreError, PublishError) as exc:
            raise OSError(f"cannot read document {etag}: {exc}") from exc
        if found is None:
            # Pruned since the generation was opened: as a deleted file would be.
            raise FileNotFoundError(f"document {etag} is no longer published")
        with self._lock:
            if key not in self._kept and len(found) <= self._max_bytes:
                self._kept[key] = found
                self._size += len(found)
                while self._size > self._max_bytes:
                    _, dropped = self._kept.popitem(last=False)
                    self._size -= len(dropped)
        return found


class NotificationListener(threading.Thread):
    """Calls ``heard`` whenever PostgreSQL says a new generation went live, on a
    connection of its own; reconnects every ``retry_seconds`` after an error and never
    stops the process. ``stop`` ends it.

    A database that goes away is logged once, as a warning, however long it stays
    away (the web worker keeps polling meanwhile, so nothing is missed); the retries
    are logged at debug level only, and hearing again is logged once, at info level.
    """

    RETRY_SECONDS = 5.0
    WAIT_SECONDS = 1.0
    """How long one wait for a notification lasts: the most ``stop`` waits for it."""

    def __init__(self, database: Database, heard: Callable[[], None], *,
                 retry_seconds: float = RETRY_SECONDS) -> None:
        super().__init__(name="feedsvc-publication-listener", daemon=True)
        self._db = database
        self._heard = heard
        self._retry_seconds = retry_seconds
        self._stopping = threading.Event()
        self._lost = False

    def stop(self, timeout: float | None = None) -> None:
        """Stop listening and wait up to ``timeout`` seconds for the thread to end."""
        self._stopping.set()
        if self.is_alive():
            self.join(timeout)

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._listen_once()
            except Exception as exc:  # whatever it is, polling still finds new generations
                if self._stopping.is_set():
                    break
                if self._lost:
                    log.debug("publication notifications still lost (%s)", exc)
                else:
                    log.warning("publication notifications lost (%s); polling meanwhile and "
                                "reconnecting every %gs quietly", exc, self._retry_seconds)
                    self._lost = True
            # Whatever went unheard while not listening is found by asking again.
            self._heard()
            self._stopping.wait(self._retry_seconds)

    def _listen_once(self) -> None:
        raw = self._db.engine.raw_connection()
        try:
            connection = raw.driver_connection
            if connection is None:
                return
            connection.autocommit = True
            connection.execute(f"LISTEN {stored.NOTIFY_CHANNEL}")
            if self._lost:
                log.info("publication notifications heard again")
                self._lost = False
            self._heard()
            while not self._stopping.is_set():
                for _ in connection.notifies(timeout=self.WAIT_SECONDS, stop_after=1):
                    self._heard()
        finally:
            raw.invalidate()


def publisher_for(settings: Settings, database: Database | None = None, *,
                  poll_seconds: float = 0.0) -> Publisher:
    """The publisher ``settings.storage.publication`` names. ``database`` is the store's,
    when the caller has it open; otherwise the store is opened here."""
    if settings.storage.publication == "database":
        url = settings.storage.database
        return DatabasePublisher(database or (lambda: open_database(url)),
                                 poll_seconds=poll_seconds)
    return DirectoryPublisher(settings.storage.publish_dir)
