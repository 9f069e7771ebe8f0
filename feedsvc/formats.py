"""Source formats as plug-ins: one ``Format`` entry per listing format.

Each entry says what a format is called, which settings of its own a source
may give (with their defaults, help and checks; ``feedsvc.settings`` turns
them into ``[[sources]]`` options and the README documents them), which
function parses it and whether it has pages ("next" links) or is read
incrementally. ``settings``, ``pipeline`` and the CLI ask this registry; none
of them compares format names. A new format is one parser module (a function
taking a ``ParseRequest``) and one line in ``SOURCE_FORMATS``.

The parser is named (``feedsvc.deferred.Deferred``) and imported when first
used, so that the settings (and with them the web layer) never load a parser.
``auto`` is not a format of its own: ``choose_format`` picks one by the
document's content type and content.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from feedsvc.deferred import Deferred
from feedsvc.errors import ConfigError
from feedsvc.models import ParseResult

__all__ = [
    "AUTO",
    "DATE_ORDERS",
    "HTML_SELECTOR_DEFAULTS",
    "JSON_PATH_KEYS",
    "SOURCE_FORMATS",
    "SOURCE_FORMAT_NAMES",
    "Format",
    "FormatSetting",
    "ParseRequest",
    "choose_format",
    "format_named",
]

AUTO: Final = "auto"
"""The default ``format``: decided per document by ``choose_format``."""

DATE_ORDERS: Final = ("dmy", "mdy", "ymd")
"""How a numeric date such as ``03/04/2021`` is read: day-month-year and so on."""


@dataclass(frozen=True)
class ParseRequest:
    """Everything a format's parse function is given about one document.

    ``options`` holds the format's own settings by key (defaults filled in);
    ``today`` is the fetch date in the site's time zone (relative dates such
    as "2 hours ago" are read against it; None: not known), ``date_order``
    how ambiguous numeric dates are read ("dmy", "mdy" or "ymd").
    """

    text: str
    source: str
    language: str | None = None
    page_url: str | None = None
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    today: dt.date | None = None
    date_order: str = "dmy"


Validator = Callable[[Any, str], Any]
ParseFunction = Callable[[ParseRequest], ParseResult]
"""A format's pure parse function."""


@dataclass(frozen=True)
class FormatSetting:
    """A per-source setting that belongs to one format (``[[sources]]`` key ``key``)."""

    key: str
    default: Any
    help: str
    check: Validator


@dataclass(frozen=True)
class Format:
    """One listing format.

    ``parser`` is the parse function: it takes a ParseRequest and returns a
    ParseResult (pure: no I/O, no clock).
    ``paginates``: the pipeline follows the result's ``next_page`` up to the
    source's ``max_pages``. ``incremental``: the pipeline may read a changed
    listing only down to where it stops changing
    (``feedsvc.listing.incremental``, text listings). ``content_types`` are
    the media types ``auto`` takes as this format.
    """

    name: str
    help: str
    parser: Deferred[ParseFunction]
    settings: tuple[FormatSetting, ...] = ()
    paginates: bool = False
    incremental: bool = False
    content_types: tuple[str, ...] = ()

    def parse(self, request: ParseRequest) -> ParseResult:
        """Parse one document with this format's parser (imported on first use)."""
        return self.parser.get()(request)

    def options(self, given: Mapping[str, Any]) -> Mapping[str, Any]:
        """This format's settings out of ``given`` (a source's), defaults filled in."""
        return MappingProxyType({
            setting.key: given[setting.key] if given.get(setting.key) is not None
            else setting.default
            for setting in self.settings
        })


# --- the formats' own settings ---------------------------------------------------------

# Defaults that fit a newsroom listing page like the bundled samples' own pages:
# the HTML reader falls back on them field by field where it detects nothing.
HTML_SELECTOR_DEFAULTS: Mapping[str, str] = MappingProxyType(
    {
        "item": "article, li.news-item, .views-row",
        "title": "h2, h3, .title",
        "date": "time, .date",
        "category": ".category, .label",
        "summary": "p.summary, .summary, .teaser, p",
        "credit": ".credit, figcaption",
        "link": "a[href]",
        "image": "img[src]",
        "next": "a[rel~=next], .pager-next a, li.next a",
    }
)

JSON_PATH_KEYS: Final = ("items", "title", "date", "link", "summary", "category", "credit",
                         "image")
"""The dotted paths a JSON source may set: ``items`` (the item list, from the
document's top) and each field (from an item)."""

_DOTTED_PATH = re.compile(r"^[^.\s]+(?:\.[^.\s]+)*$")


def _table_of_strings(
    value: Any, key: str, *, known: tuple[str, ...], what: str,
) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ConfigError(f"must be a table of {what}", key=key)
    for name, text in value.items():
        if name not in known:
            raise ConfigError(f"unknown {what.rstrip('s')} {name!r}; known: "
                              f"{', '.join(sorted(known))}", key=f"{key}.{name}")
        if not isinstance(text, str) or not text.strip():
            raise ConfigError("must be a non-empty string", key=f"{key}.{name}")
    return {name: text.strip() for name, text in value.items()}


