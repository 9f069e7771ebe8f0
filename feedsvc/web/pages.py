"""What the human pages show, built from the published SiteSnapshot.

Pure: snapshot in, view data out (no Flask, no files, no clock). Addresses
are relative to the application root (``feeds/all.atom``); the templates put
the root in front, so the site works behind a path prefix too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from babel.core import Locale, UnknownLocaleError
from babel.dates import format_date

from feedsvc.curation import CUSTOM_PREFIX
from feedsvc.publication import (
    ALL,
    FEED_FORMATS,
    LATEST_ITEMS,
    OPML_PATH,
    FeedLink,
    ItemRecord,
    SiteSnapshot,
    feed_path,
)

ALL_ITEMS_LABEL = "All items"
FORMAT_NAMES: Mapping[str, str] = {"atom": "Atom", "rss": "RSS", "json": "JSON Feed"}


@dataclass(frozen=True)
class FeedFormat:
    """One format of one feed: its address, MIME type (without charset) and name."""

    fmt: str
    href: str
    mime_type: str
    name: str


@dataclass(frozen=True)
class FeedView:
    """One feed with the addresses of all its formats."""

    key: str
    title: str
    label: str
    item_count: int
    newest: str | None
    newest_text: str | None
    formats: tuple[FeedFormat, ...]


@dataclass(frozen=True)
class ItemView:
    """One item, ready for a template; ``date_text`` is the date in the site's language."""

    href: str
    title: str
    date: str
    date_text: str
    category: str | None
    credit: str | None
    summary: str | None
    link: str | None


@dataclass(frozen=True)
class HomePage:
    """``/``: the site, the all-items feed, every category feed and the latest items."""

    title: str
    description: str
    language: str
    opml_href: str
    all_feed: FeedView | None
    categories: tuple[FeedView, ...]
    latest: tuple[ItemView, ...]
    custom: tuple[FeedView, ...] = ()
    """The operator's own feeds (``[[feeds]]``), in the settings' order."""


@dataclass(frozen=True)
class ItemPage:
    """``/items/<id>``: one item and the feeds it appears in."""

    site_title: str
    language: str
    item: ItemView
    feeds: tuple[FeedView, ...]


def item_href(item_id: str) -> str:
    """Root-relative address of an item's page."""
    return f"items/{item_id}"


def home_page(site: SiteSnapshot, *, latest: int = LATEST_ITEMS) -> HomePage:
    """The home page's content; categories sorted by name, items newest first."""
    views = {link.key: feed_view(link, site.language) for link in site.feeds}
    categories = sorted(
        (view for key, view in views.items() if key != ALL and not key.startswith(CUSTOM_PREFIX)),
        key=lambda view: view.label.casefold(),
    )
    return HomePage(
        title=site.title,
        description=site.description,
        language=site.language,
        opml_href=OPML_PATH,
        all_feed=views.get(ALL),
        categories=tuple(categories),
        latest=tuple(item_view(item, site.language) for item in site.latest[:latest]),
        custom=tuple(view for key, view in views.items() if key.startswith(CUSTOM_PREFIX)),
    )


def item_page(site: SiteSnapshot, item: ItemRecord) -> ItemPage:
    """The item's page; its feeds in the order the item lists them, unknown keys skipped."""
    links = {link.key: link for link in site.feeds}
    return ItemPage(
        site_title=site.title,
        language=site.language,
        item=item_view(item, site.language),
        feeds=tuple(feed_view(links[key], site.language) for key in item.feeds if key in links),
    )


def feed_view(link: FeedLink, language: str) -> FeedView:
    return FeedView(
        key=link.key,
        title=link.title,
        label=link.label or (ALL_ITEMS_LABEL if link.key == ALL else link.title),
        item_count=link.item_count,
        newest=link.newest,
        newest_text=readable_date(link.newest, language) if link.newest else None,
        formats=tuple(
            FeedFormat(
                fmt=fmt,
                href=feed_path(link.key, fmt),
                mime_type=content_type.split(";")[0],
                name=FORMAT_NAMES[fmt],
            )
            for fmt, content_type in FEED_FORMATS.items()
        ),
    )


def item_view(item: ItemRecord, language: str) -> ItemView:
    return ItemView(
        href=item_href(item.id),
        title=item.title,
        date=item.date,
        date_text=readable_date(item.date, language),
        category=item.category,
        credit=item.credit,
        summary=item.summary,
        link=item.link,
    )


def readable_date(iso_date: str, language: str) -> str:
    """``2021-01-27`` as a person reads it in ``language``; the ISO text when unreadable."""
    try:
        day = dt.date.fromisoformat(iso_date[:10])
        return format_date(day, format="long", locale=Locale.parse(language, sep="-"))
    except (ValueError, UnknownLocaleError):
        return iso_date
