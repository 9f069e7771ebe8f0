"""render = "browser": a page whose items a script inserts, read through headless Chromium.

The page is served on a loopback port; Debian's chromium and chromedriver are
given by path, so nothing is downloaded. Without them the slow tests are
skipped (failed under CI), but the one-line error is tested everywhere.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from loopback_pages import serve_pages
from stored_items import every_item

from feedsvc.errors import FetchError
from feedsvc.fetch.browser import CHROMEDRIVER, CHROMIUM, BrowserFetcher
from feedsvc.formats import SOURCE_FORMATS, ParseRequest
from feedsvc.listing import decode_document
from feedsvc.pipeline import refresh
from feedsvc.settings import Settings

DATA = Path(__file__).parent / "data" / "browser"
PAGE = (DATA / "scripted-news.html").read_bytes()
NOW = dt.datetime(2023, 5, 10, 8, 0, tzinfo=dt.UTC)


def _needs_chromium() -> None:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        reason = f"needs {CHROMIUM} and {CHROMEDRIVER} (apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


def _expected(base_url: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads((DATA / "scripted-news.json").read_text("utf-8"))
    return [{**item, "link": base_url + item["link"]} for item in items]


def _settings(make_settings: Any, location: str, **more: Any) -> Settings:
    settings: Settings = make_settings(
        [{"name": "scripted", "location": location, "render": "browser", "language": "en",
          **more}],
        fetch={"read_timeout": 20, "total_timeout": 60})
    return settings


def test_the_page_alone_has_no_items() -> None:
    # Without the browser the listing is not there: what the test below proves
    # is the browser's doing.
    text, _ = decode_document(PAGE)
    result = SOURCE_FORMATS["html"].parse(ParseRequest(text=text, source="s", language="en"))
    assert result.items == ()


@pytest.mark.slow
def test_a_scripted_page_is_read_through_the_browser(make_settings: Any) -> None:
    _needs_chromium()
    with serve_pages({"/news/": ("text/html; charset=utf-8", PAGE)}) as server:
        settings = _settings(make_settings, f"{server.base_url}/news/")
        fetched = BrowserFetcher(settings).fetch("scripted", f"{server.base_url}/news/", None)
        assert fetched.content_type == "text/html"
        assert fetched.body is not None and b"<p class=\"loading\">" not in fetched.body
        report = refresh(settings, now=NOW)
    assert report.ok, report.summary_lines()
    assert report.sources[0].found == 2
    from feedsvc.store import Store

    with Store.open(settings.storage.database) as store:
        stored = sorted(every_item(store), key=lambda item: item.date, reverse=True)
    assert [(item.title, item.date.isoformat(), item.summary, item.link) for item in stored] == [
        (item["title"], item["date"], item["summary"], item["link"])
        for item in _expected(server.base_url)]


@pytest.mark.slow
def test_an_internal_address_other_than_the_sources_own_is_refused(make_settings: Any) -> None:
    settings = _settings(make_settings, "https://news.example.org/")
    with pytest.raises(FetchError, match=r"refused http://127\.0\.0\.1:9/x: 127\.0\.0\.1 is a "
                                         r"loopback address"):
        BrowserFetcher(settings).fetch("scripted", "http://127.0.0.1:9/x", None)


def test_without_chromium_the_error_names_the_packages(make_settings: Any) -> None:
    settings = _settings(make_settings, "http://127.0.0.1:9/news/")
    fetcher = BrowserFetcher(settings, chromium=Path("/nonexistent/chromium"))
    with pytest.raises(FetchError) as failed:
        fetcher.fetch("scripted", "http://127.0.0.1:9/news/", None)
    message = str(failed.value)
    assert "\n" not in message
    assert message == (
        "scripted: /nonexistent/chromium not found; render = \"browser\" needs Chromium and "
        "selenium: apt-get install chromium chromium-driver && pip install 'feedsvc[browser]'")


def test_only_http_addresses_go_to_the_browser(make_settings: Any) -> None:
    settings = _settings(make_settings, "http://127.0.0.1:9/news/")
    with pytest.raises(FetchError, match="only http"):
        BrowserFetcher(settings).fetch("scripted", "file:///etc/passwd", None)


@pytest.mark.slow
def test_parse_previews_a_scripted_page_with_render_browser(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _needs_chromium()
    from feedsvc.cli import main

    with serve_pages({"/news/": ("text/html; charset=utf-8", PAGE)}) as server:
        code = main(["parse", f"{server.base_url}/news/", "--render", "browser"])
        out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out) == _expected(server.base_url)


@pytest.mark.slow
def test_a_rendered_page_over_max_bytes_fails_the_source(make_settings: Any) -> None:
    _needs_chromium()
    with serve_pages({"/news/": ("text/html; charset=utf-8", PAGE)}) as server:
        location = f"{server.base_url}/news/"
        settings = make_settings(
            [{"name": "scripted", "location": location, "render": "browser"}],
            fetch={"read_timeout": 20, "total_timeout": 60, "max_bytes": 1000})
        with pytest.raises(FetchError, match=r"is more than fetch\.max_bytes \(1000\) bytes "
                                             r"once rendered$"):
            BrowserFetcher(settings).fetch("scripted", location, None)


@pytest.mark.slow
def test_requests_the_page_makes_to_internal_addresses_are_refused(make_settings: Any) -> None:
    _needs_chromium()
    page = (DATA / "reaches-inside.html").read_bytes()
    with serve_pages({"/secret": ("text/plain", b"s3cret"), "/pixel.png": ("image/png", b"")}) \
            as inside, serve_pages({"/news/": ("text/html; charset=utf-8", page)}) as server:
        port = inside.server_address[1]
        location = f"{server.base_url}/news/?inside={port}"
        settings = _settings(make_settings, location)
        fetched = BrowserFetcher(settings).fetch("scripted", location, None)
        assert fetched.body is not None and b"Only item" in fetched.body
        # Let any request still on its way arrive before looking.
        time.sleep(1)
    # The source's own origin (loopback) was read; the other internal one never asked.
    assert inside.requests == []
