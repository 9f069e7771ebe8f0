"""Item detection on HTML pages without selectors: one rule per test (the
whole pages are in tests/data/html, read by tests/test_listing_html.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from feedsvc.listing.html import ElementWarning, parse_html_listing
from feedsvc.listing.html_detect import find_date_text
from feedsvc.models import ParseResult

PAGE_URL = "https://news.example.org/news/"


def _read(html: str, **selectors: str) -> ParseResult:
    return parse_html_listing(
        html, source="s", language=None, page_url=PAGE_URL, selectors=selectors or None
    )


def _row(title: str, date: str, extra: str = "") -> str:
    link = f'<h3><a href="/{len(title)}">{title}</a></h3>'
    return f'<div class="row">{link}<p>{date}</p>{extra}</div>'


NEWS = "".join(_row(f"News {n}", f"{n} May 2021", f"<p>Teaser {n}.</p>") for n in (4, 3, 2))


def test_a_configured_field_overrides_detection_of_that_field_only() -> None:
    html = f'<main>{_row("Title", "3 May 2021", "<p class=x>Lead.</p><p>Body.</p>")}</main>'
    detected = _read(html).items[0]
    configured = _read(html, summary="p.x").items[0]
    assert detected.summary == "Lead.\n\nBody."
    assert configured.summary == "Lead."
    assert (configured.title, configured.date) == (detected.title, detected.date)


def test_navigation_sidebars_page_headers_and_footers_are_never_items() -> None:
    dated = "".join(
        f'<li><a href="/e{n}">Event {n}</a> {n} June 2021</li>' for n in range(1, 4)
    )
    html = (
        f"<header><ul>{dated}</ul></header><nav><ul>{dated}</ul></nav>"
        f'<div class="sidebar"><ul>{dated}</ul></div><main><h1>News</h1></main>'
        f"<aside><ul>{dated}</ul></aside><footer><ul>{dated}</ul></footer>"
    )
    result = _read(html)
    assert result.items == ()
    assert result.warnings[0].message.startswith("no news items found")


def test_classes_of_the_body_do_not_make_the_page_furniture() -> None:
    html = f'<html class="nav-open"><body class="menu-open sidebar-left">{NEWS}</body></html>'
    assert len(_read(html).items) == 3


def test_the_main_content_is_read_and_a_dated_list_beside_it_is_not() -> None:
    beside = "".join(_row(f"Other {n}", f"{n} April 2021") for n in range(1, 6))
    html = f'<div class="related">{beside}</div><div role="main">{NEWS}</div>'
    assert [item.title for item in _read(html).items] == ["News 4", "News 3", "News 2"]


def test_items_outside_a_main_element_without_any_are_read() -> None:
    html = f'<main><h1>News</h1></main><div class="list">{NEWS}</div><aside>{NEWS}</aside>'
    assert [item.title for item in _read(html).items] == ["News 4", "News 3", "News 2"]


def test_a_second_dated_list_in_the_main_content_is_named_in_a_warning() -> None:
    events = "".join(
        f'<li class="event"><a href="/e{n}">Event {n}</a> <span>{n} June 2021</span></li>'
        for n in (1, 2)
    )
    html = f'<main><section class="news">{NEWS}</section><ul class="agenda">{events}</ul></main>'
    result = _read(html)
    assert [item.title for item in result.items] == ["News 4", "News 3", "News 2"]
    assert [str(w) for w in result.warnings] == [
        "s: main > ul.agenda > li.event:nth-of-type(1): another list of 2 dated entries "
        "was not read; set the source's selectors if it holds the news"
    ]


def test_a_dated_list_beside_articles_is_named_in_a_warning() -> None:
    articles = "".join(
        f'<article><h2>Story {n}</h2><time datetime="2021-05-0{n}">{n} May</time></article>'
        for n in (1, 2, 3)
    )
    links = "".join(f'<li><a href="/l{n}">Link {n}</a> {n} April 2021</li>' for n in (1, 2))
    result = _read(f'<main>{articles}<ul class="briefs">{links}</ul></main>')
    assert [item.title for item in result.items] == ["Story 1", "Story 2", "Story 3"]
    assert [w.message for w in result.warnings] == [
        "another list of 2 dated entries was not read; set the source's selectors if it "
        "holds the news"
    ]


def test_a_lone_dated_entry_is_read_with_a_doubt() -> None:
    result = _read(f"<main>{_row('Only one', '3 May 2021')}</main>")
    assert [item.title for item in result.items] == ["Only one"]
    assert len(result.warnings) == 1
    assert "detection is unsure" in result.warnings[0].message
    assert str(result.warnings[0]).startswith("s: main > div.row: ")


def test_item_warnings_name_the_element_not_a_line() -> None:
    html = "<main>" + NEWS + '<div class="row"><h3><a href="/x">Undated</a></h3><p>x</p>' \
        "<p>31 February 2021</p></div></main>"
    result = _read(html, item="div.row")
    warning = result.warnings[0]
    assert isinstance(warning, ElementWarning)
    assert warning.line == 4  # the item's ordinal, as before
    assert str(warning) == (
        "s: main > div.row:nth-of-type(4): item 4 ('Undated') has no date; skipped"
    )
    assert "line" not in str(warning)


def test_a_kicker_in_the_title_is_the_category_and_words_are_not_glued() -> None:
    html = (
        '<main><div class="teaser"><h2><a href="/a"><span class="kicker">Communiqué de '
        "presse</span><span>Le chômage recule</span></a></h2>"
        "<p>3 mai 2021</p></div></main>"
    )
    item = _read(html).items[0]
    assert (item.title, item.category) == ("Le chômage recule", "Communiqué de presse")
    assert item.date == dt.date(2021, 5, 3)


def test_a_caption_is_no_credit_unless_marked() -> None:
    html = (
        '<main><article><h2>With caption</h2><time datetime="2021-05-03">3 May</time>'
        "<figure><img src=/a.jpg><figcaption>Photo: A. Smith</figcaption></figure>"
        "</article><article><h2>With mark</h2><time datetime=2021-05-02>2 May</time>"
        "<figure><img src=/b.jpg><figcaption>© A. Smith</figcaption></figure></article></main>"
    )
    assert [item.credit for item in _read(html).items] == [None, "A. Smith"]


def test_dates_inside_text_are_found() -> None:
    html = (
        '<main><ul class="n"><li><a href="/1">First</a> (posted on 26 November 2015 by admin)'
        '</li><li><a href="/2">Second</a> — 2015-11-20</li></ul></main>'
    )
    assert [item.date.isoformat() for item in _read(html).items] == ["2015-11-26", "2015-11-20"]


def test_fetch_day_and_date_order_are_accepted() -> None:
    result = parse_html_listing(
        f"<main>{NEWS}</main>", source="s", language="en", page_url=PAGE_URL, selectors=None,
        today=dt.date(2021, 6, 1), date_order="mdy",
    )
    assert len(result.items) == 3


@pytest.mark.slow
def test_many_detected_items_are_all_read() -> None:
    rows = "".join(
        f'<li><a href="/n/{n}">Item {n}</a> <span>{n % 28 + 1} May 2021</span></li>'
        for n in range(20_000)
    )
    result = _read(f'<main><ul class="news">{rows}</ul></main>')
    assert len(result.items) == 20_000
    assert result.warnings == ()
    assert result.selectors_used is not None
    assert result.selectors_used["item"] == "ul.news > li"


@pytest.mark.slow
def test_deep_dated_markup_is_read_without_hanging() -> None:
    # Selectors with a descendant combinator cost the CSS engine the elements
    # times their depth: detection does without them on such pages.
    for html in (
        '<span><a href="/x">T</a> 1 May 2021' * 20_000,
        '<div><h3><a href="/x">T</a></h3> 1 May 2021' * 9_000,
        '<ul><li><a href="/x">T</a> 1 May 2021' * 9_000,
    ):
        result = _read(html)
        assert len(result.items) <= 1


def test_a_title_starting_with_more_is_a_title_and_read_more_links_are_not() -> None:
    html = (
        '<main><div class="n"><a href="/more">More than 100 climbers rescued</a> '
        '<span>3 May 2021</span><p>Teaser. <a href="/more">Read more</a></p></div></main>'
    )
    item = _read(html).items[0]
    assert (item.title, item.summary) == ("More than 100 climbers rescued", "Teaser.")


def test_text_a_browser_hides_is_left_out() -> None:
    html = (
        '<main><article><h2><a href="/a">Shown<span class="screen-reader-text"> hidden'
        '</span></a></h2><time datetime="2021-05-03">3 May</time>'
        '<p hidden>Not shown.</p><p>Shown too.</p></article></main>'
    )
    item = _read(html).items[0]
    assert (item.title, item.summary) == ("Shown", "Shown too.")


def test_date_texts_are_found_whole_or_as_a_run_of_words() -> None:
    def read(text: str) -> dt.date | None:
        known = {"yesterday": dt.date(2021, 5, 2), "26 November 2015": dt.date(2015, 11, 26)}
        return known.get(text)

    assert find_date_text("  yesterday ", read) == "yesterday"
    assert find_date_text("Posted on 26 November 2015 by admin", read) == "26 November 2015"
    # Runs of words are tried only around a number; long texts are no date.
    assert find_date_text("Posted yesterday by admin", read) is None
    assert find_date_text("26 November 2015 " + "x" * 200, read) is None


def test_the_html_format_reads_dates_against_the_request_s_today_and_date_order() -> None:
    from feedsvc.formats import SOURCE_FORMATS, ParseRequest

    page = """<html><body><main>
      <article><h2><a href="/a">Harbour cranes stop</a></h2><p class="date">yesterday</p>
        <p>Work stopped at the port.</p></article>
      <article><h2><a href="/b">Budget adopted</a></h2><p class="date">11/05/2015</p>
        <p>The council adopted the budget.</p></article>
      <article><h2><a href="/c">Talks resume</a></h2><p class="date">3 days ago</p>
        <p>Negotiators met again.</p></article>
    </main></body></html>"""
    request = ParseRequest(text=page, source="s", today=dt.date(2015, 11, 26), date_order="mdy",
                           page_url="https://news.test/", language=None)
    result = SOURCE_FORMATS["html"].parse(request)
    assert [item.date for item in result.items] == [
        dt.date(2015, 11, 25), dt.date(2015, 11, 5), dt.date(2015, 11, 23)]
