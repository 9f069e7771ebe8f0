"""Text listings in the looser layouts of other sites' text renderings.

``feedsvc.listing.text`` reads the numbered and compact renderings; when they
give no item, this module reads the rest of the family:

* bulleted: a line starting with a bullet (``•``, ``*``, ``·``, an en or em
  dash, ``-`` with text after it or alone), ``N.`` or ``N)`` starts an item,
  which runs until the next such line (not indented deeper), a heading, a
  "more" link, or a line indented no deeper than its bullet when its other
  lines are deeper or a blank line stands before it. Bullets count as item
  starts only when at least one bulleted item holds a date: a bulleted menu
  stays text, and a bulleted web address (a text browser's references) is
  skipped without a warning.
* blocks: no markers at all; each item is anchored on its date line, with the
  title on the lines just before it ("title first") or just after it ("date
  first"), and the summary after both, up to the next item's title, a
  heading or a "more" link. Fields may be lines in a row or blocks separated
  by blank lines. Which way round the document is, is decided once for the
  whole document from where its dates stand (see ``_Layout``); a document
  whose dates carry their summary on their line and have nothing above them
  has no title lines.

A date line is any form ``feedsvc.listing.dates.classify_listing_date`` reads,
alone on its line, or followed by `` -- `` (or an em or en dash, `` - ``, `` | ``
between spaces) and text, which is the start of the summary ("26 November 2015
-- The ministers agreed..."), or preceded by the title and such a separator ("Title --
26 November 2015") or ending the title in brackets ("Title (26 November 2015)").

Within an item, the lines before the date are, as in the compact rendering, an
optional ``©`` credit, an optional category and the title (the last line);
a line about as wide as the widest line of the page, when the next line's
first word would not have fitted after it, runs on into the next (a wrapped
title). An
item with no title line (nothing before its date, or, date first, text on the
date's line) takes as title the first sentence of its summary (without its
final full stop, cut at a word before TITLE_FROM_SUMMARY_CHARS characters with
"…"), and keeps the whole summary.

Never items: month headings, section headings (known words such as "Press
releases", "Latest news", "Actualités", a line ending with ":", a line
underlined with ``===`` or ``---``, a Markdown ``#`` heading, a short line of
capitals alone between blank lines, unless a date follows it), navigation
(breadcrumbs "Home > News", menus "Home | About | News", pagination "« Previous
1 2 3 Next »", "Skip to content"), separator lines (``* * *``), and "more"
links (``» more``, ``Read more``, ``En savoir plus``, ``Lire la suite``, ``Leer
más``, ...), which end an item.

The text is read twice, a chunk of lines at a time: once to give each line a
kind (one byte a line) and decide the layout, once to build items. An item
keeps at most MAX_ITEM_LINES lines; memory stays in step with the text.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from feedsvc.listing.dates import (
    DateProblem,
    heading_classifier,
    listing_date_classifier,
)
from feedsvc.listing.warnings import WarningLog
from feedsvc.models import ListingItem

__all__ = [
    "MAX_ITEM_LINES",
    "MORE_LINKS",
    "SECTION_HEADINGS",
    "TITLE_FROM_SUMMARY_CHARS",
    "LooseResult",
    "read_loose_listing",
]

MORE_LINKS: frozenset[str] = frozenset((
    "more", "read more", "read the full story", "full story", "continue reading",
    "see more", "find out more", "learn more",
    "en savoir plus", "lire la suite", "lire plus", "plus", "voir plus", "suite",
    "leer más", "leer mas", "seguir leyendo", "ver más", "ver mas", "más", "mas",
))
""""More" links (casefolded, without arrows, brackets or dots): they end an item."""

SECTION_HEADINGS: frozenset[str] = frozenset(phrase.casefold() for phrase in (
    "Media contact", "Media contacts", "Press releases", "Press release archive",
    "News", "Latest news", "More news", "News and events", "News & events",
    "Newsroom", "Press room", "Press centre", "Press center", "Media centre",
    "Media center", "Top stories", "Featured", "Highlights", "Statements", "Speeches",
    "Events", "Upcoming events", "Publications", "Features", "Stories", "Archive",
    "Announcements", "Related links", "Contact", "Contact us", "Share", "Print",
    "Home", "Menu", "Search", "Skip to content", "Skip to main content",
    "Back to top", "Subscribe", "Follow us", "References", "Links",
    "Actualités", "Dernières actualités", "Communiqués de presse", "Contact presse",
    "Contacts presse", "Événements", "Discours", "Déclarations", "Accueil",
    "Aller au contenu", "Retour en haut", "Publications récentes", "Salle de presse",
    "Espace presse",
    "Noticias", "Últimas noticias", "Comunicados de prensa", "Contacto de prensa",
    "Contactos de prensa", "Eventos", "Discursos", "Declaraciones", "Inicio",
    "Ir al contenido", "Volver arriba", "Sala de prensa",
))
"""Section headings, navigation and page furniture (casefolded): never items,
and they end the item before them."""

MAX_ITEM_LINES = 1000
"""Lines one item keeps; the rest are dropped with a warning (a hostile listing
may make millions of lines one item)."""

TITLE_FROM_SUMMARY_CHARS = 120
"""Longest title taken from a summary's first sentence."""

