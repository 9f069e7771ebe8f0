"""Reading HTML listing pages with CSS selectors. Pure: text in, items out.

A source's selectors (defaults in ``feedsvc.settings.HTML_SELECTOR_DEFAULTS``)
say where things are:

- ``item`` finds the item containers in the whole page. When containers
  nest (a ``.views-row`` wrapping an ``article``), only the innermost count:
  a container holding another one is a wrapper.
- ``title``, ``date``, ``category``, ``summary``, ``credit``, ``link`` and
  ``image`` are looked for inside each item. A selector list is a list of
  fallbacks: its alternatives are tried in the order written and the first
  one that matches wins (``"p.summary, .summary, p"`` prefers ``p.summary``
  even when a plain ``p`` comes first in the item).
- ``next`` finds the link to the listing's next page in the whole page.
- An item's link is the first ``link`` match inside its title, else the
  link around its title, else the first ``link`` match in the item.

Dates come from a ``datetime`` attribute when the date element has one
(``<time datetime="2021-01-27">``), else from its text, read by
``feedsvc.listing.dates`` in the source's language (detected from the
page's date texts when not given). Items without a title or a readable date
are skipped with a warning whose line is the item's ordinal (1-based) on
the page. Links and images are resolved against the page's URL; only http(s)
ones are kept. Text has its whitespace collapsed; summaries keep paragraph
breaks as blank lines ("\\n\\n"); characters XML cannot carry are removed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urldefrag, urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from feedsvc.errors import ListingError
from feedsvc.listing.dates import detect_language, read_date
from feedsvc.listing.warnings import WarningLog
from feedsvc.models import ListingItem, ParseResult, ParseWarning
from feedsvc.settings import HTML_SELECTOR_DEFAULTS
from feedsvc.xmlchars import strip_xml_forbidden

__all__ = ["parse_html_listing", "split_selector_list"]

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
_MAX_NESTING_WORK = 100_000_000
"""Most estimated parser steps (see ``_too_deeply_nested``): well under a second.
Real pages need a few million at most; 14,000 nested ``<div>``s need this many."""
_ISO_DATE = re.compile(r"\s*(\d{4}-\d{2}-\d{2})")
_CREDIT_MARK = re.compile(r"^(?:©|\(c\)|copyright\b)\s*", re.IGNORECASE)
_URL_ATTRIBUTES = ("href", "src", "data-src")


def parse_html_listing(
    text: str,
    *,
    source: str,
    language: str | None,
    page_url: str | None,
    selectors: Mapping[str, str] | None,
) -> ParseResult:
    """The items of one HTML listing page, in page order, and what was skipped.

    ``selectors`` overrides ``HTML_SELECTOR_DEFAULTS`` key by key. Relative
    links resolve against the page's ``<base href>``, else ``page_url`` (the
    page's final address); without either they are dropped. ``next_page`` is
    the absolute http(s) URL of the next page, if the page links to one and
    has items. A page with no items gives an empty result with one warning
    saying so (its layout probably changed).

    Raises ListingError (naming ``source``) for markup nested so deeply that
    parsing it would take minutes (see ``_too_deeply_nested``); deep markup
    elsewhere (20,000 ``<span>``s in a title) is read.
    """
    deepest = _too_deeply_nested(text)
    if deepest:
        raise ListingError(
            f"markup nested too deeply to read (block elements {deepest} levels deep)",
            source=source,
        )
    try:
        return _parse_page(text, source, language, page_url, selectors)
    except RecursionError:
        # A safety net: no step here recurses with the depth of the markup.
        raise ListingError("markup nested too deeply to read", source=source) from None


def _parse_page(
    text: str,
    source: str,
    language: str | None,
    page_url: str | None,
    selectors: Mapping[str, str] | None,
) -> ParseResult:
    chosen = {**HTML_SELECTOR_DEFAULTS, **(selectors or {})}
    tree = LexborHTMLParser(text)
    tree.strip_tags(list(_IGNORED_TAGS))
    page_url = _base_url(tree, page_url)
    containers = _innermost(tree.css(chosen["item"]))
    if not containers:
        return ParseResult(items=(), warnings=(ParseWarning(
            source, 0,
            f"no items match the item selector {chosen['item']!r}; "
            "the page layout may have changed",
        ),))
    # Each selector list is split into its alternatives once per page, not once per item.
    alternatives = {key: split_selector_list(value) for key, value in chosen.items()}
    # Shared by the items: each ancestor is looked at once for a link around a title.
    links: dict[int, LexborNode | None] = {}
    raws = [
        _read_item(node, alternatives, ordinal, links)
        for ordinal, node in enumerate(containers, 1)
    ]
    date_language = language or detect_language(raw.date_text for raw in raws)
    items: list[ListingItem] = []
    warnings = WarningLog(source)
    for raw in raws:
        item_or_problem = _to_item(raw, date_language, page_url)
        if isinstance(item_or_problem, str):
            warnings.warn(raw.ordinal, item_or_problem)
        else:
            items.append(item_or_problem)
    if not items:
        # Said whatever the number of warnings before it: it is why the page failed.
        return ParseResult(items=(), warnings=(*warnings.warnings(), ParseWarning(
            source, 0, f"none of the {len(raws)} items found has both a title and a date"
        )))
    return ParseResult(
        items=tuple(items),
        warnings=warnings.warnings(),
        next_page=_next_page(tree, alternatives["next"], page_url),
        selectors_used=chosen,
    )


@dataclass(frozen=True)
class _RawItem:
    """What the selectors found in one item container, before any interpretation."""

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


def _read_item(
    node: LexborNode,
    selectors: Mapping[str, Sequence[str]],
    ordinal: int,
    links: dict[int, LexborNode | None],
) -> _RawItem:
    """``selectors`` maps each selector's key to its alternatives (split_selector_list);
    ``links`` is the memory of ``_enclosing_link``."""
    title_node = _first(node, selectors["title"])
    date_node = _first(node, selectors["date"])
    category_node = _first(node, selectors["category"])
    credit_node = _first(node, selectors["credit"])
    taken = [n for n in (title_node, date_node, category_node, credit_node) if n is not None]
    summary_node = _first(node, selectors["summary"], avoid=taken)
    link_node = (_first(title_node, selectors["link"]) if title_node is not None else None) or (
        _enclosing_link(title_node, links) if title_node is not None else None
    ) or _first(node, selectors["link"])
    image_node = _first(node, selectors["image"])
    return _RawItem(
        ordinal=ordinal,
        title=_inline_text(title_node),
        date_text=_inline_text(date_node),
        date_attribute=date_node.attributes.get("datetime") if date_node is not None else None,
        date_parts=_text_parts(date_node),
        category=_inline_text(category_node),
        summary=_block_text(summary_node),
        credit=_CREDIT_MARK.sub("", _inline_text(credit_node)),
        link=_url_of(link_node),
        image=_url_of(image_node),
    )


def _to_item(raw: _RawItem, language: str, page_url: str | None) -> ListingItem | str:
    """The item, or a one-line reason why it is skipped."""
    if not raw.title:
        return f"item {raw.ordinal} has no title (nothing matches the title selector); skipped"
    date = _item_date(raw, language)
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
        link=_absolute_http_url(raw.link, page_url),
        image=_absolute_http_url(raw.image, page_url),
    )


def _item_date(raw: _RawItem, language: str) -> dt.date | None:
    if raw.date_attribute is not None:
        match = _ISO_DATE.match(raw.date_attribute)
        if match:
            try:
                return dt.date.fromisoformat(match.group(1))
            except ValueError:
                pass
    # A date element may hold a label beside the date ("Published: <span>...</span>").
    for candidate in (raw.date_text, *raw.date_parts):
        date = read_date(candidate, language)
        if date is not None:
            return date
    return None


def _next_page(
    tree: LexborHTMLParser, alternatives: Sequence[str], page_url: str | None
) -> str | None:
    for alternative in alternatives:
        for node in tree.css(alternative):
            url = _absolute_http_url(_url_of(node), page_url)
            if url is not None and (page_url is None or urldefrag(url).url != page_url):
                return url
    return None


def _base_url(tree: LexborHTMLParser, page_url: str | None) -> str | None:
    """The address relative links resolve against: ``<base href>`` when the page has one."""
    base = tree.css_first("base[href]")
    href = _url_of(base)
    if href is None:
        return page_url
    resolved = _absolute_http_url(href, page_url)
    return resolved or page_url


# --- nesting ---


def _too_deeply_nested(text: str) -> int:
    """The nesting depth at which ``text`` becomes too costly to parse, or 0.

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
    depth = work = 0
    for match in _TAG.finditer(text):
        name = match[2].lower()
        if match[1]:
            if depth and name not in _FLAT_TAGS:
                depth -= 1
            continue
        if name in _SCOPE_CHECKING_TAGS:
            work += depth
            if work > _MAX_NESTING_WORK:
                return depth
        if name not in _FLAT_TAGS:
            depth += 1
    return 0


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


