"""The web app through Flask's test client, against a publication built by web_fixtures."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from web_fixtures import (
    ITEMS,
    SITE_TITLE,
    item,
    items_by_id,
    items_pager,
    publish_site,
    web_settings,
)
from werkzeug.test import TestResponse

from feedsvc.errors import StoreError
from feedsvc.metrics import StoreHealth, sqlite_file
from feedsvc.models import ListingItem
from feedsvc.outputs import OUTPUT_FORMATS
from feedsvc.publication import Publication, current_generation
from feedsvc.settings import Settings, settings_from_mapping
from feedsvc.web import create_app

MAX_AGE = 600
CATEGORY_SLUGS = ("press-release", "statement", "video-audio")
FEED_KEYS = ("all", *(f"category/{slug}" for slug in CATEGORY_SLUGS))


class FakeStatus:
    """A /status provider that returns what it is given and counts its calls."""

    def __init__(self, result: dict[str, Any] | Exception) -> None:
        self.result = result
        self.calls = 0

    def __call__(self) -> dict[str, Any]:
        self.calls += 1
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return web_settings(tmp_path, cache_max_age=MAX_AGE)


@pytest.fixture
def publication(settings: Settings) -> Publication:
    return publish_site(settings.storage.publish_dir)


@pytest.fixture
def status() -> FakeStatus:
    return FakeStatus({"last_refresh": {"ok": True}, "sources": {}})


@pytest.fixture
def app(settings: Settings, status: FakeStatus) -> Flask:
    return create_app(settings, status_provider=status, item_finder=items_by_id(),
                      item_pager=items_pager())


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as client:
        yield client


class LinkCollector(HTMLParser):
    """The <link> and <a> elements of a page, as attribute dicts."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[dict[str, str]] = []
        self.anchors: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "link":
            self.links.append(values)
        elif tag == "a":
            self.anchors.append(values)


class TagBalance(HTMLParser):
    """Checks that every element is closed in order (void elements aside)."""

    VOID = frozenset({"meta", "link", "br", "img", "input", "hr", "source", "wbr"})

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            self.problems.append(f"unexpected </{tag}> at {self.getpos()}")


def assert_well_formed(html: str) -> None:
    checker = TagBalance()
    checker.feed(html)
    checker.close()
    assert checker.problems == []
    assert checker.open == []
    assert html.startswith("<!doctype html>\n<html lang=")
    assert html.count("<title>") == 1 and html.count("<h1>") == 1


@pytest.mark.parametrize("path", ["/", "/items/2026-11-10-escape", "/items/2026-11-02-regatta",
                                  "/feeds/category/nope.atom", "/nowhere", "/items",
                                  "/categories/video-audio", "/categories/nope"])
def test_pages_are_well_formed_html5(
    client: FlaskClient, publication: Publication, path: str
) -> None:
    assert_well_formed(client.get(path).get_data(as_text=True))


def test_unpublished_page_is_well_formed_html5(client: FlaskClient) -> None:
    assert_well_formed(client.get("/").get_data(as_text=True))


def collect(response: TestResponse) -> LinkCollector:
    collector = LinkCollector()
    collector.feed(response.get_data(as_text=True))
    return collector


def alternates(response: TestResponse) -> dict[str, str]:
    """href -> type of every autodiscovery link."""
    return {link["href"]: link["type"] for link in collect(response).links
            if link.get("rel") == "alternate"}


def assert_error_page(response: TestResponse, status: int, *words: str) -> None:
    text = response.get_data(as_text=True)
    assert response.status_code == status
    assert response.content_type == "text/html; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    assert "max-age" not in response.headers.get("Cache-Control", "")
    assert "Traceback" not in text
    assert text.startswith("<!doctype html>")
    for word in words:
        assert word in text


# --- feeds ---


