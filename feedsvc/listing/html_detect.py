"""Finding the news items of an HTML page that has no selectors. Pure.

``detect_items`` looks for the repeated structure that holds the items:
elements of one shape (same tag, same parent and grandparent shape) that
each hold one to three dates and a heading or link, scored by how many there
are (a heading counts double), inside the page's main content (``main``,
``[role=main]``, else the page) and never inside ``aside``, ``nav``, a page
``header`` or ``footer``, an element whose role is navigation (or banner,
complementary, contentinfo, search) or whose class or id names a sidebar,
menu, breadcrumb or pager. Of two shapes scoring alike the outer one wins (a
wrapper holding one item reads the same item, with its image and teaser).
The elements the old default item selector names (``article``,
``li.news-item``, ``.views-row``) are one more candidate, preferred on a tie.
What detection is unsure of (a lone entry, entries without a date, a rival
dated list) comes back as doubts for warnings. The ``detect_*`` functions
then pick each field's element inside one item (see the README's table).

Work is bounded: each date and each heading or link is looked at with at
most ``ANCESTOR_LEVELS`` of its ancestors, each text node once per page and
once per item, each item's elements once (``ItemIndex``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

from feedsvc.listing.html_text import (
    class_words,
    classes,
    clean,
    element_path,
    inline_text,
    innermost,
    is_inside,
    related,
    url_of,
)

__all__ = [
    "ANCESTOR_LEVELS",
    "NEXT_SELECTORS",
    "SEMANTIC_ITEMS",
    "DateFinder",
    "DateReader",
    "Detection",
    "FoundDate",
    "ItemIndex",
    "detect_category",
    "detect_credit",
    "detect_date",
    "detect_image",
    "detect_items",
    "detect_link",
    "detect_summary",
    "detect_title",
    "find_date_text",
    "is_read_more",
    "next_links_by_text",
    "selector_for",
]

DateReader = Callable[[str], dt.date | None]
"""Reads a whole text as a date (None: it is not one)."""

SEMANTIC_ITEMS = "article, li.news-item, .views-row"
"""Elements that say they are items: the old default item selector."""
ANCESTOR_LEVELS = 10
"""How far above a date or a heading an item may start."""
MAX_DATE_TEXT = 120
"""Longest text (characters) looked into for a date."""
_WINDOW_WORDS = 5
_SHORT_TEXT = 24
"""Longest text without a digit read as a date ("il y a une semaine")."""
_PUNCTUATION = " ,;:|()[]\u00b7\u2022\u2013\u2014-"

_FURNITURE_TAGS = frozenset({"aside", "nav", "header", "footer"})
_FURNITURE_ROLES = frozenset({"navigation", "complementary", "banner", "contentinfo", "search"})
_FURNITURE_WORDS = frozenset({
    "sidebar", "breadcrumb", "breadcrumbs", "pager", "pagination", "menu", "navbar", "navigation",
})
_UNSTABLE_CLASS = re.compile(r"\d|^(?:odd|even|first|last|active|current|is-.*|js-.*)$")
_HEADINGS = "h1, h2, h3, h4, h5, h6"
_HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_CATEGORY_WORDS = frozenset({
    "category", "categories", "cat", "label", "kicker", "eyebrow", "tag", "tags", "topic",
    "topics", "rubrique", "rubric", "overline", "badge", "seccion", "theme", "type",
    "surtitre", "etiqueta",
})
_TITLE_WORDS = frozenset({"title", "headline", "heading", "titre", "titulo", "titular"})
_SUMMARY_WORDS = frozenset({
    "summary", "teaser", "excerpt", "description", "desc", "abstract", "lead", "intro",
    "standfirst", "chapo", "chapeau", "dek", "resume", "resumen", "body", "text", "content",
})
_DATE_WORDS = frozenset({
    "date", "time", "datetime", "published", "pubdate", "created", "posted", "fecha",
    "timestamp",
})
_CREDIT_MARK = re.compile(r"^(?:©|\(c\)|copyright\b)", re.IGNORECASE)
_READ_MORE = re.compile(
    r"(?:read more|continue reading)\b.*|more|read the (?:story|article)|en savoir plus|"
    r"lire la suite|lire plus|suite|leer m[aá]s|seguir leyendo|ver m[aá]s|m[aá]s",
    re.IGNORECASE | re.DOTALL,
)
"""Link texts that only lead to the article: the whole text, or its start for
"Read more ..." and "Continue reading ..." ("More than 100 rescued" is a title)."""
_ARROWS = " \t\u00bb\u203a\u2192>\u2026.:|-\u2013\u2014"
NEXT_SELECTORS = (
    "a[rel~=next], link[rel~=next], .pager-next a, li.next a, .pager__item--next a, "
    "a.next, .next a, .nav-previous a"
)
_NEXT_WORDS = frozenset({
    "next", "next page", "older posts", "older entries", "older", "suivant", "page suivante",
    "siguiente", "página siguiente", "pagina siguiente",
})
_MAX_NEXT_LINKS = 5_000


# --- the items ---


@dataclass(frozen=True)
class Detection:
    """The item containers found, in page order, the CSS selector that finds
    them again, and what detection was unsure of: (element path, message) pairs."""

    containers: tuple[LexborNode, ...]
    selector: str | None
    doubts: tuple[tuple[str, str], ...] = ()


@dataclass
class _Counts:
    """What a page holds under each element (within ANCESTOR_LEVELS): dates,
    headings and links, and the elements themselves by ``mem_id``."""

    dates: dict[int, int] = field(default_factory=dict)
    headings: dict[int, int] = field(default_factory=dict)
    links: dict[int, int] = field(default_factory=dict)
    nodes: dict[int, LexborNode] = field(default_factory=dict)
    order: dict[int, int] = field(default_factory=dict)
    """Each element's position in the page."""

    def add(self, table: dict[int, int], node: LexborNode, stop: int) -> None:
        current: LexborNode | None = node
        for _ in range(ANCESTOR_LEVELS):
            if current is None or current.mem_id == stop:
                return
            table[current.mem_id] = table.get(current.mem_id, 0) + 1
            self.nodes[current.mem_id] = current
            current = current.parent

    def weight(self, node: LexborNode) -> float:
        """How much ``node`` looks like one news item: 0 without a date or a
        heading or link, more with a heading, less when it holds several."""
        key = node.mem_id
        dates = self.dates.get(key, 0)
        headings = self.headings.get(key, 0)
        links = self.links.get(key, 0)
        if not 1 <= dates <= 3 or not headings + links:
            return 0.0
        if headings >= 2 and dates >= 2:
            return 0.5
        return 2.0 if headings else 1.0


