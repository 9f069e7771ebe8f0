"""Reading HTML listing pages. Pure: text in, items out.

With no ``item`` selector the items are found by ``feedsvc.listing.html_detect``:
the repeated elements of the main content that each hold a heading or link
and a date (never navigation, a sidebar, a page header or footer, or a
pager), and each field inside them (title without its kicker, date, label as
category, every paragraph of the teaser, image, a credit only when the page
marks one with © or a credit class, link). A source's ``selectors`` override
detection key by key:

- ``item`` finds the item containers in the whole page. When containers
  nest (a ``.views-row`` wrapping an ``article``), only the innermost count:
  a container holding another one is a wrapper.
- ``title``, ``date``, ``category``, ``credit``, ``link`` and ``image`` are
  looked for inside each item. A selector list is a list of fallbacks: its
  alternatives are tried in the order written and the first one that matches
  wins (``"p.summary, .summary, p"`` prefers ``p.summary`` even when a plain
  ``p`` comes first in the item).
- ``summary`` takes every match of the first alternative that matches (not the
  title, date, category or credit, nor inside them), one paragraph each.
- ``next`` finds the link to the listing's next page in the whole page.
- An item's link is the first ``link`` match inside its title, else the
  link around its title, else the first ``link`` match in the item.

A category, date or credit element inside the title is left out of the
title's text. Dates come from a ``datetime`` attribute when the date element
has one (``<time datetime="2021-01-27">``), else from its text (the whole
text, a part of it, or a run of words in it such as "Posted on 26 November
2015 by"), read by ``feedsvc.listing.dates`` in the source's language
(detected from the page's date texts when not given). Items without a title
or a readable date are skipped with a warning (an ``ElementWarning`` naming
the item's element path; its ``line`` is the item's ordinal on the page).
Links and images are resolved against the page's URL; only http(s) ones are
kept. Text is joined with the spaces a browser shows between blocks and
collapsed; summaries keep paragraph breaks as blank lines ("\\n\\n");
characters XML cannot carry are removed. ``ParseResult.selectors_used``
holds the selectors that would read the page the same way (configured, or
detected ones written as CSS selectors relative to the page or the item).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urldefrag

from selectolax.lexbor import LexborHTMLParser, LexborNode

from feedsvc.errors import ListingError
from feedsvc.listing import html_detect
from feedsvc.listing.dates import detect_language, read_date
from feedsvc.listing.html_detect import DateFinder, DateReader, FoundDate
from feedsvc.listing.html_text import (
    absolute_http_url,
    classes,
    element_path,
    every,
    first,
    inline_text,
    innermost,
    is_inside,
    paragraphs,
    text_parts,
    url_of,
)
from feedsvc.listing.warnings import MAX_WARNINGS, WarningLog
from feedsvc.models import ListingItem, ParseResult, ParseWarning

__all__ = ["ElementWarning", "parse_html_listing", "split_selector_list"]

_IGNORED_TAGS = ("script", "style", "noscript", "template")
_BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "figcaption",
    "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "ol",
    "p", "pre", "section", "table", "tr", "ul",
})
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)")
_FLAT_TAGS = frozenset({
    # No content: never open.
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
    "source", "track", "wbr",
    # Closed by the next of their kind, so often without an end tag: not a level.
    "p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th", "thead", "tbody",
    "tfoot", "rb", "rt", "rtc", "rp", "colgroup", "caption", "html", "head", "body",
})
_SCOPE_CHECKING_TAGS = _BLOCK_TAGS | {
    "center", "details", "dialog", "dir", "fieldset", "form", "hgroup", "listing", "main",
    "menu", "nav", "summary", "xmp", "button",
}
"""Start tags at which the parser looks down the stack of open elements."""
_SHALLOW_LEVELS = 200
"""Deepest nesting at which detection tries selectors with a descendant combinator
(``main article``): the CSS engine's work for one grows with the elements times
their depth, seconds on a page of 20,000 nested elements."""
_MAX_NESTING_WORK = 100_000_000
"""Most estimated parser steps (see ``_nesting``): well under a second.
Real pages need a few million at most; 14,000 nested ``<div>``s need this many."""
_ISO_DATE = re.compile(r"\s*(\d{4}-\d{2}-\d{2})")
_CREDIT_MARK = re.compile(r"^(?:©|\(c\)|copyright\b)\s*", re.IGNORECASE)
_FIELDS = ("title", "date", "category", "credit", "summary", "link", "image")
_INFERRED_ITEMS = 200
"""Items looked at to write detected fields as selectors (``selectors_used``)."""


@dataclass(frozen=True)
class ElementWarning(ParseWarning):
    """A warning about one element of an HTML page: ``path`` says which
    (``main > div.views-row:nth-of-type(3)``); ``line`` is the item's ordinal."""

    path: str = ""

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.source}: {where}{self.message}"


