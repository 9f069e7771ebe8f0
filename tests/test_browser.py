"""The human pages in headless Chromium (Debian's chromium + chromedriver).

The driver and the browser are given by path, so nothing is ever downloaded.
Without them the tests are skipped, except in CI (env CI set), where they fail.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from web_fixtures import ITEMS, SITE_TITLE, LiveServer, live_server

pytestmark = pytest.mark.slow

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
