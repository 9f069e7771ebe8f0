"""Rendering FeedSpecs to Atom, RSS, JSON Feed and OPML.

The golden files in tests/data/golden/ are the expected bytes of each sample
spec in each format; regenerate them after a deliberate change with
``FEEDSVC_REGENERATE_GOLDEN=1 pytest tests/test_render.py`` and review the diff.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import json
import locale
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import feedparser
import pytest
from lxml import etree
from render_fixtures import (
    BASE_URL,
    HOSTILE_SUMMARY,
    ZONE,
    category_spec,
    empty_spec,
    extras_spec,
    historic_spec,
    hostile_spec,
    make_entry,
    make_spec,
    markup_spec,
    seed_spec,
)

from feedsvc.feeds import FeedLink
from feedsvc.models import FeedSpec
from feedsvc.outputs import OUTPUT_FORMATS
from feedsvc.render import clean_xml_text, render_feed, render_opml

GOLDEN = Path(__file__).parent / "data" / "golden"
REGENERATE = os.environ.get("FEEDSVC_REGENERATE_GOLDEN") == "1"
ATOM = "{http://www.w3.org/2005/Atom}"
MEDIA = "{http://search.yahoo.com/mrss/}"
HISTORY = "{http://purl.org/syndication/history/1.0}"
DC = "{http://purl.org/dc/elements/1.1/}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

SPECS: dict[str, Callable[[], FeedSpec]] = {
    "all": seed_spec,
    "category-social-protection": category_spec,
    "empty": empty_spec,
    "hostile": hostile_spec,
    "hostile-markup": markup_spec,
    "historic": historic_spec,
    "extras": extras_spec,
}
XML_FORMATS = ("atom", "rss")
FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

SITE_FEEDS = (
    FeedLink("all", "ILO Newsroom", None, None, 20, "2021-11-15", "2021-11-15T12:00:00+00:00"),
    FeedLink("category/press-release", "ILO Newsroom: Press release", "Press release",
             "press-release", 2, "2021-01-27", "2021-01-27T12:00:00+00:00"),
    FeedLink("category/social-protection", "ILO Newsroom: Social protection",
             "Social protection", "social-protection", 2, "2021-11-08",
             "2021-11-08T12:00:00+00:00"),
)


def _check_golden(name: str, rendered: bytes) -> None:
    path = GOLDEN / name
    if REGENERATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rendered)
    assert path.exists(), f"no golden file {path}; run with FEEDSVC_REGENERATE_GOLDEN=1"
    assert rendered == path.read_bytes(), f"{name} differs from its golden file"


def _parsed(spec: FeedSpec, fmt: str) -> Any:
    """What a reader sees in the feed: feedparser's view, or for JSON Feed
    (which this feedparser does not read) the same shape built from the JSON."""
    document = render_feed(spec, fmt)
    if fmt == "json":
        return _json_as_feedparser(document)
    result = feedparser.parse(
        document, response_headers={"content-type": OUTPUT_FORMATS[fmt].content_type})
    assert not result.bozo, f"{fmt}: {result.get('bozo_exception')}"
    return result


def _json_as_feedparser(document: bytes) -> Any:
    feed = json.loads(document)
    _check_json_feed(feed)
    return feedparser.FeedParserDict(
        feed=feedparser.FeedParserDict(
            title=feed["title"], link=feed["home_page_url"], language=feed["language"],
        ),
        entries=[
            feedparser.FeedParserDict(
                id=item["id"], link=item["url"], title=item["title"],
                summary=item["content_text"],
                tags=[{"term": tag} for tag in item.get("tags", [])],
            )
            for item in feed["items"]
        ],
    )


def _check_json_feed(feed: dict[str, Any]) -> None:
    """The rules of JSON Feed 1.1 this feed could break."""
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert isinstance(feed["title"], str) and feed["title"]
    for key in ("home_page_url", "feed_url"):
        assert feed[key].startswith("http://") or feed[key].startswith("https://")
    assert all(isinstance(author["name"], str) for author in feed["authors"])
    assert isinstance(feed["items"], list)
    for item in feed["items"]:
        assert isinstance(item["id"], str) and item["id"]
        assert isinstance(item["content_text"], str) and item["content_text"]
        assert item["url"].startswith("http")
        for key in ("date_published", "date_modified"):
            assert _when(item[key]).tzinfo is not None
        assert all(isinstance(tag, str) for tag in item.get("tags", []))
        known = {"id", "url", "title", "content_text", "summary", "image",
                 "date_published", "date_modified", "tags", "language"}
        assert all(key in known or key.startswith("_") for key in item)
    assert all(value is not None for value in feed.values())


def _xml(spec: FeedSpec, fmt: str) -> Any:
    return etree.fromstring(render_feed(spec, fmt))


def _when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


# --- golden files and determinism ---


@pytest.mark.parametrize("fmt", list(OUTPUT_FORMATS))
@pytest.mark.parametrize("case", sorted(SPECS))
def test_matches_golden_file(case: str, fmt: str) -> None:
    _check_golden(f"{case}.{fmt}", render_feed(SPECS[case](), fmt))


def test_opml_matches_golden_file() -> None:
    _check_golden("site.opml", render_opml("ILO Newsroom", SITE_FEEDS, BASE_URL))


@pytest.mark.parametrize("fmt", list(OUTPUT_FORMATS))
def test_same_spec_gives_the_same_bytes(fmt: str) -> None:
    assert render_feed(seed_spec(), fmt) == render_feed(seed_spec(), fmt)


def test_generator_names_no_version() -> None:
    atom_generator = _xml(seed_spec(), "atom").find(f"{ATOM}generator")
    assert atom_generator.text == "feedsvc"
    assert dict(atom_generator.attrib) == {}
    assert _xml(seed_spec(), "rss").findtext("channel/generator") == "feedsvc"


@pytest.mark.parametrize("fmt", list(OUTPUT_FORMATS))
def test_output_is_utf8_and_free_of_the_clock(fmt: str) -> None:
    text = render_feed(seed_spec(), fmt).decode("utf-8")
    assert "René" in text
    assert str(dt.date.today().year) not in text


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown feed format"):
        render_feed(seed_spec(), "rdf")


@pytest.mark.parametrize("fmt", list(OUTPUT_FORMATS))
def test_naive_dates_are_refused(fmt: str) -> None:
    spec = dataclasses.replace(seed_spec(), updated=dt.datetime(2021, 11, 15))
    with pytest.raises(ValueError, match="timezone-aware"):
        render_feed(spec, fmt)


# --- what every format says ---


@pytest.mark.parametrize("fmt", list(OUTPUT_FORMATS))
def test_entries_keep_spec_order(fmt: str) -> None:
    spec = seed_spec()
    for entries in (spec.entries, tuple(reversed(spec.entries))):
        parsed = _parsed(dataclasses.replace(spec, entries=entries), fmt)
        assert [e.id for e in parsed.entries] == [e.guid for e in entries]


@pytest.mark.parametrize("fmt", list(OUTPUT_FORMATS))
def test_entries_carry_id_link_title_and_category(fmt: str) -> None:
    spec = seed_spec()
    parsed = _parsed(spec, fmt)
    assert len(parsed.entries) == 20
    for got, want in zip(parsed.entries, spec.entries, strict=True):
        assert got.id == want.guid
        assert got.link == want.link
        assert got.title == want.title
        labels = [tag.get("label") or tag["term"] for tag in got.get("tags", [])]
        assert labels == ([want.category] if want.category else [])


@pytest.mark.parametrize("fmt", list(OUTPUT_FORMATS))
def test_feed_carries_title_links_and_language(fmt: str) -> None:
    spec = seed_spec()
    feed = _parsed(spec, fmt).feed
    assert feed.title == spec.title
    assert feed.link == spec.home_url
    assert feed.language == "en"
    self_links = [link.href for link in feed.get("links", []) if link.get("rel") == "self"]
    if fmt != "json":
        assert self_links == [spec.self_urls[fmt]]


@pytest.mark.parametrize("fmt", list(OUTPUT_FORMATS))
def test_image_credit_is_in_every_format(fmt: str) -> None:
    text = render_feed(seed_spec(), fmt).decode()
    assert "Image: © René Levita 2021" in text
    assert "© ©" not in text


@pytest.mark.parametrize("fmt", list(OUTPUT_FORMATS))
def test_empty_feed_is_valid(fmt: str) -> None:
    parsed = _parsed(empty_spec(), fmt)
    assert parsed.entries == []
    assert parsed.feed.title == "ILO Newsroom"


@pytest.mark.parametrize("fmt", list(OUTPUT_FORMATS))
def test_feed_without_subtitle_or_author_is_valid(fmt: str) -> None:
    spec = dataclasses.replace(seed_spec(), subtitle="", author="")
    parsed = _parsed(spec, fmt)
    assert len(parsed.entries) == 20
    if fmt == "atom":
        assert parsed.feed.author == spec.title


# --- dates ---


def test_atom_dates_keep_the_site_offset() -> None:
    spec = seed_spec()
    root = _xml(spec, "atom")
    assert root.findtext(f"{ATOM}updated") == spec.updated.isoformat()
    for element, entry in zip(root.iter(f"{ATOM}entry"), spec.entries, strict=True):
        assert _when(element.findtext(f"{ATOM}published")) == entry.published
        assert _when(element.findtext(f"{ATOM}updated")) == entry.updated
    last_october = root.findall(f"{ATOM}entry")[9]
    # 11:30 UTC: the listed day on every clock from UTC-11 to UTC+12; the site's
    # zone left summer time at 01:00 UTC that day.
    assert last_october.findtext(f"{ATOM}published") == "2021-10-31T12:30:00+01:00"


def test_rss_dates_are_rfc822_in_the_site_offset() -> None:
    spec = seed_spec()
    channel = _xml(spec, "rss").find("channel")
    assert channel.findtext("lastBuildDate") == "Mon, 15 Nov 2021 18:00:00 +0100"
    assert channel.findtext("pubDate") == "Mon, 15 Nov 2021 18:00:00 +0100"
    dates = [item.findtext("pubDate") for item in channel.iter("item")]
    assert dates[0] == "Mon, 15 Nov 2021 12:30:00 +0100"
    assert dates[9] == "Sun, 31 Oct 2021 12:30:00 +0100"


def test_json_dates_are_rfc3339() -> None:
    spec = seed_spec()
    items = json.loads(render_feed(spec, "json"))["items"]
    for item, entry in zip(items, spec.entries, strict=True):
        assert _when(item["date_published"]) == entry.published
        assert _when(item["date_modified"]) == entry.updated


@pytest.mark.parametrize("fmt", list(OUTPUT_FORMATS))
def test_feed_date_comes_from_the_spec_not_the_clock(fmt: str) -> None:
    moment = dt.datetime(2030, 5, 6, 7, 8, 9, tzinfo=ZONE)
    spec = make_spec((), updated=moment)
    text = render_feed(spec, fmt).decode()
    if fmt == "rss":
        assert "Mon, 06 May 2030 07:08:09 +0200" in text
    elif fmt == "atom":
        assert "2030-05-06T07:08:09+02:00" in text


def test_rss_never_touches_the_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = render_feed(seed_spec(), "rss")

    def refuse(*args: object) -> str:
        raise AssertionError(f"locale.setlocale{args} called while rendering")

    monkeypatch.setattr(locale, "setlocale", refuse)
    assert render_feed(seed_spec(), "rss") == expected


# --- format details ---


def test_atom_entry_links_are_typed_alternates() -> None:
    root = _xml(seed_spec(), "atom")
    for entry in root.iter(f"{ATOM}entry"):
        (link,) = entry.findall(f"{ATOM}link")
        assert link.get("rel") == "alternate"
        assert link.get("type") == "text/html"
        assert link.get("href").startswith(BASE_URL + "items/")


def test_atom_feed_has_self_and_alternate_links() -> None:
    spec = seed_spec()
    links = {link.get("rel"): link for link in _xml(spec, "atom").findall(f"{ATOM}link")}
    assert links["self"].get("href") == spec.self_urls["atom"]
    assert links["self"].get("type") == "application/atom+xml"
    assert links["alternate"].get("href") == spec.home_url
    assert links["alternate"].get("type") == "text/html"


def test_atom_categories_have_slug_term_and_label() -> None:
    root = _xml(category_spec(), "atom")
    terms = {(c.get("term"), c.get("label")) for c in root.iter(f"{ATOM}category")}
    assert terms == {("social-protection", "Social protection")}


def test_atom_summary_is_text() -> None:
    root = _xml(seed_spec(), "atom")
    summaries = list(root.iter(f"{ATOM}summary"))
    assert len(summaries) == sum(entry.summary is not None for entry in seed_spec().entries)
    assert {s.get("type") for s in summaries} == {"text"}


def test_rss_guids_are_not_permalinks() -> None:
    channel = _xml(seed_spec(), "rss").find("channel")
    guids = channel.findall("item/guid")
    assert len(guids) == 20
    assert {g.get("isPermaLink") for g in guids} == {"false"}
    self_link = channel.find(f"{ATOM}link")
    assert self_link.get("rel") == "self"
    assert self_link.get("type") == "application/rss+xml"


def test_json_feed_shape() -> None:
    spec = seed_spec()
    feed = json.loads(render_feed(spec, "json"))
    assert list(feed)[:4] == ["version", "title", "home_page_url", "feed_url"]
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["feed_url"] == spec.self_urls["json"]
    assert feed["authors"] == [{"name": "ILO Newsroom"}]
    for item in feed["items"]:
        assert item["content_text"]
    first = feed["items"][0]
    assert first["tags"] == ["Social dialogue"]
    assert first["_feedsvc"] == {"category_slug": "social-dialogue", "image_credit": "© ILO 2021"}


def test_entry_without_summary_has_no_summary_element() -> None:
    """Not the title again: no summary element; Atom, which wants text in an
    entry, gets a content linking to the item; JSON Feed's content is the link."""
    entry = make_entry("2021-01-27", "Only a title")
    spec = make_spec((entry,))
    atom = _xml(spec, "atom")
    assert atom.find(f"{ATOM}entry/{ATOM}summary") is None
    content = atom.find(f"{ATOM}entry/{ATOM}content")
    assert content.get("type") == "html"
    assert content.text == f'<p><a href="{entry.link}">{entry.link}</a></p>'
    assert "Only a title" not in content.text
    assert _xml(spec, "rss").find("channel/item/description") is None
    item = json.loads(render_feed(spec, "json"))["items"][0]
    assert "summary" not in item
    assert item["content_text"] == entry.link