_LONGEST_CACHED_LINE = 200
"""Longer lines are read afresh each time: they seldom repeat."""

_WIDTH_SLACK = 12
"""A line this close to the page's widest line (or closer) is taken as wrapped."""
_MIN_WRAP_WIDTH = 50

# Line kinds (one byte each).
_BLANK, _TEXT, _DATE, _BULLET, _HEAD, _END = range(6)

_BULLET_LINE = re.compile(
    "(?:[•*·▪◦‣+►▶▸■□●○\u2013\u2014-]|\\d{1,3}[.)])(?:\\s+(?P<text>.*))?")
_LINK_NUMBER = re.compile(r"(?:(?<=\s)|^)\[\d{1,4}\](?=\S)")
"""A text browser's link number ("[12]Title"): not part of the text."""
_RULE = re.compile(r"(?:[-=_*~#•·.]\s*){3,}")
_SEPARATORS = (" -- ", " \u2014 ", " \u2013 ", " - ", " | ")
_BRACKETED_DATE = re.compile(r"(?P<title>.*\S)\s*\((?P<date>[^()]{4,60})\)")
_MORE_TRIM = str.maketrans("", "", "»«\u203a\u2039>→…[]().:")
_BREADCRUMB = re.compile("\\s+[>\u203a»/]\\s+")
_MENU = re.compile(r"\s+\|\s+")
_URL = re.compile(r"(?:https?|ftp|mailto|file):\S*", re.IGNORECASE)
_PAGINATION_WORDS = frozenset((
    "previous", "prev", "next", "first", "last", "page", "of", "précédent",
    "précédente", "suivant", "suivante", "page", "sur", "anterior", "siguiente",
    "página", "de", "older", "newer", "posts", "entries",
))
_PAGINATION_MARKS = frozenset("«»\u2039\u203a<>…|")
_SENTENCE_END = re.compile(r"[.!?](?=\s+[^\s\w]*[A-ZÀ-ÖØ-Þ¿¡\d]|\s*$)")


@dataclass(frozen=True)
class LooseResult:
    """What ``read_loose_listing`` found: the items, and whether anything in the
    text had a listing's shape (``matched``: a dated line or a dated bulleted
    item) or was text at all beyond headings and navigation (``has_text``)."""

    items: tuple[ListingItem, ...]
    matched: bool
    has_text: bool


@dataclass(frozen=True)
class _DateLine:
    """A line holding a date: the date, the text before it (a title) and after it."""

    date: dt.date | DateProblem
    before: str | None
    after: str | None


@dataclass(slots=True)
class _Line:
    number: int
    text: str
    indent: int
    gap: bool
    """A blank line stands between this line and the one before it."""


@dataclass
class _Pending:
    """Lines of one item being read: its lines before and after the date."""

    line: int
    kind: str
    before: list[_Line] = field(default_factory=list)
    date: _DateLine | None = None
    date_line: int = 0
    after: list[_Line] = field(default_factory=list)
    dropped: int = 0
    marker_indent: int = -1
    deeper: str | None = None
    closed: bool = False
    """Block items: a heading ended the summary; later text is outside."""


