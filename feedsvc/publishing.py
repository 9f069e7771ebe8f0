"""Where a refresh publishes and where web workers read: a directory or the database.

``storage.publication`` chooses. ``"directory"`` (the default) is a directory
with a ``current`` symlink (see ``feedsvc.publication``): one machine, or web
nodes sharing a filesystem. ``"database"`` keeps generations and their
documents in the store (see ``feedsvc.store.publications``): web nodes on any
machine need only the database URL, keep documents in memory by ETag, and
see a new generation within ``storage.publication_poll_seconds`` (at once on
PostgreSQL, which notifies them).

Both publishers build generations the same way (``GenerationBuilder``), so
the same inputs give the same generation name and the same ETags wherever
they are published. A refresh publishes through a draft (``Publisher.draft``):
each document is stored as soon as it is rendered, so a publication holds one
document at a time, never all of them; archive pages go into shared,
content-addressed storage and per-feed indexes (see ``feedsvc.publication``),
so a generation costs what changed, not the history.
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

from sqlalchemy.engine import Connection

from feedsvc.errors import PublishError, StoreError
from feedsvc.feeds import SiteSnapshot
from feedsvc.logevents import Event, log_event
from feedsvc.publication import (
    KEEP_GENERATIONS,
    DirectoryDraft,
    Document,
    GenerationBuilder,
    Publication,
    PublishedFiles,
    current_generation,
    load_manifest,
    manifest_files,
    open_publication,
    publish,
    unreferenced,
)
from feedsvc.settings import Settings
from feedsvc.store import publications as stored
from feedsvc.store.schema import Database, open_database

log = logging.getLogger(__name__)

DOCUMENT_CACHE_BYTES = 64 * 1024 * 1024
"""Document bytes a web process keeps in memory (least recently used go first)."""
STAGED_BYTES = 4 * 1024 * 1024
"""Document bytes a database publication gathers before storing them in one batch."""


class Draft(Protocol):
    """A generation being published, document by document (see ``Publisher.draft``).
    Nothing is live until ``commit``."""

    def add(self, path: str, document: Document) -> None:
        """Store ``document`` at ``path`` now. Raises PublishError."""
        ...

    def carry(self, paths: Sequence[str]) -> None:
        """Keep the live generation's files ``paths`` as they are. Raises PublishError."""
        ...

    def __contains__(self, path: object) -> bool:
        """Whether ``path`` was added."""
        ...

    @property
    def changed(self) -> Sequence[str]:
        """The paths added whose bytes differ from the live generation's."""
        ...

    def commit(self, site: SiteSnapshot) -> bool:
        """Make the generation live; False when it was live already. Raises PublishError."""
        ...

    def abandon(self) -> None:
        """Give the draft up, removing what it stored that nothing references."""
        ...


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

    def draft(
        self, previous: Publication | None, *, now: dt.datetime | None = None,
        render_key: str | None = None, keep_archives: bool = False,
    ) -> Draft:
        """A new generation on top of ``previous`` (the live one, as ``live`` gave it).
        With ``keep_archives`` every feed's archive pages stay published unless
        replaced. Raises PublishError."""
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

    def draft(
        self, previous: Publication | None, *, now: dt.datetime | None = None,
        render_key: str | None = None, keep_archives: bool = False,
    ) -> Draft:
        return DirectoryDraft(self.publish_dir, previous, now=now, render_key=render_key,
                              keep_archives=keep_archives)

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
                           files=manifest_files(manifest, _CachedObjects(self._documents)),
                           site=site, render_key=manifest.get("render_key"),
                           documents=self._documents)

    def publish(
        self, documents: Mapping[str, Document], site: SiteSnapshot, *,
        now: dt.datetime | None = None, carried: Sequence[str] = (),
        render_key: str | None = None,
    ) -> bool:
        draft = self.draft(self.live(), now=now, render_key=render_key)
        try:
            for path, doc in sorted(documents.items()):
                draft.add(path, doc)
            draft.carry(carried)
            return draft.commit(site)
        except BaseException:
            draft.abandon()
            raise

    def draft(
        self, previous: Publication | None, *, now: dt.datetime | None = None,
        render_key: str | None = None, keep_archives: bool = False,
    ) -> Draft:
        return DatabaseDraft(self, previous, now=now, render_key=render_key,
                             keep_archives=keep_archives)

    def switch(self, prepared: stored.StoredGeneration, documents: Sequence[stored.NewDocument],
               moment: dt.datetime) -> bool:
        """Store the last ``documents`` and make ``prepared`` live, pruning old generations,
        in one transaction. False when it was live already. Raises PublishError."""
        try:
            with self._db.write() as conn:
                if stored.live_generation(conn) == prepared.generation:
                    return False
                stored.store_documents(conn, documents)
                stored.switch(conn, prepared, (), moment)
                stored.prune(conn, self._keep, _released_by(conn))
        except StoreError as exc:
            raise PublishError(f"cannot publish to the database: {exc}") from exc
        self._known = None
        return True

    def stage(self, documents: Sequence[stored.NewDocument]) -> list[str]:
        """Store ``documents`` the database lacks, before their generation goes live (no
        reader sees a document no live generation names). Returns the ETags stored.
        Raises PublishError."""
        try:
            with self._db.write() as conn:
                return stored.store_documents(conn, documents)
        except StoreError as exc:
            raise PublishError(f"cannot publish to the database: {exc}") from exc

    def unstage(self, etags: Sequence[str]) -> None:
        """Delete the staged documents ``etags`` (of a draft given up) that no generation
        names. Best effort: a failure leaves them, unreferenced."""
        if not etags:
            return
        try:
            with self._db.write() as conn:
                # Stored by this draft because absent, and no generation went live
                # since: nothing names them.
                stored.delete_documents(conn, etags)
        except StoreError as exc:
            log.warning("staged documents of an abandoned publication left: %s", exc)

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


