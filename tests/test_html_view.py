"""A feed's page for people (``feeds/<key>.html``): rendered purely from the FeedSpec,
published beside every feed by each refresh."""

from __future__ import annotations

import dataclasses
import datetime as dt
from html.parser import HTMLParser
from pathlib import Path

import pytest
from render_fixtures import (
    HOSTILE_TITLE,
    SITE_TITLE,
    category_spec,
    empty_spec,
    hostile_spec,
    seed_entries,
    seed_spec,
)

from feedsvc.feeds import VIEW_CONTENT_TYPE, view_path
from feedsvc.pipeline import refresh
from feedsvc.publication import open_publication
from feedsvc.render import render_view
from feedsvc.settings import load_settings


class Page(HTMLParser):
    """The parts of a page the tests look at: tags in order, attributes, text of entries;
    and whether every element is closed in order (``problems``, ``open``)."""

    VOID = frozenset({"meta", "link", "br", "img", "input", "hr", "source", "wbr"})

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.entry_titles: list[str] = []
        self.open: list[str] = []
        self.problems: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        self.tags.append((tag, values))
        if tag not in self.VOID:
            self.open.append(tag)
        self._in_title = tag == "a" and values.get("class") == "entry-title"
        if self._in_title:
            self.entry_titles.append("")

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False
        if not self.open or self.open.pop() != tag:
            self.problems.append(f"unexpected </{tag}> at {self.getpos()}")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.entry_titles[-1] += data

    def attrs(self, tag: str) -> list[dict[str, str]]:
        return [values for name, values in self.tags if name == tag]


def parse(data: bytes) -> Page:
    page = Page()
    page.feed(data.decode("utf-8"))
    page.close()
    assert page.problems == [] and page.open == []
    return page


def test_the_page_shows_the_feed_for_people() -> None:
    spec = seed_spec()
    data = render_view(spec, SITE_TITLE)
    text = data.decode()
    page = parse(data)
    assert text.startswith("<!doctype html>\n<html lang=\"en\">")
    assert f'<h1 class="feed-title">{SITE_TITLE}</h1>' in text
    assert "This is a feed" in text and "copy the feed&#x27;s address" in text
    assert page.entry_titles == [entry.title for entry in spec.entries]
    assert [a["href"] for a in page.attrs("a") if a.get("class") == "entry-title"] == [
        entry.link for entry in spec.entries]
    inputs = {i["id"]: i["value"] for i in page.attrs("input")}
    assert inputs == {f"address-{fmt}": url for fmt, url in spec.self_urls.items()}
    buttons = [b for b in page.attrs("button") if b.get("class") == "copy"]
    assert [b["data-copy"] for b in buttons] == list(inputs)
    assert all("hidden" in b for b in buttons)
    newest = spec.entries[0]
    assert f'<time datetime="{newest.published.date().isoformat()}">' in text
    assert newest.summary is not None and newest.summary.split()[0] in text
    assert {"../", "../items"} <= {a["href"] for a in page.attrs("a")}
    # Nothing inline: the page policy allows only the site's own script and stylesheet.
    assert [s["src"] for s in page.attrs("script")] == ["../static/copy.js"]
    assert "<style" not in text and " on" not in "".join(
        name for _, values in page.tags for name in values)


def test_links_to_the_site_are_relative_to_the_feed_address() -> None:
    page = parse(render_view(category_spec(), SITE_TITLE))
    hrefs = [a["href"] for a in page.attrs("a")]
    assert "../../" in hrefs
    assert "../../categories/social-protection" in hrefs
    assert [s["href"] for s in page.attrs("link") if s["rel"] == "stylesheet"] == [
        "../../static/site.css"]
    assert {link["href"] for link in page.attrs("link") if link["rel"] == "alternate"} == set(
        category_spec().self_urls.values())


def test_hostile_text_stays_text() -> None:
    data = render_view(hostile_spec(), "Site <b>&</b>")
    text = data.decode()
    assert "<script>" not in text and "<img" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "Site &lt;b&gt;&amp;&lt;/b&gt;" in text
    assert "\x07" not in text and "\ufffe" not in text
    assert parse(data).entry_titles[0].startswith(HOSTILE_TITLE.split("\x07")[0])


def test_an_empty_feed_says_so() -> None:
    text = render_view(empty_spec(), SITE_TITLE).decode()
    assert "No items yet" in text and "This feed is empty." in text


def test_dates_are_in_the_feed_language_whatever_the_locale() -> None:
    # Entries of no known language of their own are in the feed's.
    entries = tuple(dataclasses.replace(entry, language=None) for entry in seed_entries())
    spec = dataclasses.replace(seed_spec(), language="fr", entries=entries)
    text = render_view(spec, SITE_TITLE).decode()
    assert '<html lang="fr">' in text
    assert "novembre 2021" in text
    unknown = dataclasses.replace(spec, language="xx")
    assert ">2021-11-15</time>" in render_view(unknown, SITE_TITLE).decode()


