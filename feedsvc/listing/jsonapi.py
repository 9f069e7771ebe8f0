"""Reading JSON APIs: a list of news items in a JSON document. Pure: text in, items out.

Where the items are and what each field is called is said by dotted paths
(a source's ``paths``: ``items = "data.news"``, ``title = "title.rendered"``;
a number steps into a list: ``categories.0.name``). Without them, the
common shapes are recognised:

- the item list: the document itself when it is a list; else the first
  list of objects under ``items``, ``data``, ``posts``, ``results``,
  ``news``, ``articles`` or ``entries`` (also one level down, as in
  ``data.items``). JSON Feed 1.1 documents have theirs under ``items``.
- each field: the first of its usual names that the item has, such as the
  WordPress REST API's ``title.rendered``, ``date``, ``link`` and
  ``excerpt.rendered``, or JSON Feed's ``title``, ``date_published``,
  ``url`` and ``summary`` (see ``FIELD_CANDIDATES``).

HTML in a field is reduced to text (entities decoded, inline elements joined
as a browser shows them, paragraphs of a summary separated by a blank line).
Dates are read from ISO 8601 (``2021-01-27T10:00:00``: the date as written),
RFC 822 (``Wed, 27 Jan 2021 10:00:00 GMT``), Unix times, numeric dates in the
source's ``date_order`` and written dates in the source's language. Items
without a title or a readable date are skipped with a warning that names
the item's ordinal (its ``line``) and its path in the document.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import html
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

from feedsvc.formats import ParseRequest
from feedsvc.listing.dates import detect_language, read_date
from feedsvc.listing.warnings import WarningLog
from feedsvc.models import ListingItem, ParseResult, ParseWarning
from feedsvc.xmlchars import strip_xml_forbidden

__all__ = ["FIELD_CANDIDATES", "ITEM_LIST_KEYS", "parse_json_listing", "read_json"]

ITEM_LIST_KEYS = ("items", "data", "posts", "results", "news", "articles", "entries")
"""Where the item list is looked for when no ``items`` path is set, in this order."""

FIELD_CANDIDATES: Mapping[str, tuple[str, ...]] = {
    "title": ("title.rendered", "title", "headline", "name"),
    "date": ("date_published", "date", "published_at", "published", "pubDate",
             "datePublished", "publish_date", "created_at", "created", "date_modified"),
    "link": ("link", "url", "permalink", "external_url", "href"),
    "summary": ("excerpt.rendered", "summary", "excerpt", "description", "teaser", "abstract",
                "content_text", "content_html", "content.rendered", "content", "body"),
    "category": ("category.name", "category", "section.name", "section", "categories.0.name",
                 "categories.0", "tags.0.name", "tags.0"),
    "credit": ("credit", "image_credit", "photo_credit", "image.credit", "image.copyright"),
    "image": ("image.url", "image.src", "image", "image_url", "featured_image", "thumbnail",
              "banner_image", "jetpack_featured_media_url"),
}
"""Each field's usual names, tried in order when the source sets no path for it."""

_INLINE_FIELDS = ("title", "category", "credit")
_ISO_DATE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})(?:$|[T\s])")
_NUMERIC_DATE = re.compile(r"^\s*(\d{1,4})[./-](\d{1,2})[./-](\d{1,4})\s*$")
_CREDIT_MARK = re.compile(r"^(?:©|\(c\)|copyright\b)\s*", re.IGNORECASE)


def read_json(request: ParseRequest) -> ParseResult:
    """The format registry's entry point: ``parse_json_listing`` with the request's
    ``paths`` option."""
    return parse_json_listing(
        request.text, source=request.source, language=request.language,
        page_url=request.page_url, paths=request.options.get("paths"),
        today=request.today, date_order=request.date_order,
    )


