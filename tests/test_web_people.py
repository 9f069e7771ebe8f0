"""The site for people, through Flask's test client: feed pages chosen by Accept, the
home page's subscribe box and reader links, category pages, the paged item list and
the short addresses that redirect to the main feeds."""

from __future__ import annotations

import gzip
from collections.abc import Iterator, Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient
from test_negotiation import ACCEPT_CASES, CHROMIUM, FEEDPARSER
from web_fixtures import (
    BASE_URL,
    ITEMS,
    item,
    items_by_id,
    items_pager,
    publish_site,
    web_settings,
)
from werkzeug.test import TestResponse

from feedsvc.errors import ConfigError
from feedsvc.feeds import ItemRecord, view_path
from feedsvc.outputs import OUTPUT_FORMATS
from feedsvc.publication import Publication
from feedsvc.settings import DEFAULT_READERS, Settings, WebReader, settings_from_mapping
from feedsvc.web import create_app
from feedsvc.web.pages import PAGE_SIZE
from feedsvc.web.responses import PAGE_POLICY

MAX_AGE = 600


def make_client(settings: Settings, items: Sequence[ItemRecord] = ITEMS) -> FlaskClient:
    app = create_app(settings, status_provider=lambda: {}, item_finder=items_by_id(items),
                     item_pager=items_pager(items))
    return app.test_client()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return web_settings(tmp_path, cache_max_age=MAX_AGE)


@pytest.fixture
def publication(settings: Settings) -> Publication:
    return publish_site(settings.storage.publish_dir)


@pytest.fixture
def client(settings: Settings, publication: Publication) -> Iterator[FlaskClient]:
    with make_client(settings) as client:
        yield client