def read_loose_listing(
    lines: Callable[[], Iterable[str]],
    warnings: WarningLog,
    *,
    language: str | None,
    today: dt.date | None = None,
    date_order: str = "dmy",
) -> LooseResult:
    """Read the items of a bulleted or block listing (see the module's docstring).

    ``lines`` gives the text's lines afresh on each call (it is read twice);
    lines have no line ends, text is free of characters XML forbids. Warnings
    go to ``warnings``. ``language`` None reads dates in every supported
    language. Never raises on any text.
    """
    classify_date = functools.lru_cache(maxsize=4096)(
        listing_date_classifier(language, today=today, date_order=date_order))
    reader = _LineReader(classify_date, heading_classifier(language))
    layout = _Layout()
    kinds = bytearray()
    widest = 0
    for raw in _without_link_numbers(lines()):
        kind = reader.kind(raw)
        kinds.append(kind)
        if reader.underlines_previous:
            kinds[-2] = _HEAD
        # Indentation matters to bulleted items only: spare measuring it elsewhere.
        indent = _indent(raw) if kind == _BULLET or layout.in_bullet else 0
        layout.see(kind, reader.last_date, bullet_dated=reader.bullet_dated, indent=indent)
        if kind != _BLANK:
            widest = max(widest, _width(raw.rstrip()))
    if not layout.matched:
        # No date anywhere: no item either, and the caller has other warnings.
        return LooseResult((), matched=False, has_text=layout.has_text)
    builder = _Builder(
        reader, layout.decide(), warnings,
        wrap_width=widest if widest >= _MIN_WRAP_WIDTH else None,
        bullets=layout.dated_bullets > 0,
    )
    for number, (raw, kind) in enumerate(zip(_without_link_numbers(lines()), kinds,
                                             strict=False), 1):
        builder.take(number, raw, kind)
    builder.finish()
    return LooseResult(tuple(builder.items), layout.matched, layout.has_text)


def _without_link_numbers(lines: Iterable[str]) -> Iterator[str]:
    for line in lines:
        yield _LINK_NUMBER.sub("", line) if "[" in line else line


class _LineReader:
    """Gives each line its kind; keeps what the last date line held."""

    def __init__(
        self,
        classify_date: Callable[[str], dt.date | DateProblem | None],
        classify_heading: Callable[[str], tuple[int, int] | DateProblem | None],
    ) -> None:
        self.classify_date = classify_date
        self.classify_heading = classify_heading
        self.last_date: _DateLine | None = None
        self.bullet_dated = False
        """Whether the text of the last bullet line read holds a date."""
        self.underlines_previous = False
        """Whether the last line read underlines a text line just above it
        (``===``, ``---``), which is then a heading."""
        self._previous_text = False
        # Listings repeat lines (dates, furniture, junk): read each spelling once.
        self._cached_kind = functools.lru_cache(maxsize=4096)(self._kind)

    def kind(self, raw: str) -> int:
        line = raw.strip()
        if len(line) <= _LONGEST_CACHED_LINE:
            kind, date, bullet_dated = self._cached_kind(line)
        else:
            kind, date, bullet_dated = self._kind(line)
        if kind == _DATE:
            self.last_date = date
        elif kind == _BULLET:
            self.bullet_dated = bullet_dated
        self.underlines_previous = (
            kind == _HEAD and self._previous_text and _RULE.fullmatch(line) is not None
        )
        self._previous_text = kind == _TEXT
        return kind

    def kind_of_field(self, line: str) -> int:
        """The kind of the text after a bullet (a date, or text)."""
        return _DATE if self.date_line(line) is not None else _TEXT

    def _kind(self, line: str) -> tuple[int, _DateLine | None, bool]:
        """The kind of the stripped ``line``, the date it holds (date lines) and
        whether its text after the bullet holds a date (bullet lines). Pure."""
        if not line:
            return _BLANK, None, False
        if _RULE.fullmatch(line):
            return _HEAD, None, False
        folded = line.casefold()
        if len(line) <= 40 and " ".join(folded.translate(_MORE_TRIM).split()) in MORE_LINKS:
            return _END, None, False
        bullet = _BULLET_LINE.fullmatch(line)
        if bullet is not None:
            text = (bullet["text"] or "").strip()
            return _BULLET, None, bool(text) and self.date_line(text) is not None
        date = self.date_line(line)
        if date is not None:
            return _DATE, date, False
        if _is_heading(line, folded) or self.classify_heading(line) is not None:
            return _HEAD, None, False
        return _TEXT, None, False

    def date_line(self, line: str) -> _DateLine | None:
        """The date ``line`` holds, with the text before and after it, or None."""
        date = self.classify_date(line)
        if date is not None:
            return _DateLine(date, None, None)
        if len(line) > 500:
            return None
        for separator in _SEPARATORS:
            position = line.find(separator)
            if position <= 0:
                continue
            head, tail = line[:position].strip(), line[position + len(separator):].strip()
            date = self.classify_date(head)
            if date is not None:
                return _DateLine(date, None, tail or None)
            last = line.rfind(separator)
            date = self.classify_date(line[last + len(separator):].strip())
            if date is not None:
                return _DateLine(date, line[:last].strip() or None, None)
        if line.endswith(")"):
            match = _BRACKETED_DATE.fullmatch(line)
            if match is not None:
                date = self.classify_date(match["date"].strip())
                if date is not None:
                    return _DateLine(date, match["title"], None)
        return None