def parse_json_listing(
    text: str,
    *,
    source: str,
    language: str | None = None,
    page_url: str | None = None,
    paths: Mapping[str, str] | None = None,
    today: dt.date | None = None,
    date_order: str = "dmy",
) -> ParseResult:
    """The items of a JSON document, in document order, and what was skipped.

    ``paths`` are the source's dotted paths (any left out are recognised);
    links and images resolve against ``page_url`` and only http(s) ones are
    kept. ``today`` is the fetch date (unused by the formats read here, which
    are absolute). Never raises: a document that is not JSON, or has no item
    list, is an empty result whose warning says why.
    """
    del today  # JSON APIs write absolute dates; kept for the parsers' common signature
    given = dict(paths or {})
    try:
        document = json.loads(text)
    except ValueError as exc:
        return _nothing(source, f"not valid JSON: {exc}")
    except RecursionError:
        return _nothing(source, "JSON nested too deeply to read")
    found = _item_list(document, given.get("items"))
    if isinstance(found, str):
        return _nothing(source, found)
    where, entries = found
    raws = [_raw_item(entry, given) if isinstance(entry, dict) else None for entry in entries]
    date_language = language or detect_language(
        raw["date"] for raw in raws if raw is not None and isinstance(raw["date"], str))
    items: list[ListingItem] = []
    warnings = WarningLog(source)
    for ordinal, raw in enumerate(raws, 1):
        path = f"{where}[{ordinal - 1}]"
        if raw is None:
            warnings.warn(ordinal, f"item {ordinal} ({path}) is not an object; skipped")
            continue
        item = _to_item(raw, ordinal, date_language, date_order, page_url)
        if isinstance(item, str):
            warnings.warn(ordinal, f"item {ordinal} ({path}){item}; skipped")
        else:
            items.append(item)
    if not items and entries:
        return ParseResult(items=(), warnings=(*warnings.warnings(), ParseWarning(
            source, 0, f"none of the {len(entries)} items at {where} has both a title and a "
                       "date (set paths.title and paths.date)")))
    return ParseResult(items=tuple(items), warnings=warnings.warnings())


def _nothing(source: str, why: str) -> ParseResult:
    return ParseResult(items=(), warnings=(ParseWarning(source, 0, why),))


# --- finding things ---


