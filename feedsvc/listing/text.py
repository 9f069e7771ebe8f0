"""The text listing parser: a text rendering of a listing page in, items and warnings out.

Two renderings are read, in any mix:

* numbered: ``  N. `` starts an item (numbering restarts under each month
  heading); fields are separated by one or more blank lines, so lines in a row
  before the date are one field wrapped over them (joined by a space), except
  that a credit line is always a field of its own;
* compact: a line holding only ``-`` starts an item; one field per line.

An item's fields, in order: an optional credit (a line starting with "©"), an
optional category, the title (the last line before the date), the date (one
whole line, see ``feedsvc.listing.dates``) and an optional summary (everything
after the date up to the next item, month heading or page furniture).

Month headings and page furniture ("Media contact", "Press releases", ...) are
never items. A misspelt month heading ("Febuary 2021", see
``feedsvc.listing.dates.heading_classifier``) ends an item like a heading,
with a warning. Whatever cannot be read as an item is skipped with a warning that
names the source and line; the parser never raises on any text.

When neither rendering gives an item, the text is read again in the looser
layouts of ``feedsvc.listing.loose`` (bullets, blocks, numeric and relative
dates); see ``parse_text_listing``.

Field values are normalised: characters XML 1.0 forbids are removed (with a
warning), runs of whitespace become one space, the lines of a summary
paragraph are joined by single spaces and paragraphs by one blank line.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import itertools
import re
from array import array
from collections.abc import Iterable, Iterator, Sequence

import babel.dates

from feedsvc.listing.dates import (
    DATE_ORDERS,
    LANGUAGES,
    DateProblem,
    date_classifier,
    detect_language,
    heading_classifier,
)
from feedsvc.listing.loose import read_loose_listing
from feedsvc.listing.warnings import WarningLog
from feedsvc.models import ListingItem, ParseResult, ParseWarning
from feedsvc.xmlchars import XML_FORBIDDEN, strip_xml_forbidden

__all__ = [
    "FURNITURE",
    "HTML_HINT",
    "NO_LAYOUT_HINT",
    "parse_renderings",
    "parse_text_listing",
    "render_numbered",
]

FURNITURE: frozenset[str] = frozenset(
    phrase.casefold()
    for phrase in (
        "Media contact",
        "Media contacts",
        "All ILO Newsroom content",
        "Press releases",
        "News",
        "Latest news",
        "More news",
        "Actualités",
        "Communiqués de presse",
        "Contact presse",
        "Contacts presse",
        "Noticias",
        "Comunicados de prensa",
        "Contacto de prensa",
        "Contactos de prensa",
    )
)
"""Page furniture: lines that end an item's summary instead of extending it."""

_LONGEST_FURNITURE = max(len(phrase) for phrase in FURNITURE)

_NUMBER_MARKER = re.compile(r"([0-9]{1,3})\.(?:\s+(.*))?")
_COMPACT_MARKER = "-"
_CREDIT_MARK = "©"

_MAX_CHARACTER_WARNINGS = 20

_CHUNK_CHARS = 1 << 16
"""About how much text is split into lines at a time: splitting the whole text
at once would hold a list entry per line, several times the size of a text of
short lines."""

_ENGLISH_MONTHS = babel.dates.get_month_names("wide", "format", locale="en")


class _Block:
    """The lines of one item as they are read; turned into an item when it ends.

    ``deeper`` is the leading whitespace of the item's first field line when that
    is indented deeper than the marker ("" when not, None before that line): a
    line that does not start with it may be furniture outside the item.

    The field lines before the date and the summary lines after it are kept
    as their texts beside an array of their line numbers (no tuple and number
    object per line): a hostile listing may make millions of lines one block.
    """

    __slots__ = ("after", "after_lines", "before", "before_lines", "date", "date_line",
                 "deeper", "label", "line", "marker_indent")

    def __init__(self, line: int, label: str, marker_indent: int) -> None:
        self.line = line
        self.label = label
        self.marker_indent = marker_indent
        self.deeper: str | None = None
        self.before: list[str] = []
        self.before_lines = array("q")
        self.date: dt.date | DateProblem | None = None
        self.date_line = 0
        self.after: list[str] = []
        self.after_lines = array("q")

    @property
    def kind(self) -> str:
        return "'-'" if self.label == _COMPACT_MARKER else f"numbered ({self.label}.)"