def _is_heading(line: str, folded: str) -> bool:
    """Section headings and navigation lines (see SECTION_HEADINGS)."""
    if folded in SECTION_HEADINGS or line.startswith("#"):
        return True
    if line.endswith(":") and len(line.split()) <= 6:
        return True
    if len(line) <= 120:
        crumbs = _BREADCRUMB.split(line)
        if len(crumbs) >= 2 and all(len(crumb) <= 30 for crumb in crumbs):
            return True
        entries = _MENU.split(line)
        if len(entries) >= 3 and all(len(entry) <= 25 for entry in entries):
            return True
        words = folded.split()
        if words and all(
            word in _PAGINATION_WORDS or word.isdigit() or set(word) <= _PAGINATION_MARKS
            for word in words
        ) and any(not word.isdigit() for word in words):
            return True
    return False


class _Layout:
    """Decides, from every date line in turn, which way round a block listing is.

    Each date line outside bulleted items votes: text right above it (no blank
    line between) or on its line before it says "title first". Otherwise it
    votes by what came since the last heading, "more" link or date (not
    counting the lines that run on from that date's line): nothing says "date
    first", or "no title lines" when its line holds text after the date; text
    says "title first" for the document's first date only (before later dates
    stands the last item's summary too, whichever way round).
    """

    def __init__(self) -> None:
        self.votes = {"before": 0, "after": 0, "none": 0}
        self.dated_bullets = 0
        self.matched = False
        self.has_text = False
        self._dates = 0
        self.in_bullet = False
        """Whether the lines being read are in a bulleted item (without a date yet)."""
        self._previous = _BLANK
        self._text_since_anchor = False
        self._touching_date = False
        self._gap = False
        self._bullet_indent = 0
        self._fields_deeper: bool | None = None

    def see(
        self, kind: int, last_date: _DateLine | None, *, bullet_dated: bool, indent: int
    ) -> None:
        """Take the next line's kind (``last_date``: the last date line read;
        ``bullet_dated``: whether the last bullet line holds a date; ``indent``:
        the line's indentation)."""
        if self.in_bullet and kind not in (_BLANK, _BULLET):
            if self._fields_deeper is None:
                self._fields_deeper = indent > self._bullet_indent
            if indent <= self._bullet_indent and (self._gap or self._fields_deeper):
                self.in_bullet = False  # the line is outside the bulleted item
        self._gap = kind == _BLANK
        if kind == _TEXT:
            self.has_text = True
            if not self._touching_date:
                self._text_since_anchor = True
        elif kind == _BLANK:
            self._touching_date = False
        elif kind == _BULLET:
            self.in_bullet = not bullet_dated
            self._bullet_indent = indent
            self._fields_deeper = None
            if bullet_dated:
                self.matched = True
                self.dated_bullets += 1
            self._text_since_anchor = False
            self._touching_date = False
        elif kind == _DATE:
            self.matched = True
            if self.in_bullet:
                self.dated_bullets += 1
                self.in_bullet = False
            elif last_date is not None:
                self._vote(last_date, self._previous == _TEXT, self._text_since_anchor)
            self._text_since_anchor = False
            self._touching_date = True
        else:  # a heading or a "more" link
            self.in_bullet = False
            self._text_since_anchor = False
            self._touching_date = False
        self._previous = kind

    def _vote(self, date: _DateLine, above: bool, since_anchor: bool) -> None:
        first = self._dates == 0
        self._dates += 1
        if above or date.before is not None:
            self.votes["before"] += 1
        elif date.after is not None and not since_anchor:
            self.votes["none"] += 1
        elif not since_anchor:
            self.votes["after"] += 1
        elif first:
            self.votes["before"] += 1

    def decide(self) -> str:
        """"before", "after" or "none"; ties go to "before"."""
        return max(("before", "after", "none"), key=lambda way: (self.votes[way], way == "before"))


