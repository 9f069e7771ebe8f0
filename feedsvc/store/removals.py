"""Taking out what should never have been published: items, and category labels.

Removals are recorded (``removals``). A removed item, or a category taken off
its items, comes back only if a source lists it again: every source that
listed it is read in full at its next refresh (its digest and snapshot are
forgotten), and what it still lists is merged as new.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from feedsvc.store.schema import (
    categories,
    item_sources,
    items,
    removals,
    source_snapshots,
    sources,
)


@dataclass(frozen=True)
class Removed:
    """One thing removed: an item (``ident`` its id, ``label`` its title) or a category
    (its slug and label), and how many items it took with it."""

    kind: str
    ident: str
    label: str
    items: int


def item_id_of(text: str) -> str:
    """An item's id as ``/items/<id>`` shows it, from that id or from its guid."""
    return text.strip().lower().removeprefix("urn:uuid:").replace("-", "")


def find_items(conn: Connection, item_ids: Sequence[str]) -> list[tuple[str, str, str]]:
    """(key, item id, title) of the stored items among ``item_ids``, in the order given."""
    wanted = [item_id_of(text) for text in item_ids]
    rows = conn.execute(sa.select(items.c.key, items.c.item_id, items.c.title)
                        .where(items.c.item_id.in_(wanted)))
    found = {item_id: (key, item_id, title) for key, item_id, title in rows}
    return [found[item_id] for item_id in dict.fromkeys(wanted) if item_id in found]


def remove_items(conn: Connection, item_ids: Sequence[str], now: dt.datetime) -> list[Removed]:
    """Remove the stored items among ``item_ids`` (ids or guids); returns what went."""
    found = find_items(conn, item_ids)
    keys = [key for key, _, _ in found]
    if not keys:
        return []
    _read_again(conn, keys)
    links = conn.execute(sa.select(item_sources.c.source, sa.func.count())
                         .where(item_sources.c.item_key.in_(keys))
                         .group_by(item_sources.c.source)).all()
    for name, count in links:
        conn.execute(sources.update().where(sources.c.name == name)
                     .values(item_count=sources.c.item_count - count))
    conn.execute(item_sources.delete().where(item_sources.c.item_key.in_(keys)))
    conn.execute(items.delete().where(items.c.key.in_(keys)))
    removed = [Removed("item", item_id, title, 1) for _, item_id, title in found]
    _record(conn, removed, now)
    return removed


def remove_categories(conn: Connection, slugs: Sequence[str], now: dt.datetime) -> list[Removed]:
    """Take the categories ``slugs`` off every item that has them and stop publishing
    their feeds; returns what went (unknown slugs are left out)."""
    removed: list[Removed] = []
    for slug in dict.fromkeys(slug.strip() for slug in slugs):
        label = conn.execute(sa.select(categories.c.label)
                             .where(categories.c.slug == slug)).scalar()
        # The category's items as a subquery, never as a list of keys: a category may
        # hold more items than one statement may name parameters (65,535 on PostgreSQL).
        in_category = sa.select(items.c.key).where(items.c.category_slug == slug)
        count = int(conn.execute(sa.select(sa.func.count())
                                 .select_from(in_category.subquery())).scalar_one())
        if label is None and not count:
            continue
        if count:
            label = label or conn.execute(sa.select(items.c.category)
                                          .where(items.c.category_slug == slug)
                                          .order_by(items.c.key).limit(1)).scalar_one()
            _read_again(conn, in_category)
            # What the sources said is forgotten, so a source that lists the
            # category again gives it back to the item.
            conn.execute(item_sources.update().where(item_sources.c.item_key.in_(in_category))
                         .values(content_hash=""))
            conn.execute(items.update().where(items.c.category_slug == slug)
                         .values(category=None, category_slug=None))
        conn.execute(categories.delete().where(categories.c.slug == slug))
        removed.append(Removed("category", slug, str(label), count))
    _record(conn, removed, now)
    return removed


def _read_again(conn: Connection, keys: Sequence[str] | sa.Select[tuple[str]]) -> None:
    """Make every source that listed any of ``keys`` (a few keys, or a query of them) read
    in full next time."""
    names = list(conn.execute(sa.select(item_sources.c.source).distinct()
                              .where(item_sources.c.item_key.in_(keys))).scalars())
    if names:
        conn.execute(sources.update().where(sources.c.name.in_(names))
                     .values(body_digest=None, etag=None, last_modified=None))
        conn.execute(source_snapshots.delete().where(source_snapshots.c.source.in_(names)))


def _record(conn: Connection, removed: Sequence[Removed], now: dt.datetime) -> None:
    if removed:
        conn.execute(removals.insert(), [
            {"kind": r.kind, "ident": r.ident, "label": r.label, "items": r.items,
             "removed_at": now} for r in removed])
