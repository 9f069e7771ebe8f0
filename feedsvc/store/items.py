"""Items: merging a listing in bulk, and the indexed reads that publishing and pages make.

A merge reads what the store holds for the listing's keys in a few set-based
queries, lets ``feedsvc.store.decide.plan_merge`` decide, and applies the plan
with bulk statements, so its cost follows the listing, not the history.
Reads for publishing come straight off indexes: a feed's newest entries, a
category's item count and label, one item by id.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from feedsvc.identity import names_for_key, slugify
from feedsvc.models import ListingItem, StoredItem
from feedsvc.store.decide import (
    CONTENT_FIELDS,
    MergePlan,
    StoredRow,
    first_of_each_key,
    free_seconds,
    plan_merge,
)
from feedsvc.store.schema import KEYS_PER_QUERY, STATE_ROW, item_sources, items, publication_state

ROWS_PER_STATEMENT = 2_000
"""Rows handed to one bulk statement: bounds memory, not the transaction."""


_ITEM_COLUMNS = (
    items.c.key, items.c.guid, items.c.item_id, items.c.title, items.c.date, items.c.category,
    items.c.credit, items.c.summary, items.c.link, items.c.image, items.c.first_seen,
    items.c.updated, items.c.listing_rank, items.c.language, items.c.archive_seq,
)
NEWEST_FIRST = (items.c.date.desc(), items.c.listing_rank, items.c.key)


def _stored_item(row: Sequence[Any]) -> StoredItem:
    return StoredItem(*row)


def _chunks(values: Sequence[str], size: int = KEYS_PER_QUERY) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def merge_listing(
    conn: Connection, source: str, listing: Sequence[ListingItem], now: dt.datetime,
    *, highest: dt.datetime | None = None, keys: Sequence[str] | None = None,
    language: str | None = None,
) -> tuple[MergePlan, dt.datetime | None]:
    """Merge one source's listing (top first) in ``conn``'s transaction; return the plan
    it applied and the lowest ``updated`` second it handed out (None: none).

    ``now`` is a whole second. New ``updated`` seconds are the latest free ones at
    or below ``highest`` (default ``now``): a caller that merged at the same
    ``now`` just before may pass the second below the lowest it was given,
    since every second above that is taken.

    New items are numbered in arrival order (``archive_seq``), oldest listed first,
    and take ``language`` (the source's), which also fills in listed items that
    have none yet (stored before languages were).
    """
    unique, duplicates = first_of_each_key(listing, keys)
    wanted = list(unique)
    # A store with no item yet (the first refresh) has nothing to look up.
    empty = conn.execute(sa.select(items.c.key).limit(1)).first() is None
    stored = {} if empty else _stored_rows(conn, wanted)
    said = {} if empty else _said_by(conn, source, wanted)
    plan = plan_merge(unique, stored, said, duplicates=duplicates)
    top = highest if highest is not None else now
    count = len(plan.needs_second)
    handed = free_seconds(top, count, _taken_seconds(conn, top, count))
    seconds = dict(zip(plan.needs_second, handed, strict=True))
    _insert_items(conn, plan, seconds, now, language)
    _apply_changes(conn, plan, seconds)
    if language is not None and not empty:
        _fill_language(conn, wanted, language)
    _write_links(conn, source, plan, now)
    return plan, (handed[-1] if handed else None)


def _stored_rows(conn: Connection, keys: Sequence[str]) -> dict[str, StoredRow]:
    columns = (items.c.key, *(items.c[name] for name in CONTENT_FIELDS), items.c.listing_rank)
    found: dict[str, StoredRow] = {}
    for chunk in _chunks(keys):
        for row in conn.execute(sa.select(*columns).where(items.c.key.in_(chunk))):
            found[row[0]] = StoredRow(*row)
    return found


def _said_by(conn: Connection, source: str, keys: Sequence[str]) -> dict[str, str]:
    said: dict[str, str] = {}
    for chunk in _chunks(keys):
        query = sa.select(item_sources.c.item_key, item_sources.c.content_hash).where(
            item_sources.c.source == source, item_sources.c.item_key.in_(chunk))
        said.update((key, digest) for key, digest in conn.execute(query))
    return said


def keys_listed_by(conn: Connection, source: str, keys: Sequence[str]) -> set[str]:
    return set(_said_by(conn, source, keys))


def _taken_seconds(conn: Connection, now: dt.datetime, count: int) -> set[dt.datetime]:
    """The ``updated`` seconds already used in a window at and below ``now`` wide enough
    to hold ``count`` free ones."""
    if count == 0:
        return set()
    window = count
    while True:
        start = now - dt.timedelta(seconds=window)
        taken = set(conn.execute(sa.select(items.c.updated).where(
            items.c.updated > start, items.c.updated <= now)).scalars())
        if window - len(taken) >= count:
            return taken
        window = count + len(taken) * 2


def _insert_items(
    conn: Connection, plan: MergePlan, seconds: Mapping[str, dt.datetime], now: dt.datetime,
    language: str | None,
) -> None:
    # Arrival order: the oldest listed first, as a reader walking back would meet them
    # last; the bottom of a day first, since the top of a listing is its newest.
    arrivals = sorted(plan.new, key=lambda new: (-new.item.date.toordinal(), new.rank, new.key),
                      reverse=True)
    first_seq = next_archive_seq(conn)
    seqs = {new.key: first_seq + offset for offset, new in enumerate(arrivals)}
    # Rows are built a statement's worth at a time: memory stays bounded by that.
    for start in range(0, len(plan.new), ROWS_PER_STATEMENT):
        conn.execute(items.insert(), [
            {**_new_row(new.key, new.item, new.rank, seconds[new.key], now),
             "language": language, "archive_seq": seqs[new.key]}
            for new in plan.new[start:start + ROWS_PER_STATEMENT]
        ])


def next_archive_seq(conn: Connection) -> int:
    """The arrival number the next new item gets (read off an index)."""
    highest = conn.execute(sa.select(sa.func.max(items.c.archive_seq))).scalar()
    return 1 if highest is None else int(highest) + 1


def _fill_language(conn: Connection, keys: Sequence[str], language: str) -> None:
    """Give the items ``keys`` that have no language yet ``language``; their feeds' bytes
    change only at the next full render (an upgrade renders everything anyway)."""
    for chunk in _chunks(keys):
        conn.execute(items.update().where(items.c.key.in_(chunk), items.c.language.is_(None))
                     .values(language=language))


def _new_row(
    key: str, item: ListingItem, rank: int, updated: dt.datetime, now: dt.datetime
) -> dict[str, Any]:
    guid, item_id = names_for_key(key)
    return {
        "key": key, "guid": guid, "item_id": item_id, "title": item.title, "date": item.date,
        "category": item.category,
        "category_slug": slugify(item.category) if item.category else None,
        "credit": item.credit, "summary": item.summary, "link": item.link,
        "image": item.image, "first_seen": now, "updated": updated, "listing_rank": rank,
    }


def _apply_changes(conn: Connection, plan: MergePlan, seconds: Mapping[str, dt.datetime]) -> None:
    # One executemany per shape of change: the same columns set in every row.
    by_shape: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for change in plan.changes:
        values: dict[str, Any] = {"listing_rank": change.rank, **change.fields}
        if "category" in change.fields:
            category = change.fields["category"]
            values["category_slug"] = slugify(category) if isinstance(category, str) else None
        if change.key in seconds:
            values["updated"] = seconds[change.key]
        shape = tuple(sorted(values))
        by_shape[shape].append({"match_key": change.key, **values})
    for shape, rows in by_shape.items():
        statement = items.update().where(items.c.key == sa.bindparam("match_key")).values(
            {name: sa.bindparam(name) for name in shape})
        conn.execute(statement, rows)


def _write_links(conn: Connection, source: str, plan: MergePlan, now: dt.datetime) -> None:
    if plan.links_new:
        rows = [{"item_key": key, "source": source, "last_seen": now, "content_hash": digest}
                for key, digest in plan.links_new]
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            conn.execute(item_sources.insert(), rows[start:start + ROWS_PER_STATEMENT])
    if plan.links_changed:
        statement = item_sources.update().where(
            item_sources.c.item_key == sa.bindparam("match_key"),
            item_sources.c.source == source,
        ).values(last_seen=now, content_hash=sa.bindparam("digest"))
        conn.execute(statement, [{"match_key": key, "digest": digest}
                                 for key, digest in plan.links_changed])


# --- reads ---------------------------------------------------------------------------


def newest_items(conn: Connection, slug: str | None, limit: int) -> list[StoredItem]:
    """The newest ``limit`` items of the category ``slug`` (None: of all items)."""
    query = sa.select(*_ITEM_COLUMNS).order_by(*NEWEST_FIRST).limit(limit)
    if slug is not None:
        query = query.where(items.c.category_slug == slug)
    return [_stored_item(row) for row in conn.execute(query)]


def item_count(conn: Connection, slug: str | None) -> int:
    """How many items the category ``slug`` (None: the store) holds."""
    query = sa.select(sa.func.count()).select_from(items)
    if slug is not None:
        query = query.where(items.c.category_slug == slug)
    return int(conn.execute(query).scalar_one())


def _selection(
    query: Any, slugs: Sequence[str] | None, sources: Sequence[str] | None,
) -> Any:
    if slugs is not None:
        query = query.where(items.c.category_slug.in_(list(slugs)))
    if sources:
        listed = sa.select(item_sources.c.item_key).where(item_sources.c.source.in_(list(sources)))
        query = query.where(items.c.key.in_(listed))
    return query


def newest_selected(
    conn: Connection, slugs: Sequence[str] | None, sources: Sequence[str] | None,
    limit: int, offset: int = 0,
) -> list[StoredItem]:
    """The newest items (skipping ``offset``) whose category slug is one of ``slugs``
    (None: any, or none) and that one of ``sources`` listed (None or empty: any)."""
    query = _selection(sa.select(*_ITEM_COLUMNS), slugs, sources)
    query = query.order_by(*NEWEST_FIRST).limit(limit).offset(offset)
    return [_stored_item(row) for row in conn.execute(query)]


def count_selected(
    conn: Connection, slugs: Sequence[str] | None, sources: Sequence[str] | None,
) -> int:
    """How many items ``newest_selected`` chooses from."""
    query = _selection(sa.select(sa.func.count()).select_from(items), slugs, sources)
    return int(conn.execute(query).scalar_one())


def first_label(conn: Connection, slug: str) -> str | None:
    """The category label of the first item seen in ``slug`` (first seen, then date,
    rank and key), or None when no item has that category any more."""
    query = (sa.select(items.c.category).where(items.c.category_slug == slug)
             .order_by(items.c.first_seen, items.c.date, items.c.listing_rank, items.c.key)
             .limit(1))
    return conn.execute(query).scalar()


def category_slugs(conn: Connection) -> set[str]:
    query = sa.select(items.c.category_slug).where(items.c.category_slug.is_not(None)).distinct()
    return set(conn.execute(query).scalars())


def items_page(
    conn: Connection, slug: str | Sequence[str] | None, offset: int, limit: int,
) -> list[StoredItem]:
    """The items of the category ``slug`` (None: all items) from the ``offset``-th, newest
    first, at most ``limit``: one page of a browsable list. Read off the same indexes as
    ``newest_items``; the database walks ``offset`` index entries, never the rows.
    ``slug`` may be several slugs (a category and the labels merged into it)."""
    query = sa.select(*_ITEM_COLUMNS).order_by(*NEWEST_FIRST).offset(offset).limit(limit)
    if isinstance(slug, str):
        query = query.where(items.c.category_slug == slug)
    elif slug is not None:
        query = query.where(items.c.category_slug.in_(list(slug)))
    return [_stored_item(row) for row in conn.execute(query)]


def item_by_id(conn: Connection, item_id: str) -> StoredItem | None:
    row = conn.execute(sa.select(*_ITEM_COLUMNS).where(items.c.item_id == item_id)).first()
    return None if row is None else _stored_item(row)


def render_pending(conn: Connection) -> bool:
    query = sa.select(publication_state.c.render_pending).where(publication_state.c.id == STATE_ROW)
    return bool(conn.execute(query).scalar())


def set_render_pending(conn: Connection, pending: bool) -> None:
    conn.execute(publication_state.update().where(publication_state.c.id == STATE_ROW)
                 .values(render_pending=pending))