class _Builder:
    """Turns the lines, with their kinds, into items."""

    def __init__(
        self, reader: _LineReader, layout: str, warnings: WarningLog, *,
        wrap_width: int | None, bullets: bool,
    ) -> None:
        self.reader = reader
        self.layout = layout
        self.warnings = warnings
        self.wrap_width = wrap_width
        self.bullets = bullets
        self.items: list[ListingItem] = []
        self.item: _Pending | None = None
        self.chunk: list[_Line] = []
        """Block layouts: the run of text lines since the last blank line or date."""
        self.chunk_touches_date = False
        self.gap = False
        self.previous_kind = _BLANK

    # --- the line loop ---

    def take(self, number: int, raw: str, kind: int) -> None:
        if kind == _BULLET and not self.bullets:
            kind = _TEXT
        item = self.item
        if item is not None and item.kind == "bulleted" and kind != _BLANK:
            outside = _indent(raw) <= item.marker_indent
            if (kind == _BULLET and outside) or kind in (_HEAD, _END) or (
                not _belongs(item, raw) or (self.gap and outside)
            ):
                self.end_item()
            else:
                self.add_to_bullet(item, number, raw, kind)
                self.previous_kind = kind
                return
        if kind == _BLANK:
            self.gap = True
            self.previous_kind = kind
            return
        line = raw.strip()
        if kind == _BULLET:
            self.flush_chunk()
            self.end_item()
            item = _Pending(number, "bulleted", marker_indent=_indent(raw))
            text = (_BULLET_LINE.fullmatch(line) or _never())["text"]
            self.item = item
            if text and text.strip():
                self.add_to_bullet(item, number, " " * (_indent(raw) + 2) + text.strip(),
                                   self.reader.kind_of_field(text.strip()))
                item.deeper = None
        elif kind == _DATE:
            self.block_date(number, line)
        elif kind == _TEXT:
            if self.gap or self.previous_kind != _TEXT:
                self.flush_chunk()
                self.chunk_touches_date = not self.gap and self.previous_kind == _DATE
            self.chunk.append(_Line(number, line, _indent(raw), self.gap))
            if len(self.chunk) > 2 * MAX_ITEM_LINES:
                del self.chunk[:MAX_ITEM_LINES]  # hostile text: keep memory bounded
        else:
            heading = self.reader.classify_heading(line) if kind == _HEAD else None
            if isinstance(heading, DateProblem):
                self.warnings.warn(number, heading.reason)
            self.flush_chunk()
            self.end_item()
        self.gap = False
        self.previous_kind = kind

    def finish(self) -> None:
        self.flush_chunk()
        self.end_item()

    # --- bulleted items ---

    def add_to_bullet(self, item: _Pending, number: int, raw: str, kind: int) -> None:
        line = raw.strip()
        gap = self.gap
        self.gap = False
        if item.deeper is None:
            prefix = raw[: len(raw) - len(raw.lstrip())]
            item.deeper = prefix if _width(prefix) > item.marker_indent else ""
        if item.date is None and kind == _DATE:
            date = self.reader.date_line(line)
            if date is not None:
                item.date = date
                item.date_line = number
                return
        target = item.before if item.date is None else item.after
        if len(item.before) + len(item.after) >= MAX_ITEM_LINES:
            item.dropped += 1
            return
        target.append(_Line(number, line, _indent(raw), gap))

    # --- block items ---

    def block_date(self, number: int, line: str) -> None:
        date = self.reader.date_line(line)
        if date is None:  # cannot happen: the line was read as a date
            return
        title: list[_Line] = []
        if self.layout == "before" and date.before is None:
            title = self.take_title_chunk()
        self.flush_chunk()
        self.end_item()
        item = _Pending(title[0].number if title else number, "dated")
        item.before = title
        item.date = date
        item.date_line = number
        self.item = item

    def take_title_chunk(self) -> list[_Line]:
        """Title first: the text lines right before a date are its item's title.
        When they run on from the last item's date line with no blank line
        between, only the last (logical) line is the title."""
        chunk = self.chunk
        if not chunk:
            return []
        if self.chunk_touches_date and self.item is not None and len(chunk) > 1:
            logical = self.logical_lines(chunk)
            title_lines = logical[-1]
            self.chunk = chunk[: len(chunk) - len(title_lines)]
            return title_lines
        if self.chunk_touches_date and self.item is not None:
            return []  # one line on from the last date: that item's summary
        self.chunk = []
        return chunk

    def flush_chunk(self) -> None:
        """The pending text lines join the open item's summary (or, with no item
        open, are text outside items)."""
        chunk, self.chunk = self.chunk, []
        item = self.item
        if not chunk:
            return
        if item is None or item.kind != "dated" or item.closed:
            return  # text outside items: an introduction, a footer
        if chunk[0].gap and _capitals_heading(chunk) and (self.layout != "after" or item.after):
            # A line of capitals on its own ("STATEMENTS") heads a section: it
            # ends the item (a date right below it would make it a title).
            item.closed = True
            return
        room = MAX_ITEM_LINES - len(item.before) - len(item.after)
        item.after.extend(chunk[:max(room, 0)])
        item.dropped += max(len(chunk) - max(room, 0), 0)

    # --- items ---

    def end_item(self) -> None:
        item, self.item = self.item, None
        if item is None:
            return
        if item.kind == "dated":
            self.flush_chunk_into(item)
        built = self.build(item)
        if built is not None:
            self.items.append(built)

    def flush_chunk_into(self, item: _Pending) -> None:
        self.item = item
        self.flush_chunk()
        self.item = None

    def build(self, item: _Pending) -> ListingItem | None:
        date = item.date
        label = "bulleted" if item.kind == "bulleted" else "dated"
        if item.dropped:
            self.warnings.warn(item.line, f"{label} item runs over {MAX_ITEM_LINES} lines; "
                               f"{item.dropped} line(s) dropped")
        if date is None:
            if item.before and not _URL.fullmatch(item.before[0].text):
                # (A bulleted address is a link list, such as a text browser's
                # references, not a news item.)
                self.warnings.warn(item.line, f"{label} item {_quote(item.before[0].text)} "
                                   "has no date, skipped")
            return None
        if isinstance(date.date, DateProblem):
            self.warnings.warn(item.date_line, f"{date.date.reason}, item skipped")
            return None
        before, summary_lines = self.fields_and_summary(item, date)
        fields = [" ".join(line.text for line in group) for group in self.logical_lines(before)]
        credit = None
        if fields and fields[0].startswith("©"):
            credit = _clean(fields[0][1:]) or None
            fields = fields[1:]
        summary = _summary(summary_lines)
        if len(fields) > 2:
            self.warnings.warn(item.line, f"{label} item has {len(fields) - 2} line(s) "
                               "before its category and title, dropped")
        named = _title_and_category(fields, summary)
        if named is None:
            self.warnings.warn(item.date_line, f"{label} item has no title and no summary, "
                               "skipped")
            return None
        title, category = named
        return ListingItem(title, date.date, category, credit, summary, item.line)

    def fields_and_summary(
        self, item: _Pending, date: _DateLine
    ) -> tuple[list[_Line], list[_Line]]:
        """The lines of ``item`` before its date that hold its fields (credit,
        category, title) and the lines that make its summary."""
        before = list(item.before)
        if date.before is not None:
            before.append(_Line(item.date_line, date.before, 0, False))
        after = list(item.after)
        summary_start: list[_Line] = []
        if date.after is not None:
            summary_start = [_Line(item.date_line, date.after, 0, False)]
        elif not before and (self.layout == "after" or item.kind == "bulleted") and after:
            # Date first: the line after the date is the title.
            logical = self.logical_lines(after)
            before = logical[0]
            after = after[len(before):]
            if after:
                after[0] = _Line(after[0].number, after[0].text, after[0].indent, True)
        return before, [*summary_start, *after]

    def logical_lines(self, lines: Sequence[_Line]) -> list[list[_Line]]:
        """``lines`` grouped into logical lines: a line runs on into the next (no
        blank line between) when it is about as wide as the page's widest line
        and the next line's first word would not have fitted after it: where a
        renderer wrapping text at that width would have broken it."""
        groups: list[list[_Line]] = []
        wrap = self.wrap_width
        for line in lines:
            if groups and not line.gap and wrap is not None and _wrapped(
                groups[-1][-1], line, wrap
            ):
                groups[-1].append(line)
            else:
                groups.append([line])
        return groups


