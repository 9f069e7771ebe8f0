"""Properties of the text listing parser over generated input."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedsvc.listing.dates import LANGUAGES, classify_date, heading_classifier
from feedsvc.listing.text import FURNITURE, parse_text_listing, render_numbered
from feedsvc.models import ListingItem, ParseResult

QUICK = settings(max_examples=200, deadline=None)

# What the parser does to every field value (see feedsvc.listing.text).
XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
ITEM_MARKER = re.compile(r"[0-9]{1,3}\.(?:\s.*)?", re.DOTALL)


def normalised(text: str) -> str:
    return " ".join(XML_FORBIDDEN.sub("", text).split())


def is_structural(line: str) -> bool:
    """Lines that mean something to the parser whatever item they stand in
    (month headings include misspelt ones, which end an item too)."""
    return (
        line == "-"
        or ITEM_MARKER.fullmatch(line) is not None
        or classify_date(line, None) is not None
        or heading_classifier(None)(line.strip()) is not None
    )


# Words that make near misses likely: month names, days, years, markers, credits.
listing_word = st.one_of(
    st.sampled_from([
        "May", "January", "Sept", "avril", "1er", "febrero", "de", "2021", "27", "07", "1.",
        "12.", "-", "©", "Press", "release", "News", "contact", "COVID-19:", "#thisway", "\u2013",
    ]),
    st.text(alphabet=st.characters(categories=["L", "N", "P", "S"]), min_size=1, max_size=8),
)
one_line = st.one_of(
    st.text(alphabet=st.characters(blacklist_characters="\n\r"), min_size=1, max_size=60),
    st.lists(listing_word, min_size=1, max_size=6).map(" ".join),
    st.lists(listing_word, min_size=1, max_size=6).map("\t".join),
).map(normalised)
field_text = one_line.filter(lambda s: s != "" and not is_structural(s))
heading_text = field_text.filter(lambda s: not s.startswith("©"))
paragraph = field_text.filter(lambda s: s.casefold() not in FURNITURE)

items = st.builds(
    ListingItem,
    title=heading_text,
    date=st.dates(min_value=dt.date(1000, 1, 1)),
    category=st.none() | heading_text,
    credit=st.none() | field_text,
    summary=st.none() | st.lists(paragraph, min_size=1, max_size=3).map("\n\n".join),
)


def without_lines(result: ParseResult) -> list[ListingItem]:
    return [
        ListingItem(i.title, i.date, i.category, i.credit, i.summary) for i in result.items
    ]


@pytest.mark.slow
@QUICK
@given(st.lists(items, max_size=8))
def test_rendered_items_read_back_the_same(generated: list[ListingItem]) -> None:
    result = parse_text_listing(render_numbered(generated))
    assert without_lines(result) == generated
    assert result.warnings == ()


@pytest.mark.slow
@QUICK
@given(st.lists(items, max_size=8), st.sampled_from(["\r\n", "\r"]))
def test_line_endings_do_not_matter(generated: list[ListingItem], newline: str) -> None:
    text = render_numbered(generated).replace("\n", newline)
    assert without_lines(parse_text_listing(text, language="en")) == generated


@pytest.mark.slow
@QUICK
@given(st.lists(items, min_size=1, max_size=8))
def test_items_start_where_their_marker_is(generated: list[ListingItem]) -> None:
    text = render_numbered(generated)
    lines = text.split("\n")
    for item in parse_text_listing(text).items:
        assert re.match(r"  [0-9]+\. ", lines[item.line - 1])


def check_result(result: ParseResult, text: str) -> None:
    line_count = text.count("\n") + text.count("\r") + 1
    for item in result.items:
        assert item.title
        assert 1 <= item.line <= line_count
        for value in (item.title, item.category, item.credit, item.summary):
            assert value is None or not XML_FORBIDDEN.search(value)
    for warning in result.warnings:
        assert 0 <= warning.line <= line_count


@QUICK
@given(st.text(), st.sampled_from((None, *LANGUAGES)))
def test_never_raises_on_arbitrary_text(text: str, language: str | None) -> None:
    check_result(parse_text_listing(text, language=language), text)


listing_line = st.one_of(
    st.sampled_from([
        "", "-", "  1. ", "  2. Press release", "    27 January 2021", "31 February 2021",
        "12 Foobar 2021", "January 2021", "Avril 2020", "1er mai 2020",
        "14 de febrero de 2002", "© Credit 2021", "Media contact", "Press releases",
        "\t3.\tTabbed", "\ufeff", "\x00", "\udc80", "9.", "   ", "July 27, 2021",
    ]),
    st.text(max_size=30),
)


@pytest.mark.slow
@QUICK
@given(st.lists(listing_line, max_size=40), st.sampled_from(["\n", "\r\n", "\r"]))
def test_never_raises_on_listing_like_text(lines: list[str], newline: str) -> None:
    text = newline.join(lines)
    check_result(parse_text_listing(text), text)