def parse_html_listing(
    text: str,
    *,
    source: str,
    language: str | None,
    page_url: str | None,
    selectors: Mapping[str, str] | None,
    today: dt.date | None = None,
    date_order: str = "dmy",
) -> ParseResult:
    """The items of one HTML listing page, in page order, and what was skipped.

    ``selectors`` (any of the keys of ``HTML_SELECTOR_DEFAULTS``) override
    detection key by key; None or ``{}`` detects everything. Relative links
    resolve against the page's ``<base href>``, else ``page_url`` (the page's
    final address); without either they are dropped. ``next_page`` is the
    absolute http(s) URL of the next page, if the page links to one and has
    items. A page with no items gives an empty result with one warning saying
    so (its layout probably changed). ``today`` and ``date_order`` are for
    reading relative and numeric dates (the fetch day, "dmy" or "mdy").

    Raises ListingError (naming ``source``) for markup nested so deeply that
    parsing it would take minutes (see ``_nesting``); deep markup
    elsewhere (20,000 ``<span>``s in a title) is read.
    """
    deepest, levels = _nesting(text)
    if deepest:
        raise ListingError(
            f"markup nested too deeply to read (block elements {deepest} levels deep)",
            source=source,
        )
    try:
        return _parse_page(text, source, language, page_url, selectors,
                           _Dating(language, today, date_order), levels <= _SHALLOW_LEVELS)
    except RecursionError:
        # A safety net: no step here recurses with the depth of the markup.
        raise ListingError("markup nested too deeply to read", source=source) from None


@dataclass(frozen=True)
class _Dating:
    """How dates are read: the source's language, the fetch day and the day/month order."""

    language: str | None
    today: dt.date | None
    date_order: str

    def reader(self, language: str | None) -> DateReader:
        """Reads a whole text as a date in ``language`` (None: any supported one),
        or as an ISO date (2015-11-26); relative and yearless dates against ``today``,
        numeric ones in ``date_order``."""

        def read(text: str) -> dt.date | None:
            date = read_date(text, language, today=self.today, date_order=self.date_order)
            return date if date is not None else _iso_date(text, whole=True)

        return read


def _iso_date(text: str, *, whole: bool = False) -> dt.date | None:
    match = _ISO_DATE.fullmatch(text.strip()) if whole else _ISO_DATE.match(text)
    if not match:
        return None
    try:
        return dt.date.fromisoformat(match.group(1))
    except ValueError:
        return None


def _iso_attribute(text: str) -> dt.date | None:
    return _iso_date(text)