def test_entry_without_summary_shows_its_image_and_credit() -> None:
    entry = make_entry("2021-01-27", "Only a picture", image="https://img.example/a.png",
                       credit="© ILO")
    content = _xml(make_spec((entry,)), "atom").find(f"{ATOM}entry/{ATOM}content")
    assert content.text == ('<p><img src="https://img.example/a.png" alt=""></p>'
                            "<p>Image: © ILO</p>")


@pytest.mark.parametrize(
    ("url", "media_type"),
    [("https://img.example/a.JPG", "image/jpeg"), ("https://img.example/b.png?x=.gif",
                                                    "image/png"),
     ("https://img.example/c.webp", "image/webp"), ("https://img.example/d", "image/jpeg")],
)
def test_images_are_enclosures_with_their_credit(url: str, media_type: str) -> None:
    entry = make_entry("2021-01-27", "Picture", image=url, credit="© ILO 2021",
                       summary="Text.")
    spec = make_spec((entry,))
    atom = _xml(spec, "atom").find(f"{ATOM}entry")
    enclosure = atom.find(f"{ATOM}link[@rel='enclosure']")
    assert (enclosure.get("href"), enclosure.get("type")) == (url, media_type)
    assert enclosure.get("length") is None  # unknown: Atom lets it go unsaid
    assert atom.findtext(f"{MEDIA}credit") == "ILO 2021"
    item = _xml(spec, "rss").find("channel/item")
    rss_enclosure = item.find("enclosure")
    assert dict(rss_enclosure.attrib) == {"url": url, "length": "0", "type": media_type}
    assert item.findtext(f"{MEDIA}credit") == "ILO 2021"
    for fmt in XML_FORMATS:
        parsed = feedparser.parse(render_feed(spec, fmt))
        assert [e["href"] for e in parsed.entries[0].enclosures] == [url]
        assert parsed.entries[0].media_credit[0]["content"] == "ILO 2021"