def _first(
    node: LexborNode, alternatives: Sequence[str], *, avoid: Iterable[LexborNode] = ()
) -> LexborNode | None:
    """The first match of the first of ``alternatives`` (a selector list split by
    split_selector_list) that matches inside ``node``.

    Matches that are, hold or sit inside one of ``avoid`` are passed over, so
    that a catch-all summary selector such as ``p`` cannot pick the date.
    """
    avoided = list(avoid)
    for alternative in alternatives:
        for match in node.css(alternative):
            if not any(_related(match, other, node) for other in avoided):
                return match
    return None


def _related(a: LexborNode, b: LexborNode, within: LexborNode) -> bool:
    """Whether ``a`` and ``b``, both inside ``within``, are one node or one holds the other."""
    return a.mem_id == b.mem_id or _is_inside(a, b, within) or _is_inside(b, a, within)


def _is_inside(node: LexborNode, container: LexborNode, within: LexborNode) -> bool:
    """Whether ``container`` holds ``node``; both are inside ``within``, so the
    ancestors above it need no look (however deep the page nests)."""
    parent = node.parent
    while parent is not None and parent.mem_id != within.mem_id:
        if parent.mem_id == container.mem_id:
            return True
        parent = parent.parent
    return False


def _innermost(nodes: list[LexborNode]) -> list[LexborNode]:
    """Drop every node that holds another of ``nodes``: it is a wrapper, not an item.

    Each ancestor is looked at once, however many of ``nodes`` it holds: the
    time grows with the page, not with the nodes times their depth.
    """
    wrappers: set[int] = set()
    ids = {node.mem_id for node in nodes}
    seen: set[int] = set()
    for node in nodes:
        parent = node.parent
        # An ancestor seen before had its own ancestors looked at then.
        while parent is not None and parent.mem_id not in seen:
            seen.add(parent.mem_id)
            if parent.mem_id in ids:
                wrappers.add(parent.mem_id)
            parent = parent.parent
    return [node for node in nodes if node.mem_id not in wrappers]


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


