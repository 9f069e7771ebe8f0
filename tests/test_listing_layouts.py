"""The text listing layouts beyond the numbered and compact renderings, driven by
the cases in tests/data/text-layouts (see its README)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from listing_files import item_to_json, read_listing_file
from test_parse_bounds import assert_memory_in_step_with_input, repeated

from feedsvc import errors
from feedsvc.listing import decode_document, parse_text_listing
from feedsvc.listing.dates import heading_classifier, listing_date_classifier
from feedsvc.listing.incremental import is_plain, read_changed_top
from feedsvc.listing.loose import _TEXT, TITLE_FROM_SUMMARY_CHARS, _LineReader, title_from_summary
from feedsvc.listing.text import HTML_HINT, NO_LAYOUT_HINT
from feedsvc.models import ListingSnapshot, ParseResult

CASES = Path(__file__).parent / "data" / "text-layouts"
MONTHS = ("", "January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
CASE_NAMES = sorted(path.stem for path in CASES.glob("*.txt"))


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _options(name: str) -> dict[str, Any]:
    path = CASES / f"{name}.options.json"
    options: dict[str, Any] = _load(path) if path.exists() else {}
    if "today" in options:
        options["today"] = dt.date.fromisoformat(options["today"])
    return options


@pytest.mark.parametrize("name", CASE_NAMES)
def test_layout_case(name: str) -> None:
    listing = CASES / f"{name}.txt"
    error_file = CASES / f"{name}.error.json"
    if error_file.exists():
        expected_error = _load(error_file)
        with pytest.raises(getattr(errors, expected_error["error"]),
                           match=expected_error["contains"]):
            read_listing_file(listing)
        return

    expected_items = _load(CASES / f"{name}.json")
    # Read as a refresh reads files, except those it refuses for want of items.
    result = read_listing_file(listing, **_options(name)) if expected_items else _parse(name)

    assert [item_to_json(item) for item in result.items] == expected_items
    warnings_file = CASES / f"{name}.warnings.json"
    expected_warnings = _load(warnings_file) if warnings_file.exists() else []
    assert [w.line for w in result.warnings] == [w["line"] for w in expected_warnings]
    for warning, expected in zip(result.warnings, expected_warnings, strict=True):
        assert expected["contains"] in warning.message


def _parse(name: str) -> ParseResult:
    """What a file without items gives (read_listing_file refuses it)."""
    listing = CASES / f"{name}.txt"
    text, _ = decode_document(listing.read_bytes(), source=str(listing))
    return parse_text_listing(text, source=str(listing), **_options(name))


def test_every_case_has_an_expectation() -> None:
    for name in CASE_NAMES:
        assert (CASES / f"{name}.json").exists() != (CASES / f"{name}.error.json").exists(), name


def test_items_start_at_their_bullet_or_title_line() -> None:
    text = (CASES / "bulleted-en.txt").read_text(encoding="utf-8")
    assert [item.line for item in parse_text_listing(text).items] == [6, 10, 21, 24]
    text = (CASES / "blocks-more-en.txt").read_text(encoding="utf-8")
    assert [item.line for item in parse_text_listing(text).items] == [6, 12, 18, 26]


def test_date_order_decides_ambiguous_numeric_dates() -> None:
    text = "- Title\n  03/04/2015\n"
    assert parse_text_listing(text).items[0].date == dt.date(2015, 4, 3)
    assert parse_text_listing(text, date_order="mdy").items[0].date == dt.date(2015, 3, 4)


def test_unknown_date_order_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown date_order"):
        parse_text_listing("x", date_order="myd")


def test_no_layout_gives_a_hint_not_a_stray_line() -> None:
    result = parse_text_listing("Intro text.\n\nMore prose here.\n", source="s")
    assert result.items == ()
    assert [(w.line, w.message) for w in result.warnings] == [(0, NO_LAYOUT_HINT)]


def test_the_hint_comes_before_the_warnings_about_stray_lines() -> None:
    result = parse_text_listing("Intro text.\n\nFebuary 2021\n", source="s")
    assert [(w.line, w.message) for w in result.warnings] == [
        (0, NO_LAYOUT_HINT),
        (3, "unknown month name in heading: 'Febuary 2021' (February?)"),
    ]


def test_a_layout_that_matched_says_what_went_wrong_instead_of_the_hint() -> None:
    result = parse_text_listing("Some title\n31/02/2015\n", source="s")
    assert [(w.line, w.message) for w in result.warnings] == [
        (2, "impossible date '31/02/2015', item skipped")
    ]


def test_text_of_furniture_only_has_no_hint() -> None:
    result = parse_text_listing("Latest news\n\nHome > News\n\nJanuary 2021\n")
    assert result == parse_text_listing("")


def test_numbered_and_compact_renderings_win_when_they_hold_items() -> None:
    # "- Title" lines would be bullets, but the compact item holds a date.
    text = "-\nTitle\n3 May 2021\n- A dash line in the summary\n"
    (item,) = parse_text_listing(text).items
    assert item.summary == "- A dash line in the summary"


def test_a_bulleted_menu_is_not_items() -> None:
    text = ("- Home\n- About\n- News\n\nFederation opens an office\n26 November 2015\n"
            "The office opens in March.\n")
    result = parse_text_listing(text)
    assert [(item.title, item.summary) for item in result.items] == [
        ("Federation opens an office", "The office opens in March.")
    ]
    assert result.warnings == ()


def test_an_endless_item_keeps_a_bounded_number_of_lines() -> None:
    text = "• Title\n  26 November 2015\n" + "  more text\n" * 5000
    result = parse_text_listing(text, source="s")
    (item,) = result.items
    assert item.summary is not None and item.summary.count("more text") < 1000
    assert "line(s) dropped" in result.warnings[0].message


@pytest.mark.parametrize(
    ("summary", "title"),
    [
        ("One sentence. Another one.", "One sentence"),
        ("A question? An answer.", "A question?"),
        ("No full stop at all", "No full stop at all"),
        ("Costs rose 3.5 per cent. Then fell.", "Costs rose 3.5 per cent"),
        ("First paragraph\n\nSecond paragraph.", "First paragraph"),
        ("word " * 40, ("word " * 24).strip() + "…"),
    ],
)
def test_title_from_summary(summary: str, title: str) -> None:
    assert title_from_summary(summary) == title
    assert len(title_from_summary(summary)) <= TITLE_FROM_SUMMARY_CHARS


def test_a_bulleted_listing_is_never_read_from_its_changed_top_only() -> None:
    body = "".join(
        f"November 2015\n\n  • Item {n}\n    {20 - n} November 2015 -- Summary {n}.\n\n"
        for n in range(5)
    )
    old_text = body
    new_text = "  • Fresh item\n    26 November 2015 -- New.\n\n" + body
    full_old = parse_text_listing(old_text, source="s", language="en")
    assert len(full_old.items) == 5
    previous = ListingSnapshot(text=old_text, language="en", item_count=5,
                               warnings=full_old.warnings, plain=is_plain(old_text),
                               repeats=False)
    read = read_changed_top(previous, new_text, source="s", language="en",
                            listed_before=lambda keys: set())
    assert read is None
    assert len(parse_text_listing(new_text, source="s", language="en").items) == 6


# --- items written in each layout read back ---

_READER = _LineReader(listing_date_classifier(None, today=dt.date(2020, 1, 1)),
                      heading_classifier(None))


def _plain(text: str) -> bool:
    """A line that is text to the reader, alone or after another word: no date,
    heading, navigation, bullet or "more" link."""
    return bool(text) and all(_READER._kind(line)[0] == _TEXT for line in (text, f"x {text}"))


_word = st.sampled_from([
    "Labour", "news", "report", "May", "3", "2015", "more", "de", "jobs", "ago", "-",
    "\u2022", "Read", ":", "(x)", "Home", ">", "|", "a.", "Yes!", "hier", "today",
])
_line = st.lists(_word, min_size=1, max_size=8).map(" ".join).filter(_plain)
_item = st.tuples(_line, st.dates(min_value=dt.date(1990, 1, 1)), st.none() | _line)

LAYOUTS = {
    "bulleted": lambda t, d, s: f"  \u2022 {t}\n    {d}" + (f" -- {s}" if s else "") + "\n\n",
    "blocks with more": lambda t, d, s: f"{t}\n{d}\n" + (f"{s}\n" if s else "") + "» more\n\n",
    "blocks": lambda t, d, s: f"{t}\n{d}\n" + (f"{s}\n" if s else "") + "\n",
    "spaced blocks": lambda t, d, s: f"{t}\n\n{d}\n\n" + (f"{s}\n\n" if s else "") + "\n",
    "spaced with more": lambda t, d, s: f"{t}\n\n{d}\n\n" + (f"{s}\n\n" if s else "")
    + "Read more\n\n",
    "date first": lambda t, d, s: f"{d}\n{t}\n" + (f"{s}\n" if s else "") + "\n",
    "spaced date first": lambda t, d, s: f"{d}\n\n{t}\n\n" + (f"{s}\n\n" if s else "")
    + "» more\n\n",
}


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(st.lists(_item, min_size=1, max_size=6), st.sampled_from(sorted(LAYOUTS)))
def test_items_written_in_each_layout_read_back(
    items: list[tuple[str, dt.date, str | None]], layout: str
) -> None:
    text = "".join(LAYOUTS[layout](title, f"{date.day} {MONTHS[date.month]} {date.year}",
                                   summary) for title, date, summary in items)
    result = parse_text_listing(text, language="en")
    assert [(item.title, item.date, item.summary) for item in result.items] == [
        (" ".join(title.split()), date, " ".join(summary.split()) if summary else None)
        for title, date, summary in items
    ]
    assert result.warnings == ()


# --- memory in step with the text (see tests/test_parse_bounds.py) ---

LOOSE_JUNK = {
    # One bulleted item whose summary runs on for ever.
    "endless bulleted summary": lambda size: repeated(b"  x\n", size, "\u2022 T\n  3 May 2021\n"
                                                      .encode()),
    # An item every two lines.
    "dated bullets": lambda size: repeated("\u2022 T\n  3 May 2021\n".encode(), size),
    # Blocks of title, numeric date and summary.
    "blocks": lambda size: repeated(b"Title\n26/11/2015\nSummary\n\n", size),
    # Underlined headings.
    "underlined": lambda size: repeated(b"x\n---\n", size),
    # Dates without a fetch date: a warning each.
    "relative dates": lambda size: repeated(b"Title\nyesterday\n", size),
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", LOOSE_JUNK)
def test_memory_of_the_other_layouts_grows_with_the_input_and_no_faster(kind: str) -> None:
    assert_memory_in_step_with_input(LOOSE_JUNK[kind])


def test_a_list_of_references_after_the_items_is_no_item_and_no_warning() -> None:
    text = ("  \u2022 Title\n    26 November 2015\n\nReferences\n\n"
            "  1. https://example.org/news/1\n  2. https://example.org/news/2\n")
    result = parse_text_listing(text)
    assert [item.title for item in result.items] == ["Title"]
    assert result.warnings == ()


def test_a_line_of_capitals_heads_a_section_and_ends_the_summary() -> None:
    text = ("First title\n\n26 November 2015\n\nFirst summary.\n\nSTATEMENTS\n\n"
            "Second title\n\n24 November 2015\n\nSecond summary.\n\n"
            "THIRD TITLE IN CAPITALS\n\n20 November 2015\n")
    result = parse_text_listing(text)
    assert [(item.title, item.summary) for item in result.items] == [
        ("First title", "First summary."),
        ("Second title", "Second summary."),
        ("THIRD TITLE IN CAPITALS", None),
    ]


def test_the_hint_says_when_the_text_looks_like_html() -> None:
    page = "<!DOCTYPE html>\n<html><body>\n<div><h2>Title</h2></div>\n</body></html>\n"
    (warning,) = parse_text_listing(page).warnings
    assert warning.message == NO_LAYOUT_HINT + HTML_HINT
    (warning,) = parse_text_listing("Just some prose.\n").warnings
    assert warning.message == NO_LAYOUT_HINT


def test_the_text_format_reads_dates_against_the_request_s_today_and_date_order() -> None:
    from feedsvc.formats import SOURCE_FORMATS, ParseRequest

    text = "\u2022 Harbour cranes stop\n  yesterday\n\u2022 Budget adopted\n  11/05/2015\n"
    request = ParseRequest(text=text, source="s", today=dt.date(2015, 11, 26), date_order="mdy")
    result = SOURCE_FORMATS["text"].parse(request)
    assert [item.date for item in result.items] == [dt.date(2015, 11, 25), dt.date(2015, 11, 5)]
