"""The publication kept in the database: documents by ETag, generations, the live row.

Used when ``storage.publication = "database"``, so that web nodes on other
machines need only the database URL. A generation is written and made live
in one transaction (``switch``): a reader sees the old generation or the new
one, whole. Documents are stored once by the ETag of their bytes, so a
generation that carries most feeds over costs only its new documents.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from feedsvc.store.schema import (
    KEYS_PER_QUERY,
    LIVE_ROW,
    publication_generations,
    publication_live,
    published_documents,
)

NOTIFY_CHANNEL = "feedsvc_publication"
"""The PostgreSQL channel a switch notifies, with the new generation as payload."""


@dataclass(frozen=True)
class StoredGeneration:
    """A generation as the database holds it."""

    generation: str
    manifest: bytes
    site: bytes


@dataclass(frozen=True)
class NewDocument:
    """A document to store: its ETag, bytes and gzipped bytes."""

    etag: str
    content: bytes
    gzip_content: bytes


def live_generation(conn: Connection) -> str | None:
    """The name of the live generation, or None when nothing is published."""
    return conn.execute(sa.select(publication_live.c.generation)
                        .where(publication_live.c.id == LIVE_ROW)).scalar()


def generation(conn: Connection, name: str) -> StoredGeneration | None:
    row = conn.execute(sa.select(publication_generations.c.manifest,
                                 publication_generations.c.site)
                       .where(publication_generations.c.generation == name)).first()
    if row is None:
        return None
    return StoredGeneration(name, row.manifest.encode("utf-8"), bytes(row.site))


def document(conn: Connection, etag: str, *, gzipped: bool) -> bytes | None:
    column = published_documents.c.gzip_content if gzipped else published_documents.c.content
    data = conn.execute(sa.select(column).where(published_documents.c.etag == etag)).scalar()
    return None if data is None else bytes(data)


def switch(
    conn: Connection, prepared: StoredGeneration, documents: Iterable[NewDocument],
    now: dt.datetime,
) -> None:
    """Store ``documents`` the database lacks and the generation ``prepared``, and make it
    live, in ``conn``'s transaction. On PostgreSQL, listeners hear of it at commit."""
    wanted = {doc.etag: doc for doc in documents}
    present = _present(conn, list(wanted))
    rows = [{"etag": doc.etag, "content": doc.content, "gzip_content": doc.gzip_content}
            for etag, doc in wanted.items() if etag not in present]
    if rows:
        conn.execute(published_documents.insert(), rows)
    if generation(conn, prepared.generation) is None:
        conn.execute(publication_generations.insert().values(
            generation=prepared.generation, created=now,
            manifest=prepared.manifest.decode("utf-8"), site=prepared.site))
    else:
        # Live again: the newest by the time pruning sorts generations.
        conn.execute(publication_generations.update()
                     .where(publication_generations.c.generation == prepared.generation)
                     .values(created=now))
    conn.execute(publication_live.update().where(publication_live.c.id == LIVE_ROW)
                 .values(generation=prepared.generation, switched=now))
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_notify(NOTIFY_CHANNEL, prepared.generation)))


def prune(conn: Connection, keep: int, referenced: Callable[[bytes], Iterable[str]]) -> int:
    """Delete all but the ``keep`` newest generations (the live one always stays) and
    the documents no remaining generation names. Returns how many generations went.
    ``referenced`` gives the ETags a stored manifest names."""
    live = live_generation(conn)
    names = list(conn.execute(
        sa.select(publication_generations.c.generation)
        .order_by(publication_generations.c.created.desc(),
                  publication_generations.c.generation)).scalars())
    kept = [name for name in names if name == live][:1]
    kept += [name for name in names if name != live][:max(keep - len(kept), 0)]
    gone = [name for name in names if name not in kept]
    if not gone:
        return 0
    for start in range(0, len(gone), KEYS_PER_QUERY):
        conn.execute(publication_generations.delete().where(
            publication_generations.c.generation.in_(gone[start:start + KEYS_PER_QUERY])))
    still: set[str] = set()
    for name in kept:
        stored = generation(conn, name)
        if stored is not None:
            still.update(referenced(stored.manifest))
    unused = [etag for etag in conn.execute(sa.select(published_documents.c.etag)).scalars()
              if etag not in still]
    for start in range(0, len(unused), KEYS_PER_QUERY):
        conn.execute(published_documents.delete().where(
            published_documents.c.etag.in_(unused[start:start + KEYS_PER_QUERY])))
    return len(gone)


def _present(conn: Connection, etags: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(etags), KEYS_PER_QUERY):
        found.update(conn.execute(sa.select(published_documents.c.etag).where(
            published_documents.c.etag.in_(etags[start:start + KEYS_PER_QUERY]))).scalars())
    return found