@pytest.mark.parametrize("key", FEED_KEYS)
@pytest.mark.parametrize("fmt", list(OUTPUT_FORMATS))
def test_every_feed_in_every_format(
    client: FlaskClient, publication: Publication, key: str, fmt: str
) -> None:
    path = f"feeds/{key}.{fmt}"
    file = publication.files[path]
    response = client.get("/" + path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == OUTPUT_FORMATS[fmt].content_type
    assert response.data == publication.read(path)
    assert response.headers["ETag"] == file.etag
    assert response.headers["Last-Modified"] == file.last_modified.strftime(
        "%a, %d %b %Y %H:%M:%S GMT")
    assert response.headers["Cache-Control"] == f"public, max-age={MAX_AGE}"
    assert response.headers["Vary"] == "Accept, Accept-Encoding"
    assert response.headers["Content-Length"] == str(file.size)
    assert "Content-Encoding" not in response.headers


def test_gzip_serves_the_precompressed_twin(
    client: FlaskClient, publication: Publication
) -> None:
    file = publication.files["feeds/all.atom"]
    response = client.get("/feeds/all.atom", headers={"Accept-Encoding": "gzip, br"})
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["ETag"] == file.gzip_etag != file.etag
    assert response.headers["Vary"] == "Accept, Accept-Encoding"
    assert response.data == publication.read("feeds/all.atom", gzipped=True)
    assert gzip.decompress(response.data) == publication.read("feeds/all.atom")
    refused = client.get("/feeds/all.atom", headers={"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in refused.headers
    assert refused.data == publication.read("feeds/all.atom")


@pytest.mark.parametrize(("headers", "status"), [
    ({"If-None-Match": "{etag}"}, 304),
    ({"If-None-Match": 'W/{etag}, "other"'}, 304),
    ({"If-None-Match": "*"}, 304),
    ({"If-None-Match": '"other"'}, 200),
    ({"If-None-Match": '"other"', "If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}, 200),
    ({"If-Modified-Since": "{last_modified}"}, 304),
    ({"If-Modified-Since": "Thu, 01 Jan 2015 00:00:00 GMT"}, 200),
    ({"If-Modified-Since": "not a date"}, 200),
    ({"If-None-Match": "{etag}", "Accept-Encoding": "gzip"}, 200),
    ({"If-None-Match": "{gzip_etag}", "Accept-Encoding": "gzip"}, 304),
])
def test_conditional_get_through_the_app(
    client: FlaskClient, publication: Publication, headers: dict[str, str], status: int
) -> None:
    file = publication.files["feeds/all.rss"]
    first = client.get("/feeds/all.rss")
    values = {"etag": file.etag, "gzip_etag": file.gzip_etag,
              "last_modified": first.headers["Last-Modified"]}
    headers = {name: value.format(**values) for name, value in headers.items()}
    response = client.get("/feeds/all.rss", headers=headers)
    assert response.status_code == status
    assert response.headers["Cache-Control"] == f"public, max-age={MAX_AGE}"
    assert response.headers["Vary"] == "Accept, Accept-Encoding"
    if status == 304:
        assert response.data == b""
        assert "Content-Length" not in response.headers or \
            response.headers["Content-Length"] == "0"
        assert response.headers["ETag"] in (file.etag, file.gzip_etag)


@pytest.mark.parametrize("accept_encoding", [None, "gzip"])
def test_head_matches_get_without_a_body(
    client: FlaskClient, publication: Publication, accept_encoding: str | None
) -> None:
    headers = {"Accept-Encoding": accept_encoding} if accept_encoding else {}
    get = client.get("/feeds/category/statement.json", headers=headers)
    head = client.head("/feeds/category/statement.json", headers=headers)
    assert head.status_code == 200
    assert head.data == b""
    assert head.headers["Content-Length"] == str(len(get.data))
    for name in ("Content-Type", "ETag", "Last-Modified", "Cache-Control", "Vary",
                 "Content-Encoding"):
        assert head.headers.get(name) == get.headers.get(name)


@pytest.mark.parametrize("path", ["/", "/items/2026-11-18-lighthouse", "/feeds.opml",
                                  "/healthz", "/feeds/all.atom"])
def test_head_everywhere_get_works(client: FlaskClient, publication: Publication,
                                   path: str) -> None:
    get = client.get(path)
    head = client.head(path)
    assert head.status_code == get.status_code == 200
    assert head.data == b""
    assert head.headers["Content-Length"] == str(len(get.data))


def test_opml_lists_every_feed(client: FlaskClient, publication: Publication) -> None:
    response = client.get("/feeds.opml")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/x-opml; charset=utf-8"
    assert response.headers["ETag"] == publication.files["feeds.opml"].etag
    for key in FEED_KEYS:
        assert f"feeds/{key}.atom".encode() in response.data


# --- 404, 405, errors ---


@pytest.mark.parametrize(("path", "words"), [
    ("/feeds/category/no-such-thing.atom", ["Unknown category", "no-such-thing"]),
    ("/feeds/category/press-release.xml", ["Unknown feed format", ".atom"]),
    ("/feeds/all.xml", ["Unknown feed format"]),
    ("/feeds/all", ["Unknown feed format"]),
    ("/feeds/everything.atom", ["Unknown feed"]),
    ("/feeds/all.atom.gz", ["Unknown feed format"]),
    ("/feeds/../site.json", []),
    ("/feeds/manifest.json", []),
    ("/items/no-such-item", ["No such item"]),
    ("/nowhere", ["Not found"]),
])
def test_unknown_addresses_get_a_short_404(
    client: FlaskClient, publication: Publication, path: str, words: list[str]
) -> None:
    response = client.get(path)
    assert_error_page(response, 404, *words)
    assert 'href="/"' in response.get_data(as_text=True)


def test_method_not_allowed(client: FlaskClient, publication: Publication) -> None:
    response = client.post("/feeds/all.atom")
    assert_error_page(response, 405)
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "HEAD"}


PUBLISH_HINT = "feedsvc refresh"


@pytest.mark.parametrize("path", ["/feeds/all.atom", "/feeds.opml", "/items/anything", "/"])
def test_unreadable_publication_is_503_not_a_traceback(
    client: FlaskClient, publication: Publication, path: str
) -> None:
    assert publication.directory is not None
    (publication.directory / "manifest.json").write_text("{ not json")
    response = client.get(path)
    assert_error_page(response, 503, "cannot be read")
    assert response.headers["Retry-After"] == "30"
    # Something is published: how to publish is not the advice to give.
    text = response.get_data(as_text=True)
    assert PUBLISH_HINT not in text and "Nothing published" not in text


def test_a_feed_file_gone_while_serving_is_503_without_the_publish_hint(
    client: FlaskClient, publication: Publication
) -> None:
    assert client.get("/").status_code == 200  # the generation is open
    publication.file_path("feeds/all.atom").unlink()
    response = client.get("/feeds/all.atom")
    assert_error_page(response, 503, "being replaced")
    assert response.headers["Retry-After"] == "30"
    assert PUBLISH_HINT not in response.get_data(as_text=True)


def test_unexpected_errors_are_a_plain_500(settings: Settings) -> None:
    publish_site(settings.storage.publish_dir)
    app = create_app(settings, status_provider=FakeStatus({}))

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret detail")

    response = app.test_client().get("/boom")
    assert_error_page(response, 500)
    assert "secret detail" not in response.get_data(as_text=True)


# --- nothing published yet ---


@pytest.mark.parametrize("path", ["/feeds/all.atom", "/feeds/category/statement.rss",
                                  "/feeds.opml", "/items/anything", "/"])
def test_nothing_published_yet_is_503_with_retry_after(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert_error_page(response, 503, "Nothing published yet", PUBLISH_HINT)
    assert response.headers["Retry-After"] == "30"


def test_home_page_explains_how_to_publish(client: FlaskClient) -> None:
    text = client.get("/").get_data(as_text=True)
    assert "Nothing published yet" in text
    assert "<code>feedsvc refresh</code>" in text


def test_healthz_answers_before_and_after_publication(
    client: FlaskClient, settings: Settings
) -> None:
    before = client.get("/healthz")
    publish_site(settings.storage.publish_dir)
    after = client.get("/healthz")
    for response in (before, after):
        assert response.status_code == 200
        assert response.data == b"ok\n"
        assert response.headers["Cache-Control"] == "no-store"


# --- a new generation ---


def test_a_new_generation_is_picked_up(client: FlaskClient, settings: Settings) -> None:
    publish_site(settings.storage.publish_dir)
    first = client.get("/feeds/all.json")
    home_before = client.get("/")
    newer = item("2026-11-21-storm", "Storm warning for the weekend", "2026-11-21", "Statement")
    publish_site(settings.storage.publish_dir, items=(newer, *ITEMS))
    second = client.get("/feeds/all.json")
    assert first.headers["ETag"] != second.headers["ETag"]
    titles = [entry["title"] for entry in json.loads(second.data)["items"]]
    assert titles[0] == "Storm warning for the weekend"
    stale = client.get("/", headers={"If-None-Match": home_before.headers["ETag"]})
    assert stale.status_code == 200
    assert "Storm warning for the weekend" in stale.get_data(as_text=True)


def test_nothing_changes_without_a_new_generation(
    client: FlaskClient, settings: Settings
) -> None:
    publish_site(settings.storage.publish_dir)
    generation = current_generation(settings.storage.publish_dir)
    first = client.get("/feeds/all.atom")
    publish_site(settings.storage.publish_dir)
    assert current_generation(settings.storage.publish_dir) == generation
    again = client.get("/feeds/all.atom", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


# --- human pages ---


def test_home_page(client: FlaskClient, publication: Publication) -> None:
    response = client.get("/")
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.content_type == "text/html; charset=utf-8"
    assert text.startswith("<!doctype html>")
    assert '<html lang="en">' in text
    assert '<meta name="viewport"' in text
    assert f"<h1>{SITE_TITLE}</h1>" in text
    assert alternates(response) == {
        "/feeds/all.atom": "application/atom+xml",
        "/feeds/all.rss": "application/rss+xml",
        "/feeds/all.json": "application/feed+json",
        "/feeds.opml": "text/x-opml",
    }
    hrefs = {a["href"] for a in collect(response).anchors}
    for key in FEED_KEYS:
        for fmt in OUTPUT_FORMATS:
            assert f"/feeds/{key}.{fmt}" in hrefs
    for record in ITEMS:
        assert f"/items/{record.id}" in hrefs


def test_home_page_lists_categories_with_counts_and_newest_dates(
    client: FlaskClient, publication: Publication
) -> None:
    text = client.get("/").get_data(as_text=True)
    press = text[text.index('data-key="category/press-release"'):]
    press = press[:press.index("</li>")]
    assert "Press release" in press
    assert "2 items" in press
    assert '<time datetime="2026-11-20">November 20, 2026</time>' in press
    assert "1 item<" in text[text.index('data-key="category/statement"'):]


def test_pages_escape_everything(client: FlaskClient, publication: Publication) -> None:
    for path in ("/", "/items/2026-11-10-escape"):
        text = client.get(path).get_data(as_text=True)
        assert "<script>" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
        assert "Video &amp; Audio" in text
    item_text = client.get("/items/2026-11-10-escape").get_data(as_text=True)
    assert "&lt;b&gt;not bold&lt;/b&gt; and a lonely &lt; sign." in item_text
    assert "&#34;and&#34;" in item_text or "&quot;and&quot;" in item_text


def test_item_page(client: FlaskClient, publication: Publication) -> None:
    response = client.get("/items/2026-11-20-ferry-timetable")
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<h1>Winter ferry timetable published</h1>" in text
    assert '<time datetime="2026-11-20">November 20, 2026</time>' in text
    assert "Press release" in text
    assert "Boats leave every forty minutes from December." in text
    article = [a for a in collect(response).anchors if a.get("class") == "article"]
    assert [a["href"] for a in article] == ["https://harbour.example/news/ferry-timetable"]
    assert alternates(response) == {
        f"/feeds/{key}.{fmt}": OUTPUT_FORMATS[fmt].content_type.split(";")[0]
        for key in ("all", "category/press-release") for fmt in OUTPUT_FORMATS
    }


def test_item_page_without_link_or_category(
    client: FlaskClient, publication: Publication
) -> None:
    response = client.get("/items/2026-11-02-regatta")
    assert response.status_code == 200
    assert not [a for a in collect(response).anchors if a.get("class") == "article"]
    assert set(alternates(response)) == {f"/feeds/all.{fmt}" for fmt in OUTPUT_FORMATS}
    credit = client.get("/items/2026-11-18-lighthouse").get_data(as_text=True)
    assert "© Ada Pier 2026" in credit


@pytest.mark.parametrize("path", ["/", "/items/2026-11-18-lighthouse"])
def test_pages_have_etags_and_a_short_max_age(
    client: FlaskClient, publication: Publication, path: str
) -> None:
    first = client.get(path)
    assert first.headers["Cache-Control"] == "public, max-age=60"
    assert first.headers["ETag"].startswith('"')
    assert "default-src 'none'" in first.headers["Content-Security-Policy"]
    again = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == first.headers["ETag"]


def test_page_max_age_never_exceeds_the_feed_max_age(tmp_path: Path) -> None:
    settings = web_settings(tmp_path, cache_max_age=5)
    publish_site(settings.storage.publish_dir)
    client = create_app(settings, status_provider=FakeStatus({})).test_client()
    assert client.get("/").headers["Cache-Control"] == "public, max-age=5"
    assert client.get("/feeds/all.atom").headers["Cache-Control"] == "public, max-age=5"


def test_default_feed_max_age_is_the_interval_capped_at_an_hour(tmp_path: Path) -> None:
    settings = web_settings(tmp_path)
    publish_site(settings.storage.publish_dir)
    client = create_app(settings, status_provider=FakeStatus({})).test_client()
    assert client.get("/feeds/all.rss").headers["Cache-Control"] == "public, max-age=1800"


def test_links_follow_a_mount_prefix(client: FlaskClient, publication: Publication) -> None:
    response = client.get("/", base_url="http://localhost/news/")
    assert "/news/feeds/all.atom" in alternates(response)
    assert all(a["href"].startswith(("/news/", "https://")) for a in collect(response).anchors)


def test_static_favicon(client: FlaskClient) -> None:
    response = client.get("/static/favicon.svg")
    assert response.status_code == 200
    assert response.content_type.startswith("image/svg+xml")
    response.close()


# --- operations ---


def test_operations_endpoints_are_registered(client: FlaskClient) -> None:
    assert client.get("/metrics").headers["Cache-Control"] == "no-store"
    refused = client.post("/admin/refresh")
    assert refused.status_code == 404  # no admin token configured
    assert refused.headers["Cache-Control"] == "no-store"


# --- /status ---


def test_status_comes_from_the_provider(
    client: FlaskClient, publication: Publication, status: FakeStatus
) -> None:
    response = client.get("/status")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["last_refresh"] == {"ok": True}
    assert body["publication"] == {"generation": publication.generation, "feeds": len(FEED_KEYS),
                                   "items": len(ITEMS)}
    assert status.calls == 1


def test_status_before_publication(client: FlaskClient) -> None:
    assert client.get("/status").get_json()["publication"] is None


@pytest.mark.parametrize(("error", "code"), [
    (StoreError("no store here"), 503),
    (RuntimeError("database on fire"), 500),
])
def test_status_failures_are_json_errors(
    settings: Settings, error: Exception, code: int
) -> None:
    client = create_app(settings, status_provider=FakeStatus(error)).test_client()
    response = client.get("/status")
    assert response.status_code == code
    assert response.headers["Cache-Control"] == "no-store"
    assert "error" in response.get_json()
    assert "on fire" not in response.get_data(as_text=True)


def test_default_status_reads_the_store(tmp_path: Path) -> None:
    """Once a refresh has created the database, /status's default provider reads the
    configured store, and goes on reading it."""
    from feedsvc.store import Store

    settings = settings_from_mapping({
        "storage": {"database": "sqlite:///feedsvc.sqlite3", "publish_dir": "public"},
        "sources": [{"name": "harbour", "location": "listings/harbour.txt"}],
    }, config_path=tmp_path / "feedsvc.toml")
    listing = [ListingItem(f"Harbour news {day}", dt.date(2024, 1, day), None, None, None)
               for day in (1, 2, 3)]
    with Store.open(settings.storage.database) as store:
        store.merge("harbour", listing, dt.datetime(2024, 1, 3, 12, tzinfo=dt.UTC))
    provider = StoreHealth(settings).status
    assert provider()["sources"]["harbour"]["items"] == 3
    status = provider()
    assert status["last_refresh"] is None  # merged, but no refresh run recorded
    assert status["sources"]["harbour"]["items"] == 3


def test_default_status_with_the_real_store(settings: Settings) -> None:
    pytest.importorskip("feedsvc.status")
    publish_site(settings.storage.publish_dir)
    response = create_app(settings).test_client().get("/status")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert {"last_refresh", "sources", "scheduler", "publication"} <= set(body)
    assert body["publication"]["items"] == len(ITEMS)


def database_file(settings: Settings) -> Path:
    path = sqlite_file(settings.storage.database)
    assert path is not None
    return path


def fresh_install(tmp_path: Path) -> Settings:
    """Settings whose database does not exist yet, in a directory not created yet."""
    return settings_from_mapping({
        "storage": {"database": "sqlite:///var/feedsvc.sqlite3", "publish_dir": "public"},
        "sources": [{"name": "harbour", "location": "listings/harbour.txt"},
                    {"name": "lighthouse", "location": "https://lighthouse.test/news"}],
    }, config_path=tmp_path / "feedsvc.toml")


def test_status_before_any_refresh_creates_no_database(tmp_path: Path) -> None:
    pytest.importorskip("feedsvc.status")
    settings = fresh_install(tmp_path)
    client = create_app(settings).test_client()
    response = client.get("/status")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["last_refresh"] is None and body["publication"] is None
    assert set(body["sources"]) == {"harbour", "lighthouse"}
    for source in body["sources"].values():
        assert source["items"] == 0
        assert source["last_success"] is None and source["failing_since"] is None
    assert not database_file(settings).exists()
    assert not (tmp_path / "var").exists()


@pytest.mark.parametrize(("url", "path"), [
    ("sqlite:////srv/feedsvc/feedsvc.sqlite3", "/srv/feedsvc/feedsvc.sqlite3"),
    ("sqlite+pysqlite:////srv/f.db?timeout=5", "/srv/f.db"),
    ("sqlite:///relative.db", "relative.db"),
    ("sqlite:///:memory:", None),
    ("sqlite://", None),
    ("sqlite:///file:shared?mode=memory&uri=true", None),
    ("postgresql://feedsvc@db/feedsvc", None),
])
def test_sqlite_file_of_a_database_url(url: str, path: str | None) -> None:
    assert sqlite_file(url) == (None if path is None else Path(path))


def test_metrics_before_any_refresh_creates_no_database(tmp_path: Path) -> None:
    settings = fresh_install(tmp_path)
    client = create_app(settings).test_client()
    response = client.get("/metrics")
    assert response.status_code == 200, response.get_data(as_text=True)
    text = response.get_data(as_text=True)
    assert "feedsvc_store_up 1.0" in text
    assert "feedsvc_refresh_runs_total 0.0" in text
    assert 'feedsvc_source_items{source="harbour"} 0.0' in text
    assert client.get("/status").status_code == 200
    assert not database_file(settings).exists()
    assert not (tmp_path / "var").exists()


def test_status_and_metrics_share_one_store(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from feedsvc.store import Store

    # A refresh has created the database.
    Store.open(settings.storage.database).close()
    opened: list[str] = []
    real_open = Store.open

    def counting_open(url: str) -> Store:
        opened.append(url)
        return real_open(url)

    monkeypatch.setattr(Store, "open", staticmethod(counting_open))
    client = create_app(settings).test_client()
    for path in ("/status", "/metrics", "/status", "/metrics"):
        assert client.get(path).status_code == 200, path
    assert opened == [settings.storage.database]


def test_each_paragraph_of_a_summary_is_a_paragraph_of_the_pages(tmp_path: Path) -> None:
    """Summaries keep their paragraphs (one blank line apart) on the item page, the
    paged lists and the home page, where a browser would run them together."""
    two = item("2026-11-21-two", "Two paragraphs", "2026-11-21", "Press release",
               summary="First part.\n\nSecond <part>.")
    items = (two, *ITEMS)
    settings = web_settings(tmp_path)
    publish_site(settings.storage.publish_dir, items=items)
    app = create_app(settings, item_finder=items_by_id(items), item_pager=items_pager(items))
    expected = '<p class="summary">First part.</p>\n<p class="summary">Second &lt;part&gt;.</p>'
    with app.test_client() as client:
        for path in ("/items/2026-11-21-two", "/items", "/categories/press-release"):
            text = client.get(path).get_data(as_text=True)
            assert expected in text, path


class LanguageOfText(HTMLParser):
    """The language each piece of a page's text is in: the nearest ``lang`` around it."""

    VOID = frozenset({"meta", "link", "br", "img", "input", "hr", "source", "wbr"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, str]] = []
        self.texts: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.VOID:
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


def test_a_french_sites_pages_say_which_text_is_english(tmp_path: Path) -> None:
    """The pages' own text is English whatever ``site.language``; the site's content
    (item titles and dates, category labels) is in the site's language."""
    settings = web_settings(tmp_path)
    publish_site(settings.storage.publish_dir, language="fr")
    app = create_app(settings, item_finder=items_by_id(), item_pager=items_pager())
    first = ITEMS[0]
    with app.test_client() as client:
        for path in ("/", "/items", "/categories/press-release", f"/items/{first.id}"):
            page = LanguageOfText()
            page.feed(client.get(path).get_data(as_text=True))
            assert page.language_of(first.title) == "fr", path
            assert page.language_of("novembre 2026") == "fr", path
            assert page.language_of("Home") == "en", path
        page = LanguageOfText()
        page.feed(client.get("/").get_data(as_text=True))
        for english in ("How to subscribe", "Feeds", "Categories", "Latest items"):
            assert page.language_of(english) == "en", english
        assert page.language_of("Press release") == "fr"
        page = LanguageOfText()
        page.feed(client.get(f"/items/{first.id}").get_data(as_text=True))
        assert page.language_of("Category") == "en"
        assert page.language_of("In these feeds") == "en"
