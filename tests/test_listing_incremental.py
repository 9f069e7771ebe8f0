"""Reading only the changed top of a text listing gives exactly what a full read gives."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Collection
from dataclasses import replace

import pytest

from feedsvc.identity import item_key
from feedsvc.listing import parse_text_listing, render_numbered
from feedsvc.listing.incremental import (
    has_repeats,
    is_plain,
    read_changed_top,
    shared_end,
)
from feedsvc.models import ListingItem, ListingSnapshot

WORDS = ("labour", "report", "youth", "skills", "rights", "safety", "jobs", "wages", "policy")


def listing(count: int, seed: int, newest: dt.date = dt.date(2021, 11, 30)) -> list[ListingItem]:
    chance = random.Random(seed)
    day = newest
    made = []
    for index in range(count):
        if chance.random() < 0.4:
            day -= dt.timedelta(days=chance.randint(1, 9))
        made.append(ListingItem(
            title=" ".join(chance.choices(WORDS, k=5)).capitalize() + f" {seed}-{index}",
            date=day,
            category=chance.choice(("Press release", "Video", None)),
            credit="A. Photographer" if chance.random() < 0.3 else None,
            summary="Some words. " * chance.randint(0, 3) or None,
        ))
    return made


def previous_read(text: str, language: str = "en") -> ListingSnapshot:
    full = parse_text_listing(text, source="s", language=language)
    return ListingSnapshot(text=text, language=language, item_count=len(full.items),
                        warnings=full.warnings, plain=is_plain(text),
                        repeats=has_repeats(full.items))


def nothing_listed(keys: object) -> set[str]:
    return set()


def everything_listed(keys: Collection[str]) -> set[str]:
    return set(keys)


def keys(items: tuple[ListingItem, ...] | list[ListingItem]) -> list[str]:
    return [item_key(item.date, item.title) for item in items]


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("added", [1, 3, 40])
def test_items_added_at_the_top_read_as_a_full_read_does(seed: int, added: int) -> None:
    old_items = listing(300, seed)
    fresh = [replace(item, title=f"Fresh news {n}") for n, item in
             enumerate(listing(added, seed + 100, newest=dt.date(2021, 12, 3)))]
    old_text = render_numbered(old_items)
    new_text = render_numbered(fresh + old_items)
    read = read_changed_top(previous_read(old_text), new_text, source="s", language=None,
                            listed_before=nothing_listed)
    full = parse_text_listing(new_text, source="s", language="en")
    assert read is not None
    assert read.item_count == len(full.items)
    assert list(read.items) == list(full.items[: len(read.items)])
    assert len(read.items) < len(full.items) / 2
    assert set(keys(fresh)) <= set(keys(read.items))
    assert read.old_keys == set(keys(old_items[: len(read.items) - added]))
    assert read.warnings == full.warnings


def test_warnings_below_the_change_move_with_their_lines() -> None:
    old_items = listing(200, 7)
    old_text = render_numbered(old_items)
    # A dateless block low in the listing gives a warning there.
    cut = old_text.index("  1. ", len(old_text) // 2)
    old_text = old_text[:cut] + "  9. Media contact\n\n  Someone\n\n" + old_text[cut:]
    new_text = render_numbered([replace(old_items[0], title="Brand new")]) + old_text
    previous = previous_read(old_text)
    assert previous.warnings
    read = read_changed_top(previous, new_text, source="s", language="en",
                            listed_before=nothing_listed)
    assert read is not None
    assert read.warnings == parse_text_listing(new_text, source="s", language="en").warnings


@pytest.mark.parametrize("change", ["edit at the bottom", "carriage returns", "repeat",
                                    "other language", "no heading below"])
def test_it_declines_what_only_a_full_read_gets_right(change: str) -> None:
    old_items = listing(120, 3)
    old_text = render_numbered(old_items)
    new_text = render_numbered([replace(old_items[0], title="Brand new"), *old_items])
    language = None
    listed_before: Callable[[Collection[str]], set[str]] = nothing_listed
    if change == "edit at the bottom":
        new_text = new_text[:-20] + "Something else here\n"
    elif change == "carriage returns":
        new_text = new_text.replace("\n", "\r\n", 3)
    elif change == "repeat":
        new_text = render_numbered([old_items[-1]]) + old_text
        # The store knows the source listed it: it may be repeated further down.
        listed_before = everything_listed
    elif change == "other language":
        language = "fr"
    elif change == "no heading below":
        new_text = old_text.replace("2021", "2021 ")
    assert read_changed_top(previous_read(old_text), new_text, source="s",
                            language=language, listed_before=listed_before) is None


@pytest.mark.parametrize(("old", "new", "shared"), [
    ("", "", 0), ("abc", "abc", 3), ("xabc", "yyabc", 3), ("abc", "abd", 0),
    ("a" * 200_000, "b" + "a" * 200_000, 200_000),
    ("c" + "a" * 150_000, "d" + "a" * 150_000, 150_000),
])
def test_shared_end(old: str, new: str, shared: int) -> None:
    assert shared_end(old, new) == shared