def test_the_same_spec_gives_the_same_bytes() -> None:
    assert render_view(seed_spec(), SITE_TITLE) == render_view(seed_spec(), SITE_TITLE)


@pytest.mark.slow
def test_every_refresh_publishes_a_page_beside_every_feed(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(Path(__file__).resolve().parent.parent / "config", tmp_path / "config")
    settings = load_settings(tmp_path / "config" / "feedsvc.toml", environ={})
    assert refresh(settings, now=dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)).published
    publication = open_publication(settings.storage.publish_dir)
    assert publication is not None
    for link in publication.site.feeds:
        file = publication.files[view_path(link.key)]
        assert file.content_type == VIEW_CONTENT_TYPE
        assert file.etag != publication.files[f"feeds/{link.key}.atom"].etag
        page = parse(publication.read(view_path(link.key)))
        assert len(page.entry_titles) == min(link.item_count, settings.site.feed_size)
    # Nothing changed: nothing is published again.
    assert not refresh(settings, now=dt.datetime(2026, 1, 5, 10, tzinfo=dt.UTC)).published


class LangPage(HTMLParser):
    """The language each piece of text of a page is in: the nearest ``lang`` around it."""

    VOID = Page.VOID

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, str]] = []
        self.texts: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        inherited = self.stack[-1][1] if self.stack else ""
        self.stack.append((tag, dict(attrs).get("lang") or inherited))

    def handle_endtag(self, tag: str) -> None:
        while self.stack and self.stack.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        if data.strip() and self.stack and self.stack[-1][0] not in {"script", "style", "title"}:
            self.texts.append((" ".join(data.split()), self.stack[-1][1]))

    def language_of(self, fragment: str) -> str:
        return next(lang for text, lang in self.texts if fragment in text)


def test_a_french_feeds_page_marks_its_english_text_as_english() -> None:
    """The feed's page says the feed's language, but its explanations are English:
    a screen reader must not read "This is a feed" with a French voice."""
    entries = tuple(dataclasses.replace(entry, language="fr") for entry in seed_entries())
    spec = dataclasses.replace(seed_spec(), language="fr", entries=entries)
    credited = next(entry for entry in entries if entry.credit)
    text = render_view(spec, SITE_TITLE).decode()
    assert '<html lang="fr">' in text
    page = LangPage()
    page.feed(text)
    for english in ("This is a feed", "Subscribe", "Latest 20 items", "Home",
                    "Every item, page by page", "More ways to subscribe", "Image: ©"):
        assert page.language_of(english) == "en", english
    assert page.language_of(entries[0].title) == "fr"
    assert page.language_of("novembre 2021") == "fr"
    assert credited.credit is not None
    assert page.language_of(credited.credit.removeprefix("©").strip()) == "en"


def test_an_entry_in_another_language_than_its_feed_says_so() -> None:
    entries = seed_entries()
    spanish = dataclasses.replace(entries[0], language="es")
    spec = dataclasses.replace(seed_spec(), language="en", entries=(spanish, *entries[1:]))
    page = LangPage()
    page.feed(render_view(spec, SITE_TITLE).decode())
    assert page.language_of(spanish.title) == "es"
    assert page.language_of(entries[1].title) == "en"
    # The date of the Spanish entry is written in Spanish, as its page says.
    assert "de noviembre de 2021" in render_view(spec, SITE_TITLE).decode()


def test_a_custom_feeds_page_does_not_call_the_sites_items_its_own() -> None:
    """A custom feed has no list of its own: its footer offers the site's every item
    as such, where a category's offers the category's."""
    spec = dataclasses.replace(seed_spec(), key="custom/child-labour")
    text = render_view(spec, SITE_TITLE).decode()
    assert 'href="../../items">Every item of the site, page by page</a>' in text
    assert 'href="../../#custom-child-labour">' in text
    assert ">Every item, page by page<" in render_view(seed_spec(), SITE_TITLE).decode()


def test_each_paragraph_of_a_summary_is_a_paragraph_of_the_page() -> None:
    """A summary's paragraphs are one blank line apart; a browser would run them together."""
    first = dataclasses.replace(seed_entries()[0], summary="First part.\n\nSecond <part>.")
    spec = dataclasses.replace(seed_spec(), entries=(first,))
    text = render_view(spec, SITE_TITLE).decode()
    assert ('<p class="summary">First part.</p><p class="summary">Second &lt;part&gt;.</p>'
            in text)
