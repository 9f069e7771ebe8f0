"""What a site's feeds are called and where they live: keys, paths, the site snapshot. Pure.

The names and records that the collator makes, the renderers and the web
pages read, and ``feedsvc.publication`` writes to disk. Nothing here reads or
writes a file: it sits below both the pure modules and the publication, so a
pure module needs nothing that writes directories.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from feedsvc.identity import slugify
from feedsvc.models import StoredItem
from feedsvc.outputs import OUTPUT_FORMATS

LATEST_ITEMS = 30
"""How many of the newest items the site snapshot lists (the home page shows them)."""

OPML_PATH = "feeds.opml"
OPML_CONTENT_TYPE = "text/x-opml; charset=utf-8"


ALL = "all"
"""The feed key of the all-items feed."""


def category_key(slug: str) -> str:
    """The feed key of a category: ``"category/<slug>"``."""
    return f"category/{slug}"


def feed_path(key: str, fmt: str) -> str:
    """Path of a feed file inside a publication: ``feeds/all.atom``, ``feeds/category/x.rss``
    (``fmt`` a name in ``feedsvc.outputs.OUTPUT_FORMATS``; the suffix its extension)."""
    return f"feeds/{key}.{OUTPUT_FORMATS[fmt].extension}"


VIEW_CONTENT_TYPE = "text/html; charset=utf-8"


def view_path(key: str) -> str:
    """Path of a feed's page for people (what a browser opening the feed is shown):
    ``feeds/all.html``, ``feeds/category/x.html``."""
    return f"feeds/{key}.html"


@dataclass(frozen=True)
class FeedLink:
    """One feed of the site, as listed on the home page and in the OPML file.

    ``key`` is ``"all"`` or ``"category/<slug>"``; ``item_count`` counts every
    stored item of that feed (not only the ones the feed file holds);
    ``newest`` is the ISO date of its newest item; ``updated`` the feed's own
    ``updated`` time (ISO), from which the feed list's Last-Modified follows.
    """

    key: str
    title: str
    label: str | None
    slug: str | None
    item_count: int
    newest: str | None
    updated: str


@dataclass(frozen=True)
class ItemRecord:
    """One item as its own page shows it. ``date`` is an ISO date.

    ``id`` is the URL-safe id of ``/items/<id>``; ``guid`` the Atom id / RSS guid;
    ``link`` the article's own address when the listing had one; ``feeds`` the
    keys of the feeds the item belongs to.
    """

    id: str
    guid: str
    title: str
    date: str
    category: str | None
    category_slug: str | None
    credit: str | None
    summary: str | None
    link: str | None
    feeds: tuple[str, ...]


def item_record(item: StoredItem, labels: Mapping[str, str]) -> ItemRecord:
    """How ``item`` is shown on pages; ``labels`` gives the label of each category slug
    (a slug it lacks shows the item's own label)."""
    slug = slugify(item.category) if item.category is not None else None
    feeds = (ALL,) if slug is None else (ALL, category_key(slug))
    return ItemRecord(
        id=item.item_id,
        guid=item.guid,
        title=item.title,
        date=item.date.isoformat(),
        category=labels.get(slug, item.category) if slug is not None else None,
        category_slug=slug,
        credit=item.credit,
        summary=item.summary,
        link=item.link,
        feeds=feeds,
    )


@dataclass(frozen=True)
class SiteSnapshot:
    """What the home page needs, published beside the feeds: the site, its feeds, the
    newest items (at most ``LATEST_ITEMS``, newest first) and the number of items
    stored. Item pages read their item from the store by id."""

    title: str
    description: str
    base_url: str
    language: str
    feeds: tuple[FeedLink, ...]
    latest: tuple[ItemRecord, ...]
    item_count: int

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes) -> SiteSnapshot:
        raw = json.loads(data)
        return cls(
            title=raw["title"],
            description=raw["description"],
            base_url=raw["base_url"],
            language=raw["language"],
            feeds=tuple(FeedLink(**f) for f in raw["feeds"]),
            latest=tuple(ItemRecord(**{**i, "feeds": tuple(i["feeds"])}) for i in raw["latest"]),
            item_count=raw["item_count"],
        )
