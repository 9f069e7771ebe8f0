"""Dates as listings write them, from the table in tests/data/listing-dates.tsv
(text, language, date order, today, expected result)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from feedsvc.listing.dates import (
    DATE_ORDERS,
    LANGUAGE_DATA,
    DateProblem,
    Language,
    classify_date,
    classify_listing_date,
    read_date,
)

TABLE = Path(__file__).parent / "data" / "listing-dates.tsv"


def _rows() -> list[tuple[str, str | None, str, dt.date | None, str]]:
    rows = []
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        text, language, order, today, expected = line.split("\t")
        rows.append((
            text,
            None if language == "-" else language,
            order,
            None if today == "-" else dt.date.fromisoformat(today),
            expected,
        ))
    return rows


@pytest.mark.parametrize(("text", "language", "date_order", "today", "expected"), _rows())
def test_listing_date(
    text: str, language: str | None, date_order: str, today: dt.date | None, expected: str
) -> None:
    found = classify_listing_date(text, language, today=today, date_order=date_order)
    if expected == "none":
        assert found is None
    elif expected.startswith("problem: "):
        assert isinstance(found, DateProblem)
        assert expected.removeprefix("problem: ") in found.reason
    else:
        assert found == dt.date.fromisoformat(expected)


def test_the_table_covers_every_language_and_date_order() -> None:
    rows = _rows()
    assert {language for _, language, *_ in rows} >= {lang.code for lang in LANGUAGE_DATA}
    assert {order for _, _, order, *_ in rows} == set(DATE_ORDERS)


def test_unknown_date_order_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown date_order 'dym'"):
        classify_listing_date("26/11/2015", "en", date_order="dym")


def test_every_language_has_relative_words() -> None:
    for language in LANGUAGE_DATA:
        assert isinstance(language, Language)
        assert language.days_back and language.ago_patterns and language.units, language.code


def test_read_date_reads_listing_forms_only_when_asked() -> None:
    assert read_date("26/11/2015", "en") is None
    assert read_date("26/11/2015", "en", date_order="dmy") == dt.date(2015, 11, 26)
    assert read_date("yesterday", "en", today=dt.date(2015, 11, 26)) == dt.date(2015, 11, 25)
    assert classify_date("11/26/2015", "en", date_order="mdy") == dt.date(2015, 11, 26)