def _parse_page(
    text: str,
    source: str,
    language: str | None,
    page_url: str | None,
    selectors: Mapping[str, str] | None,
    dating: _Dating,
    shallow: bool,
) -> ParseResult:
    configured = {key: value for key, value in (selectors or {}).items() if value}
    tree = LexborHTMLParser(text)
    tree.strip_tags(list(_IGNORED_TAGS))
    page_url = _base_url(tree, page_url)
    any_dates = DateFinder(dating.reader(language))
    warnings = WarningLog(source)
    used: dict[str, str] = {}
    if "item" in configured:
        containers = innermost(tree.css(configured["item"]))
        if not containers:
            return ParseResult(items=(), warnings=(ParseWarning(
                source, 0,
                f"no items match the item selector {configured['item']!r}; "
                "the page layout may have changed",
            ),), selectors_used=dict(configured))
    else:
        detection = html_detect.detect_items(tree, any_dates, shallow=shallow)
        containers = list(detection.containers)
        if not containers:
            return ParseResult(items=(), warnings=(ParseWarning(
                source, 0,
                "no news items found: no repeated elements with a title and a date in the "
                "main content; the page may be built by a script (render = \"browser\") "
                "or need selectors",
            ),))
        if detection.selector:
            used["item"] = detection.selector
        for path, message in detection.doubts:
            warnings.extend([ElementWarning(source, 0, message, path)])
    # Each selector list is split into its alternatives once per page, not once per item.
    alternatives = {key: split_selector_list(value) for key, value in configured.items()}
    # Shared by the items: each ancestor is looked at once for a link around a title.
    links: dict[int, LexborNode | None] = {}
    found = [
        _find_fields(node, alternatives, any_dates, links) for node in containers
    ]
    raws = [_raw_item(fields, ordinal) for ordinal, fields in enumerate(found, 1)]
    if language is None:
        # A guess from whole date lines ("1 December 2015"): dates written inside a
        # phrase ("Publié le 1er décembre 2015") give no evidence, so any supported
        # language is read where the guess reads nothing.
        guessed, anything = (dating.reader(detect_language(raw.date_text for raw in raws)),
                             dating.reader(None))
        read = DateFinder(lambda text: guessed(text) or anything(text))
    else:
        read = DateFinder(dating.reader(language))
    items: list[ListingItem] = []
    siblings: dict[int, dict[int, int]] = {}
    for raw in raws:
        item_or_problem = _to_item(raw, read, page_url)
        if isinstance(item_or_problem, str):
            # Paths of warnings beyond those kept would only be counted.
            path = element_path(raw.node, siblings) if warnings.count < MAX_WARNINGS else ""
            warnings.extend([ElementWarning(source, raw.ordinal, item_or_problem, path)])
        else:
            items.append(item_or_problem)
    used.update(configured)
    used.update(_inferred_selectors(found, configured))
    if not items:
        # Said whatever the number of warnings before it: it is why the page failed.
        return ParseResult(items=(), warnings=(*warnings.warnings(), ParseWarning(
            source, 0, f"none of the {len(raws)} items found has both a title and a date"
        )), selectors_used=used)
    next_page = _next_page(tree, alternatives.get("next"), page_url, shallow=shallow)
    if next_page is not None and next_page[1]:
        used.setdefault("next", next_page[1])
    return ParseResult(
        items=tuple(items),
        warnings=warnings.warnings(),
        next_page=next_page[0] if next_page else None,
        selectors_used=used,
        language=declared_language(tree),
    )


_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")
"""An RFC 5646 language tag, as far as a feed's ``xml:lang`` needs one to be."""


def declared_language(tree: LexborHTMLParser) -> str | None:
    """The language the page declares for itself (``<html lang>``, else ``xml:lang``),
    when it is a language tag; None otherwise."""
    root = tree.css_first("html")
    if root is None:
        return None
    for name in ("lang", "xml:lang"):
        value = (root.attributes.get(name) or "").strip()
        if _LANGUAGE_TAG.fullmatch(value):
            return value
    return None


@dataclass(frozen=True)
class _Fields:
    """The elements holding each field of one item (None: not found)."""

    node: LexborNode
    title: LexborNode | None
    date: FoundDate | None
    category: LexborNode | None
    credit: LexborNode | None
    summary: tuple[LexborNode, ...]
    link: LexborNode | None
    image: LexborNode | None
    taken: tuple[LexborNode, ...]
    """Title, date, category and credit elements: what a summary never is."""


