"""Full history as RFC 5005 archived feeds: which items each archive page holds. Pure.

Every feed (all items, each category) is a subscription document plus archive
documents. Items are numbered in the order they arrive in the store
(``archive_seq``, never changed). An archive page is a run of a feed's items by
that number; once recorded it never takes another item, so its content is
fixed (only an edit of one of its items, a move to another category or a
removal renders it again). New items only ever go into the subscription
document, which holds the feed's items not yet in a page: whenever it would
hold more than ``feed_size``, its oldest ``page_size(feed_size)`` arrivals
become the next page, so it keeps between half of ``feed_size`` and
``feed_size`` entries. Each document links (``prev-archive``) to the page just
older, down to page 1, whose first item is the first the feed ever had.

Addresses: page N (1 = the oldest) of the feed ``<key>`` is
``feeds/<key>/archive/<N>.<fmt>``.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Collection, Sequence

ARCHIVE_MAX_AGE = 365 * 24 * 3600
"""Cache-Control max-age of an archive document (with ``immutable``): a year, since
its content never changes (see the module's docstring for the exceptions)."""
ARCHIVE_PATH = re.compile(r"feeds/(?:all|category/[^/]+)/archive/[1-9][0-9]*\.[a-z]+")
"""The publication paths of archive documents (see ``is_archive_path``)."""


def archive_key(feed_key: str, page: int) -> str:
    """The key of page ``page`` of the feed ``feed_key``: ``all/archive/3``."""
    return f"{feed_key}/archive/{page}"


def is_archive_path(path: str) -> bool:
    """True for the publication path of an archive document, whose content is fixed
    (the web layer serves it as immutable)."""
    return ARCHIVE_PATH.fullmatch(path) is not None


def page_size(feed_size: int) -> int:
    """Items in one archive page: half the feed size, rounded up."""
    return (feed_size + 1) // 2


def new_page_bounds(open_seqs: Sequence[int], feed_size: int) -> list[int]:
    """The last arrival number of each page to close, given the arrival numbers
    (ascending) of the items not in any page yet: while more than ``feed_size`` are
    open, the oldest ``page_size(feed_size)`` make a page."""
    size = page_size(feed_size)
    bounds: list[int] = []
    start = 0
    while len(open_seqs) - start > feed_size:
        start += size
        bounds.append(open_seqs[start - 1])
    return bounds


def pages_holding(seqs: Collection[int], bounds: Sequence[int]) -> set[int]:
    """The pages (1-based) whose runs hold any of the arrival numbers ``seqs``, given
    each page's last arrival number ``bounds``; numbers past the last page are in the
    subscription document, no page."""
    last = bounds[-1] if bounds else 0
    return {bisect.bisect_left(bounds, seq) + 1 for seq in seqs if 0 < seq <= last}


def page_run(bounds: Sequence[int], page: int) -> tuple[int, int]:
    """(after, upto): page ``page`` holds the arrival numbers above ``after``, up to ``upto``."""
    return (bounds[page - 2] if page > 1 else 0), bounds[page - 1]


_ARCHIVE_PARTS = re.compile(r"feeds/((?:all|category/[^/]+))/archive/([1-9][0-9]*)\.[a-z]+")


def archive_page_of(path: str) -> tuple[str, int] | None:
    """(feed key, page number) of the archive document at ``path``, or None for any
    other path: ``feeds/all/archive/3.atom`` → ``("all", 3)``."""
    found = _ARCHIVE_PARTS.fullmatch(path)
    return None if found is None else (found[1], int(found[2]))
