"""The text listing parser, driven by the cases in tests/data/listings (see its README)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from listing_files import item_to_json, read_listing_file

from feedsvc import errors
from feedsvc.formats import ParseRequest, choose_format
from feedsvc.listing import parse_text_listing
from feedsvc.listing.text import render_numbered
from feedsvc.models import ListingItem

CASES = Path(__file__).parent / "data" / "listings"
CASE_NAMES = sorted(path.stem for path in CASES.glob("*.txt"))


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", CASE_NAMES)
def test_listing_case(name: str) -> None:
    listing = CASES / f"{name}.txt"
    error_file = CASES / f"{name}.error.json"
    if error_file.exists():
        expected_error = _load(error_file)
        error_class = getattr(errors, expected_error["error"])
        with pytest.raises(error_class, match=expected_error["contains"]):
            read_listing_file(listing)
        return

    result = read_listing_file(listing)

    assert [item_to_json(item) for item in result.items] == _load(CASES / f"{name}.json")
    warnings_file = CASES / f"{name}.warnings.json"
    expected_warnings = _load(warnings_file) if warnings_file.exists() else []
    assert [w.line for w in result.warnings] == [w["line"] for w in expected_warnings]
    for warning, expected in zip(result.warnings, expected_warnings, strict=True):
        assert expected["contains"] in warning.message
        assert warning.source == str(listing)


def test_every_case_has_an_expectation() -> None:
    for name in CASE_NAMES:
        assert (CASES / f"{name}.json").exists() != (CASES / f"{name}.error.json").exists(), name


@pytest.mark.parametrize("name", ["seed-newsroom-2021-01", "seed-newsroom-2021-11"])
def test_seeds_hold_ten_items(name: str) -> None:
    assert len(read_listing_file(CASES / f"{name}.txt").items) == 10


def test_items_carry_the_line_they_start_at() -> None:
    result = read_listing_file(CASES / "seed-newsroom-2021-01.txt")
    assert [item.line for item in result.items][:3] == [7, 13, 22]


def test_seed_item_with_credit_and_no_category() -> None:
    item = read_listing_file(CASES / "seed-newsroom-2021-01.txt").items[1]
    assert (item.credit, item.category, item.title) == (
        "René Levita 2021", None, "From prison to a better life"
    )


def test_category_with_colon_follows_the_credit() -> None:
    item = read_listing_file(CASES / "seed-newsroom-2021-01.txt").items[3]
    assert item.credit == "Fahad Abdullah Kaizer/UN Women 2021"
    assert item.category == "COVID-19: ILO Monitor \u2013 7th edition"


def test_item_to_json_has_exactly_the_contract_keys() -> None:
    item = ListingItem("T", dt.date(2021, 1, 2), None, None, None, line=3, link="https://x/")
    assert item_to_json(item) == {
        "title": "T", "date": "2021-01-02", "category": None, "credit": None, "summary": None
    }


def test_explicit_language_reports_foreign_month_names() -> None:
    text = "  1. Un titre\n\n    7 avril 2020\n"
    assert parse_text_listing(text, language="fr").items[0].date == dt.date(2020, 4, 7)
    result = parse_text_listing(text, source="s", language="en")
    assert result.items == ()
    assert [str(w) for w in result.warnings] == [
        "s: line 3: unknown month name 'avril' in language 'en', item skipped"
    ]


def test_unsupported_language_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unsupported language"):
        parse_text_listing("x", language="de")


def test_string_input_with_bom_and_carriage_returns() -> None:
    text = "\ufeff-\rTitle\r\n27 January 2021\rSummary\r"
    (item,) = parse_text_listing(text).items
    assert (item.title, item.summary, item.line) == ("Title", "Summary", 1)


def test_compact_item_without_date_is_skipped_with_warning() -> None:
    result = parse_text_listing("-\nOnly a title\n-\nTitle\n3 May 2021\n", source="s")
    assert [item.title for item in result.items] == ["Title"]
    assert [(w.line, w.message) for w in result.warnings] == [
        (1, "'-' item 'Only a title' has no date, skipped")
    ]


def test_item_with_only_a_credit_has_no_title() -> None:
    result = parse_text_listing("  1. © Someone\n\n    3 May 2021\n")
    assert result.items == ()
    assert "no title" in result.warnings[0].message


def test_month_heading_ends_a_summary() -> None:
    text = "-\nTitle\n3 May 2021\nSummary\nApril 2021\nStray line\n"
    (item,) = parse_text_listing(text).items
    assert item.summary == "Summary"


def test_misspelt_month_heading_ends_a_compact_summary_with_a_warning() -> None:
    text = "-\nTitle\n3 February 2021\nSum1\nFebuary 2021\nStray line\n"
    result = parse_text_listing(text, source="s")
    assert [item.summary for item in result.items] == ["Sum1"]
    assert [str(w) for w in result.warnings] == [
        "s: line 5: unknown month name in heading: 'Febuary 2021' (February?)"
    ]


def test_wrapped_numbered_fields_count_as_one_when_dropping_extra_lines() -> None:
    text = "  1. Extra line\n    wrapped\n\n    Cat\n\n    Title\n\n    3 May 2021\n"
    result = parse_text_listing(text)
    assert [(i.category, i.title) for i in result.items] == [("Cat", "Title")]
    assert [w.message for w in result.warnings] == [
        "numbered (1.) item has 1 line(s) before its category and title, dropped (line 1)"
    ]


def test_compact_fields_in_a_row_stay_separate() -> None:
    (item,) = parse_text_listing("-\n© Cred\nCat\nTitle\n3 May 2021\n").items
    assert (item.credit, item.category, item.title) == ("Cred", "Cat", "Title")


def test_render_numbered_groups_under_english_month_headings() -> None:
    items = [
        ListingItem("A", dt.date(2021, 5, 3), "Cat", "Cred", "One\n\nTwo"),
        ListingItem("B", dt.date(2021, 5, 1), None, None, None),
        ListingItem("C", dt.date(2021, 4, 30), None, None, None),
    ]
    assert render_numbered(items) == (
        "May 2021\n\n"
        "  1. © Cred\n\n    Cat\n\n    A\n\n    03 May 2021\n\n    One\n\n    Two\n\n"
        "  2. B\n\n    01 May 2021\n\n"
        "April 2021\n\n"
        "  1. C\n\n    30 April 2021\n\n"
    )


def test_a_text_listing_is_read_by_its_format_or_by_auto() -> None:
    text = "-\nT\n3 May 2021\n"
    for name in ("text", "auto"):
        chosen = choose_format(name, content_type=None, body=text.encode())
        result = chosen.parse(ParseRequest(text=text, source="s"))
        assert (chosen.name, [item.title for item in result.items]) == ("text", ["T"])


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown listing format"):
        choose_format("pdf", content_type=None, body=b"")


def test_missing_file_is_a_fetch_error(tmp_path: Path) -> None:
    with pytest.raises(errors.FetchError, match=r"missing\.txt: file not found"):
        read_listing_file(tmp_path / "missing.txt")


def test_file_larger_than_max_bytes_is_a_fetch_error(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_bytes(b"-\nT\n3 May 2021\n" + b" " * (1001 - 15))
    with pytest.raises(errors.FetchError, match=r"big\.txt: .*more than .*1000"):
        read_listing_file(path, max_bytes=1000)
    assert len(read_listing_file(path, max_bytes=1001).items) == 1


def test_directory_is_a_fetch_error(tmp_path: Path) -> None:
    with pytest.raises(errors.FetchError):
        read_listing_file(tmp_path)


def test_file_without_items_quotes_the_first_warning(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("  1. Title\n\n    31 February 2021\n", encoding="utf-8")
    with pytest.raises(errors.ListingError, match="no items found: line 3: impossible"):
        read_listing_file(path)


def test_file_of_furniture_only_has_no_items(tmp_path: Path) -> None:
    path = tmp_path / "furniture.txt"
    path.write_text("Media contact\n\nJanuary 2021\n", encoding="utf-8")
    with pytest.raises(errors.ListingError, match=r"no items found$"):
        read_listing_file(path)