class _Regions:
    """Which part of the page an element is in: "furniture" (navigation, sidebars,
    page headers and footers), "main" (the main content) or "other"; each
    ancestor is looked at once for the whole page."""

    def __init__(self) -> None:
        self._known: dict[int, str] = {}

    def of(self, node: LexborNode) -> str:
        path: list[int] = []
        current: LexborNode | None = node
        found = "other"
        while current is not None:
            key = current.mem_id
            if key in self._known:
                found = self._known[key]
                break
            own = _own_region(current)
            if own is not None:
                found = own
                path.append(key)
                break
            path.append(key)
            current = current.parent
        for key in path:
            self._known[key] = found
        return found


def _own_region(node: LexborNode) -> str | None:
    tag = node.tag or ""
    if tag in ("html", "body"):
        return None  # <body class="menu-open"> says nothing of its parts
    role = (node.attributes.get("role") or "").lower()
    if tag in _FURNITURE_TAGS or role in _FURNITURE_ROLES or class_words(node) & _FURNITURE_WORDS:
        return "furniture"
    if tag == "main" or role == "main":
        return "main"
    return None


def detect_items(tree: LexborHTMLParser, dates: DateFinder, *, shallow: bool = True) -> Detection:
    """The page's news items (see the module's docstring), or none. On a deep
    page (``shallow`` False) the selector written for them uses no descendant
    combinator, which would cost the CSS engine the elements times their depth."""
    top = tree.body or tree.root
    if top is None:
        return Detection((), None)
    regions = _Regions()
    counts = _count(top, dates)
    has_main = tree.css_first("main, [role=main]") is not None
    # A main element that holds no dated items (a heading only) does not hide the page's.
    groups = _groups(counts, regions, has_main) or _groups(counts, regions, False)
    semantic = [
        node for node in innermost(top.css(SEMANTIC_ITEMS))
        if regions.of(node) != "furniture"
    ]
    if has_main and any(regions.of(node) == "main" for node in semantic):
        semantic = [node for node in semantic if regions.of(node) == "main"]
    semantic_score = sum(counts.weight(node) for node in semantic)
    ranked = sorted(groups, key=lambda group: (-group.score, group.depth))
    best = ranked[0] if ranked else None
    if semantic and (best is None or semantic_score >= best.score):
        # Single articles (a page of one story) are no doubt; a rival list is.
        doubts = _rival_lists(semantic, ranked, counts, {})
        return Detection(tuple(semantic),
                         selector_for(tree, semantic, SEMANTIC_ITEMS, shallow=shallow), doubts)
    if best is None:
        return Detection((), None)
    members = _members(best, counts, regions)
    doubts = _doubts(members, ranked[1:], counts)
    dated = [node for node in members if counts.dates.get(node.mem_id)]
    return Detection(tuple(dated), selector_for(tree, members, None, shallow=shallow), doubts)


