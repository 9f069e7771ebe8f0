"""Custom feeds (``[[feeds]]``) and category control (``[categories]``), end to end:
real store, real renderer, published files read back as the web layer reads them."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from log_events import field, records
from lxml import etree

from feedsvc.curation import CategoryRules, FeedFilter
from feedsvc.errors import ConfigError
from feedsvc.feeds import FeedLink
from feedsvc.listing import render_numbered
from feedsvc.logevents import Event
from feedsvc.models import FeedSpec, ListingItem, StoredItem
from feedsvc.pipeline import DefaultRenderer, refresh
from feedsvc.publication import open_publication
from feedsvc.settings import CustomFeedSettings, Settings, settings_from_mapping
from feedsvc.store import Store
from feedsvc.web import create_app

T0 = dt.datetime(2026, 11, 22, 6, 0, tzinfo=dt.UTC)
LATER = T0 + dt.timedelta(minutes=30)
FORMATS = ("atom", "rss", "json")


class CountingRenderer(DefaultRenderer):
    """The real renderer, remembering which feeds it rendered."""

    def __init__(self) -> None:
        self.rendered: set[str] = set()

    def render_feed(self, spec: FeedSpec, fmt: str) -> bytes:
        self.rendered.add(spec.key)
        return super().render_feed(spec, fmt)

    def render_opml(self, title: str, feeds: Sequence[FeedLink], base_url: str) -> bytes:
        return super().render_opml(title, feeds, base_url)


def item(title: str, day: int, category: str | None = "Press release",
         summary: str | None = None) -> ListingItem:
    return ListingItem(title=title, date=dt.date(2021, 11, day), category=category,
                       credit=None, summary=summary)


def build(tmp_path: Path, *, feeds: Sequence[dict[str, Any]] = (),
          categories: dict[str, Any] | None = None, sources: int = 1) -> Settings:
    (tmp_path / "listings").mkdir(exist_ok=True)
    raw: dict[str, Any] = {
        "site": {"title": "Test Newsroom", "base_url": "http://feeds.test/",
                 "timezone": "Europe/Zurich"},
        "storage": {"database": "sqlite:///var/feedsvc.sqlite3", "publish_dir": "var/public"},
        "sources": [{"name": f"s{n}", "location": f"listings/s{n}.txt", "language": "en"}
                    for n in range(sources)],
        "feeds": list(feeds),
    }
    if categories is not None:
        raw["categories"] = categories
    return settings_from_mapping(raw, config_path=tmp_path / "feedsvc.toml")


def write(settings: Settings, items: Sequence[ListingItem], source: int = 0) -> None:
    Path(settings.sources[source].location).write_text(render_numbered(list(items)), "utf-8")


def feed_titles(settings: Settings, key: str) -> list[str]:
    publication = open_publication(settings.storage.publish_dir)
    assert publication is not None
    return [entry["title"] for entry in
            json.loads(publication.read(f"feeds/{key}.json"))["items"]]


def feed_keys(settings: Settings) -> list[str]:
    publication = open_publication(settings.storage.publish_dir)
    assert publication is not None
    return [link.key for link in publication.site.feeds]


NEWS = [
    item("Child labour falls in Asia", 30, summary="A report on children at work."),
    item("Ending child labour by 2025", 29, category="Video"),
    item("Decent work for all", 28, summary="Nothing about child labour here? It is."),
    item("A pilot scheme for ILO members", 27, category="Statement"),
    item("Childcare and labour markets", 26, category=None),
]

CHILD_LABOUR = {"slug": "child-labour", "title": "Child labour", "include": ["child labour"]}


# --- custom feeds ---------------------------------------------------------------------


@pytest.mark.slow
def test_a_custom_feed_gathers_matching_items_across_categories(tmp_path: Path) -> None:
    settings = build(tmp_path, feeds=[CHILD_LABOUR])
    write(settings, NEWS)
    refresh(settings, now=T0)
    # Whole words, case-insensitive, in the title or the summary: "Childcare and
    # labour" is not "child labour".
    assert feed_titles(settings, "custom/child-labour") == [
        "Child labour falls in Asia", "Ending child labour by 2025", "Decent work for all"]
    publication = open_publication(settings.storage.publish_dir)
    assert publication is not None
    for fmt in FORMATS:
        assert f"feeds/custom/child-labour.{fmt}" in publication.files
    atom = etree.fromstring(publication.read("feeds/custom/child-labour.atom"))
    ns = {"a": "http://www.w3.org/2005/Atom"}
    assert atom.findtext("a:title", namespaces=ns) == "Test Newsroom: Child labour"
    assert atom.find("a:link[@rel='self']", ns).get("href") == \
        "http://feeds.test/feeds/custom/child-labour.atom"
    link = next(link for link in publication.site.feeds if link.key == "custom/child-labour")
    assert (link.label, link.item_count) == ("Child labour", 3)
    assert feed_keys(settings)[-1] == "custom/child-labour"
    opml = etree.fromstring(publication.read("feeds.opml"))
    group = opml.find("body/outline[@text='Custom feeds']")
    assert [o.get("xmlUrl") for o in group] == ["http://feeds.test/feeds/custom/child-labour.atom"]


def test_categories_sources_exclusions_and_regular_expressions(tmp_path: Path) -> None:
    settings = build(tmp_path, sources=2, feeds=[
        {"slug": "press", "title": "Press", "categories": ["Press release"],
         "exclude": ["decent work"]},
        {"slug": "second", "title": "Second source", "sources": ["s1"]},
        {"slug": "pattern", "title": "Pattern", "regex": True, "include": [r"\bILO\b", "^End"]},
    ])
    write(settings, NEWS)
    write(settings, [item("From the second source", 25), NEWS[1]], source=1)
    refresh(settings, now=T0)
    assert feed_titles(settings, "custom/press") == [
        "Child labour falls in Asia", "From the second source"]
    assert feed_titles(settings, "custom/second") == [
        "Ending child labour by 2025", "From the second source"]
    assert feed_titles(settings, "custom/pattern") == [
        "Ending child labour by 2025", "A pilot scheme for ILO members"]


@pytest.mark.slow
def test_a_custom_feed_is_rendered_again_only_when_its_items_may_have_changed(
    tmp_path: Path,
) -> None:
    settings = build(tmp_path, feeds=[
        {"slug": "press", "title": "Press", "categories": ["Press release"],
         "include": ["child labour"]}])
    write(settings, NEWS)
    # The same renderer class throughout: feeds rendered by another are rendered anew.
    refresh(settings, now=T0, renderer=CountingRenderer())
    renderer = CountingRenderer()
    # A new item in another category: the custom feed is carried over, not rendered.
    write(settings, [item("A new video", 24, category="Video"), *NEWS])
    refresh(settings, now=LATER, renderer=renderer)
    assert renderer.rendered == {"all", "category/video"}
    # A new press release about child labour: rendered again, and in it.
    renderer = CountingRenderer()
    write(settings, [item("Child labour: new figures", 30), item("A new video", 24, "Video"),
                     *NEWS])
    refresh(settings, now=LATER + dt.timedelta(minutes=30), renderer=renderer)
    assert "custom/press" in renderer.rendered
    assert feed_titles(settings, "custom/press")[0] == "Child labour: new figures"
    # An edit that makes an item stop matching takes it out.
    edited = [item("Child labour: new figures", 30, summary=None),
              item("A new video", 24, "Video"),
              item("Child labour falls in Asia", 30, category="Statement"), *NEWS[1:]]
    write(settings, edited)
    refresh(settings, now=LATER + dt.timedelta(minutes=60), renderer=CountingRenderer())
    assert feed_titles(settings, "custom/press") == [
        "Child labour: new figures", "Decent work for all"]


@pytest.mark.slow
def test_a_filtered_feed_reads_at_most_scan_candidates(tmp_path: Path) -> None:
    settings = build(tmp_path, feeds=[{**CHILD_LABOUR, "scan": 2}])
    write(settings, NEWS)
    refresh(settings, now=T0)
    # The third newest item matches too, but lies beyond the two newest read.
    assert feed_titles(settings, "custom/child-labour") == [
        "Child labour falls in Asia", "Ending child labour by 2025"]


@pytest.mark.slow
def test_a_filtered_feed_reads_no_more_than_scan_rows_however_long_the_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = build(tmp_path, feeds=[{"slug": "rare", "title": "Rare", "include": ["zebra"],
                                       "scan": 40}])
    write(settings, [item(f"Item {n}", 1 + n % 30) for n in range(300)])
    read: list[int] = []
    original = Store.newest_selected

    def counting(self: Store, *args: Any, **kwargs: Any) -> list[StoredItem]:
        rows = original(self, *args, **kwargs)
        read.append(len(rows))
        return rows

    monkeypatch.setattr(Store, "newest_selected", counting)
    refresh(settings, now=T0)
    # Nothing matches: the feed looked at its 40 newest candidates, not at 300.
    assert sum(read) == 40
    assert feed_titles(settings, "custom/rare") == []


def test_whole_words_and_phrases() -> None:
    def matches(include: tuple[str, ...], title: str, summary: str | None = None) -> bool:
        feed = FeedFilter(CustomFeedSettings(slug="x", title="X", include=include))
        stored = StoredItem(key="k", guid="g", item_id="i", title=title,
                            date=dt.date(2021, 1, 1), category=None, credit=None,
                            summary=summary, link=None, image=None, first_seen=T0,
                            updated=T0, listing_rank=0)
        return feed.matches(stored)

    assert matches(("ILO",), "The ilo says")
    assert not matches(("ILO",), "A pilot")
    assert matches(("child labour",), "Child\n  labour today")
    assert not matches(("child labour",), "Childcare labour")
    assert matches(("C++",), "Learn C++ now")
    assert matches(("rights",), "Nothing", "Workers' rights.")


def test_regular_expressions_each_stand_alone() -> None:
    feed = FeedFilter(CustomFeedSettings(slug="x", title="X", regex=True,
                                         include=("(?i)^ok", r"(\w)\1")))
    def stored(title: str) -> StoredItem:
        return StoredItem(key="k", guid="g", item_id="i", title=title, date=dt.date(2021, 1, 1),
                          category=None, credit=None, summary=None, link=None, image=None,
                          first_seen=T0, updated=T0, listing_rank=0)

    assert feed.matches(stored("OK then"))
    assert feed.matches(stored("a weekly meeting"))
    assert not feed.matches(stored("nothing"))


@pytest.mark.slow
def test_the_home_page_lists_custom_feeds(tmp_path: Path) -> None:
    settings = build(tmp_path, feeds=[CHILD_LABOUR])
    write(settings, NEWS)
    refresh(settings, now=T0)
    page = create_app(settings).test_client().get("/").get_data(as_text=True)
    assert 'id="custom-child-labour"' in page
    assert 'href="/feeds/custom/child-labour.atom"' in page
    assert 'data-key="custom/child-labour"' not in page.split('id="custom-feeds"')[0]
    response = create_app(settings).test_client().get("/feeds/custom/child-labour.rss")
    assert response.status_code == 200
    assert response.content_type == "application/rss+xml; charset=utf-8"
    # Opened in a browser, a custom feed is a page for people, as every feed is.
    opened = create_app(settings).test_client().get(
        "/feeds/custom/child-labour.atom", headers={"Accept": "text/html,*/*;q=0.8"})
    assert opened.status_code == 200 and opened.content_type.startswith("text/html")
    assert "Ending child labour by 2025" in opened.get_data(as_text=True)



@pytest.mark.slow
def test_a_custom_feeds_name_on_the_home_page_opens_its_page(tmp_path: Path) -> None:
    """As a category's name opens its page, a custom feed's opens the feed's page for
    people, its only page: its entries and how to subscribe."""
    settings = build(tmp_path, feeds=[CHILD_LABOUR])
    write(settings, NEWS)
    refresh(settings, now=T0)
    client = create_app(settings).test_client()
    home = client.get("/").get_data(as_text=True)
    row = home.split('id="custom-child-labour"', 1)[1].split("</li>", 1)[0]
    assert '<a class="name" href="/feeds/custom/child-labour.html"' in row
    page = client.get("/feeds/custom/child-labour.html")
    assert page.status_code == 200 and page.content_type.startswith("text/html")


# --- category control ---------------------------------------------------------------


def test_merged_labels_publish_under_one_category(tmp_path: Path) -> None:
    settings = build(tmp_path, categories={"merge": {"Press releases": "Press release"}})
    write(settings, [item("One", 30, "Press releases"), item("Two", 29, "Press release"),
                     item("Three", 28, "press releases")])
    refresh(settings, now=T0)
    assert "category/press-releases" not in feed_keys(settings)
    assert feed_titles(settings, "category/press-release") == ["One", "Two", "Three"]
    publication = open_publication(settings.storage.publish_dir)
    assert publication is not None
    entries = json.loads(publication.read("feeds/all.json"))["items"]
    assert {tuple(entry["tags"]) for entry in entries} == {("Press release",)}
    assert {e["_feedsvc"]["category_slug"] for e in entries} == {"press-release"}
    link = next(link for link in publication.site.feeds if link.key == "category/press-release")
    assert link.item_count == 3


@pytest.mark.slow
def test_pages_show_merged_and_hidden_labels_as_the_feeds_do(tmp_path: Path) -> None:
    settings = build(tmp_path, categories={"merge": {"Press releases": "Press release"},
                                           "hide": ["Statement"]})
    write(settings, [item("Alpha item", 30, "Press releases"),
                     item("Beta item", 29, "Press release"), item("Gamma item", 28, "Statement")])
    refresh(settings, now=T0)
    client = create_app(settings).test_client()
    page = client.get("/categories/press-release").get_data(as_text=True)
    assert "Alpha item" in page and "Beta item" in page and "Gamma item" not in page
    publication = open_publication(settings.storage.publish_dir)
    assert publication is not None
    ids = {record.title: record.id for record in publication.site.latest}
    assert {record.title: record.category for record in publication.site.latest} == {
        "Alpha item": "Press release", "Beta item": "Press release", "Gamma item": None}
    one = client.get(f"/items/{ids['Alpha item']}").get_data(as_text=True)
    assert "Press release" in one and "Press releases" not in one
    three = client.get(f"/items/{ids['Gamma item']}").get_data(as_text=True)
    assert "Statement" not in three


def test_a_merge_target_that_no_item_has_gets_the_label_as_written(tmp_path: Path) -> None:
    settings = build(tmp_path, categories={"merge": {"PR": "Press release"}})
    write(settings, [item("One", 30, "PR")])
    refresh(settings, now=T0)
    publication = open_publication(settings.storage.publish_dir)
    assert publication is not None
    link = next(link for link in publication.site.feeds if link.key == "category/press-release")
    assert link.label == "Press release"


def test_a_hidden_label_has_no_feed_and_is_left_off_entries(tmp_path: Path) -> None:
    settings = build(tmp_path, categories={"hide": ["Statement"]})
    write(settings, NEWS)
    refresh(settings, now=T0)
    assert "category/statement" not in feed_keys(settings)
    publication = open_publication(settings.storage.publish_dir)
    assert publication is not None
    entry = next(e for e in json.loads(publication.read("feeds/all.json"))["items"]
                 if e["title"] == "A pilot scheme for ILO members")
    assert "tags" not in entry
    assert b"Statement" not in publication.read("feeds/all.atom")


@pytest.mark.slow
def test_a_category_needs_min_items_for_a_feed_and_then_keeps_it(tmp_path: Path) -> None:
    settings = build(tmp_path, categories={"min_items": 2})
    write(settings, [item("One", 30, "Video"), item("Two", 29), item("Three", 28)])
    refresh(settings, now=T0)
    assert feed_keys(settings) == ["all", "category/press-release"]
    write(settings, [item("Four", 30, "Video"), item("One", 30, "Video"), item("Two", 29),
                     item("Three", 28)])
    refresh(settings, now=LATER)
    assert feed_keys(settings) == ["all", "category/press-release", "category/video"]
    # Once published, it stays, though it falls below the minimum again.
    write(settings, [item("Four", 30, "Statement"), item("One", 30, "Statement"),
                     item("Two", 29), item("Three", 28)])
    refresh(settings, now=LATER + dt.timedelta(minutes=30))
    assert "category/video" in feed_keys(settings)
    assert "category/statement" in feed_keys(settings)


def test_category_rules_are_pure() -> None:
    rules = CategoryRules(merged={"prs": "press-release"}, hidden=frozenset({"x"}))
    assert rules.canonical("prs") == "press-release"
    assert rules.canonical("x") is None and rules.canonical(None) is None
    assert rules.members("press-release") == ("press-release", "prs")
    assert rules.publishable({"prs", "x", "video"}) == {"press-release", "video"}


# --- settings ---------------------------------------------------------------------------


@pytest.mark.parametrize(("feeds", "categories", "message"), [
    ([{**CHILD_LABOUR, "regex": True, "include": ["(unclosed"]}], None,
     r"feeds\[0\]\.include\[0\]: is not a regular expression"),
    ([{"slug": "x", "title": "X", "sources": ["nowhere"]}], None,
     r"feeds\[0\]\.sources\[0\]: no \[\[sources\]\] entry is named 'nowhere'"),
    ([CHILD_LABOUR, CHILD_LABOUR], None, r"feeds\[1\]\.slug: duplicate feed slug"),
    ([{"slug": "Child Labour", "title": "X"}], None, r"feeds\[0\]\.slug: must be lower-case"),
    ([{"title": "X"}], None, r"feeds\[0\]\.slug: is required"),
    ([{**CHILD_LABOUR, "colour": "red"}], None, r"feeds\[0\]\.colour: unknown setting"),
    ([], {"merge": {"Press release": "press-release"}},
     r"categories\.merge\.Press release: merges the label into itself"),
    ([], {"merge": {"A": "B", "B": "C"}}, r"categories\.merge\.B: is merged into another"),
    ([], {"min_items": 0}, r"categories\.min_items: must be from 1"),
])
def test_bad_settings_name_their_key(tmp_path: Path, feeds: list[dict[str, Any]],
                                     categories: dict[str, Any] | None, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build(tmp_path, feeds=feeds, categories=categories)


def test_a_category_no_item_has_is_a_warning_not_an_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    settings = build(tmp_path, feeds=[{"slug": "x", "title": "X", "categories": ["Nope"]}])
    write(settings, NEWS)
    with caplog.at_level(logging.WARNING, logger="feedsvc.pipeline"):
        report = refresh(settings, now=T0)
    assert report.ok and report.published
    missing = records(caplog, Event.FEED_CATEGORY_MISSING, "feedsvc.pipeline")
    assert [(r.levelno, field(r, "feed"), field(r, "category")) for r in missing] == [
        (logging.WARNING, "x", "Nope")]
    assert feed_titles(settings, "custom/x") == []
