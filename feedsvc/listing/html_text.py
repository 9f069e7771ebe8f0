"""Text, addresses and element relations of parsed HTML, shared by the HTML
listing reader (``feedsvc.listing.html``) and its item detection
(``feedsvc.listing.html_detect``). Pure; nothing here recurses with the depth
of the markup.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Sequence
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborNode

from feedsvc.xmlchars import strip_xml_forbidden

__all__ = [
    "BLOCK_TAGS",
    "absolute_http_url",
    "class_words",
    "clean",
    "element_path",
    "first",
    "inline_text",
    "innermost",
    "is_inside",
    "paragraphs",
    "related",
    "text_parts",
    "url_of",
]

BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "figcaption",
    "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "ol",
    "p", "pre", "section", "table", "tr", "ul",
    # Cells are side by side, yet a browser shows space between them.
    "td", "th", "main", "nav",
})
_URL_ATTRIBUTES = ("href", "src", "data-src")
_WORD_SPLIT = re.compile(r"[-_\s]+")
_CSS_IDENT = re.compile(r"-?[A-Za-z_][A-Za-z0-9_-]*")


def clean(text: str) -> str:
    """``text`` without characters XML forbids, its whitespace collapsed to single spaces."""
    return " ".join(strip_xml_forbidden(text).split())


def class_words(node: LexborNode) -> set[str]:
    """The lowercase words of ``node``'s class and id attributes, split at
    hyphens and underscores: ``field--name-field-category`` gives "field",
    "name" and "category"."""
    words: set[str] = set()
    for name in ("class", "id"):
        value = node.attributes.get(name)
        if value:
            words.update(word for word in _WORD_SPLIT.split(value.lower()) if word)
    return words


def classes(node: LexborNode) -> list[str]:
    """``node``'s class tokens usable in a CSS selector as written (no escaping needed)."""
    value = node.attributes.get("class") or ""
    return [token for token in value.split() if _CSS_IDENT.fullmatch(token)]


# --- relations ---


def first(
    node: LexborNode, alternatives: Sequence[str], *, avoid: Iterable[LexborNode] = ()
) -> LexborNode | None:
    """The first match of the first of ``alternatives`` (a selector list split by
    split_selector_list) that matches inside ``node``.

    Matches that are, hold or sit inside one of ``avoid`` are passed over, so
    that a catch-all summary selector such as ``p`` cannot pick the date.
    """
    found = every(node, alternatives, avoid=avoid, limit=1)
    return found[0] if found else None


def every(
    node: LexborNode,
    alternatives: Sequence[str],
    *,
    avoid: Iterable[LexborNode] = (),
    limit: int | None = None,
) -> list[LexborNode]:
    """Every match inside ``node`` of the first of ``alternatives`` that matches
    (matches related to one of ``avoid`` passed over, as in ``first``), outermost
    only: a match inside another match is part of it. At most ``limit``."""
    avoided = list(avoid)
    for alternative in alternatives:
        found: list[LexborNode] = []
        for match in node.css(alternative):
            if any(related(match, other, node) for other in avoided):
                continue
            if found and is_inside(match, found[-1], node):
                continue
            found.append(match)
            if limit is not None and len(found) >= limit:
                break
        if found:
            return found
    return []


def related(a: LexborNode, b: LexborNode, within: LexborNode) -> bool:
    """Whether ``a`` and ``b``, both inside ``within``, are one node or one holds the other."""
    return a.mem_id == b.mem_id or is_inside(a, b, within) or is_inside(b, a, within)


def is_inside(node: LexborNode, container: LexborNode, within: LexborNode | None) -> bool:
    """Whether ``container`` holds ``node``; both are inside ``within``, so the
    ancestors above it need no look (however deep the page nests)."""
    stop = within.mem_id if within is not None else None
    parent = node.parent
    while parent is not None and parent.mem_id != stop:
        if parent.mem_id == container.mem_id:
            return True
        parent = parent.parent
    return False


def innermost(nodes: Sequence[LexborNode]) -> list[LexborNode]:
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


# --- where an element is, for messages ---

_STOP_TAGS = frozenset({"html", "body", "main"})
_PATH_STEPS = 8


