"""Reading a text listing that only changed near its top, from the top down to where it
stops changing. Pure.

Listings that keep their history grow at the top: a new item, a renumbered
month, and below that the same text as last time. A month heading ends any
item above it and starts the reader afresh (see ``feedsvc.listing.text``),
so what follows the first heading inside the text the two versions share
parses exactly as it did last time. ``read_changed_top`` finds that heading,
parses only the text above it (in both versions), and says how many items
lie below; the caller already stored those.

It declines (returns None) whenever that would not give exactly what a full
parse gives: a different language detected, characters that the parser
strips or warns about document-wide, an item repeated in the listing,
warnings beyond what it can carry over, or no heading in the shared part.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from feedsvc.identity import item_key
from feedsvc.listing.dates import detect_language, heading_classifier
from feedsvc.listing.text import parse_renderings
from feedsvc.models import ListingItem, ListingSnapshot, ParseWarning
from feedsvc.xmlchars import XML_FORBIDDEN

COMPARE_BLOCK = 1 << 16
"""Characters compared at a time when looking for the shared end of two texts."""
MAX_SCANNED_LINES = 20_000
"""How far below the last change a month heading is looked for before giving up."""
MAX_CARRIED_WARNINGS = 50
"""A previous read with this many warnings or more is read again in full."""


@dataclass(frozen=True)
class ChangedTop:
    """A listing read from its top down to the unchanged part.

    ``items`` are the items above the cut (listing order); ``old_keys`` the keys
    the previous version had above its cut; ``listed_below`` how many distinct
    items lie below, unchanged; ``warnings`` every parser warning of the whole
    listing, as a full read would give them.
    """

    items: tuple[ListingItem, ...]
    old_keys: frozenset[str]
    listed_below: int
    warnings: tuple[ParseWarning, ...]
    language: str

    @property
    def item_count(self) -> int:
        return len(self.items) + self.listed_below


def is_plain(text: str) -> bool:
    """Whether ``text`` has nothing the text parser strips or warns about document-wide."""
    return "\r" not in text and XML_FORBIDDEN.search(text) is None


def has_repeats(items: Sequence[ListingItem]) -> bool:
    return len({item_key(item.date, item.title) for item in items}) != len(items)


def read_changed_top(
    previous: ListingSnapshot, text: str, *, source: str, language: str | None,
    listed_before: Callable[[Collection[str]], Collection[str]],
) -> ChangedTop | None:
    """Read ``text`` (the listing's new version) building on ``previous``, or None
    when only a full read gives the right answer. ``language`` is the source's
    configured language (None: detected, as a full read would).
    ``listed_before(keys)`` says which of ``keys`` the source listed before (the
    store knows): a key above the cut that the old top did not have, yet the
    source listed, may be repeated below it, which only a full read can tell."""
    if not previous.plain or previous.repeats or len(previous.warnings) >= MAX_CARRIED_WARNINGS:
        return None
    if any(warning.line == 0 for warning in previous.warnings):
        return None
    wanted = language or detect_language(io.StringIO(text))
    if wanted != previous.language:
        return None
    shared = shared_end(previous.text, text)
    cut = _first_heading(text, len(text) - shared, wanted)
    if cut is None:
        return None
    old_cut = cut - (len(text) - len(previous.text))
    top, old_top = text[:cut], previous.text[:old_cut]
    if not is_plain(top):
        return None
    new = parse_renderings(top, source=source, language=wanted)
    old = parse_renderings(old_top, source=source, language=wanted)
    # Items in the new top (and in the old one, unless it is empty) mean both
    # versions read as numbered or compact renderings, as the part below the cut
    # did; the other layouts are decided over the whole text, never a part.
    if not new.items or (old_top.strip() and not old.items):
        return None
    if has_repeats(new.items) or has_repeats(old.items):
        return None
    old_keys = frozenset(item_key(item.date, item.title) for item in old.items)
    arrived = {item_key(item.date, item.title) for item in new.items} - old_keys
    if arrived and set(listed_before(arrived)):
        return None
    old_lines, new_lines = old_top.count("\n"), top.count("\n")
    below = tuple(
        ParseWarning(source, warning.line - old_lines + new_lines, warning.message)
        for warning in previous.warnings if warning.line > old_lines
    )
    return ChangedTop(
        items=new.items,
        old_keys=old_keys,
        listed_below=previous.item_count - len(old.items),
        warnings=(*new.warnings, *below),
        language=wanted,
    )


def shared_end(old: str, new: str) -> int:
    """How many characters ``old`` and ``new`` share at their end."""
    limit = min(len(old), len(new))
    shared = 0
    while shared < limit:
        step = min(COMPARE_BLOCK, limit - shared)
        if old[len(old) - shared - step:len(old) - shared] == \
                new[len(new) - shared - step:len(new) - shared]:
            shared += step
            continue
        # The difference is in this block: narrow it down a character at a time.
        while shared < limit and old[len(old) - shared - 1] == new[len(new) - shared - 1]:
            shared += 1
        break
    return shared


def _first_heading(text: str, start: int, language: str) -> int | None:
    """Where the first whole line at or after ``start`` that is a month heading begins
    (None when none does within ``MAX_SCANNED_LINES`` lines)."""
    classify = heading_classifier(language)
    if start > 0 and text[start - 1] != "\n":
        start = text.find("\n", start) + 1
        if start == 0:
            return None
    position = start
    for _ in range(MAX_SCANNED_LINES):
        if position >= len(text):
            return None
        end = text.find("\n", position)
        end = len(text) if end < 0 else end
        line = text[position:end].strip()
        if line and line[-1].isdigit() and isinstance(classify(line), tuple):
            return position
        position = end + 1
    return None