def test_every_entry_says_its_language() -> None:
    spec = extras_spec()
    atom = _xml(spec, "atom")
    assert atom.get(XML_LANG) == "fr"
    assert [e.get(XML_LANG) for e in atom.iter(f"{ATOM}entry")] == ["fr", "fr", "fr", "es", "fr"]
    channel = _xml(spec, "rss").find("channel")
    assert channel.findtext("language") == "fr"
    assert [i.findtext(f"{DC}language") for i in channel.iter("item")] == [
        "fr", "fr", "fr", "es", "fr"]
    items = json.loads(render_feed(spec, "json"))["items"]
    assert [item["language"] for item in items] == ["fr", "fr", "fr", "es", "fr"]


def test_archive_documents_link_current_and_prev_archive() -> None:
    spec = extras_spec()
    atom = _xml(spec, "atom")
    links = {link.get("rel"): link.get("href") for link in atom.findall(f"{ATOM}link")}
    assert links["current"] == BASE_URL + "feeds/all.atom"
    assert links["prev-archive"] == BASE_URL + "feeds/all/archive/1.atom"
    assert links["self"] == BASE_URL + "feeds/all/archive/2.atom"
    assert links["next-archive"] == BASE_URL + "feeds/all/archive/3.atom"
    assert atom.find(f"{HISTORY}archive") is not None
    channel = _xml(spec, "rss").find("channel")
    rss_links = {link.get("rel"): link.get("href") for link in channel.findall(f"{ATOM}link")}
    assert rss_links["prev-archive"] == BASE_URL + "feeds/all/archive/1.rss"
    assert rss_links["current"] == BASE_URL + "feeds/all.rss"
    assert channel.find(f"{HISTORY}archive") is not None
    feed = json.loads(render_feed(spec, "json"))
    assert feed["next_url"] == BASE_URL + "feeds/all/archive/1.json"
    assert feed["feed_url"] == BASE_URL + "feeds/all.json"


