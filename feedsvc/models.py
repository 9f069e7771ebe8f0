"""The data that flows through the pipeline: plain frozen dataclasses, no behaviour."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ListingItem:
    """One news item as read from a listing, before it is stored.

    ``line`` is the 1-based line (text listings) or element ordinal (HTML)
    where the item starts, for messages. ``link`` and ``image`` are absolute
    URLs when the listing has them (HTML listings), else None.
    """

    title: str
    date: dt.date
    category: str | None
    credit: str | None
    summary: str | None
    line: int = 0
    link: str | None = None
    image: str | None = None


@dataclass(frozen=True)
class ParseWarning:
    """Something in a listing that was skipped or doubtful, with where it is.

    ``line`` is 1-based; 0 means the whole document (an encoding guess, say).
    """

    source: str
    line: int
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{self.source}: {where}{self.message}"


@dataclass(frozen=True)
class ParseResult:
    """What a listing parser returns: the items in listing order, and warnings."""

    items: tuple[ListingItem, ...]
    warnings: tuple[ParseWarning, ...]
    next_page: str | None = None
    """HTML listings: absolute URL of the listing's next page, if it has one."""
    selectors_used: Mapping[str, str] | None = None
    language: str | None = None
    """The language the document says it is in (HTML: the page's ``lang``), when it
    says so; a source without a configured language takes it for its items."""


@dataclass(frozen=True, slots=True)
class StoredItem:
    """One item as the store remembers it.

    ``listing_rank`` orders items of the same date (lower first): the item's
    position among its date's items in the listing that last showed it.
    """

    key: str
    guid: str
    item_id: str
    title: str
    date: dt.date
    category: str | None
    credit: str | None
    summary: str | None
    link: str | None
    image: str | None
    first_seen: dt.datetime
    updated: dt.datetime
    listing_rank: int
    language: str | None = None
    """The language of the source that first listed it (RFC 5646); None: unknown."""
    archive_seq: int = 0
    """The item's place in arrival order (1 for the first item ever stored): which
    archive page of a feed it belongs to (see ``feedsvc.archive``)."""


@dataclass(frozen=True)
class ListingSnapshot:
    """A text listing as last read: its text, the language its dates were read in,
    how many distinct items it listed, and the parser's warnings (line-numbered).

    ``plain`` says the text had nothing the parser strips document-wide
    (characters XML forbids, carriage returns); ``repeats`` that some item was
    listed twice. The next read of the listing builds on it (see
    ``feedsvc.listing.incremental``).
    """

    text: str
    language: str
    item_count: int
    warnings: tuple[ParseWarning, ...]
    plain: bool
    repeats: bool


@dataclass(frozen=True)
class Entry:
    """One feed entry, ready to render. Times are timezone-aware, in the site's zone.

    ``guid`` is the Atom id / RSS guid (never changes once published);
    ``item_id`` the URL-safe id of the item's page; ``link`` the absolute URL
    the entry points at (the article when known, else the item's page here).
    """

    guid: str
    item_id: str
    title: str
    published: dt.datetime
    updated: dt.datetime
    category: str | None
    category_slug: str | None
    credit: str | None
    summary: str | None
    link: str
    image: str | None = None
    language: str | None = None
    """The entry's language (RFC 5646) when known; written as the entry's own."""


@dataclass(frozen=True)
class FeedSpec:
    """Everything one feed says, in every format; rendering is a pure function of it.

    ``key`` is ``"all"`` or ``"category/<slug>"``; ``self_urls`` maps each
    format ("atom", "rss", "json") to the feed's own absolute URL; ``updated``
    is the newest entry's ``updated`` (never the clock). Entries newest first.
    ``hubs`` are the WebSub hubs the feed names (``rel="hub"``).
    """

    key: str
    feed_id: str
    title: str
    subtitle: str
    home_url: str
    self_urls: dict[str, str]
    language: str
    author: str
    updated: dt.datetime
    entries: tuple[Entry, ...]
    hubs: tuple[str, ...] = ()
    prev_archive_urls: dict[str, str] | None = None
    """Each format's URL of the archive document holding the entries just older than
    these (RFC 5005 ``prev-archive``; JSON Feed ``next_url``); None: there are none."""
    current_urls: dict[str, str] | None = None
    """Set on an archive document only: each format's URL of the feed's subscription
    document (RFC 5005 ``current``)."""
    next_archive_urls: dict[str, str] | None = None
    """Set on an archive document only: each format's URL of the archive page that comes
    after it (RFC 5005 ``next-archive``), known before that page exists, so that the
    document never changes."""

    @property
    def is_archive(self) -> bool:
        """True for an archive document (RFC 5005), whose entries never change."""
        return self.current_urls is not None


@dataclass(frozen=True)
class Validators:
    """What a conditional GET sends back: the last ETag and Last-Modified seen."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class Fetched:
    """One fetched document.

    ``url`` is the final address after redirects (or the file path);
    ``charset`` the one the server declared, if any; ``body`` is None exactly
    when ``not_modified`` is True. ``content_type`` is the declared media type
    (``text/html``), without parameters; None for files.
    """

    url: str
    body: bytes | None
    validators: Validators
    charset: str | None = None
    not_modified: bool = False
    content_type: str | None = None
