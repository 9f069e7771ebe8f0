"""From the stored history to what gets published: feeds and the site snapshot. Pure.

``collate`` makes one ``FeedSpec`` for all items (key ``"all"``) and one per
category (key ``"category/<slug>"``), plus the ``SiteSnapshot`` the human
pages read. A category once published keeps its feed (empty when its items
moved elsewhere): the caller passes the categories published before.
Nothing here looks at the clock: every time in the output comes from the
items, so the same items (and known categories) always give the same feeds.

Stable names, documented because readers keep them:
- feed id: ``"urn:uuid:"`` + uuid5(``identity.FEEDSVC_NAMESPACE``, base_url + key);
- feed address: base_url + ``"feeds/<key>.<fmt>"``;
- home page: base_url (all items) or base_url + ``"categories/<slug>"``, the
  category's own page;
- entry link: the article's address when the listing had one, else
  base_url + ``"items/<item_id>"``.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from feedsvc.curation import NO_RULES, CategoryRules, FeedFilter
from feedsvc.feeds import (
    ALL,
    FeedLink,
    ItemRecord,
    SiteSnapshot,
    category_key,
    feed_path,
)
from feedsvc.identity import feed_guid, slugify
from feedsvc.models import Entry, FeedSpec, StoredItem
from feedsvc.outputs import OUTPUT_FORMATS
from feedsvc.settings import SiteSettings

EMPTY_FEED_UPDATED = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
"""The ``updated`` of a feed with no entries: a constant, so that it never changes."""


@dataclass(frozen=True)
class Category:
    """One category: its slug and the label shown for it (the first one seen)."""

    slug: str
    label: str

    @property
    def key(self) -> str:
        return category_key(self.slug)


def site_snapshot(
    site: SiteSettings, *, feeds: Sequence[FeedLink], latest: Sequence[ItemRecord],
    item_count: int,
) -> SiteSnapshot:
    """What the human pages show: the site, its feeds ("all" first, then categories by
    slug), the newest items and how many items there are in all."""
    return SiteSnapshot(
        title=site.title,
        description=site.description,
        base_url=site.base_url,
        language=site.language,
        feeds=tuple(feeds),
        latest=tuple(latest),
        item_count=item_count,
    )


def feed_spec(
    category: Category | None, entries_of: Sequence[StoredItem], site: SiteSettings,
    labels: Mapping[str, str], *, rules: CategoryRules = NO_RULES,
    hubs: Sequence[str] = (), custom: FeedFilter | None = None,
) -> FeedSpec:
    """The all-items feed (``category`` None) or a category's feed, holding the items
    ``entries_of`` (its newest, newest first, at most ``site.feed_size``).
    ``labels`` gives the label shown for each category slug of those items;
    ``rules`` the category each item is published under. ``hubs`` are the
    WebSub hubs the feed names. With ``custom``, the custom feed it defines."""
    zone = zoneinfo.ZoneInfo(site.timezone)
    key = ALL if category is None else category.key
    entries = tuple(_entry(item, site, zone, labels, rules) for item in entries_of)
    updated = max((e.updated for e in entries), default=EMPTY_FEED_UPDATED.astimezone(zone))
    if category is None:
        title = site.title
        subtitle = site.description or site.title
        home = site.base_url
    else:
        title = f"{site.title}: {category.label}"
        subtitle = f"{site.title}, items in the category {category.label}"
        home = f"{site.base_url}categories/{category.slug}"
    if custom is not None:
        key, title = custom.key, f"{site.title}: {custom.settings.title}"
        subtitle = f"{site.title}, {custom.settings.title}"
        home = f"{site.base_url}#custom-{custom.settings.slug}"
    return FeedSpec(
        key=key,
        feed_id=feed_guid(site.base_url, key),
        title=title,
        subtitle=subtitle,
        home_url=home,
        self_urls={fmt: site.base_url + feed_path(key, fmt) for fmt in OUTPUT_FORMATS},
        language=feed_language(entries, site),
        author=site.author or site.title,
        updated=updated,
        entries=entries,
        hubs=tuple(hubs),
    )


DATE_ONLY_TIME = dt.time(11, 30, tzinfo=dt.UTC)
"""When a listed day is published: 11:30 UTC, the middle of the one hour (11:00 to
12:00 UTC) that is that day on every clock from UTC-11 to UTC+12, so every reader
there shows the listed day."""


def published_at(day: dt.date, zone: dt.tzinfo) -> dt.datetime:
    """The publication time of an item listed on ``day``: ``DATE_ONLY_TIME`` on that
    day, written in ``zone`` (the site's) when that is still the same day there,
    else in UTC (a site at UTC+13 or UTC-12)."""
    moment = dt.datetime.combine(day, DATE_ONLY_TIME)
    try:
        local = moment.astimezone(zone)
    except OverflowError:  # the ends of the calendar: UTC is the same instant
        return moment
    return local if local.date() == day else moment


def _entry(
    item: StoredItem, site: SiteSettings, zone: zoneinfo.ZoneInfo, labels: Mapping[str, str],
    rules: CategoryRules = NO_RULES,
) -> Entry:
    slug = rules.canonical(slugify(item.category) if item.category is not None else None)
    published = published_at(item.date, zone)
    # The store makes ``updated`` unique per item and changes it only when the
    # item changes; used as is, no two entries share it and edits move only
    # the edited entry. It may precede ``published`` for a listing dated ahead.
    updated = item.updated.astimezone(zone)
    return Entry(
        guid=item.guid,
        item_id=item.item_id,
        title=item.title,
        published=published,
        updated=updated,
        category=labels.get(slug, rules.labels.get(slug, item.category))
        if slug is not None else None,
        category_slug=slug,
        credit=item.credit,
        summary=item.summary,
        link=item.link or f"{site.base_url}items/{item.item_id}",
        image=item.image,
        language=item.language or site.language,
    )


def feed_language(entries: Sequence[Entry], site: SiteSettings) -> str:
    """The language all of ``entries`` share (their sources'), else the site's."""
    languages = {entry.language or site.language for entry in entries}
    return languages.pop() if len(languages) == 1 else site.language


def feed_link(
    spec: FeedSpec, category: Category | None, item_count: int, newest: dt.date | None,
) -> FeedLink:
    """How the home page and the OPML list the feed ``spec``: ``item_count`` items in
    all, the newest dated ``newest``."""
    return FeedLink(
        key=spec.key,
        title=spec.title,
        label=category.label if category is not None else None,
        slug=category.slug if category is not None else None,
        item_count=item_count,
        newest=newest.isoformat() if newest is not None else None,
        updated=spec.updated.isoformat(),
    )
