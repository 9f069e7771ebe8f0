"""The human pages in headless Chromium (Debian's chromium + chromedriver).

The driver and the browser are given by path, so nothing is ever downloaded.
Without them the tests are skipped, except in CI (env CI set), where they fail.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import threading
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import feedparser
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait
from web_fixtures import ITEMS, SITE_TITLE, LiveServer, live_server
from werkzeug.serving import make_server

from feedsvc.pipeline import refresh
from feedsvc.settings import Settings, load_settings
from feedsvc.store import Store
from feedsvc.web import create_app

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
REFRESHED = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FEED_TYPES = {
    "application/atom+xml", "application/rss+xml", "application/feed+json", "text/x-opml",
}

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    reason = f"headless tests need {CHROMIUM} and {CHROMEDRIVER} (apt-get install chromium " \
             "chromium-driver)"
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason, allow_module_level=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("browser-site")) as running:
        yield running


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1200,900",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def fetch(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.headers["Content-Type"], response.read()


def autodiscovery(browser: WebDriver) -> dict[str, str]:
    """Resolved href -> type of every ``<link rel="alternate">`` on the page."""
    links = browser.find_elements(By.CSS_SELECTOR, 'head link[rel="alternate"]')
    return {link.get_attribute("href") or "": link.get_attribute("type") or "" for link in links}


def console_errors(browser: WebDriver) -> list[str]:
    entries: list[dict[str, str]] = browser.get_log("browser")  # type: ignore[no-untyped-call]
    return [entry["message"] for entry in entries if entry["level"] == "SEVERE"]


def test_home_page_has_feed_links_and_autodiscovery(
    browser: WebDriver, server: LiveServer
) -> None:
    browser.get(server.url)
    assert browser.title == SITE_TITLE
    assert browser.find_element(By.TAG_NAME, "h1").text == SITE_TITLE
    discovered = autodiscovery(browser)
    assert discovered == {
        f"{server.url}feeds/all.atom": "application/atom+xml",
        f"{server.url}feeds/all.rss": "application/rss+xml",
        f"{server.url}feeds/all.json": "application/feed+json",
        f"{server.url}feeds.opml": "text/x-opml",
    }
    assert set(discovered.values()) == FEED_TYPES
    for href, mime_type in discovered.items():
        status, content_type, body = fetch(href)
        assert status == 200
        assert content_type == f"{mime_type}; charset=utf-8"
        assert body
    categories = browser.find_elements(By.CSS_SELECTOR, "li.category")
    assert [c.find_element(By.CLASS_NAME, "name").text for c in categories] == [
        "Press release", "Statement", "Video & Audio"]
    feed_hrefs = {a.get_attribute("href") for a in
                  browser.find_elements(By.CSS_SELECTOR, ".feeds a[data-format]")}
    assert f"{server.url}feeds/category/video-audio.json" in feed_hrefs
    assert len(feed_hrefs) == 4 * 3
    assert console_errors(browser) == []


def test_home_page_fits_a_phone_screen(browser: WebDriver, server: LiveServer) -> None:
    browser.set_window_size(390, 844)
    try:
        browser.get(server.url)
        overflow = browser.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0
    finally:
        browser.set_window_size(1200, 900)


def test_following_an_item_link_opens_its_page(browser: WebDriver, server: LiveServer) -> None:
    browser.get(server.url)
    first = browser.find_element(By.CSS_SELECTOR, "li.item a")
    assert first.text == ITEMS[0].title
    first.click()
    assert browser.current_url == f"{server.url}items/{ITEMS[0].id}"
    assert browser.find_element(By.TAG_NAME, "h1").text == ITEMS[0].title
    article = browser.find_element(By.CSS_SELECTOR, "a.article")
    assert article.get_attribute("href") == ITEMS[0].link
    discovered = autodiscovery(browser)
    assert set(discovered) == {
        f"{server.url}feeds/{key}.{fmt}"
        for key in ("all", "category/press-release") for fmt in ("atom", "rss", "json")
    }
    for href, mime_type in discovered.items():
        status, content_type, _ = fetch(href)
        assert (status, content_type) == (200, f"{mime_type}; charset=utf-8")
    assert console_errors(browser) == []


def test_escaped_item_renders_as_text(browser: WebDriver, server: LiveServer) -> None:
    browser.get(f"{server.url}items/2026-11-10-escape")
    assert browser.find_element(By.TAG_NAME, "h1").text == \
        'Quotes "and" <script>alert(1)</script> & friends'
    assert browser.find_elements(By.CSS_SELECTOR, "main script") == []


def test_clicking_a_category_feed_link_gets_the_feed(
    browser: WebDriver, server: LiveServer
) -> None:
    browser.get(server.url)
    link = browser.find_element(
        By.CSS_SELECTOR, 'a[href$="/feeds/category/press-release.atom"]')
    link.click()
    assert browser.current_url == f"{server.url}feeds/category/press-release.atom"
    assert "Winter ferry timetable published" in browser.page_source
    hits = [hit for hit in server.hits if hit.path == "/feeds/category/press-release.atom"]
    assert hits and hits[-1].status == 200
    assert "Chrome" in hits[-1].user_agent


def test_unknown_page_is_a_friendly_404(browser: WebDriver, server: LiveServer) -> None:
    browser.get(f"{server.url}feeds/category/nothing-here.rss")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Unknown category"
    browser.find_element(By.LINK_TEXT, "Go to the home page").click()
    assert browser.current_url == server.url


# --- the bundled site, refreshed by the real pipeline: feed pages and the home page ---


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Settings]]:
    """The bundled sample site, refreshed once, served on a loopback port whose address
    is the site's base_url; its default item finder and pager read the real store."""
    root = tmp_path_factory.mktemp("bundled-site")
    shutil.copytree(ROOT / "config", root / "config")
    holder: dict[str, WSGIApplication] = {}

    def late_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return holder["app"](environ, start_response)

    server = make_server("127.0.0.1", 0, late_app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}/"
    config = root / "config" / "feedsvc.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(re.sub(r'(?m)^base_url = .*$', f'base_url = "{url}"', text),
                      encoding="utf-8")
    settings = load_settings(config, environ={})
    assert refresh(settings, now=REFRESHED).published
    holder["app"] = create_app(settings)
    thread = threading.Thread(target=server.serve_forever, name="bundled-site", daemon=True)
    thread.start()
    try:
        yield url, settings
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def screenshot(browser: WebDriver, directory: Path, name: str) -> Path:
    """Save a PNG of the page and check it is one, and not empty."""
    path = directory / f"{name}.png"
    assert browser.save_screenshot(str(path))
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5_000
    return path