NO_LAYOUT_HINT = (
    "no text listing layout matched: expected items started by \"  1. \", \"-\" or a "
    "bullet (\"\u2022 Title\"), or blocks of a title and a date line (\"26 November 2015\", "
    "\"2015-11-26\") separated by blank lines"
)
"""The warning (line 0) of a text in which no layout matched (see parse_text_listing)."""

HTML_HINT = "; the text looks like HTML, which format \"html\" reads"
"""Added to NO_LAYOUT_HINT when the text has HTML tags."""

_HTML_TAG = re.compile(r"<(?:!doctype\s+html|html|head|body|div|article|p|a|li|ul|table)\b",
                       re.IGNORECASE)
_HTML_SAMPLE_CHARS = 10_000


def parse_text_listing(
    text: str,
    *,
    source: str = "<input>",
    language: str | None = None,
    today: dt.date | None = None,
    date_order: str = "dmy",
) -> ParseResult:
    """Read every item of a text listing, in listing order.

    ``language`` ("en", "fr", "es") is the language of dates and month headings.
    None detects it from the text (``detect_language``) for the numbered and
    compact renderings, and reads the other layouts' dates in any supported
    language; the result's ``language`` is the one given or detected.
    ``source`` names the listing in warnings.

    The numbered and compact renderings are read first, exactly as described
    above. When they give no item, the bulleted and block layouts of
    ``feedsvc.listing.loose`` are read, with every date form of
    ``feedsvc.listing.dates.classify_listing_date``: ``today`` (the fetch date)
    resolves relative and yearless dates (without it they are skipped with a
    warning) and ``date_order`` ("dmy", "mdy", "ymd") reads ambiguous numeric
    dates. When neither gives an item, the result's warnings are those of the
    layout that matched (items without a date, say); when no layout matched,
    they start with NO_LAYOUT_HINT, unless the text holds nothing but
    headings and page furniture.

    Never raises on any text (an unsupported ``language`` or ``date_order`` is
    a ValueError); an empty result with warnings says why nothing was found.
    Memory grows with the text, never faster: lines are split a chunk at a
    time, and at most ``feedsvc.listing.warnings.MAX_WARNINGS`` warnings are
    kept (a last one counts the rest).
    """
    if language is not None and language not in LANGUAGES:
        raise ValueError(f"unsupported language {language!r}; expected one of {LANGUAGES}")
    if date_order not in DATE_ORDERS:
        raise ValueError(f"unknown date_order {date_order!r}; expected one of {DATE_ORDERS}")
    text, reader, warnings, character_warnings = _read_renderings(text, source, language)
    if reader.items:
        return ParseResult(items=tuple(reader.items), warnings=warnings.warnings(),
                           language=reader.language)
    others = _read_other_layouts(text, reader, warnings, character_warnings, language=language,
                                 today=today, date_order=date_order)
    return dataclasses.replace(others, language=reader.language)


def parse_renderings(
    text: str, *, source: str = "<input>", language: str | None = None
) -> ParseResult:
    """Read ``text`` as ``parse_text_listing`` does, but in the numbered and compact
    renderings only (no other layout, whatever they find): what a listing read
    by them gives for a part of its text (see ``feedsvc.listing.incremental``)."""
    if language is not None and language not in LANGUAGES:
        raise ValueError(f"unsupported language {language!r}; expected one of {LANGUAGES}")
    _, reader, warnings, _ = _read_renderings(text, source, language)
    return ParseResult(items=tuple(reader.items), warnings=warnings.warnings())


def _read_renderings(
    text: str, source: str, language: str | None
) -> tuple[str, _Reader, WarningLog, WarningLog]:
    """The normalised text, the reader of the numbered and compact renderings
    after reading it, its warnings and the character warnings alone."""
    character_warnings = WarningLog(source)
    text = _normalise_text(text, source, character_warnings)
    if language is None:
        language = detect_language(_lines(text))
    warnings = WarningLog(source)
    warnings.extend(character_warnings.warnings())
    reader = _Reader(language, warnings)
    reader.read(_lines(text))
    return text, reader, warnings, character_warnings