def _count(top: LexborNode, dates: DateFinder) -> _Counts:
    counts = _Counts()
    stop = top.mem_id
    for node in top.css("time"):
        counts.add(counts.dates, node, stop)
    for position, node in enumerate(top.traverse(include_text=True)):
        if not node.is_text_node:
            counts.order[node.mem_id] = position
            continue
        parent = node.parent
        if parent is None or parent.tag == "time":
            continue
        if dates.find(node.text_content or "") is not None:
            counts.add(counts.dates, parent, stop)
    for node in top.css(_HEADINGS):
        counts.add(counts.headings, node, stop)
    for node in top.css("a[href]"):
        counts.add(counts.links, node, stop)
    return counts


@dataclass
class _Group:
    """Elements of one shape that each look like an item."""

    parents: dict[int, LexborNode]
    tag: str
    qualified: list[LexborNode]
    score: float = 0.0
    depth: int = 0


def _shape(node: LexborNode | None) -> str:
    if node is None:
        return ""
    stable = sorted(name for name in classes(node) if not _UNSTABLE_CLASS.search(name))
    return ".".join([node.tag or "", *stable])


def _groups(counts: _Counts, regions: _Regions, has_main: bool) -> list[_Group]:
    groups: dict[tuple[str, str, str], _Group] = {}
    for key in counts.dates:
        node = counts.nodes[key]
        weight = counts.weight(node)
        parent = node.parent
        if not weight or parent is None or node.tag in ("html", "body"):
            continue
        if _own_region(node) == "main":
            continue  # the main content holds the items; it is none of them
        region = regions.of(node)
        if region == "furniture" or (has_main and region != "main"):
            continue
        shape = (_shape(parent.parent), _shape(parent), node.tag or "")
        group = groups.setdefault(shape, _Group({}, node.tag or "", []))
        group.parents[parent.mem_id] = parent
        group.qualified.append(node)
        group.score += weight
    for group in groups.values():
        # Nested elements of one shape (div in div in div) are one item, not several.
        group.qualified = innermost(group.qualified)
        group.qualified.sort(key=lambda node: counts.order.get(node.mem_id, 0))
        group.score = sum(counts.weight(node) for node in group.qualified)
        group.depth = _depth(group.qualified[0])
    return list(groups.values())


def _depth(node: LexborNode) -> int:
    depth = 0
    parent = node.parent
    while parent is not None:
        depth += 1
        parent = parent.parent
    return depth


def _members(group: _Group, counts: _Counts, regions: _Regions) -> list[LexborNode]:
    """Every child of the group's parents with its tag and the classes its
    items share (a date-less one too, for a warning), in page order."""
    common = set(classes(group.qualified[0]))
    for node in group.qualified[1:]:
        common &= set(classes(node))
    members: list[LexborNode] = []
    for parent in group.parents.values():
        for child in parent.iter():
            if child.tag != group.tag or not common <= set(classes(child)):
                continue
            key = child.mem_id
            if not (counts.dates.get(key) or counts.headings.get(key) or counts.links.get(key)):
                continue  # nothing of an item: a table's header row, an empty slot
            if regions.of(child) != "furniture":
                members.append(child)
    members.sort(key=lambda node: counts.order.get(node.mem_id, 0))
    # Nested members (lists in lists) are one item: read one, not each subtree again.
    return innermost(members)


