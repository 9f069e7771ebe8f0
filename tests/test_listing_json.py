"""JSON API listings as data: each tests/data/jsonapi/<name>.input.json beside <name>.json.

The expectation says what the document tests ("description"), how it is read
("page_url", "language", "date_order", "paths") and what must come out
("items", "warnings").
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from feedsvc.formats import SOURCE_FORMATS, ParseRequest, choose_format
from feedsvc.listing.jsonapi import html_to_paragraphs, parse_json_listing
from feedsvc.models import ListingItem

DATA = Path(__file__).parent / "data" / "jsonapi"
CASES = sorted(path.name.removesuffix(".input.json") for path in DATA.glob("*.input.json"))


def _item_to_json(item: ListingItem) -> dict[str, Any]:
    return {**dataclasses.asdict(item), "date": item.date.isoformat()}


def test_every_document_has_its_expectations() -> None:
    expected = sorted(path.stem for path in DATA.glob("*.json")
                      if not path.name.endswith(".input.json"))
    assert expected == CASES
    assert len(CASES) >= 5


@pytest.mark.parametrize("name", CASES)
def test_document_gives_expected_items_and_warnings(name: str) -> None:
    spec = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    body = (DATA / f"{name}.input.json").read_bytes()
    # Read through the registry, as the refresh reads it: auto must pick json.
    fmt = choose_format("auto", content_type=None, body=body)
    assert fmt is SOURCE_FORMATS["json"]
    options = {} if spec["paths"] is None else {"paths": spec["paths"]}
    result = fmt.parse(ParseRequest(
        text=body.decode("utf-8"), source="fixture", language=spec["language"],
        page_url=spec["page_url"], options=fmt.options(options), date_order=spec["date_order"]))
    assert [_item_to_json(item) for item in result.items] == spec["items"]
    assert [{"line": w.line, "message": w.message} for w in result.warnings] == spec["warnings"]


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", "not valid JSON: "),
    ('{"status": "ok"}', "no list of items found in the document (set paths.items"),
    ("[" * 100_000 + "]" * 100_000, "JSON nested too deeply to read"),
])
def test_a_document_without_items_says_why(text: str, message: str) -> None:
    result = parse_json_listing(text, source="s")
    assert result.items == ()
    assert len(result.warnings) == 1
    assert result.warnings[0].message.startswith(message)


def test_a_path_to_nothing_is_named() -> None:
    result = parse_json_listing('{"data": {"news": 3}}', source="s",
                                paths={"items": "data.news"})
    assert [w.message for w in result.warnings] == ["paths.items 'data.news' leads to a int, "
                                                    "not a list"]


def test_html_in_fields_becomes_text() -> None:
    assert html_to_paragraphs("<p>Caf&eacute; <b>workers</b></p><ul><li>one</li><li>two</li>"
                              "</ul><script>x()</script>") == ["Café workers", "one", "two"]
    assert html_to_paragraphs("plain\n\nparagraphs") == ["plain", "paragraphs"]