def _read_other_layouts(
    text: str, reader: _Reader, warnings: WarningLog, character_warnings: WarningLog, *,
    language: str | None, today: dt.date | None, date_order: str,
) -> ParseResult:
    """The items of the bulleted and block layouts, when the numbered and compact
    ones (read by ``reader``, which found no item) held none."""
    loose_warnings = WarningLog(character_warnings.source)
    loose_warnings.extend(character_warnings.warnings())
    loose = read_loose_listing(lambda: _lines(text), loose_warnings, language=language,
                               today=today, date_order=date_order)
    if loose.items or (loose.matched and not reader.blocks):
        return ParseResult(items=loose.items, warnings=loose_warnings.warnings())
    if reader.blocks or not loose.has_text:
        return ParseResult(items=(), warnings=warnings.warnings())
    hinted = WarningLog(character_warnings.source)
    looks_like_html = _HTML_TAG.search(text, 0, _HTML_SAMPLE_CHARS) is not None
    hinted.warn(0, NO_LAYOUT_HINT + (HTML_HINT if looks_like_html else ""))
    hinted.extend(warnings.warnings())
    return ParseResult(items=(), warnings=hinted.warnings())


def _lines(text: str) -> Iterator[str]:
    """The lines of ``text`` (LF line endings), as ``text.split("\\n")`` gives them,
    split about _CHUNK_CHARS at a time (each chunk ends at a line end)."""
    return itertools.chain.from_iterable(chunk.split("\n") for chunk in _chunks(text))


def _chunks(text: str) -> Iterator[str]:
    """``text`` in pieces of at least _CHUNK_CHARS characters (the last may be
    shorter), cut at line ends, which are left out."""
    start = 0
    while True:
        end = text.find("\n", start + _CHUNK_CHARS)
        if end < 0:
            yield text[start:]
            return
        yield text[start:end]
        start = end + 1


def _normalise_text(text: str, source: str, warnings: WarningLog) -> str:
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if XML_FORBIDDEN.search(text):
        warnings.extend(_forbidden_character_warnings(text, source))
        text = strip_xml_forbidden(text)
    return text


def _forbidden_character_warnings(text: str, source: str) -> list[ParseWarning]:
    """One warning per line holding characters XML forbids, for the first
    _MAX_CHARACTER_WARNINGS such lines, then one (on the next such line)
    counting the other lines."""
    counts: dict[int, int] = {}
    first_later = last_later = later = 0
    line, position = 1, 0
    for match in XML_FORBIDDEN.finditer(text):
        line += text.count("\n", position, match.start())
        position = match.start()
        if line in counts or len(counts) < _MAX_CHARACTER_WARNINGS:
            counts[line] = counts.get(line, 0) + 1
        elif line != last_later:
            # Matches come in text order: a line not counted yet is not the last one.
            first_later = first_later or line
            later += 1
            last_later = line
    warnings = [
        ParseWarning(source, line, f"removed {count} character(s) that XML does not allow")
        for line, count in counts.items()
    ]
    if later:
        warnings.append(ParseWarning(
            source, first_later, f"... and {later} more line(s) with such characters"
        ))
    return warnings


def _start_block(number: int, raw: str, line: str) -> _Block | None:
    """The block an item marker on line ``number`` starts ("-" alone, or "12." and
    perhaps the first field after it), or None when ``line`` is no marker."""
    if line == _COMPACT_MARKER:
        return _Block(number, _COMPACT_MARKER, _indent(raw))
    marker = _NUMBER_MARKER.fullmatch(line)
    if marker is None:
        return None
    block = _Block(number, marker[1], _indent(raw))
    if marker[2]:
        block.before.append(marker[2].strip())
        block.before_lines.append(number)
    return block