def _find_fields(
    node: LexborNode,
    selectors: Mapping[str, Sequence[str]],
    dates: DateFinder,
    links: dict[int, LexborNode | None],
) -> _Fields:
    """Each field's element in item ``node``: the configured selector's first
    match (``selectors`` maps keys to alternatives), else what detection finds.
    ``links`` is the memory of ``_enclosing_link``."""
    detected = any(key not in selectors for key in _FIELDS)
    index = html_detect.ItemIndex(node) if detected else None
    if "date" in selectors:
        date_node = first(node, selectors["date"])
        date = _found_date(date_node, dates) if date_node is not None else None
    else:
        date = html_detect.detect_date(_index(index), dates, _iso_attribute)
    dated = [date.node] if date is not None else []
    category = (first(node, selectors["category"]) if "category" in selectors
                else html_detect.detect_category(_index(index), dated))
    labels = [*dated, *([category] if category is not None else [])]
    credit = (first(node, selectors["credit"]) if "credit" in selectors
              else html_detect.detect_credit(_index(index), labels))
    marks = [*labels, *([credit] if credit is not None else [])]
    title = (first(node, selectors["title"]) if "title" in selectors
             else html_detect.detect_title(_index(index), marks))
    taken = tuple(n for n in (title, *marks) if n is not None)
    summary = (every(node, selectors["summary"], avoid=taken) if "summary" in selectors
               else html_detect.detect_summary(_index(index), taken))
    if "link" in selectors:
        link = (first(title, selectors["link"]) if title is not None else None) or (
            _enclosing_link(title, links) if title is not None else None
        ) or first(node, selectors["link"])
    else:
        link = html_detect.detect_link(
            _index(index), title, [n for n in (category, credit) if n is not None],
            lambda inner: _enclosing_link(inner, links),
        )
    image = (first(node, selectors["image"]) if "image" in selectors
             else html_detect.detect_image(_index(index)))
    return _Fields(node, title, date, category, credit, tuple(summary), link, image, taken)


def _index(index: html_detect.ItemIndex | None) -> html_detect.ItemIndex:
    if index is None:  # only made when some field is detected
        raise AssertionError("no item index")
    return index


def _found_date(node: LexborNode, dates: DateFinder) -> FoundDate:
    """A configured date element: the date text in it (or all its text, for the warning)."""
    whole = inline_text(node)
    for candidate in (whole, *text_parts(node)):
        found = dates.find(candidate)
        if found is not None:
            return FoundDate(node, found, node.attributes.get("datetime"))
    return FoundDate(node, whole, node.attributes.get("datetime"))


@dataclass(frozen=True)
class _RawItem:
    """The texts of one item's fields, before any interpretation."""

    node: LexborNode
    ordinal: int
    title: str
    date_text: str
    date_attribute: str | None
    date_parts: tuple[str, ...]
    category: str
    summary: str
    credit: str
    link: str | None
    image: str | None


def _raw_item(fields: _Fields, ordinal: int) -> _RawItem:
    title = fields.title
    inner = {
        other.mem_id for other in fields.taken
        if title is not None and other.mem_id != title.mem_id
        and is_inside(other, title, fields.node)
    }
    date = fields.date
    return _RawItem(
        node=fields.node,
        ordinal=ordinal,
        title=inline_text(title, leave_out=inner),
        date_text=date.text if date is not None else "",
        date_attribute=date.attribute if date is not None else None,
        date_parts=text_parts(date.node) if date is not None else (),
        category=inline_text(fields.category),
        summary=_summary_text(fields.summary),
        credit=_CREDIT_MARK.sub("", inline_text(fields.credit)),
        link=url_of(fields.link),
        image=url_of(fields.image),
    )


def _summary_text(nodes: Sequence[LexborNode]) -> str:
    """The teaser's paragraphs, one blank line apart, without "Read more" links."""
    pieces: list[str] = []
    for node in nodes:
        leave_out = {
            link.mem_id for link in node.css("a")
            if html_detect.is_read_more(inline_text(link))
        }
        pieces.extend(paragraphs(node, leave_out=leave_out))
    return "\n\n".join(piece for piece in pieces if piece)


def _to_item(raw: _RawItem, read: DateFinder, page_url: str | None) -> ListingItem | str:
    """The item, or a one-line reason why it is skipped."""
    if not raw.title:
        return f"item {raw.ordinal} has no title (nothing matches the title selector); skipped"
    date = _item_date(raw, read)
    if date is None:
        if not raw.date_text and raw.date_attribute is None:
            return f"item {raw.ordinal} ({raw.title!r}) has no date; skipped"
        shown = raw.date_text or raw.date_attribute
        return f"item {raw.ordinal} ({raw.title!r}): cannot read date {shown!r}; skipped"
    return ListingItem(
        title=raw.title,
        date=date,
        category=raw.category or None,
        credit=raw.credit or None,
        summary=raw.summary or None,
        line=raw.ordinal,
        link=absolute_http_url(raw.link, page_url),
        image=absolute_http_url(raw.image, page_url),
    )