def test_subscription_document_is_no_archive() -> None:
    spec = dataclasses.replace(seed_spec(), prev_archive_urls={
        fmt: f"{BASE_URL}feeds/all/archive/3.{fmt}" for fmt in OUTPUT_FORMATS})
    atom = _xml(spec, "atom")
    assert atom.find(f"{HISTORY}archive") is None
    assert [link.get("href") for link in atom.findall(f"{ATOM}link[@rel='prev-archive']")] == [
        BASE_URL + "feeds/all/archive/3.atom"]
    assert atom.find(f"{ATOM}link[@rel='current']") is None
    assert json.loads(render_feed(spec, "json"))["next_url"] == (
        BASE_URL + "feeds/all/archive/3.json")
    assert b"prev-archive" not in render_feed(seed_spec(), "atom")


# --- hostile text ---


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("plain", "plain"),
        ("tab\tnewline\ncr\r", "tab\tnewline\ncr\r"),
        ("nul\x00bell\x07esc\x1b", "nulbellesc"),
        ("\ufffe\uffffnon-characters", "non-characters"),
        ("lone \ud800 \udfff surrogates", "lone   surrogates"),
        ("<script>]]>&amp;", "<script>]]>&amp;"),
        ("emoji 🎉 and RTL عربي עברית", "emoji 🎉 and RTL عربي עברית"),
        ("\x7f is allowed", "\x7f is allowed"),
        ("C1\x85\x9f and U+FFFD\ufffd are not text", "C1 and U+FFFD are not text"),
    ],
)
def test_clean_xml_text(raw: str, clean: str) -> None:
    assert clean_xml_text(raw) == clean