def _selectors(value: Any, key: str) -> Mapping[str, str]:
    """The selectors the source sets, each checked now rather than at every refresh.
    Only those: a field without one is detected (or read with its default)."""
    from selectolax.lexbor import LexborHTMLParser, SelectolaxError

    chosen = _table_of_strings(value, key, known=tuple(HTML_SELECTOR_DEFAULTS), what="selectors")
    for name, selector in chosen.items():
        try:
            LexborHTMLParser("<p></p>").css(selector)
        except SelectolaxError as exc:
            raise ConfigError(f"is not a CSS selector the parser can read: {exc}",
                              key=f"{key}.{name}") from None
    return MappingProxyType(chosen)


def _json_paths(value: Any, key: str) -> Mapping[str, str]:
    chosen = _table_of_strings(value, key, known=JSON_PATH_KEYS, what="paths")
    for name, path in chosen.items():
        if not _DOTTED_PATH.match(path):
            raise ConfigError(f"must be a dotted path such as \"data.news\", not {path!r}",
                              key=f"{key}.{name}")
    return MappingProxyType(chosen)


def _optional(check: Validator) -> Validator:
    def optional(value: Any, key: str) -> Any:
        return None if value is None or value == "" else check(value, key)

    return optional


def _pages(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
        raise ConfigError(f"must be a whole number from 1 to 100, not {value!r}", key=key)
    return value


# --- the registry ----------------------------------------------------------------------

# The text and html parsers are reached through feedsvc.listing.plugins, which hands
# them the request's today and date_order; json's parser takes the request itself.

SOURCE_FORMATS: Mapping[str, Format] = MappingProxyType({format.name: format for format in (
    Format(
        name="text",
        help="news items under month headings, numbered, bulleted or in blocks",
        parser=Deferred("feedsvc.listing.plugins:read_text"),
        incremental=True,
        content_types=("text/plain",),
    ),
    Format(
        name="html",
        help="an HTML page; items detected, or found with CSS selectors",
        parser=Deferred("feedsvc.listing.plugins:read_html"),
        paginates=True,
        content_types=("text/html", "application/xhtml+xml"),
        settings=(
            FormatSetting(
                "selectors", None,
                "HTML format only: CSS selectors (item, title, date, category, summary, "
                "credit, link, image, next) for the fields detection gets wrong; unset: "
                "every field detected.", _optional(_selectors)),
            FormatSetting("max_pages", 1,
                          "HTML format only: most listing pages followed through \"next\" "
                          "links.", _pages),
        ),
    ),
    Format(
        name="json",
        help="a JSON API (WordPress REST API, JSON Feed, a list of items)",
        parser=Deferred("feedsvc.listing.jsonapi:read_json"),
        content_types=("application/json", "application/feed+json", "text/json"),
        settings=(
            FormatSetting(
                "paths", None,
                "JSON format only: dotted paths to the item list (items) and to each "
                "field in an item (title, date, link, summary, category, credit, image); "
                "unset: common shapes recognised.", _optional(_json_paths)),
        ),
    ),
)})

SOURCE_FORMAT_NAMES: Final = (AUTO, *SOURCE_FORMATS)
"""What a source's ``format`` may be."""


def format_named(name: str) -> Format:
    """The registered format ``name``; a ValueError naming the known ones otherwise."""
    try:
        return SOURCE_FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown listing format {name!r}; known: "
                         f"{', '.join(SOURCE_FORMAT_NAMES)}") from None


# --- auto: choosing by content type and content ------------------------------------------

_SNIFF_BYTES = 4096
_MARKUP = re.compile(
    rb"<(?:!doctype\s+html|html|head|body|main|article|div|section|ul|table|h[1-6]|p|a)\b",
    re.IGNORECASE,
)


def choose_format(name: str, *, content_type: str | None, body: bytes) -> Format:
    """The format to read a document with: ``name`` itself unless it is ``auto``.

    For ``auto``: a document that starts as JSON (``{`` or ``[``) and parses as
    JSON is json whatever its media type (servers label JSON ``text/html``
    often enough, and no HTML page or text listing parses as JSON); else a
    JSON media type (``application/json``, ``+json``) is json and an HTML one
    html; else a document with HTML markup near its top (a doctype,
    ``<html>``, ``<div>``...) is html, anything else text.
    """
    if name != AUTO:
        return format_named(name)
    head = _sniff_prefix(body)
    if head[:1] in (b"{", b"[") and _is_json(body):
        return SOURCE_FORMATS["json"]
    media = (content_type or "").split(";", 1)[0].strip().lower()
    for format in SOURCE_FORMATS.values():
        if media in format.content_types and media != "text/plain":
            return format
    if media.endswith("+json"):
        return SOURCE_FORMATS["json"]
    if _MARKUP.search(head):
        return SOURCE_FORMATS["html"]
    return SOURCE_FORMATS["text"]


def _sniff_prefix(body: bytes) -> bytes:
    """The first few KB of ``body`` as ASCII-compatible bytes, without BOM or leading space."""
    if body.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
        text = body[:_SNIFF_BYTES * 2].decode(encoding, errors="ignore")
        return text.encode("utf-8", errors="ignore").lstrip()[:_SNIFF_BYTES]
    return body.removeprefix(b"\xef\xbb\xbf").lstrip()[:_SNIFF_BYTES]


def _is_json(body: bytes) -> bool:
    try:
        json.loads(body.removeprefix(b"\xef\xbb\xbf"))
    except (ValueError, RecursionError):
        return False
    return True