# --- text ---


def _clean(text: str) -> str:
    return " ".join(strip_xml_forbidden(text).split())


def _inline_text(node: LexborNode | None) -> str:
    """All the text in ``node`` on one line, whitespace collapsed."""
    return " ".join(_paragraphs(node))


def _block_text(node: LexborNode | None) -> str:
    """The text in ``node`` with one blank line between its blocks (paragraphs)."""
    return "\n\n".join(_paragraphs(node))


def _text_parts(node: LexborNode | None) -> tuple[str, ...]:
    """Each non-blank text node under ``node``, cleaned, in order."""
    if node is None:
        return ()
    cleaned = (_clean(text) for text, _ in _walk_text(node))
    return tuple(text for text in cleaned if text)


def _paragraphs(node: LexborNode | None) -> list[str]:
    """The text in ``node`` cut at block boundaries, each piece whitespace-collapsed."""
    if node is None:
        return []
    pieces: list[list[str]] = [[]]
    for text, starts_block in _walk_text(node):
        if starts_block and pieces[-1]:
            pieces.append([])
        pieces[-1].append(text)
    cleaned = (_clean("".join(piece)) for piece in pieces)
    return [paragraph for paragraph in cleaned if paragraph]


class _Open:
    """An element ``_walk_text`` is inside of: where it is among its children,
    and what it needs to finish the element when they run out."""

    __slots__ = ("block", "carried", "children", "pending", "texts_before")

    def __init__(
        self, children: Iterator[LexborNode], *, block: bool, carried: bool, texts_before: int
    ) -> None:
        self.children = children
        self.block = block
        self.pending = False
        """The next text or element child starts a block (one just ended)."""
        self.carried = carried
        """``carry`` when the element was entered, given back if it holds no text."""
        self.texts_before = texts_before
        """Texts yielded before the element was entered."""


def _walk_text(node: LexborNode) -> Iterator[tuple[str, bool]]:
    """Yield (text, starts_block) for each text node under ``node``, in order.

    ``starts_block`` is True for the first text inside a block element and for
    the first text after one, so that "<p>a</p><p>b</p>" is two paragraphs
    while "a<b>b</b>" stays one word. A ``<br>`` yields a space.

    Iterative, with the open elements on a list: markup nested however deep
    (a hostile page's 20,000 ``<span>``s) cannot exhaust the call stack.
    """
    texts = 0
    # Whether the next text yielded starts a block because an element it is
    # the first text of is a block, or follows one (elements entered but
    # holding no text yet).
    carry = False
    stack = [_Open(node.iter(include_text=True), block=False, carried=False, texts_before=0)]
    while stack:
        current = stack[-1]
        child = next(current.children, None)
        if child is None:
            stack.pop()
            if stack:
                parent = stack[-1]
                held_text = texts > current.texts_before
                if not held_text:
                    carry = current.carried
                parent.pending = current.block or (parent.pending and not held_text)
            continue
        if child.is_text_node:
            yield child.text_content or "", current.pending or carry
            current.pending = carry = False
            texts += 1
        elif child.tag == "br":
            yield " ", carry
            carry = False
            texts += 1
        elif child.is_element_node:
            block = child.tag in _BLOCK_TAGS
            stack.append(_Open(child.iter(include_text=True), block=block, carried=carry,
                               texts_before=texts))
            carry = carry or block or current.pending


# --- addresses ---


def _url_of(node: LexborNode | None) -> str | None:
    if node is None:
        return None
    for name in _URL_ATTRIBUTES:
        value = node.attributes.get(name)
        if value and value.strip():
            return value.strip()
    return None


def _absolute_http_url(url: str | None, page_url: str | None) -> str | None:
    """``url`` resolved against the page; None unless the result is an http(s) URL."""
    if url is None:
        return None
    resolved = urljoin(page_url or "", strip_xml_forbidden(url))
    parts = urlsplit(resolved)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return resolved