class DatabaseDraft:
    """A generation being published into the database: documents are staged (stored
    by ETag, in batches of about ``STAGED_BYTES``) as they are added; the last batch,
    the generation and the switch of the live row are one transaction."""

    def __init__(self, publisher: DatabasePublisher, previous: Publication | None, *,
                 now: dt.datetime | None, render_key: str | None, keep_archives: bool) -> None:
        self._publisher = publisher
        self._previous = previous
        self._now = now
        self._pending: list[stored.NewDocument] = []
        self._pending_bytes = 0
        self._staged: list[str] = []
        files = None if previous is None else previous.files
        self.builder = GenerationBuilder(
            self, files if isinstance(files, PublishedFiles) else PublishedFiles({}),
            now=now, render_key=render_key, keep_archives=keep_archives)

    # GenerationSink

    def put_file(self, path: str, content: bytes, gzipped: bytes, etag: str) -> None:
        self._stage(stored.NewDocument(etag, content, gzipped))

    def carry_file(self, path: str, etag: str) -> None:
        """Nothing to do: the document is stored by ETag already."""

    def put_object(self, name: str, content: bytes, gzipped: bytes) -> None:
        self._stage(stored.NewDocument(f'"{name}"', content, gzipped))

    def put_index(self, name: str, data: bytes) -> None:
        self._stage(stored.NewDocument(f'"{name}"', data, b""))

    def read_previous(self, path: str) -> tuple[bytes, bytes]:
        if self._previous is None:
            raise PublishError(f"cannot carry over {path!r}: nothing is live")
        try:
            return self._previous.read(path), self._previous.read(path, gzipped=True)
        except OSError as exc:
            raise PublishError(f"cannot carry over {path!r}: {exc}") from exc

    def _stage(self, document: stored.NewDocument) -> None:
        self._pending.append(document)
        self._pending_bytes += len(document.content) + len(document.gzip_content)
        if self._pending_bytes >= STAGED_BYTES:
            pending, self._pending, self._pending_bytes = self._pending, [], 0
            self._staged.extend(self._publisher.stage(pending))

    # Draft

    def add(self, path: str, document: Document) -> None:
        self.builder.add(path, document)

    def carry(self, paths: Sequence[str]) -> None:
        self.builder.carry(paths)

    def __contains__(self, path: object) -> bool:
        return path in self.builder

    @property
    def changed(self) -> Sequence[str]:
        return self.builder.changed

    def commit(self, site: SiteSnapshot) -> bool:
        prepared = self.builder.finish(site)
        moment = self._now or dt.datetime.now(dt.UTC)
        went_live = self._publisher.switch(
            stored.StoredGeneration(prepared.generation, prepared.manifest, prepared.site),
            self._pending, moment)
        self._pending, self._staged = [], []
        return went_live

    def abandon(self) -> None:
        self._pending = []
        staged, self._staged = self._staged, []
        self._publisher.unstage(staged)


class _CachedObjects:
    """Index objects read through a web process's document cache."""

    def __init__(self, documents: DocumentCache) -> None:
        self._documents = documents

    def read_object(self, name: str) -> bytes:
        return self._documents.read(f'"{name}"', gzipped=False)


class _ConnectionObjects:
    """Index objects read in the transaction ``conn`` (while pruning)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def read_object(self, name: str) -> bytes:
        found = stored.document(self._conn, f'"{name}"', gzipped=False)
        if found is None:
            raise FileNotFoundError(f"index {name} is not stored")
        return found


def _released_by(conn: Connection) -> Callable[[Sequence[bytes], Sequence[bytes]], Iterable[str]]:
    """What pruning generations frees (see ``feedsvc.publication.unreferenced``), as
    the ETags of ``published_documents``."""
    objects = _ConnectionObjects(conn)

    def released(gone: Sequence[bytes], kept: Sequence[bytes]) -> Iterable[str]:
        freed = unreferenced([manifest_files(load_manifest(m, "being pruned"), objects)
                              for m in gone],
                             [manifest_files(load_manifest(m, "kept"), objects) for m in kept],
                             plain=True)
        return {etag if etag.startswith('"') else f'"{etag}"' for etag in freed}

    return released


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
                    log_event(log, Event.NOTIFICATIONS_STILL_LOST,
                              "publication notifications still lost (%s)", exc)
                else:
                    log_event(log, Event.NOTIFICATIONS_LOST,
                              "publication notifications lost (%s); polling meanwhile and "
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
                log_event(log, Event.NOTIFICATIONS_HEARD_AGAIN,
                          "publication notifications heard again")
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
