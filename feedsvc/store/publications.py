"""The publication kept in the database: documents by ETag, generations, the live row.

Used when ``storage.publication = "database"``, so that web nodes on other
machines need only the database URL. A generation is written and made live
in one transaction (``switch``): a reader sees the old generation or the new
one, whole. Documents are stored once by the ETag of their bytes, so a
generation that carries most feeds over costs only its new documents; they may
be stored before their generation (``store_documents``), since no reader sees a
document no live generation names. Archive pages and their indexes are
documents too (see ``feedsvc.publication``): a generation's manifest names only
each feed's index.
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


def store_documents(conn: Connection, documents: Iterable[NewDocument]) -> list[str]:
    """Store ``documents`` the database lacks (by ETag); returns the ETags stored."""
    wanted = {doc.etag: doc for doc in documents}
    present = _present(conn, list(wanted))
    new = [doc for etag, doc in wanted.items() if etag not in present]
    if new:
        conn.execute(published_documents.insert(), [
            {"etag": doc.etag, "content": doc.content, "gzip_content": doc.gzip_content}
            for doc in new])
    return [doc.etag for doc in new]


def delete_documents(conn: Connection, etags: Sequence[str]) -> None:
    for start in range(0, len(etags), KEYS_PER_QUERY):
        conn.execute(published_documents.delete().where(
            published_documents.c.etag.in_(list(etags[start:start + KEYS_PER_QUERY]))))


def switch(
    conn: Connection, prepared: StoredGeneration, documents: Iterable[NewDocument],
    now: dt.datetime,
) -> None:
    """Store ``documents`` the database lacks and the generation ``prepared``, and make it
    live, in ``conn``'s transaction. On PostgreSQL, listeners hear of it at commit."""
    store_documents(conn, documents)
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


def prune(
    conn: Connection, keep: int,
    released: Callable[[Sequence[bytes], Sequence[bytes]], Iterable[str]],
) -> int:
    """Delete all but the ``keep`` newest generations (the live one always stays) and
    the documents that only they named. Returns how many generations went.
    ``released(gone, kept)`` gives, from the manifests of the generations going and
    of those kept, the ETags of the documents only the former name: its cost, not
    a scan of every stored document, is what pruning costs."""
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
    manifests = {name: found.manifest for name in names
                 if (found := generation(conn, name)) is not None}
    unused = sorted(set(released([manifests[name] for name in gone if name in manifests],
                                 [manifests[name] for name in kept if name in manifests])))
    for start in range(0, len(gone), KEYS_PER_QUERY):
        conn.execute(publication_generations.delete().where(
            publication_generations.c.generation.in_(gone[start:start + KEYS_PER_QUERY])))
    delete_documents(conn, unused)
    return len(gone)


def _present(conn: Connection, etags: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(etags), KEYS_PER_QUERY):
        found.update(conn.execute(sa.select(published_documents.c.etag).where(
            published_documents.c.etag.in_(etags[start:start + KEYS_PER_QUERY]))).scalars())
    return found