class Elements(HTMLParser):
    """Every start tag of a page with its attributes, and the text inside each <a>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.anchor_texts: list[str] = []
        self._anchor = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))
        if tag == "a":
            self._anchor = True
            self.anchor_texts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._anchor = False

    def handle_data(self, data: str) -> None:
        if self._anchor:
            self.anchor_texts[-1] += data

    def all(self, tag: str, **wanted: str) -> list[dict[str, str]]:
        return [attrs for name, attrs in self.tags if name == tag
                and all(attrs.get(key.rstrip("_")) == value for key, value in wanted.items())]


def elements(response: TestResponse) -> Elements:
    parser = Elements()
    parser.feed(response.get_data(as_text=True))
    parser.close()
    return parser


def get(client: FlaskClient, path: str, accept: str | None = None,
        **headers: str) -> TestResponse:
    sent = {name.replace("_", "-"): value for name, value in headers.items()}
    if accept is not None:
        sent["Accept"] = accept
    return client.get(path, headers=sent)


# --- a feed's address: the feed, or its page for people ---


@pytest.mark.parametrize("path", ["/feeds/all.atom", "/feeds/category/press-release.rss",
                                  "/feeds/category/statement.json"])
@pytest.mark.parametrize(("accept", "html"),
                         [pytest.param(a, h, id=i) for i, a, h in ACCEPT_CASES])
def test_accept_header_table_through_the_app(
    client: FlaskClient, publication: Publication, path: str, accept: str | None, html: bool
) -> None:
    key, _, fmt = path.removeprefix("/feeds/").rpartition(".")
    served = view_path(key) if html else path.removeprefix("/")
    file = publication.files[served]
    response = get(client, path, accept)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == file.content_type
    assert response.data == publication.read(served)
    assert response.headers["ETag"] == file.etag
    assert response.headers["Vary"] == "Accept, Accept-Encoding"
    assert ("Content-Security-Policy" in response.headers) is html
    if not html:
        assert response.headers["Content-Type"] == OUTPUT_FORMATS[fmt].content_type


def test_each_representation_has_its_own_etags_and_304s(
    client: FlaskClient, publication: Publication
) -> None:
    feed = publication.files["feeds/all.atom"]
    page = publication.files[view_path("all")]
    assert len({feed.etag, feed.gzip_etag, page.etag, page.gzip_etag}) == 4
    # A browser holding the feed's ETag is not told its page is unchanged, and back.
    assert get(client, "/feeds/all.atom", CHROMIUM, If_None_Match=feed.etag).status_code == 200
    assert get(client, "/feeds/all.atom", FEEDPARSER, If_None_Match=page.etag).status_code == 200
    for accept, etag in ((CHROMIUM, page.etag), (FEEDPARSER, feed.etag), (None, feed.etag)):
        again = get(client, "/feeds/all.atom", accept, If_None_Match=etag)
        assert again.status_code == 304
        assert again.data == b""
        assert again.headers["ETag"] == etag
        assert again.headers["Vary"] == "Accept, Accept-Encoding"
    zipped = get(client, "/feeds/all.atom", CHROMIUM, Accept_Encoding="gzip")
    assert zipped.headers["ETag"] == page.gzip_etag
    assert gzip.decompress(zipped.data) == publication.read(view_path("all"))
    assert get(client, "/feeds/all.atom", CHROMIUM, Accept_Encoding="gzip",
               If_None_Match=page.gzip_etag).status_code == 304


@pytest.mark.parametrize("accept", [CHROMIUM, FEEDPARSER, None])
def test_head_matches_get_for_both_representations(
    client: FlaskClient, publication: Publication, accept: str | None
) -> None:
    headers = {"Accept": accept} if accept else {}
    got = client.get("/feeds/category/press-release.atom", headers=headers)
    head = client.head("/feeds/category/press-release.atom", headers=headers)
    assert head.status_code == got.status_code == 200
    assert head.data == b""
    assert head.headers["Content-Length"] == str(len(got.data))
    for name in ("Content-Type", "ETag", "Last-Modified", "Cache-Control", "Vary"):
        assert head.headers.get(name) == got.headers.get(name)


def test_the_page_for_people_has_the_page_policy(client: FlaskClient) -> None:
    response = get(client, "/feeds/all.rss", CHROMIUM)
    assert response.headers["Content-Security-Policy"] == PAGE_POLICY
    assert "script-src 'self'" in PAGE_POLICY and "unsafe-inline" not in PAGE_POLICY
    assert response.headers["Cache-Control"] == f"public, max-age={MAX_AGE}"


def test_the_page_is_also_at_its_own_address(
    client: FlaskClient, publication: Publication
) -> None:
    response = client.get("/feeds/category/statement.html")
    assert response.status_code == 200
    assert response.data == publication.read(view_path("category/statement"))
    assert response.headers["Vary"] == "Accept-Encoding"
    assert client.get("/feeds/category/nope.html").status_code == 404


def test_a_publication_without_pages_serves_the_feed_to_browsers(settings: Settings) -> None:
    publish_site(settings.storage.publish_dir, views=False)
    with make_client(settings) as client:
        response = get(client, "/feeds/all.atom", CHROMIUM)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == OUTPUT_FORMATS["atom"].content_type
    assert response.headers["Vary"] == "Accept-Encoding"


# --- short addresses ---


@pytest.mark.parametrize(("path", "target"), [
    ("/feed", "/feeds/all.atom"), ("/atom", "/feeds/all.atom"), ("/rss", "/feeds/all.rss"),
    ("/feeds/", "/feeds/all.atom"), ("/feeds", "/feeds/all.atom"),
])
def test_short_addresses_redirect_to_the_main_feeds(
    client: FlaskClient, path: str, target: str
) -> None:
    response = client.get(path)
    assert response.status_code == 301
    assert response.headers["Location"] == target
    assert client.head(path).status_code == 301
    assert client.get(path, follow_redirects=True).status_code == 200


def test_short_addresses_follow_a_mount_prefix(client: FlaskClient) -> None:
    response = client.get("/rss", environ_overrides={"SCRIPT_NAME": "/news"})
    assert response.headers["Location"] == "/news/feeds/all.rss"


# --- the home page ---


def test_home_page_says_how_to_subscribe_with_the_address_to_copy(
    client: FlaskClient
) -> None:
    page = elements(client.get("/"))
    box = page.all("section", class_="box subscribe")
    assert box and box[0]["aria-labelledby"] == "subscribe"
    inputs = page.all("input", readonly="")
    assert [i["value"] for i in inputs] == [f"{BASE_URL}feeds/all.{fmt}" for fmt in OUTPUT_FORMATS]
    buttons = page.all("button", class_="copy")
    assert [b["data-copy"] for b in buttons] == [i["id"] for i in inputs]
    assert all(b["aria-label"].startswith("Copy the All items ") for b in buttons)


def test_home_page_links_the_default_web_readers(client: FlaskClient) -> None:
    page = elements(client.get("/"))
    readers = page.all("a", class_="reader")
    encoded = quote(f"{BASE_URL}feeds/all.atom", safe="")
    assert [a["href"] for a in readers] == [
        str(reader["url"]).replace("{url}", encoded) for reader in DEFAULT_READERS]
    assert [a["aria-label"] for a in readers] == [
        f"Subscribe to All items in {reader['name']}" for reader in DEFAULT_READERS]


@pytest.mark.slow
def test_web_readers_are_configurable(tmp_path: Path) -> None:
    raw: dict[str, Any] = {
        "site": {"base_url": BASE_URL},
        "storage": {"publish_dir": "public"},
        "web": {"readers": [{"name": "Own <Reader>", "url": "https://r.test/add?u={url}&x=1"}]},
    }
    settings = settings_from_mapping(raw, config_path=tmp_path / "feedsvc.toml")
    assert settings.web.readers == (WebReader("Own <Reader>", "https://r.test/add?u={url}&x=1"),)
    publish_site(settings.storage.publish_dir)
    with make_client(settings) as client:
        text = client.get("/").get_data(as_text=True)
        category = client.get("/categories/statement").get_data(as_text=True)
    assert 'href="https://r.test/add?u=http%3A%2F%2Ffeeds.test%2Ffeeds%2Fall.atom&amp;x=1"' in text
    assert "Own &lt;Reader&gt;" in text
    assert "http%3A%2F%2Ffeeds.test%2Ffeeds%2Fcategory%2Fstatement.atom" in category
    raw["web"] = {"readers": []}
    none = settings_from_mapping(raw, config_path=tmp_path / "feedsvc.toml")
    with make_client(none) as client:
        assert "Open in" not in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize(("readers", "key"), [
    ("Feedly", "web.readers"),
    ([{"name": "Feedly"}], "web.readers[0]"),
    ([{"name": "A", "url": "https://a.test/", "extra": 1}], "web.readers[0]"),
    ([{"name": "A", "url": "https://a.test/?u=url"}], "web.readers[0].url"),
    ([{"name": "A", "url": "https://a.test/{url}?again={url}"}], "web.readers[0].url"),
    ([{"name": "A", "url": "javascript:alert(1)//{url}"}], "web.readers[0].url"),
    ([{"name": "A\nB", "url": "https://a.test/{url}"}], "web.readers[0].name"),
    ([{"name": "", "url": "https://a.test/{url}"}], "web.readers[0].name"),
])
def test_bad_reader_settings_name_the_key(readers: object, key: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping({"web": {"readers": readers}}, config_path=tmp_path / "f.toml")
    assert caught.value.key == key


def test_every_feed_link_has_an_accessible_name(client: FlaskClient) -> None:
    page = elements(client.get("/"))
    labels = {a["href"]: a.get("aria-label") for a in page.all("a") if "data-format" in a}
    assert labels["/feeds/category/press-release.atom"] == "Press release, Atom"
    assert labels["/feeds/category/video-audio.json"] == "Video & Audio, JSON Feed"
    assert labels["/feeds/all.rss"] == "All items, RSS"
    assert len(labels) == 4 * 3 and all(labels.values())


def test_each_category_is_an_anchor_linking_to_its_page(client: FlaskClient) -> None:
    page = elements(client.get("/"))
    rows = page.all("li", class_="category")
    assert [row["id"] for row in rows] == [
        "category-press-release", "category-statement", "category-video-audio"]
    names = page.all("a", class_="name")
    assert [a["href"] for a in names] == [
        "/categories/press-release", "/categories/statement", "/categories/video-audio"]


def test_home_page_links_the_full_item_list(client: FlaskClient) -> None:
    page = elements(client.get("/"))
    assert [a["href"] for a in page.all("a", class_="all-items")] == ["/items"]


# --- category pages and the paged item list ---


def test_category_page(client: FlaskClient) -> None:
    response = client.get("/categories/press-release")
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == PAGE_POLICY
    page = elements(response)
    text = response.get_data(as_text=True)
    assert "<h1>Press release</h1>" in text
    items = [a["href"] for a in page.all("a") if a.get("href", "").startswith("/items/")]
    assert items == [f"/items/{r.id}" for r in ITEMS if r.category == "Press release"]
    assert page.all("input", readonly="")[0]["value"] == \
        f"{BASE_URL}feeds/category/press-release.atom"
    assert {link["href"] for link in page.all("link", rel="alternate")} == {
        f"/feeds/category/press-release.{fmt}" for fmt in OUTPUT_FORMATS}
    assert "Boats leave every forty minutes" in text


@pytest.mark.parametrize("path", ["/categories/nope", "/categories/Press-Release",
                                  "/categories/press-release?page=2",
                                  "/categories/press-release?page=0", "/items?page=x",
                                  "/items?page=2", "/items?page=-1"])
def test_unknown_categories_and_pages_are_404(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["Cache-Control"] == "no-store"


def many_items(count: int) -> tuple[ItemRecord, ...]:
    """``count`` items, newest first, a day apart, alternating two categories."""
    return tuple(
        item(f"{9999 - n:04d}-item", f"Item number {n}", f"2026-{12 - n // 28:02d}-"
             f"{28 - n % 28:02d}", ("Odd" if n % 2 else "Even"))
        for n in range(count)
    )


@pytest.mark.slow
def test_the_item_list_pages_through_every_item_newest_first(settings: Settings) -> None:
    records = many_items(PAGE_SIZE * 2 + 7)
    publish_site(settings.storage.publish_dir, items=records)
    seen: list[str] = []
    with make_client(settings, records) as client:
        path: str | None = "/items"
        while path is not None:
            response = client.get(path)
            assert response.status_code == 200
            page = elements(response)
            seen += [a["href"].removeprefix("/items/") for a in page.all("a")
                     if a.get("href", "").startswith("/items/")]
            following = page.all("a", rel="next")
            path = following[0]["href"] if following else None
        assert client.get("/items?page=3").status_code == 200
        assert client.get("/items?page=4").status_code == 404
        last = elements(client.get("/items?page=3"))
        assert [a["href"] for a in last.all("a", rel="prev")] == ["/items?page=2"]
        odd = elements(client.get("/categories/odd?page=2"))
        assert [a["href"] for a in odd.all("a", rel="prev")] == ["/categories/odd"]
    assert seen == [record.id for record in records]


def test_the_item_list_reads_one_page_at_a_time(settings: Settings) -> None:
    records = many_items(PAGE_SIZE * 3)
    publish_site(settings.storage.publish_dir, items=records)
    calls: list[tuple[str | None, int, int]] = []

    def pager(site: object, slug: str | None, offset: int, limit: int) -> Sequence[ItemRecord]:
        calls.append((slug, offset, limit))
        return records[offset:offset + limit]

    app = create_app(settings, status_provider=lambda: {}, item_finder=items_by_id(records),
                     item_pager=pager)
    with app.test_client() as client:
        assert client.get("/items?page=2").status_code == 200
        assert client.get("/categories/even").status_code == 200
    assert calls == [(None, PAGE_SIZE, PAGE_SIZE), ("even", 0, PAGE_SIZE)]
