"""What merging one listing into the store changes, decided without the database. Pure.

``plan_merge`` takes the listing and what the store holds for the listing's
keys, and says which items are new, which changed, which only moved, which
links between the source and its items to write, and which feeds that
touches. ``free_seconds`` hands out the unique ``updated`` seconds. The store
(``feedsvc.store.items``) reads the inputs with a few set-based queries and
applies the plan with bulk statements.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from feedsvc.identity import item_key, slugify
from feedsvc.models import ListingItem

CONTENT_FIELDS = ("title", "category", "credit", "summary", "link", "image")
"""What a listing says about an item (besides its date, part of its key)."""


@dataclass(frozen=True, slots=True)
class StoredRow:
    """What the store holds of one item, as far as merging needs it."""

    key: str
    title: str
    category: str | None
    credit: str | None
    summary: str | None
    link: str | None
    image: str | None
    listing_rank: int

    def field(self, name: str) -> object:
        return getattr(self, name)


@dataclass(frozen=True, slots=True)
class NewItem:
    """An item the store has never seen, with its rank and its content hash."""

    key: str
    item: ListingItem
    rank: int
    content_hash: str


@dataclass(frozen=True, slots=True)
class ItemChange:
    """A stored item this listing changes: ``fields`` (content fields with their new
    values; empty when only its rank moved) and ``rank``."""

    key: str
    fields: Mapping[str, object]
    rank: int


@dataclass(frozen=True, slots=True)
class MergePlan:
    """Everything one merge writes. Lists are in listing order.

    ``needs_second`` are the keys that get a new ``updated`` second (new items
    and items whose content changed), top of the listing first.
    ``links_new``/``links_changed`` are (key, content hash) pairs of the
    source's links to its items. ``touched_slugs`` are the categories whose
    feeds may change (old and new category of a changed item); ``touched``
    says whether any feed may change at all.
    """

    found: int
    new: tuple[NewItem, ...]
    changes: tuple[ItemChange, ...]
    needs_second: tuple[str, ...]
    links_new: tuple[tuple[str, str], ...]
    links_changed: tuple[tuple[str, str], ...]
    duplicates: tuple[ListingItem, ...]
    touched_slugs: frozenset[str]

    @property
    def touched(self) -> bool:
        return bool(self.new or self.changes)

    @property
    def updated_count(self) -> int:
        return sum(1 for change in self.changes if change.fields)


def content_hash(item: ListingItem) -> str:
    """Fingerprint of what a listing says about an item, to notice when it changes.

    Each field is written with its length (absent: ``-``), so no two different
    listings of an item write the same text.
    """
    data = "".join("-" if value is None else f"{len(value)}:{value}"
                   for value in (item.title, item.category, item.credit, item.summary,
                                 item.link, item.image))
    return hashlib.sha256(data.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def first_of_each_key(
    listing: Sequence[ListingItem], keys: Sequence[str] | None = None,
) -> tuple[dict[str, ListingItem], tuple[ListingItem, ...]]:
    """Items by key in listing order, each where first listed; and the later items
    of a key that say something different from the first. Exact repeats (a
    paginated listing showing an item twice) are dropped silently. ``keys`` are
    the items' keys when the caller has them already."""
    if keys is None:
        keys = [item_key(item.date, item.title) for item in listing]
    unique: dict[str, ListingItem] = {}
    duplicates: list[ListingItem] = []
    for key, item in zip(keys, listing, strict=True):
        first = unique.setdefault(key, item)
        if first is not item and _listed_fields(first) != _listed_fields(item):
            duplicates.append(item)
    return unique, tuple(duplicates)


def _listed_fields(item: ListingItem) -> tuple[object, ...]:
    # What the listing says, not where (``line`` differs between any two entries).
    return tuple(getattr(item, name) for name in CONTENT_FIELDS)


def listing_ranks(items: Iterable[ListingItem]) -> list[int]:
    """Each item's rank: its position among the listing's items of the same date,
    from the top (0 first).

    Only items of one date are ever ordered by rank, so counting within a date
    keeps every other item's rank when an item is added at the top of a
    listing or drops off its bottom: such a refresh rewrites no ranks.
    """
    seen: dict[dt.date, int] = {}
    ranks = []
    for item in items:
        rank = seen.get(item.date, 0)
        seen[item.date] = rank + 1
        ranks.append(rank)
    return ranks


def plan_merge(
    unique: Mapping[str, ListingItem],
    stored: Mapping[str, StoredRow],
    said: Mapping[str, str],
    *,
    duplicates: Sequence[ListingItem] = (),
) -> MergePlan:
    """The plan for merging ``unique`` (key → item, listing order, see
    ``first_of_each_key``) into a store that holds ``stored`` (key → row, for
    the listing's keys it knows) and in which this source last said ``said``
    (key → content hash) about its items.

    A new item is inserted. A known item is changed only when this source
    says something different about it than it said last time (so two
    listings describing one item differently do not undo each other on every
    refresh); then every field the listing gives that differs from the stored
    one is replaced (a field the listing leaves empty keeps its value), and
    the item gets a new ``updated`` second if any field changed. An item
    whose rank moved is changed too, without a new second. Items absent from
    the listing are not in the plan: they stay as they are.
    """
    new: list[NewItem] = []
    changes: list[ItemChange] = []
    needs_second: list[str] = []
    links_new: list[tuple[str, str]] = []
    links_changed: list[tuple[str, str]] = []
    touched: set[str] = set()
    ranks = listing_ranks(unique.values())
    for (key, item), rank in zip(unique.items(), ranks, strict=True):
        fingerprint = content_hash(item)
        previous = said.get(key)
        if previous is None:
            links_new.append((key, fingerprint))
        elif previous != fingerprint:
            links_changed.append((key, fingerprint))
        row = stored.get(key)
        if row is None:
            new.append(NewItem(key, item, rank, fingerprint))
            needs_second.append(key)
            _touch(touched, item.category)
            continue
        fields: dict[str, object] = {}
        if previous != fingerprint:
            fields = {
                name: getattr(item, name) for name in CONTENT_FIELDS
                if getattr(item, name) is not None and getattr(item, name) != row.field(name)
            }
        if fields:
            needs_second.append(key)
            _touch(touched, row.category)
            _touch(touched, item.category)
        if fields or row.listing_rank != rank:
            changes.append(ItemChange(key, fields, rank))
            _touch(touched, row.category)
    return MergePlan(
        found=len(unique), new=tuple(new), changes=tuple(changes),
        needs_second=tuple(needs_second), links_new=tuple(links_new),
        links_changed=tuple(links_changed), duplicates=tuple(duplicates),
        touched_slugs=frozenset(touched),
    )


def _touch(touched: set[str], category: str | None) -> None:
    if category is not None:
        touched.add(slugify(category))


def free_seconds(now: dt.datetime, count: int, taken: Iterable[dt.datetime]) -> list[dt.datetime]:
    """``count`` whole seconds at or before ``now`` that are not ``taken``, latest first.

    Feed entries use an item's ``updated`` as is, so no two items may share
    one; handed out in listing order, the top item gets the latest.
    """
    used = set(taken)
    moment = now.replace(microsecond=0)
    seconds: list[dt.datetime] = []
    while len(seconds) < count:
        if moment not in used:
            seconds.append(moment)
        moment -= dt.timedelta(seconds=1)
    return seconds