def _item_date(raw: _RawItem, dates: DateFinder) -> dt.date | None:
    if raw.date_attribute is not None:
        date = _iso_date(raw.date_attribute)
        if date is not None:
            return date
    # A date element may hold a label beside the date ("Published: <span>...</span>").
    for candidate in (raw.date_text, *raw.date_parts):
        found = dates.find(candidate)
        if found is not None:
            return dates.read(found)
    return None


def _next_page(
    tree: LexborHTMLParser,
    alternatives: Sequence[str] | None,
    page_url: str | None,
    *,
    shallow: bool,
) -> tuple[str, str] | None:
    """The next page's URL and the selector that found it ("" when a pager
    link's text did): the configured ``alternatives``, else detection's (on a
    deep page, those without a descendant combinator)."""
    candidates = alternatives if alternatives is not None else [
        alternative for alternative in split_selector_list(html_detect.NEXT_SELECTORS)
        if shallow or " " not in alternative
    ]
    for alternative in candidates:
        for node in tree.css(alternative):
            url = _next_url(node, page_url)
            if url is not None:
                return url, alternative
    if alternatives is None:
        for node in html_detect.next_links_by_text(tree):
            url = _next_url(node, page_url)
            if url is not None:
                return url, ""
    return None


def _next_url(node: LexborNode, page_url: str | None) -> str | None:
    url = absolute_http_url(url_of(node), page_url)
    if url is not None and (page_url is None or urldefrag(url).url != page_url):
        return url
    return None


def _base_url(tree: LexborHTMLParser, page_url: str | None) -> str | None:
    """The address relative links resolve against: ``<base href>`` when the page has one."""
    base = tree.css_first("base[href]")
    href = url_of(base)
    if href is None:
        return page_url
    resolved = absolute_http_url(href, page_url)
    return resolved or page_url


# --- what was detected, as selectors ---


def _inferred_selectors(
    found: Sequence[_Fields], configured: Mapping[str, str]
) -> dict[str, str]:
    """For each field not configured, a selector relative to the item that picks
    the element detection picked in every item looked at (a field no single
    selector reproduces is left out: pasted into a config, it is detected again)."""
    sample = found[:_INFERRED_ITEMS]
    inferred: dict[str, str] = {}
    for key in ("title", "date", "category", "credit"):
        if key in configured:
            continue
        chosen = [(fields.node, _field_node(fields, key)) for fields in sample]
        selector = _single_selector(chosen)
        if selector is not None:
            inferred[key] = selector
    if "summary" not in configured:
        selector = _summary_selector(sample)
        if selector is not None:
            inferred["summary"] = selector
    for key, candidates in _LINK_AND_IMAGE:
        if key in configured or all(_field_node(f, key) is None for f in sample):
            continue
        for candidate in candidates:
            if key == "link" or all(
                _picks(f.node, candidate, f.image) for f in sample
            ):
                inferred[key] = candidate
                break
    return inferred


_LINK_AND_IMAGE = (
    ("link", ("a[href]",)),
    ("image", ("img[src]", "img[src], img[data-src]")),
)


def _field_node(fields: _Fields, key: str) -> LexborNode | None:
    if key == "date":
        return fields.date.node if fields.date is not None else None
    node: LexborNode | None = getattr(fields, key)
    return node


def _candidates(node: LexborNode, item: LexborNode) -> list[str]:
    if node.mem_id == item.mem_id or not node.tag:
        return []
    tag = node.tag
    stable = [name for name in classes(node) if not any(char.isdigit() for char in name)]
    # The longest class is the most specific: views-field-title before views-field.
    found = [f"{tag}.{name}" for name in sorted(stable, key=len, reverse=True)]
    found.append(tag)
    parent = node.parent
    if parent is not None and parent.mem_id != item.mem_id and parent.tag:
        parent_classes = classes(parent)
        step = f"{parent.tag}.{parent_classes[0]}" if parent_classes else parent.tag
        found.append(f"{step} > {tag}")
    return found


