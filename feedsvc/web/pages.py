"""What the human pages show, built from the published SiteSnapshot.

Pure: snapshot in, view data out (no Flask, no files, no clock). Addresses
are relative to the application root (``feeds/all.atom``); the templates put
the root in front, so the site works behind a path prefix too.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from babel.core import Locale, UnknownLocaleError
from babel.dates import format_date

from feedsvc.curation import CUSTOM_PREFIX
from feedsvc.feeds import (
    ALL,
    LATEST_ITEMS,
    OPML_PATH,
    FeedLink,
    ItemRecord,
    SiteSnapshot,
    category_key,
    feed_path,
    view_path,
)
from feedsvc.outputs import OUTPUT_FORMATS
from feedsvc.settings import READER_PLACEHOLDER, WebReader

ALL_ITEMS_LABEL = "All items"
PAGE_SIZE = 50
"""Items on one page of a browsable list (``/items``, ``/categories/<slug>``)."""


@dataclass(frozen=True)
class FeedFormat:
    """One format of one feed: its address, MIME type (without charset) and name."""

    fmt: str
    href: str
    mime_type: str
    name: str


@dataclass(frozen=True)
class FeedView:
    """One feed with the addresses of all its formats.

    ``page_href`` is the root-relative address of its page for people (the
    home page for all items, ``categories/<slug>`` for a category, the feed's
    own page ``feeds/custom/<slug>.html`` for a custom feed), ``anchor``
    the id of its row on the home page.
    """

    key: str
    title: str
    label: str
    item_count: int
    newest: str | None
    newest_text: str | None
    formats: tuple[FeedFormat, ...]
    page_href: str
    anchor: str


@dataclass(frozen=True)
class ReaderLink:
    """"Open in" a web feed reader: its name and the address that subscribes to a feed."""

    name: str
    href: str


@dataclass(frozen=True)
class Subscribe:
    """How to subscribe to one feed: its absolute addresses (Atom first) to copy, and
    links that subscribe in web feed readers (to the Atom address)."""

    label: str
    addresses: tuple[tuple[str, str], ...]
    readers: tuple[ReaderLink, ...]

    @property
    def address(self) -> str:
        return self.addresses[0][1]


@dataclass(frozen=True)
class Pager:
    """Where one page of a paged list is: page ``number`` of ``last`` (1-based), and
    the root-relative addresses of the pages before and after it (None at the ends)."""

    number: int
    last: int
    previous_href: str | None
    next_href: str | None


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
    subscribe: Subscribe | None
    item_count: int
    items_href: str
    custom: tuple[FeedView, ...] = ()
    """The operator's own feeds (``[[feeds]]``), in the settings' order."""


@dataclass(frozen=True)
class ListPage:
    """A paged list of items, newest first: ``/items?page=N`` (every item, ``feed`` the
    all-items feed) or ``/categories/<slug>?page=N`` (``feed`` the category's feed).
    ``subscribe`` says how to subscribe to ``feed``."""

    site_title: str
    title: str
    language: str
    feed: FeedView
    subscribe: Subscribe
    items: tuple[ItemView, ...]
    pager: Pager


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


ITEMS_HREF = "items"


def home_page(
    site: SiteSnapshot, *, latest: int = LATEST_ITEMS, readers: Sequence[WebReader] = (),
) -> HomePage:
    """The home page's content; categories sorted by name, items newest first; how to
    subscribe to the all-items feed, with "open in" links for ``readers``."""
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
        subscribe=subscribe(site, views[ALL], readers) if ALL in views else None,
        item_count=site.item_count,
        items_href=ITEMS_HREF,
    )


def subscribe(site: SiteSnapshot, feed: FeedView, readers: Sequence[WebReader]) -> Subscribe:
    """How to subscribe to ``feed``: its absolute addresses, and a link for each reader
    (the reader's template with the Atom address percent-encoded for ``{url}``)."""
    addresses = tuple((f.name, site.base_url + f.href) for f in feed.formats)
    atom = addresses[0][1]
    return Subscribe(
        label=feed.label,
        addresses=addresses,
        readers=tuple(
            ReaderLink(reader.name, reader.url.replace(READER_PLACEHOLDER, quote(atom, safe="")))
            for reader in readers
        ),
    )


def page_count(item_count: int) -> int:
    """How many pages of ``PAGE_SIZE`` a list of ``item_count`` items has (at least one)."""
    return max(1, math.ceil(item_count / PAGE_SIZE))


def list_page(
    site: SiteSnapshot, slug: str | None, number: int, items: Sequence[ItemRecord],
    readers: Sequence[WebReader] = (),
) -> ListPage | None:
    """Page ``number`` of the items of category ``slug`` (None: every item), holding
    ``items`` (that page's, newest first); None when there is no such category or page."""
    key = ALL if slug is None else category_key(slug)
    link = next((link for link in site.feeds if link.key == key), None)
    if link is None:
        return None
    last = page_count(link.item_count)
    if not 1 <= number <= last:
        return None
    feed = feed_view(link, site.language)
    base = ITEMS_HREF if slug is None else feed.page_href

    def href(page: int) -> str:
        return base if page == 1 else f"{base}?page={page}"

    title = "All items" if slug is None else feed.label
    return ListPage(
        site_title=site.title,
        title=title if number == 1 else f"{title} (page {number} of {last})",
        language=site.language,
        feed=feed,
        subscribe=subscribe(site, feed, readers),
        items=tuple(item_view(item, site.language) for item in items),
        pager=Pager(number=number, last=last,
                    previous_href=href(number - 1) if number > 1 else None,
                    next_href=href(number + 1) if number < last else None),
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
                mime_type=output.media_type,
                name=output.label,
            )
            for fmt, output in OUTPUT_FORMATS.items()
        ),
        page_href=_page_href(link),
        anchor="all-items" if link.slug is None else f"category-{link.slug}",
    )


def _page_href(link: FeedLink) -> str:
    """The feed's page for people: the home page (all items), its category's page, or,
    for a custom feed, which has no page of its own, the feed's page (its entries)."""
    if link.key.startswith(CUSTOM_KEY_PREFIX):
        return view_path(link.key)
    return "" if link.slug is None else f"categories/{link.slug}"


CUSTOM_KEY_PREFIX = "custom/"


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