class _Reader:
    """Groups lines into blocks (one per item marker) and blocks into items."""

    def __init__(self, language: str, warnings: WarningLog) -> None:
        self.language = language
        self.warnings = warnings
        self.items: list[ListingItem] = []
        self.blocks = 0
        """Item markers read: items, and blocks that could not be items."""
        # Listings repeat their dates (many items a day): read each spelling once.
        self.classify_date = functools.lru_cache(maxsize=4096)(date_classifier(language))
        self.classify_heading = heading_classifier(language)

    def warn(self, line: int, message: str) -> None:
        self.warnings.warn(line, message)

    def read(self, lines: Iterable[str]) -> None:
        """Read all lines, in one loop that makes as few calls as it can (one per
        line inside a block, none for blank lines): it runs for every line of
        listings of any size.

        A line that is no item marker joins the current block unless it ends it:
        a line indented no deeper than the block's marker (and not starting with
        the indentation of its first field, see _Block), a month heading
        (misspelt ones too), or page furniture after the date. Lines
        outside blocks are furniture, checked for stray dates and headings.
        """
        block: _Block | None = None
        for number, raw in enumerate(lines, 1):
            line = raw.strip()
            if not line:
                # Blank lines only matter between summary paragraphs, where the
                # gap in line numbers shows them.
                continue
            first = line[0]
            # "12. " has its dot within the first four characters; dates never do.
            # (A would-be marker as deeply indented as the fields is a field, such as
            # "1. First point" in a summary.)
            if (first == _COMPACT_MARKER or (first.isdigit() and line.find(".", 1, 4) > 0)) and (
                block is None or not block.deeper or not raw.startswith(block.deeper)
            ):
                started = _start_block(number, raw, line)
                if started is not None:
                    self.end(block)
                    block = started
                    continue
            if block is not None:
                deeper = block.deeper
                if ((deeper is not None and raw.startswith(deeper)) or _indented(block, raw)) and (
                    self.join(block, number, line)
                ):
                    continue
                self.end(block)
                block = None
            if line[-1].isdigit():
                self.check_outside_line(number, line)
        self.end(block)

    def join(self, block: _Block, number: int, line: str) -> bool:
        """Add ``line``, indented as a field of ``block``, to the block as its date or
        a line before or after it; False when it ends the block instead (furniture
        after the date, or a month heading)."""
        # Dates and headings end in a digit: other lines need no look.
        if not line[-1].isdigit():
            if block.date is None:
                block.before.append(line)
                block.before_lines.append(number)
                return True
            if len(line) > _LONGEST_FURNITURE or line.casefold() not in FURNITURE:
                block.after.append(line)
                block.after_lines.append(number)
                return True
            return False
        if block.date is None:
            date = self.classify_date(line)
            if date is not None:
                block.date = date
                block.date_line = number
                return True
            if self.classify_heading(line) is None:
                block.before.append(line)
                block.before_lines.append(number)
                return True
            return False
        if self.classify_heading(line) is None:
            block.after.append(line)
            block.after_lines.append(number)
            return True
        return False

    def check_outside_line(self, number: int, line: str) -> None:
        """Lines outside items are page furniture, but a date there means an item
        lost its marker, and a misspelt month heading may have cut an item short
        (it is where a summary ends): say so rather than pass over them silently."""
        heading = self.classify_heading(line)
        if isinstance(heading, DateProblem):
            self.warn(number, heading.reason)
        elif heading is None and self.classify_date(line) is not None:
            self.warn(number, f"date {line!r} outside any item, ignored")

    def end(self, block: _Block | None) -> None:
        if block is not None:
            self.blocks += 1
            item = self.item_from(block)
            if item is not None:
                self.items.append(item)

    def item_from(self, block: _Block) -> ListingItem | None:
        """The item ``block`` holds, or None (with a warning) when it holds none.

        It runs once per item: the common case (a date, a title, maybe a
        category, credit and one-line summary) takes the fewest steps.
        """
        date = block.date
        fields: Sequence[str] = block.before
        numbers: Sequence[int] = block.before_lines
        credit = None
        if fields and fields[0].startswith(_CREDIT_MARK):
            credit = _clean(fields[0][len(_CREDIT_MARK):].lstrip()) or None
            fields, numbers = fields[1:], numbers[1:]
        count = len(fields)
        # Numbered fields are at least two lines apart (a blank line between):
        # a shorter span means some field is wrapped over lines in a row.
        if count > 1 and block.label != _COMPACT_MARKER and (
            numbers[-1] - numbers[0] < 2 * (count - 1)
        ):
            numbers, fields = _join_wrapped(numbers, fields)
            count = len(fields)
        if not isinstance(date, dt.date) or not count:
            self.warn_skipped(block, date)
            return None
        if count > 2:
            self.warn(
                block.line,
                f"{block.kind} item has {count - 2} line(s) before its category "
                f"and title, dropped (line {_line_list(numbers[:-2])})",
            )
        return ListingItem(
            _clean(fields[-1]),
            date,
            _clean(fields[-2]) if count >= 2 else None,
            credit,
            _summary(block.after_lines, block.after),
            block.line,
        )

    def warn_skipped(self, block: _Block, date: dt.date | DateProblem | None) -> None:
        """Say why ``block`` is no item: no date, a wrong date or no title."""
        if date is None:
            self.warn(block.line, f"{block.kind} item{_quote_first(block)} has no date, skipped")
        elif isinstance(date, DateProblem):
            self.warn(block.date_line, f"{date.reason}, item skipped")
        else:
            self.warn(block.line, f"{block.kind} item has no title before its date, skipped")