def _single_selector(chosen: Sequence[tuple[LexborNode, LexborNode | None]]) -> str | None:
    """A selector (or a list of two alternatives, when items differ: ``time``
    in some, ``div.date`` in others) that picks each item's chosen node."""
    examples = [(item, node) for item, node in chosen if node is not None]
    if not examples:
        return None
    first_candidates = _candidates(examples[0][1], examples[0][0])
    for candidate in first_candidates:
        if all(_picks(item, candidate, node) for item, node in chosen):
            return candidate
    # The first item a candidate of the first example misses gives the second alternative.
    for candidate in first_candidates[:_PAIRED_CANDIDATES]:
        missed = next(
            ((item, node) for item, node in examples if not _picks(item, candidate, node)), None
        )
        if missed is None:
            continue
        for other in _candidates(missed[1], missed[0])[:_PAIRED_CANDIDATES]:
            pair = f"{candidate}, {other}"
            if all(_picks(item, pair, node) for item, node in chosen):
                return pair
    return None


_PAIRED_CANDIDATES = 3


def _picks(item: LexborNode, selector: str, node: LexborNode | None) -> bool:
    match = first(item, split_selector_list(selector))
    if node is None:
        return match is None
    return match is not None and match.mem_id == node.mem_id


def _summary_selector(sample: Sequence[_Fields]) -> str | None:
    example = next((fields for fields in sample if fields.summary), None)
    if example is None:
        return None
    for candidate in _candidates(example.summary[0], example.node):
        if all(
            [n.mem_id for n in every(fields.node, [candidate], avoid=fields.taken)]
            == [n.mem_id for n in fields.summary]
            for fields in sample
        ):
            return candidate
    return None


# --- nesting ---


def _nesting(text: str) -> tuple[int, int]:
    """The nesting depth at which ``text`` becomes too costly to parse, or 0;
    and the deepest nesting of elements with content seen.

    The HTML parser, like the standard's tree builder, looks down the stack of
    open elements at the start of each block element (is a ``<p>`` open to
    close?): its work grows with the number of block elements times the depth
    they sit at, so that 40,000 nested ``<div>``s (200 KB) take seconds and a
    few MB take hours. This estimates that work from the tags alone, counting
    elements that close themselves (``<p>``, ``<li>``, ...) or have no content
    (``<br>``) as no level (though their start costs work like any block's),
    and stops at _MAX_NESTING_WORK. Deep inline markup
    without blocks inside (spans) costs the parser nothing and passes.
    """
    depth = work = deepest = 0
    for match in _TAG.finditer(text):
        name = match[2].lower()
        if match[1]:
            if depth and name not in _FLAT_TAGS:
                depth -= 1
            continue
        if name in _SCOPE_CHECKING_TAGS:
            work += depth
            if work > _MAX_NESTING_WORK:
                return depth, deepest
        if name not in _FLAT_TAGS:
            depth += 1
            deepest = max(deepest, depth)
    return 0, deepest


# --- selection ---


def split_selector_list(selector: str) -> list[str]:
    """The alternatives of a CSS selector list, split at top-level commas only.

    Commas inside brackets, parentheses or quotes (``:is(h2, h3)``,
    ``[title="a, b"]``) do not split.
    """
    parts: list[str] = []
    depth = 0
    quote: str | None = None
    current: list[str] = []
    for char in selector:
        if quote:
            quote = None if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    parts.append("".join(current).strip())
    return [part for part in parts if part]


def _enclosing_link(
    node: LexborNode, known: dict[int, LexborNode | None]
) -> LexborNode | None:
    """The nearest ``<a href>`` around ``node``, if any.

    ``known`` maps elements already looked at to their answer (the nearest
    ``<a href>`` that is or holds them): shared between calls, it makes each
    ancestor be looked at once, so that items deep in the page cost no more
    than the page.
    """
    path: list[int] = []
    parent = node.parent
    found: LexborNode | None = None
    while parent is not None:
        mem_id = parent.mem_id
        if mem_id in known:
            found = known[mem_id]
            break
        if parent.tag == "a" and parent.attributes.get("href"):
            found = parent
            break
        path.append(mem_id)
        parent = parent.parent
    for mem_id in path:
        known[mem_id] = found
    return found
