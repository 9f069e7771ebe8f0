"""Which requests for a feed's address get its page for people: a table over ``prefers_html``.

The feed readers' headers were captured on the wire from feedparser 6.0,
the ``reader`` library 3.26 and newsboat 2.21 (it sends ``*/*``); the
browsers' are what Chromium, Firefox and Safari send for a page they open.
Through the app, the same table is checked in tests/test_web_people.py.
"""

from __future__ import annotations

import pytest

from feedsvc.web.negotiation import feed_types, parse_accept, prefers_html

FEEDPARSER = ("application/atom+xml,application/rdf+xml,application/rss+xml,"
              "application/x-netcdf,application/xml;q=0.9,text/xml;q=0.2,*/*;q=0.1")
READER = ("application/atom+xml,application/rdf+xml,application/rss+xml,application/x-netcdf,"
          "application/feed+json,application/xml;q=0.9,application/json;q=0.9,text/xml;q=0.2,"
          "*/*;q=0.1")
NEWSBOAT = "*/*"
CHROMIUM = ("text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
            "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7")
FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
SAFARI = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

# (id, Accept header or None, whether the page for people is chosen)
ACCEPT_CASES = [
    ("feedparser", FEEDPARSER, False),
    ("reader", READER, False),
    ("newsboat", NEWSBOAT, False),
    ("any", "*/*", False),
    ("application-xml", "application/xml", False),
    ("text-xml", "text/xml", False),
    ("no-accept", None, False),
    ("empty", "", False),
    ("atom-only", "application/atom+xml", False),
    ("rss-then-html", "application/rss+xml, text/html;q=0.8", False),
    ("html-but-also-atom", "text/html, application/atom+xml;q=0.1", False),
    ("html-but-also-json-feed", "text/html, application/feed+json;q=0.5", False),
    ("html-but-also-json", "text/html, application/json", False),
    ("html-refused-atom-ok", "text/html;q=0, */*", False),
    ("atom-refused-still-names-no-feed", "text/html, application/atom+xml;q=0", True),
    ("xml-preferred-to-html", "application/xml, text/html;q=0.5", False),
    ("any-preferred-to-html", "*/*, text/html;q=0.5", False),
    ("chromium", CHROMIUM, True),
    ("firefox", FIREFOX, True),
    ("safari", SAFARI, True),
    ("html-only", "text/html", True),
    ("xhtml-only", "application/xhtml+xml", True),
    ("html-case-and-spaces", " Text/HTML ; q=1.0 , */* ; q=0.5", True),
    ("html-with-charset-param", "text/html;charset=utf-8", True),
    ("html-bad-q", "text/html;q=bogus", False),
    ("html-q-out-of-range", "text/html;q=2", False),
    ("html-equal-to-any", "text/html;q=0.5, */*;q=0.5", True),
]


@pytest.mark.parametrize(("accept", "html"), [pytest.param(a, h, id=i) for i, a, h in ACCEPT_CASES])
def test_prefers_html(accept: str | None, html: bool) -> None:
    assert prefers_html(accept) is html


def test_parse_accept_keeps_the_highest_q_of_a_repeated_range() -> None:
    assert parse_accept("text/html;q=0.2, text/html;q=0.7, ,*/*;level=1") == {
        "text/html": 0.7, "*/*": 1.0}


def test_a_format_served_as_a_type_browsers_name_never_makes_browsers_get_the_feed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from feedsvc.deferred import Deferred
    from feedsvc.outputs import OUTPUT_FORMATS, OutputFormat

    for name, media_type in (("xmlish", "application/xml"), ("htmlish", "text/html")):
        monkeypatch.setitem(OUTPUT_FORMATS, name, OutputFormat(
            name, name, f"{media_type}; charset=utf-8", name,
            Deferred("feedsvc.render.jsonfeed:json_document")))
    assert {"application/xml", "text/html", "*/*"}.isdisjoint(feed_types())
    for browser in (CHROMIUM, FIREFOX, SAFARI):
        assert prefers_html(browser)