@pytest.mark.parametrize("fmt", list(OUTPUT_FORMATS))
def test_hostile_text_never_reaches_the_output(fmt: str) -> None:
    text = render_feed(hostile_spec(), fmt).decode("utf-8")
    assert not FORBIDDEN.search(text)
    entry = _parsed(hostile_spec(), fmt).entries[0]
    assert "🎉 عربي עברית" in entry.summary
    assert "<script>" not in entry.get("summary", "")


def test_hostile_text_is_escaped_html_in_atom() -> None:
    entry = _xml(hostile_spec(), "atom").find(f"{ATOM}entry")
    title = entry.find(f"{ATOM}title")
    assert title.get("type") == "html"
    assert html.unescape(title.text) == "Bell <script>alert(1)</script> ]]> &amp;  end"
    summary = entry.find(f"{ATOM}summary")
    assert summary.get("type") == "html"
    paragraphs = re.findall("<p>(.*?)</p>", summary.text, flags=re.S)
    assert [html.unescape(p) for p in paragraphs] == [
        clean_xml_text(HOSTILE_SUMMARY), "Image: © <img src=x onerror=alert(1)>"]


def test_hostile_text_is_escaped_html_in_rss() -> None:
    description = _xml(hostile_spec(), "rss").findtext("channel/item/description")
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; ]]&gt; &amp;amp;" in description
    assert "<img" not in description
    assert description.startswith("<p>") and description.endswith("</p>")