def _step(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        return value.get(key)
    if isinstance(value, list) and key.isdigit():
        index = int(key)
        return value[index] if index < len(value) else None
    return None


def lookup(value: Any, path: str) -> Any:
    """What the dotted ``path`` leads to in ``value`` (None when it leads nowhere)."""
    for key in path.split("."):
        value = _step(value, key)
        if value is None:
            return None
    return value


def _item_list(document: Any, path: str | None) -> tuple[str, list[Any]] | str:
    """(where, the item list), or why there is none."""
    if path is not None:
        found = lookup(document, path)
        if isinstance(found, list):
            return path, found
        what = "nothing" if found is None else f"a {type(found).__name__}, not a list"
        return f"paths.items {path!r} leads to {what}"
    if isinstance(document, list):
        return "$", document
    if isinstance(document, dict):
        for where in _candidate_lists(document):
            found = lookup(document, where)
            if isinstance(found, list) and any(isinstance(entry, dict) for entry in found):
                return where, found
        for where in _candidate_lists(document):
            if isinstance(lookup(document, where), list):
                return where, []
    return "no list of items found in the document (set paths.items to its dotted path)"


def _candidate_lists(document: Mapping[str, Any]) -> Iterator[str]:
    yield from ITEM_LIST_KEYS
    for outer in ITEM_LIST_KEYS:
        if isinstance(document.get(outer), dict):
            for inner in ITEM_LIST_KEYS:
                yield f"{outer}.{inner}"


def _raw_item(entry: Mapping[str, Any], paths: Mapping[str, str]) -> dict[str, Any]:
    """Each field's raw value in ``entry``: at its configured path, else the first
    usual name that gives something."""
    raw: dict[str, Any] = {}
    for name, candidates in FIELD_CANDIDATES.items():
        if name in paths:
            raw[name] = _usable(lookup(entry, paths[name]))
            continue
        # A number found by guessing is a date (Unix time) or an id (WordPress
        # category ids): taken for dates only.
        values = (_usable(lookup(entry, path)) for path in candidates)
        raw[name] = next((value for value in values if value is not None
                          and (name == "date" or not isinstance(value, int | float))), None)
    return raw


def _usable(value: Any) -> Any:
    """``value`` if a field can be read from it: a string, a number or an object with
    ``rendered``/``url``/``name`` text; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, dict):
        for key in ("rendered", "url", "name", "text"):
            inner = value.get(key)
            if isinstance(inner, str):
                return inner
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, int | float):
        return value
    return None


# --- fields ---


def _to_item(
    raw: Mapping[str, Any], ordinal: int, language: str, date_order: str, page_url: str | None,
) -> ListingItem | str:
    """The item, or what is wrong with it (": no title", ...)."""
    title = _text(raw["title"], inline=True)
    if not title:
        return ": no title (set paths.title)"
    if raw["date"] is None:
        return f" {title!r}: no date (set paths.date)"
    date = _date(raw["date"], language, date_order)
    if date is None:
        return f" {title!r}: cannot read date {raw['date']!r}"
    credit = _CREDIT_MARK.sub("", _text(raw["credit"], inline=True))
    return ListingItem(
        title=title,
        date=date,
        category=_text(raw["category"], inline=True) or None,
        credit=credit or None,
        summary=_text(raw["summary"], inline=False) or None,
        line=ordinal,
        link=_absolute_http_url(raw["link"], page_url),
        image=_absolute_http_url(raw["image"], page_url),
    )


def _text(value: Any, *, inline: bool) -> str:
    """A field's text: HTML reduced to text, entities decoded, whitespace collapsed;
    a summary keeps its paragraphs apart with a blank line."""
    if value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    paragraphs = html_to_paragraphs(str(value))
    return (" " if inline else "\n\n").join(paragraphs)


def _date(value: Any, language: str, date_order: str) -> dt.date | None:
    if isinstance(value, int | float):
        # Unix time, in seconds or (from JavaScript) milliseconds.
        seconds = value / 1000 if value > 100_000_000_000 else value
        try:
            return dt.datetime.fromtimestamp(seconds, dt.UTC).date()
        except (OverflowError, OSError, ValueError):
            return None
    text = str(value).strip()
    iso = _ISO_DATE.match(text)
    if iso:
        return _make_date(int(iso[1]), int(iso[2]), int(iso[3]))
    numeric = _NUMERIC_DATE.match(text)
    if numeric:
        return _numeric_date(numeric.groups(), date_order)
    try:
        return email.utils.parsedate_to_datetime(text).date()
    except (TypeError, ValueError, IndexError):
        pass
    return read_date(text, language)


def _numeric_date(parts: Sequence[str], date_order: str) -> dt.date | None:
    """``03/04/2021`` in ``date_order``; a four-digit first part is always a year."""
    first, second, third = parts
    if len(first) == 4:
        return _make_date(int(first), int(second), int(third))
    if len(third) != 4:
        return None
    if date_order == "mdy":
        return _make_date(int(third), int(first), int(second))
    return _make_date(int(third), int(second), int(first))


def _make_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _absolute_http_url(value: Any, page_url: str | None) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    resolved = urljoin(page_url or "", strip_xml_forbidden(html.unescape(value.strip())))
    parts = urlsplit(resolved)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return resolved


# --- HTML in fields ---

_BLOCKS = frozenset({
    "address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "figcaption",
    "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "ol", "p",
    "pre", "section", "table", "tr", "ul",
})
_SKIPPED = frozenset({"script", "style", "template", "noscript"})
_BLANK_LINE = re.compile(r"\n\s*\n")


class _TextCollector(HTMLParser):
    """Text of an HTML fragment cut into paragraphs at block elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[list[str]] = [[]]
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skipping += 1
        elif tag == "br":
            self.paragraphs[-1].append(" ")
        elif tag in _BLOCKS:
            self.paragraphs.append([])

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCKS:
            self.paragraphs.append([])

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.paragraphs[-1].append(data)


def html_to_paragraphs(text: str) -> list[str]:
    """The paragraphs of ``text`` (HTML or plain), each on one line.

    Plain text without markup or entities is only whitespace-collapsed;
    otherwise tags go, entities are decoded (``&#8217;`` is U+2019) and block
    elements end paragraphs.
    """
    if "<" not in text and "&" not in text:
        cleaned = (_collapse(part) for part in _BLANK_LINE.split(text))
        return [paragraph for paragraph in cleaned if paragraph]
    collector = _TextCollector()
    collector.feed(text)
    collector.close()
    cleaned = (_collapse("".join(parts)) for parts in collector.paragraphs)
    return [paragraph for paragraph in cleaned if paragraph]


def _collapse(text: str) -> str:
    return " ".join(strip_xml_forbidden(text).split())