def feed_titles(url: str) -> tuple[str, list[str]]:
    """The feed's title and its entries' titles, as a feed reader fetching ``url`` sees them."""
    parsed = feedparser.parse(url)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed.feed.title, [entry.title for entry in parsed.entries]


@pytest.mark.parametrize("path", ["feeds/all.atom", "feeds/all.rss",
                                  "feeds/category/press-release.atom",
                                  "feeds/category/video.rss"])
def test_a_feed_opened_in_the_browser_is_a_page(
    browser: WebDriver, site: tuple[str, Settings], path: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    url, _ = site
    title, entries = feed_titles(url + path)
    assert entries
    console_errors(browser)  # what earlier tests left in the log
    browser.get(url + path)
    assert browser.execute_script("return document.contentType") == "text/html"
    assert browser.current_url == url + path
    assert browser.find_element(By.TAG_NAME, "h1").text == title
    shown = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "a.entry-title")]
    assert shown == entries
    assert browser.find_elements(By.CSS_SELECTOR, "li.entry time")
    assert "This is a feed" in browser.find_element(By.CSS_SELECTOR, ".subscribe").text
    # Styled by the site's stylesheet: the list has no bullets, the box a background.
    assert browser.execute_script(
        "return getComputedStyle(document.querySelector('ul.entries')).listStyleType") == "none"
    field = browser.find_element(By.ID, "address-atom")
    assert field.get_attribute("value") == url + path.rsplit(".", 1)[0] + ".atom"
    button = browser.find_element(By.CSS_SELECTOR, 'button.copy[data-copy="address-atom"]')
    assert button.is_displayed(), "the copy script did not run (Content-Security-Policy?)"
    button.click()
    # The clipboard answers asynchronously: the label changes once its promise settles.
    WebDriverWait(browser, 10).until(lambda _: button.text in ("Copied", "Press Ctrl+C"))
    assert browser.execute_script("return document.activeElement.id") == "address-atom"
    assert console_errors(browser) == []
    screenshot(browser, tmp_path_factory.mktemp("screenshots"), path.replace("/", "-"))