def _title_and_category(fields: list[str], summary: str | None) -> tuple[str, str | None] | None:
    """An item's title and category: its last field line and the one before that, or
    (with no field lines) a title made from the summary; None when it has neither."""
    if fields:
        return _clean(fields[-1]), (_clean(fields[-2]) if len(fields) >= 2 else None)
    if summary:
        return title_from_summary(summary), None
    return None


_LONGEST_CAPITALS_HEADING = 40


def _capitals_heading(chunk: Sequence[_Line]) -> bool:
    """Whether ``chunk`` is one short line of capitals (four letters at least)."""
    if len(chunk) != 1 or len(chunk[0].text) > _LONGEST_CAPITALS_HEADING:
        return False
    text = chunk[0].text
    return text.isupper() and sum(char.isalpha() for char in text) >= 4


def _wrapped(line: _Line, following: _Line, wrap_width: int) -> bool:
    width = line.indent + _width(line.text)
    first_word = following.text.split(" ", 1)[0]
    return width >= wrap_width - _WIDTH_SLACK and width + 1 + _width(first_word) > wrap_width


def _never() -> re.Match[str]:
    raise AssertionError("a bullet line reads as one")


def _belongs(item: _Pending, raw: str) -> bool:
    """Whether ``raw`` is a line of bulleted ``item`` by its indentation (as in
    the numbered rendering: the first field line sets the item's indentation)."""
    deeper = item.deeper
    if deeper is None or deeper == "" or raw.startswith(deeper):
        return True
    return _indent(raw) > item.marker_indent