def _join_wrapped(
    numbers: Sequence[int], lines: Sequence[str]
) -> tuple[list[int], list[str]]:
    """Numbered fields from their lines and the lines' numbers: lines in a row are
    one field, joined by a space, numbered by its first line."""
    joined_numbers = [numbers[0]]
    joined = [lines[0]]
    previous = numbers[0]
    for number, text in zip(numbers[1:], lines[1:], strict=True):
        if number == previous + 1:
            joined[-1] = f"{joined[-1]} {text}"
        else:
            joined_numbers.append(number)
            joined.append(text)
        previous = number
    return joined_numbers, joined


_MAX_LINES_LISTED = 10


def _line_list(numbers: Sequence[int]) -> str:
    """``numbers`` for a message: "3, 5, 7", and only the first _MAX_LINES_LISTED."""
    shown = ", ".join(str(number) for number in numbers[:_MAX_LINES_LISTED])
    more = len(numbers) - _MAX_LINES_LISTED
    return f"{shown} and {more} more" if more > 0 else shown


def _indented(block: _Block, raw: str) -> bool:
    """Whether ``raw`` belongs to the block by its indentation; the block's
    first field line sets what "deeper than the marker" is."""
    deeper = block.deeper
    if deeper is None:
        prefix = raw[: len(raw) - len(raw.lstrip())]
        block.deeper = prefix if _width(prefix) > block.marker_indent else ""
        return True
    return _indent(raw) > block.marker_indent


def _quote_first(block: _Block) -> str:
    return f" {block.before[0]!r}" if block.before else ""


def _indent(raw: str) -> int:
    return _width(raw[: len(raw) - len(raw.lstrip())])


def _width(whitespace: str) -> int:
    return len(whitespace.expandtabs(8)) if "\t" in whitespace else len(whitespace)


def _clean(value: str) -> str:
    """``value``, which has no whitespace at either end (stripped lines, and such
    lines joined by single spaces), with each run of whitespace made one space.

    ``value`` comes from text without the characters XML forbids, so its only
    ASCII whitespace can be space and tab; printable text has no whitespace but
    space. Those cheap tests spare splitting and joining most values.
    """
    if "  " not in value and ((value.isascii() and "\t" not in value) or value.isprintable()):
        return value
    return " ".join(value.split())


def _summary(numbers: Sequence[int], lines: Sequence[str]) -> str | None:
    """The summary from its lines and their numbers: a gap in the numbers is a
    blank line, which separates paragraphs."""
    if not lines:
        return None
    if len(lines) == 1:
        # One line is the common summary: no paragraphs to find.
        return _clean(lines[0])
    paragraphs: list[str] = []
    start = 0
    for index in range(1, len(lines)):
        if numbers[index] != numbers[index - 1] + 1:
            paragraphs.append(_clean(" ".join(lines[start:index])))
            start = index
    paragraphs.append(_clean(" ".join(lines[start:])))
    return "\n\n".join(paragraphs)


def render_numbered(items: Iterable[ListingItem]) -> str:
    """The numbered text rendering of ``items``, in the given order, under English
    month headings; numbering restarts under each heading. Reading the result
    with ``parse_text_listing`` gives back the items' fields (with their ``line``
    set to where they now start), provided no field is itself a marker, month
    heading (misspelt ones included), date or furniture line."""
    out: list[str] = []
    month: tuple[int, int] | None = None
    number = 0
    for item in items:
        if (item.date.year, item.date.month) != month:
            month = (item.date.year, item.date.month)
            number = 0
            out.append(f"{_ENGLISH_MONTHS[item.date.month]} {item.date.year:04d}\n\n")
        number += 1
        fields = [f"{_CREDIT_MARK} {item.credit}"] if item.credit is not None else []
        if item.category is not None:
            fields.append(item.category)
        fields += [item.title, _english_date(item.date)]
        if item.summary:
            fields += item.summary.split("\n\n")
        out.append(f"  {number}. {fields[0]}\n\n")
        out.extend(f"    {field}\n\n" for field in fields[1:])
    return "".join(out)


def _english_date(date: dt.date) -> str:
    return f"{date.day:02d} {_ENGLISH_MONTHS[date.month]} {date.year:04d}"
