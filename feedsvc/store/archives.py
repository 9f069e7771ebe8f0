"""Archive pages (RFC 5005): which runs of arrival numbers each feed's pages hold, and
the indexed reads that fetch a page's items.

A feed's archive page N holds the feed's items whose ``archive_seq`` is above
page N-1's ``last_seq`` and at most its own. Pages are recorded once, when they
fill (see ``feedsvc.archive``), and never change; every read here is a range
scan of an index, so its cost follows the page, not the history.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from feedsvc.models import StoredItem
from feedsvc.store.items import _ITEM_COLUMNS, _chunks, _stored_item
from feedsvc.store.schema import archive_pages, items


def newest_first(item: StoredItem) -> tuple[int, int, str]:
    """The feeds' order (``items.NEWEST_FIRST``): newest date, then listing rank, then key."""
    return (-item.date.toordinal(), item.listing_rank, item.key)


def bounds(conn: Connection, feed_key: str) -> list[int]:
    query = (sa.select(archive_pages.c.last_seq).where(archive_pages.c.feed_key == feed_key)
             .order_by(archive_pages.c.page))
    return [int(seq) for seq in conn.execute(query).scalars()]


def add_pages(conn: Connection, feed_key: str, first_page: int, last_seqs: Sequence[int]) -> None:
    if last_seqs:
        conn.execute(archive_pages.insert(), [
            {"feed_key": feed_key, "page": first_page + offset, "last_seq": seq}
            for offset, seq in enumerate(last_seqs)])


def _of_feed(query: Any, slug: str | Sequence[str] | None) -> Any:
    """``query`` narrowed to the category ``slug``, or to any of several (merged ones)."""
    if slug is None:
        return query
    if isinstance(slug, str):
        return query.where(items.c.category_slug == slug)
    return query.where(items.c.category_slug.in_(list(slug)))


def arrivals_after(conn: Connection, slug: str | Sequence[str] | None, after: int) -> list[int]:
    query = _of_feed(sa.select(items.c.archive_seq).where(items.c.archive_seq > after), slug)
    return [int(seq) for seq in conn.execute(query.order_by(items.c.archive_seq)).scalars()]


def items_arrived(
    conn: Connection, slug: str | Sequence[str] | None, after: int, upto: int | None,
) -> list[StoredItem]:
    query = sa.select(*_ITEM_COLUMNS).where(items.c.archive_seq > after)
    if upto is not None:
        query = query.where(items.c.archive_seq <= upto)
    # Sorted here, not in SQL: an ORDER BY would tempt the planner into walking the
    # feed-order index over the whole history instead of the arrival range.
    found = [_stored_item(row) for row in conn.execute(_of_feed(query, slug))]
    return sorted(found, key=newest_first)


def arrival_numbers(conn: Connection, keys: Sequence[str]) -> list[int]:
    found: list[int] = []
    for chunk in _chunks(list(keys)):
        found.extend(int(seq) for seq in conn.execute(
            sa.select(items.c.archive_seq).where(items.c.key.in_(chunk))).scalars()
            if seq is not None)
    return sorted(found)