def _doubts(
    members: Sequence[LexborNode], others: Sequence[_Group], counts: _Counts
) -> tuple[tuple[str, str], ...]:
    """What detection is unsure of about the chosen ``members``: a lone dated
    entry, entries without a date passed over, a rival list (see _rival_lists)."""
    doubts: list[tuple[str, str]] = []
    siblings: dict[int, dict[int, int]] = {}
    dated = [node for node in members if counts.dates.get(node.mem_id)]
    undated = [node for node in members if not counts.dates.get(node.mem_id)]
    if len(dated) == 1:
        doubts.append((element_path(dated[0], siblings),
                       "only one dated entry found: detection is unsure this is the "
                       "news listing; set the source's selectors if it is not"))
    if undated:
        doubts.append((element_path(undated[0], siblings),
                       f"passed over {_entries(len(undated))} shaped like the items but "
                       "without a date (the first is named here); set the source's selectors "
                       "if they are news"))
    return (*doubts, *_rival_lists(members, others, counts, siblings))


def _rival_lists(
    members: Sequence[LexborNode],
    others: Sequence[_Group],
    counts: _Counts,
    siblings: dict[int, dict[int, int]],
) -> tuple[tuple[str, str], ...]:
    """The first of ``others`` with at least two dated entries and half as many as
    the chosen ``members``, none of them in, around or among the members: a list
    that may hold the news instead."""
    dated = sum(1 for node in members if counts.dates.get(node.mem_id))
    chosen_ids = {node.mem_id for node in members}
    around = _ancestry(members)
    for other in others:
        if len(other.qualified) < max(2, dated // 2):
            continue
        if any(_near(node, chosen_ids, around) for node in other.qualified):
            continue
        return ((element_path(other.qualified[0], siblings),
                 f"another list of {len(other.qualified)} dated entries was not read; "
                 "set the source's selectors if it holds the news"),)
    return ()


def _entries(count: int) -> str:
    return "1 entry" if count == 1 else f"{count} entries"


def _near(node: LexborNode, chosen: set[int], around: set[int]) -> bool:
    """Whether ``node`` is one of the chosen items, inside one, or holds one
    (``around``: the chosen items' ancestors)."""
    if node.mem_id in around:
        return True
    current: LexborNode | None = node
    for _ in range(ANCESTOR_LEVELS):
        if current is None:
            return False
        if current.mem_id in chosen:
            return True
        current = current.parent
    return False


def _ancestry(nodes: Iterable[LexborNode]) -> set[int]:
    found: set[int] = set()
    for node in nodes:
        current = node.parent
        for _ in range(ANCESTOR_LEVELS):
            if current is None:
                break
            found.add(current.mem_id)
            current = current.parent
    return found


def selector_for(
    tree: LexborHTMLParser, nodes: Sequence[LexborNode], known: str | None, *, shallow: bool
) -> str | None:
    """A CSS selector that finds exactly ``nodes`` in ``tree`` (innermost matches
    only, as the reader takes them), for ``selectors_used``; ``known`` is tried
    first, scoped to the main content. None if no simple one does."""
    if not nodes:
        return None
    wanted = [node.mem_id for node in nodes]
    for candidate in _selector_candidates(tree, nodes, known):
        if not shallow and " " in candidate.replace(" > ", ">").replace(", ", ","):
            continue
        try:
            found = innermost(tree.css(candidate))
        except SelectolaxError:  # a selector the parser refuses is just not used
            continue
        if [node.mem_id for node in found] == wanted:
            return candidate
    return None


def _selector_candidates(
    tree: LexborHTMLParser, nodes: Sequence[LexborNode], known: str | None
) -> Iterable[str]:
    scopes = ["", "main ", "[role=main] "]
    if known:
        alternatives = [part.strip() for part in known.split(",")]
        for scope in scopes:
            yield ", ".join(f"{scope}{part}" for part in alternatives)
    tags = {node.tag for node in nodes}
    if len(tags) != 1:
        return
    common = set(classes(nodes[0]))
    for node in nodes[1:]:
        common &= set(classes(node))
    stable = sorted(name for name in common if not _UNSTABLE_CLASS.search(name))
    own = ".".join([next(iter(tags)) or "*", *stable])
    parent = nodes[0].parent
    parent_shape = _selector_step(parent) if parent is not None else None
    grandparent = parent.parent if parent is not None else None
    grand_shape = _selector_step(grandparent) if grandparent is not None else None
    for scope in scopes:
        if parent_shape:
            yield f"{scope}{parent_shape} > {own}".strip()
        yield f"{scope}{own}".strip()
        if parent_shape and grand_shape:
            yield f"{scope}{grand_shape} > {parent_shape} > {own}".strip()


def _selector_step(node: LexborNode) -> str | None:
    tag = node.tag or ""
    if not tag or tag.startswith("-"):
        return None
    stable = [name for name in classes(node) if not _UNSTABLE_CLASS.search(name)]
    return ".".join([tag, *stable])


# --- the fields of one item ---


class ItemIndex:
    """One item's elements and text nodes in page order (the item first), and
    their class words: read once per item, so that finding each field is a
    pass over lists rather than a CSS query per field and per item."""

    __slots__ = ("_words", "elements", "node", "texts")

    def __init__(self, node: LexborNode) -> None:
        self.node = node
        self.elements: list[LexborNode] = []
        self.texts: list[LexborNode] = []
        for child in node.traverse(include_text=True):
            if child.is_text_node:
                self.texts.append(child)
            elif child.is_element_node:
                self.elements.append(child)
        self._words: dict[int, set[str]] = {}

    def words(self, node: LexborNode) -> set[str]:
        """``class_words`` of ``node``, remembered."""
        found = self._words.get(node.mem_id)
        if found is None:
            found = class_words(node)
            self._words[node.mem_id] = found
        return found

    def tagged(self, *tags: str) -> list[LexborNode]:
        """The elements (the item included) with one of ``tags``, in page order."""
        return [node for node in self.elements if node.tag in tags]

    def worded(self, words: frozenset[str]) -> list[LexborNode]:
        """The elements inside the item whose class or id words meet ``words``."""
        return [
            node for node in self.elements[1:]
            if (node.attributes.get("class") or node.attributes.get("id"))
            and self.words(node) & words
        ]


@dataclass(frozen=True)
class FoundDate:
    """An item's date element, the date as written in it, and its ``datetime``."""

    node: LexborNode
    text: str
    attribute: str | None


def find_date_text(text: str, read: DateReader) -> str | None:
    """The part of ``text`` (at most MAX_DATE_TEXT characters) that ``read``
    takes for a date: the whole text, else the longest run of up to five
    words ("Posted on 26 November 2015 by" gives "26 November 2015") that
    starts or ends with a number. A short text without a digit is read whole
    only ("yesterday", when ``read`` knows relative dates)."""
    if len(text) > MAX_DATE_TEXT * 4:
        return None
    has_digit = any(char.isdigit() for char in text)
    if not has_digit and len(text) > _SHORT_TEXT * 4:
        return None
    cleaned = clean(text)
    if not cleaned or len(cleaned) > MAX_DATE_TEXT:
        return None
    if (has_digit or len(cleaned) <= _SHORT_TEXT) and read(cleaned) is not None:
        return cleaned
    if not has_digit:
        return None
    words = [word.strip(_PUNCTUATION) for word in cleaned.split()]
    numeric = [any(char.isdigit() for char in word) for word in words]
    for size in range(min(_WINDOW_WORDS, len(words)), 0, -1):
        for start in range(len(words) - size + 1):
            end = start + size - 1
            # Every date shape starts or ends with a number (day, year, ISO date).
            if not (numeric[start] or numeric[end]):
                continue
            window = " ".join(words[start:end + 1]).strip(_PUNCTUATION)
            if window and read(window) is not None:
                return window
    return None


class DateFinder:
    """``find_date_text`` and ``read`` with one page's answers remembered: a page
    repeats its date texts, and detection looks at each text twice."""

    def __init__(self, read: DateReader, memory: int = 50_000) -> None:
        self.read = read
        self._found: dict[str, str | None] = {}
        self._memory = memory

    def find(self, text: str) -> str | None:
        """The part of ``text`` that is a date (see ``find_date_text``), or None."""
        if text in self._found:
            return self._found[text]
        found = find_date_text(text, self.read)
        if len(self._found) < self._memory:
            self._found[text] = found
        return found


def detect_date(index: ItemIndex, dates: DateFinder, iso: DateReader) -> FoundDate | None:
    """The item's date: a ``time`` element (its ``datetime`` or its text), else
    the first element whose text is or holds a date (one whose class says
    "date" first), else an element whose class says "date" even if it cannot
    be read (for the warning)."""
    item = index.node
    for node in index.tagged("time"):
        attribute = node.attributes.get("datetime")
        text = inline_text(node)
        if attribute and iso(attribute) is not None:
            return FoundDate(node, text, attribute)
        found = dates.find(text)
        if found is not None:
            return FoundDate(node, found, attribute)
    hits: list[tuple[tuple[bool, bool, bool], int, FoundDate]] = []
    for position, node in enumerate(index.texts):
        if node.parent is None:
            continue
        found = dates.find(node.text_content or "")
        if found is None:
            continue
        holder = _date_holder(node.parent, item)
        classed = bool(class_words(holder) & _DATE_WORDS)
        # A date in a link is more often part of a title ("Report of 3 May 2021").
        linked = holder.tag == "a" or _inside_tag(holder, "a", item)
        whole = found == clean(node.text_content or "")
        hits.append(((not classed, linked, not whole), position, FoundDate(holder, found, None)))
    if hits:
        return min(hits, key=lambda hit: (hit[0], hit[1]))[2]
    for node in index.worded(_DATE_WORDS):
        if inline_text(node):
            return FoundDate(node, inline_text(node), None)
    return None


def _date_holder(node: LexborNode, item: LexborNode) -> LexborNode:
    """The outermost element around ``node`` (itself included, the item not)
    whose class says it is a date: a label beside the date ("Published:") is
    part of it, not a category or summary."""
    holder = node
    current: LexborNode | None = node
    for _ in range(3):
        if current is None or current.mem_id == item.mem_id:
            break
        if class_words(current) & _DATE_WORDS:
            holder = current
        current = current.parent
    return holder


def detect_category(index: ItemIndex, taken: Sequence[LexborNode]) -> LexborNode | None:
    """A short label (kicker, tag, ``.category``, ``.label``...) that is not a
    field label ("Posted:"), holds no heading and is none of ``taken``."""
    item = index.node
    for node in index.elements[1:]:
        rel_tag = "tag" in (node.attributes.get("rel") or "").split()
        if not (rel_tag or (node.attributes.get("class") and index.words(node) & _CATEGORY_WORDS)):
            continue
        if any(related(node, other, item) for other in taken):
            continue
        if node.css_first(_HEADINGS) is not None and node.tag not in _HEADING_TAGS:
            continue
        # "Posted in <a>Harvest</a>, <a>Energy</a>": the first label, not the words around it.
        parts = [part for part in (node.css("li") or node.css("a")) if part.mem_id != node.mem_id]
        chosen = parts[0] if parts else node
        text = inline_text(chosen)
        if text and len(text) <= 80 and not text.endswith(":"):
            return chosen
    return None


def detect_credit(index: ItemIndex, taken: Sequence[LexborNode]) -> LexborNode | None:
    """An element the page marks as a credit: a class naming one, or text
    starting with ©, (c) or "copyright". A caption without either is none."""
    item = index.node
    for node in index.elements[1:]:
        if "credit" in (node.attributes.get("class") or "").lower() and any(
            "credit" in word for word in index.words(node)
        ) and inline_text(node):
            return node
    for text_node in index.texts:
        if not _CREDIT_MARK.match((text_node.text_content or "").strip()):
            continue
        holder: LexborNode | None = text_node.parent
        # "<span>©</span> Name": the mark alone is not the credit, its parent is.
        while holder is not None and holder.mem_id != item.mem_id and not _CREDIT_MARK.sub(
            "", inline_text(holder)
        ).strip():
            holder = holder.parent
        if holder is None or holder.mem_id == item.mem_id:
            continue
        if not any(related(holder, other, item) for other in taken):
            return holder
    return None


def detect_title(index: ItemIndex, taken: Sequence[LexborNode]) -> LexborNode | None:
    """The first heading, else an element whose class names a title, else the
    item's main link; never one of ``taken`` nor inside one (a kicker inside
    the heading is left out of its text by the caller)."""

    item = index.node

    def usable(node: LexborNode) -> bool:
        for other in taken:
            if node.mem_id == other.mem_id or is_inside(node, other, item):
                return False
        leave_out = {other.mem_id for other in taken}
        return bool(inline_text(node, leave_out=leave_out))

    for node in index.tagged(*_HEADING_TAGS):
        if usable(node):
            return node
    for node in index.worded(_TITLE_WORDS):
        if usable(node):
            return node
    links = [
        node for node in index.tagged("a")
        if node.attributes.get("href") and usable(node) and not is_read_more(inline_text(node))
        and not any(is_inside(node, other, item) for other in taken)
    ]
    for node in links:
        if len(inline_text(node).split()) >= 2:
            return node
    return links[0] if links else None


def is_read_more(text: str) -> bool:
    """Whether ``text`` is a "Read more" / "En savoir plus" / "Leer más" link text."""
    stripped = text.strip(_ARROWS).strip()
    return bool(stripped) and bool(_READ_MORE.fullmatch(stripped))


def detect_summary(index: ItemIndex, taken: Sequence[LexborNode]) -> list[LexborNode]:
    """The teaser: the elements whose class names a summary, else every
    paragraph of the item; none of them related to ``taken``, inside a
    ``figure`` or only a "Read more" link."""

    item = index.node

    def usable(node: LexborNode) -> bool:
        if any(related(node, other, item) for other in taken):
            return False
        if _inside_tag(node, "figure", item):
            return False
        text = inline_text(node)
        return bool(text) and not is_read_more(text)

    classed = [node for node in index.worded(_SUMMARY_WORDS) if usable(node)]
    chosen = _outermost(classed, item)
    if chosen:
        return chosen
    return _outermost([node for node in index.tagged("p") if usable(node)], item)


def _outermost(nodes: Sequence[LexborNode], within: LexborNode) -> list[LexborNode]:
    kept: list[LexborNode] = []
    for node in nodes:
        if not any(is_inside(node, other, within) for other in kept):
            kept.append(node)
    return kept


def _inside_tag(node: LexborNode, tag: str, within: LexborNode) -> bool:
    current = node.parent
    while current is not None and current.mem_id != within.mem_id:
        if current.tag == tag:
            return True
        current = current.parent
    return False


def detect_link(
    index: ItemIndex,
    title: LexborNode | None,
    avoid: Sequence[LexborNode],
    enclosing: Callable[[LexborNode], LexborNode | None],
) -> LexborNode | None:
    """The title's link (inside it, else around it), else the item's first link
    outside ``avoid`` (a category's or credit's)."""
    if title is not None:
        inside = title.css_first("a[href]")
        if inside is not None:
            return inside
        around = enclosing(title)
        if around is not None:
            return around
    item = index.node
    for node in index.tagged("a"):
        if node.attributes.get("href") and not any(related(node, o, item) for o in avoid):
            return node
    return None


def detect_image(index: ItemIndex) -> LexborNode | None:
    """The item's first image with an address (``src``, else ``data-src``)."""
    for node in index.tagged("img"):
        if url_of(node) is not None:
            return node
    return None


def next_links_by_text(tree: LexborHTMLParser) -> list[LexborNode]:
    """Links reading "Next", "Suivant", "Siguiente", "Older posts"... (arrows
    aside), in page order, among the page's first links."""
    found: list[LexborNode] = []
    for index, node in enumerate(tree.css("a[href]")):
        if index >= _MAX_NEXT_LINKS:
            break
        if inline_text(node).strip(_ARROWS).strip().lower() in _NEXT_WORDS:
            found.append(node)
    return found
