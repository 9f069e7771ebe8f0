"""The whole-history collation, kept as the tests' reference: what every feed and the
site snapshot must be for a set of items. A refresh builds the same feeds from the
store's indexes, one feed at a time (``feedsvc.collate.feed_spec`` and
``feed_link``); tests compare the two and check the golden collation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from feedsvc.collate import Category, feed_link, feed_spec, site_snapshot
from feedsvc.feeds import ALL, LATEST_ITEMS, SiteSnapshot, category_key, item_record
from feedsvc.identity import slugify
from feedsvc.models import FeedSpec, StoredItem
from feedsvc.settings import SiteSettings


@dataclass(frozen=True)
class Collation:
    """Everything a refresh publishes, before rendering. ``feeds[0]`` is the all-items feed."""

    feeds: tuple[FeedSpec, ...]
    site: SiteSnapshot


def collate(
    items: Sequence[StoredItem], *, site: SiteSettings, known: Sequence[Category] = (),
) -> Collation:
    """The feeds and the site snapshot of ``items`` (any order) under ``site``'s settings.

    Entries are newest first: publication date descending, then listing order
    (``listing_rank``), then key; each feed holds at most ``site.feed_size``
    of them. Categories whose labels slugify alike are one category, shown
    with the label of the item seen first, in feeds and in the snapshot.
    Feeds come "all" first, then categories by slug.

    ``known`` are categories published before (any order). Each one no item
    has any more still gets its feed, with its known label and no entries
    (``updated`` is then ``EMPTY_FEED_UPDATED``; in the snapshot, an
    ``item_count`` of 0 and no ``newest``), so that its subscribers keep a
    working feed rather than a 404. A known category that still has items
    is collated as if it were not known.

    This reads the whole history: the tests' reference for the indexed path.
    """
    ordered = sorted(items, key=_newest_first)
    current = categories_of(items)
    held = {category.slug for category in current}
    gone = {c.slug: c for c in known if c.slug not in held}
    categories = tuple(sorted((*current, *gone.values()), key=lambda c: c.slug))
    members: dict[str, list[StoredItem]] = {ALL: list(ordered)}
    members.update({category.key: [] for category in categories})
    for item in ordered:
        if item.category is not None:
            members.setdefault(category_key(slugify(item.category)), []).append(item)
    labels = {category.slug: category.label for category in categories}
    feed_categories: tuple[tuple[str, Category | None], ...] = (
        (ALL, None), *((category.key, category) for category in categories)
    )
    feeds = [
        feed_spec(category, members[key][: site.feed_size], site, labels)
        for key, category in feed_categories
    ]
    snapshot = site_snapshot(
        site,
        feeds=[
            feed_link(spec, category, len(members[spec.key]),
                      members[spec.key][0].date if members[spec.key] else None)
            for spec, (_, category) in zip(feeds, feed_categories, strict=True)
        ],
        latest=[item_record(item, labels) for item in ordered[:LATEST_ITEMS]],
        item_count=len(ordered),
    )
    return Collation(feeds=tuple(feeds), site=snapshot)


def categories_of(items: Sequence[StoredItem]) -> tuple[Category, ...]:
    """The distinct categories of ``items`` by slug, each labelled as first seen."""
    labels: dict[str, str] = {}
    for item in sorted(items, key=lambda i: (i.first_seen, i.date, i.listing_rank, i.key)):
        if item.category is not None:
            labels.setdefault(slugify(item.category), item.category)
    return tuple(Category(slug=slug, label=labels[slug]) for slug in sorted(labels))


def _newest_first(item: StoredItem) -> tuple[int, int, str]:
    return (-item.date.toordinal(), item.listing_rank, item.key)