def test_the_home_page_for_people(
    browser: WebDriver, site: tuple[str, Settings], tmp_path_factory: pytest.TempPathFactory,
) -> None:
    url, settings = site
    console_errors(browser)
    browser.get(url)
    box = browser.find_element(By.CSS_SELECTOR, "section.subscribe")
    assert "How to subscribe" in box.text
    main = box.find_element(By.CSS_SELECTOR, "input")
    assert main.get_attribute("value") == f"{url}feeds/all.atom"
    copy = box.find_element(By.CSS_SELECTOR, "button.copy")
    assert copy.is_displayed()
    readers = [a.text for a in box.find_elements(By.CSS_SELECTOR, "a.reader")]
    assert readers == [reader.name for reader in settings.web.readers]
    labels = [a.get_attribute("aria-label") or "" for a in
              browser.find_elements(By.CSS_SELECTOR, ".feeds a[data-format]")]
    assert "Press release, Atom" in labels and all(", " in label for label in labels)
    assert console_errors(browser) == []
    screenshot(browser, tmp_path_factory.mktemp("screenshots"), "home")


def test_a_category_feeds_alternate_link_opens_its_page(
    browser: WebDriver, site: tuple[str, Settings]
) -> None:
    url, _ = site
    parsed = feedparser.parse(f"{url}feeds/category/video.atom")
    assert parsed.feed.link == f"{url}categories/video"
    browser.get(parsed.feed.link)
    assert browser.find_element(By.TAG_NAME, "h1").text == "Video"
    items = browser.find_elements(By.CSS_SELECTOR, "li.item a")
    assert [a.text for a in items] == [entry.title for entry in parsed.entries]
    browser.get(url)
    browser.find_element(By.CSS_SELECTOR, "#category-video a.name").click()
    assert browser.current_url == f"{url}categories/video"
    browser.get(f"{url}#category-video")
    assert browser.execute_script("return document.querySelector(':target').id") == \
        "category-video"


def test_every_item_is_browsable_from_the_home_page(
    browser: WebDriver, site: tuple[str, Settings]
) -> None:
    url, settings = site
    console_errors(browser)
    browser.get(url)
    browser.find_element(By.CSS_SELECTOR, "a.all-items").click()
    assert browser.current_url == f"{url}items"
    shown = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "li.item a")]
    store = Store.open(settings.storage.database)
    try:
        assert shown == [stored.title for stored in store.newest_items(None, 1000)]
    finally:
        store.close()
    assert console_errors(browser) == []


@pytest.mark.parametrize("path", ["feeds/category/press-release.atom", "", "categories/video"])
def test_the_new_pages_fit_a_phone_screen(
    browser: WebDriver, site: tuple[str, Settings], path: str
) -> None:
    url, _ = site
    browser.set_window_size(390, 844)
    try:
        browser.get(url + path)
        overflow = browser.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0
    finally:
        browser.set_window_size(1200, 900)
