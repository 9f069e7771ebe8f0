"""HTML listing pages as data: each tests/data/html/<name>.html beside <name>.json.

The JSON file says what the page tests ("description"), how it is read
("page_url", "language", "selectors", "encoding") and what must come out
("items", "warnings" with the element "path" of those about one element,
"next_page", and, where given, "selectors_used"). Pages with ``"selectors":
null`` are read by detection alone.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from feedsvc.errors import ListingError
from feedsvc.listing.html import ElementWarning, parse_html_listing, split_selector_list
from feedsvc.listing.warnings import MAX_WARNINGS, OmittedWarnings, count_warnings
from feedsvc.models import ListingItem, ParseResult, ParseWarning

DATA = Path(__file__).parent / "data" / "html"
CASES = sorted(path.stem for path in DATA.glob("*.json"))


def _item_to_json(item: ListingItem) -> dict[str, Any]:
    return {**dataclasses.asdict(item), "date": item.date.isoformat()}


def _parse_case(name: str) -> tuple[dict[str, Any], ParseResult]:
    spec = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    text = (DATA / f"{name}.html").read_bytes().decode(spec["encoding"])
    result = parse_html_listing(
        text,
        source="fixture",
        language=spec["language"],
        page_url=spec["page_url"],
        selectors=spec["selectors"],
    )
    return spec, result


def test_every_page_has_its_expectations() -> None:
    pages = sorted(path.stem for path in DATA.glob("*.html"))
    assert pages == CASES


@pytest.mark.parametrize("name", CASES)
def test_page_gives_expected_items(name: str) -> None:
    spec, result = _parse_case(name)
    assert [_item_to_json(item) for item in result.items] == spec["items"]


@pytest.mark.parametrize("name", CASES)
def test_page_gives_expected_warnings(name: str) -> None:
    spec, result = _parse_case(name)
    assert [_warning_to_json(w) for w in result.warnings] == spec["warnings"]
    assert all(w.source == "fixture" for w in result.warnings)


def _warning_to_json(warning: ParseWarning) -> dict[str, Any]:
    path = warning.path if isinstance(warning, ElementWarning) else ""
    return {"line": warning.line, "message": warning.message, **({"path": path} if path else {})}


@pytest.mark.parametrize("name", CASES)
def test_page_gives_expected_next_page(name: str) -> None:
    spec, result = _parse_case(name)
    assert result.next_page == spec["next_page"]


@pytest.mark.parametrize(
    "name", [name for name in CASES if "selectors_used" in json.loads(
        (DATA / f"{name}.json").read_text(encoding="utf-8"))]
)
def test_page_gives_expected_selectors_used(name: str) -> None:
    spec, result = _parse_case(name)
    assert dict(result.selectors_used or {}) == spec["selectors_used"]


DETECTED = [
    name for name in CASES
    if json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))["selectors"] is None
]


@pytest.mark.parametrize("name", DETECTED)
def test_selectors_used_read_a_detected_page_the_same_way(name: str) -> None:
    # What `feedsvc parse --explain` prints, pasted into the config, reads the
    # page exactly as detection did.
    spec, detected = _parse_case(name)
    assert detected.selectors_used
    text = (DATA / f"{name}.html").read_bytes().decode(spec["encoding"])
    configured = parse_html_listing(
        text, source="fixture", language=spec["language"], page_url=spec["page_url"],
        selectors=detected.selectors_used,
    )
    assert configured.items == detected.items
    assert configured.next_page == detected.next_page


def test_seed_pages_hold_the_seed_titles() -> None:
    listings = Path(__file__).resolve().parent.parent / "config" / "listings"
    seed_text = "\n".join(p.read_text(encoding="utf-8") for p in listings.glob("*.txt"))
    for name in ("newsroom-page1", "newsroom-page2"):
        _, result = _parse_case(name)
        assert len(result.items) == 10
        for item in result.items:
            assert item.title in seed_text


def test_without_page_url_relative_links_are_dropped() -> None:
    html = (
        '<article><h2><a href="/news/1">Relative</a></h2><time>1 May 2021</time>'
        '<img src="https://img.example.org/1.png"></article>'
    )
    result = parse_html_listing(html, source="s", language="en", page_url=None, selectors=None)
    assert result.items[0].link is None
    assert result.items[0].image == "https://img.example.org/1.png"


def test_base_element_changes_what_links_are_relative_to() -> None:
    html = (
        '<head><base href="/archive/2021/"></head>'
        '<article><h2><a href="story-1">Based</a></h2><time>1 May 2021</time></article>'
        '<a rel="next" href="page-2">Next</a>'
    )
    result = parse_html_listing(
        html, source="s", language="en", page_url="https://example.org/news", selectors=None
    )
    assert result.items[0].link == "https://example.org/archive/2021/story-1"
    assert result.next_page == "https://example.org/archive/2021/page-2"


def test_next_link_to_the_page_itself_is_no_next_page() -> None:
    html = (
        '<article><h2>One</h2><time>1 May 2021</time></article>'
        '<a rel="next" href="/news#top">Again</a>'
    )
    result = parse_html_listing(
        html, source="s", language="en", page_url="https://example.org/news", selectors=None
    )
    assert result.next_page is None


def test_no_next_page_when_no_item_is_readable() -> None:
    html = '<article><h2>No date</h2></article><a rel="next" href="/news?page=2">Next</a>'
    result = parse_html_listing(
        html, source="s", language="en", page_url="https://example.org/news", selectors=None
    )
    assert result.items == ()
    assert result.next_page is None
    assert result.warnings[-1].message == "none of the 1 items found has both a title and a date"


def test_selector_override_keeps_the_other_defaults() -> None:
    html = '<div class="row"><h3>Kept</h3><span class="date">2 May 2021</span></div>'
    result = parse_html_listing(
        html, source="s", language="en", page_url=None, selectors={"item": "div.row"}
    )
    assert [(i.title, i.date.isoformat()) for i in result.items] == [("Kept", "2021-05-02")]


def test_empty_document_is_a_warning_not_an_error() -> None:
    result = parse_html_listing("", source="s", language=None, page_url=None, selectors=None)
    assert result.items == ()
    assert len(result.warnings) == 1


@pytest.mark.parametrize(
    ("selector", "alternatives"),
    [
        ("h2, h3, .title", ["h2", "h3", ".title"]),
        ("a[rel~=next], .pager-next a", ["a[rel~=next]", ".pager-next a"]),
        (':is(h2, h3) > a, [title="a, b"]', [":is(h2, h3) > a", '[title="a, b"]']),
        ("  p ,, .x  ", ["p", ".x"]),
    ],
)
def test_selector_lists_split_at_top_level_commas(selector: str, alternatives: list[str]) -> None:
    assert split_selector_list(selector) == alternatives


def _page(title_markup: str, around: str = "") -> str:
    return (f"<html><body>{around}<article><h2>{title_markup}</h2>"
            '<time datetime="2022-03-14">14 March 2022</time></article></body></html>')


@pytest.mark.slow
def test_a_title_in_20000_nested_spans_is_read() -> None:
    html = _page("<span>" * 20_000 + "Deep title" + "</span>" * 20_000)
    assert len(html) > 220_000
    result = parse_html_listing(
        html, source="s", language="en", page_url="https://example.org/news", selectors=None
    )
    assert [item.title for item in result.items] == ["Deep title"]
    assert result.warnings == ()


def test_block_elements_nested_too_deeply_fail_the_page_with_one_line() -> None:
    # The HTML parser's work grows with blocks times their depth: 40,000 nested
    # <div>s would take it seconds, a few MB of them hours.
    html = _page("Title", around="<div>" * 40_000)
    with pytest.raises(ListingError) as caught:
        parse_html_listing(html, source="deep-page", language="en", page_url=None,
                           selectors=None)
    assert str(caught.value).startswith("deep-page: markup nested too deeply to read")
    assert "\n" not in str(caught.value)


def test_reasonably_nested_blocks_are_read() -> None:
    html = _page("Title", around="<div>" * 2_000)
    result = parse_html_listing(html, source="s", language="en", page_url=None, selectors=None)
    assert [item.title for item in result.items] == ["Title"]


RECURSION_HEADROOM = 8
"""Python frames the parse may use above its caller: fewer than it needs, more than
raising the ListingError does."""

OUT_OF_STACK = f"""
    import inspect, sys
    from feedsvc.errors import ListingError
    from feedsvc.listing.html import parse_html_listing

    page = sys.stdin.read()
    sys.setrecursionlimit(len(inspect.stack()) + {RECURSION_HEADROOM})
    try:
        parse_html_listing(page, source="s", language="en", page_url=None, selectors=None)
    except ListingError as exc:
        print(exc)