def _indent(raw: str) -> int:
    indent = len(raw) - len(raw.lstrip())
    return len(raw[:indent].expandtabs(8)) if indent and "\t" in raw[:indent] else indent


def _width(text: str) -> int:
    return len(text.expandtabs(8)) if "\t" in text else len(text)


def _clean(value: str) -> str:
    return " ".join(value.split())


def _quote(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _summary(lines: Sequence[_Line]) -> str | None:
    """Paragraphs (lines in a row, joined) separated by one blank line."""
    paragraphs: list[list[str]] = []
    for line in lines:
        if line.gap or not paragraphs:
            paragraphs.append([line.text])
        else:
            paragraphs[-1].append(line.text)
    text = "\n\n".join(_clean(" ".join(paragraph)) for paragraph in paragraphs)
    return text or None


def title_from_summary(summary: str) -> str:
    """An item's title when it has no title line: the first sentence of its
    summary, without its final full stop, cut at a word boundary before
    TITLE_FROM_SUMMARY_CHARS characters (ending with "…")."""
    first = summary.split("\n\n", 1)[0]
    end = _SENTENCE_END.search(first)
    sentence = first[: end.start() + 1] if end is not None else first
    sentence = sentence.removesuffix(".").strip() or first
    if len(sentence) > TITLE_FROM_SUMMARY_CHARS:
        cut = sentence.rfind(" ", 0, TITLE_FROM_SUMMARY_CHARS)
        sentence = sentence[: cut if cut > 0 else TITLE_FROM_SUMMARY_CHARS - 1].rstrip(" ,;:") + "…"
    return sentence