def element_path(node: LexborNode, siblings: dict[int, dict[int, int]] | None = None) -> str:
    """A CSS path to ``node`` for messages, such as
    ``main > div.view-content > div.views-row:nth-of-type(3)``.

    It starts at ``main``, ``body`` or the nearest element with an id, and has
    at most a few steps. ``siblings`` caches each parent's children positions
    (pass one dict for a whole page), so that a page of 50,000 items costs one
    pass over each parent's children, not one per message.
    """
    cache = siblings if siblings is not None else {}
    steps: list[str] = []
    current: LexborNode | None = node
    while current is not None and current.tag and len(steps) < _PATH_STEPS:
        tag = current.tag
        if tag in _STOP_TAGS:
            steps.append(tag)
            break
        ident = current.attributes.get("id")
        if ident and _CSS_IDENT.fullmatch(ident):
            steps.append(f"{tag}#{ident}")
            break
        names = classes(current)
        step = f"{tag}.{names[0]}" if names else tag
        parent = current.parent
        if parent is not None:
            positions = cache.get(parent.mem_id)
            if positions is None:
                positions = _positions_of_type(parent)
                cache[parent.mem_id] = positions
            position = positions.get(current.mem_id, 0)
            if position:
                step += f":nth-of-type({position})"
        steps.append(step)
        current = parent
    return " > ".join(reversed(steps))


def _positions_of_type(parent: LexborNode) -> dict[int, int]:
    """Each element child's 1-based position among its parent's children of its
    tag; 0 for a child that is the only one of its tag."""
    counts: dict[str, int] = {}
    positions: dict[int, tuple[str, int]] = {}
    for child in parent.iter():
        tag = child.tag or ""
        counts[tag] = counts.get(tag, 0) + 1
        positions[child.mem_id] = (tag, counts[tag])
    return {
        mem_id: (position if counts[tag] > 1 else 0)
        for mem_id, (tag, position) in positions.items()
    }


# --- text ---


def inline_text(node: LexborNode | None, *, leave_out: Collection[int] = ()) -> str:
    """All the text in ``node`` on one line, whitespace collapsed; the text of
    the elements whose ``mem_id`` is in ``leave_out`` is left out."""
    return " ".join(paragraphs(node, leave_out=leave_out))


def text_parts(node: LexborNode | None) -> tuple[str, ...]:
    """Each non-blank text node under ``node``, cleaned, in order."""
    if node is None:
        return ()
    cleaned = (clean(text) for text, _ in walk_text(node))
    return tuple(text for text in cleaned if text)


def paragraphs(node: LexborNode | None, *, leave_out: Collection[int] = ()) -> list[str]:
    """The text in ``node`` cut at block boundaries, each piece whitespace-collapsed
    (none for an element a browser hides, see ``walk_text``)."""
    if node is None or (node.is_element_node and _hidden(node)):
        return []
    pieces: list[list[str]] = [[]]
    for text, starts_block in walk_text(node, leave_out=leave_out):
        if starts_block and pieces[-1]:
            pieces.append([])
        pieces[-1].append(text)
    cleaned = (clean("".join(piece)) for piece in pieces)
    return [paragraph for paragraph in cleaned if paragraph]


class _Open:
    """An element ``walk_text`` is inside of: where it is among its children,
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


def walk_text(node: LexborNode, *, leave_out: Collection[int] = ()) -> Iterator[tuple[str, bool]]:
    """Yield (text, starts_block) for each text node under ``node``, in order.

    ``starts_block`` is True for the first text inside a block element and for
    the first text after one, so that "<p>a</p><p>b</p>" is two paragraphs
    while "a<b>b</b>" stays one word. A ``<br>`` yields a space. Elements
    whose ``mem_id`` is in ``leave_out`` are passed over as if they were a
    block (a kicker taken out of a title leaves a space, not glued words), and
    so are elements a browser hides (``hidden``, ``screen-reader-text``...).

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
            if child.mem_id in leave_out or _hidden(child):
                current.pending = True
                continue
            block = child.tag in BLOCK_TAGS
            stack.append(_Open(child.iter(include_text=True), block=block, carried=carry,
                               texts_before=texts))
            carry = carry or block or current.pending


_HIDDEN_CLASSES = re.compile(
    r"(?:^|\s)(?:screen-reader-text|sr-only|visually-hidden|visuallyhidden|"
    r"element-invisible|hidden)(?:\s|$)"
)


def _hidden(node: LexborNode) -> bool:
    """Whether a browser shows ``node`` to nobody but screen readers, or to no one:
    the ``hidden`` attribute or a class that says so (``screen-reader-text``)."""
    attributes = node.attributes
    if "hidden" in attributes:
        return True
    names = attributes.get("class")
    return bool(names) and bool(_HIDDEN_CLASSES.search(names or ""))


# --- addresses ---


def url_of(node: LexborNode | None) -> str | None:
    """The address an element carries (``href``, else ``src``, else ``data-src``)."""
    if node is None:
        return None
    for name in _URL_ATTRIBUTES:
        value = node.attributes.get(name)
        if value and value.strip():
            return value.strip()
    return None


def absolute_http_url(url: str | None, page_url: str | None) -> str | None:
    """``url`` resolved against the page; None unless the result is an http(s) URL."""
    if url is None:
        return None
    resolved = urljoin(page_url or "", strip_xml_forbidden(url))
    parts = urlsplit(resolved)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return resolved