"""


@pytest.mark.slow
def test_a_recursion_error_is_a_listing_error() -> None:
    # Markup the depth check lets through (read in full above), parsed in a process
    # whose stack runs out: the parse fails with the one-line error all the same.
    page = _page("Title", around="<div>" * 2_000)
    child = subprocess.run([sys.executable, "-c", textwrap.dedent(OUT_OF_STACK)],
                           input=page, capture_output=True, text=True, timeout=60, check=False)
    assert child.returncode == 0, child.stderr
    assert child.stdout == "s: markup nested too deeply to read\n"


@pytest.mark.slow
def test_a_page_of_junk_items_keeps_the_first_warnings_and_counts_the_rest() -> None:
    html = "<article><h2>No date</h2></article>" * 50_000
    result = parse_html_listing(html, source="s", language="en", page_url=None, selectors=None)
    assert [w.line for w in result.warnings[:MAX_WARNINGS]] == list(range(1, MAX_WARNINGS + 1))
    assert result.warnings[MAX_WARNINGS:] == (
        OmittedWarnings("s", 0, f"... and {50_000 - MAX_WARNINGS} more warning(s), not shown",
                        50_000 - MAX_WARNINGS),
        ParseWarning("s", 0, "none of the 50000 items found has both a title and a date"),
    )
    assert count_warnings(result.warnings) == 50_001


def test_many_paragraphs_deep_down_fail_the_page_too() -> None:
    # Each <p> makes the parser look down the stack for an open <p> to close,
    # all the way down when the last one was closed.
    html = _page("Title", around="<div>" * 5_000 + "<p>x</p>" * 50_000)
    with pytest.raises(ListingError, match=r"^s: markup nested too deeply to read"):
        parse_html_listing(html, source="s", language="en", page_url=None, selectors=None)