def test_hostile_text_survives_json() -> None:
    item = json.loads(render_feed(hostile_spec(), "json"))["items"][0]
    assert item["title"] == "Bell <script>alert(1)</script> ]]> &amp;  end"
    assert item["_feedsvc"]["image_credit"] == "© <img src=x onerror=alert(1)>"


# --- OPML ---


def test_opml_lists_every_feed_by_its_atom_url() -> None:
    root = etree.fromstring(render_opml("ILO Newsroom", SITE_FEEDS, BASE_URL))
    assert root.get("version") == "2.0"
    assert root.findtext("head/title") == "ILO Newsroom"
    outlines = root.findall(".//outline[@xmlUrl]")
    assert [o.get("xmlUrl") for o in outlines] == [
        BASE_URL + "feeds/all.atom",
        BASE_URL + "feeds/category/press-release.atom",
        BASE_URL + "feeds/category/social-protection.atom",
    ]
    assert [o.get("htmlUrl") for o in outlines] == [
        BASE_URL,
        BASE_URL + "categories/press-release",
        BASE_URL + "categories/social-protection",
    ]
    assert [o.get("text") for o in outlines] == [f.title for f in SITE_FEEDS]
    assert {o.get("type") for o in outlines} == {"rss"}


def test_opml_lists_all_items_once_then_categories_and_custom_feeds_in_groups() -> None:
    custom = FeedLink("custom/child-labour", "ILO Newsroom: Child labour", None, None, 3,
                      None, "")
    root = etree.fromstring(render_opml("ILO Newsroom", (*SITE_FEEDS, custom), BASE_URL))
    top = root.findall("body/outline")
    assert [o.get("xmlUrl") for o in top] == [BASE_URL + "feeds/all.atom", None, None]
    assert [o.get("text") for o in top[1:]] == ["Categories", "Custom feeds"]
    assert [o.get("xmlUrl") for o in top[1]] == [
        BASE_URL + "feeds/category/press-release.atom",
        BASE_URL + "feeds/category/social-protection.atom",
    ]
    assert [o.get("xmlUrl") for o in top[2]] == [BASE_URL + "feeds/custom/child-labour.atom"]
    # Each outline's web page is the one its feed's alternate link names.
    assert [o.get("htmlUrl") for o in top[2]] == [BASE_URL + "#custom-child-labour"]
    all_urls = [o.get("xmlUrl") for o in root.iter("outline") if o.get("xmlUrl")]
    assert all_urls.count(BASE_URL + "feeds/all.atom") == 1


def test_opml_is_deterministic_and_clean() -> None:
    feeds = (FeedLink("all", "Bad\x00 <title> & co", None, None, 0, None, ""),)
    first = render_opml("Site\x01", feeds, BASE_URL)
    assert first == render_opml("Site\x01", feeds, BASE_URL)
    root = etree.fromstring(first)
    assert root.findtext("head/title") == "Site"
    # OPML titles are HTML to readers and validators: the text is escaped as HTML.
    assert root.find("body/outline").get("text") == "Bad &lt;title&gt; &amp; co"
    assert html.unescape(root.find("body/outline").get("text")) == "Bad <title> & co"
