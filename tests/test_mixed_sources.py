"""One site of every kind of source, refreshed into one set of feeds, end to end.

A text listing, an HTML page read with no selectors, an HTML page read with
the source's own selectors, a JSON API and a page that a script builds (read
in headless Chromium), all served over HTTP on a loopback port, all with the
default format (auto) but the one with selectors.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
from pathlib import Path

import feedparser
import pytest
from loopback_pages import serve_pages

from feedsvc.fetch.browser import CHROMEDRIVER, CHROMIUM
from feedsvc.pipeline import refresh
from feedsvc.settings import load_settings

pytestmark = pytest.mark.slow

DATA = Path(__file__).parent / "data"
NOW = dt.datetime(2024, 6, 1, 6, 0, tzinfo=dt.UTC)

CONFIG = """\
[site]
title = "Mixed newsroom"
base_url = "http://feeds.test/"
feed_size = 100

[storage]
database = "sqlite:///var/feedsvc.sqlite3"
publish_dir = "var/public"

[fetch]
read_timeout = 20
total_timeout = 60

[[sources]]
name = "text-listing"
location = "{base}/listings/newsroom.txt"

[[sources]]
name = "html-detected"
location = "{base}/news/"

[[sources]]
name = "html-selectors"
location = "{base}/updates/"
format = "html"
[sources.selectors]
item = ".entry"
title = ".headline"
date = ".when"
summary = ".blurb"

[[sources]]
name = "json-api"
location = "{base}/wp-json/wp/v2/posts"

[[sources]]
name = "scripted"
location = "{base}/scripted/"
render = "browser"
"""

PAGES = {
    "/listings/newsroom.txt": ("text/plain; charset=utf-8",
                               DATA / "listings" / "seed-newsroom-2021-01.txt"),
    "/news/": ("text/html; charset=utf-8", DATA / "preview" / "drupal-news.html"),
    "/updates/": ("text/html", DATA / "preview" / "custom-layout.html"),
    "/wp-json/wp/v2/posts": ("application/json; charset=UTF-8",
                             DATA / "jsonapi" / "wordpress-posts.input.json"),
    "/scripted/": ("text/html; charset=utf-8", DATA / "browser" / "scripted-news.html"),
}


def test_every_kind_of_source_refreshes_into_one_set_of_feeds(tmp_path: Path) -> None:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        reason = f"needs {CHROMIUM} and {CHROMEDRIVER} (apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    pages = {path: (kind, source.read_bytes()) for path, (kind, source) in PAGES.items()}
    with serve_pages(pages) as server:
        config = tmp_path / "feedsvc.toml"
        config.write_text(CONFIG.format(base=server.base_url), encoding="utf-8")
        settings = load_settings(config, environ={})
        report = refresh(settings, now=NOW)
    assert report.ok, report.summary_lines()
    assert report.published
    assert {source.name: source.found for source in report.sources} == {
        "text-listing": 10, "html-detected": 2, "html-selectors": 2, "json-api": 2,
        "scripted": 2,
    }
    published = tmp_path / "var" / "public" / "current" / "feeds"
    feed = json.loads((published / "all.json").read_text("utf-8"))
    titles = {item["title"] for item in feed["items"]}
    assert len(feed["items"]) == 18
    assert {
        "Tripartite agreement signed in the port sector",          # HTML, detected
        "Ministerial meeting on skills",                           # HTML, selectors
        "Minimum wages rise in 12 countries\u2019 textile sectors",  # JSON API
        "Apprenticeships reach a record high",                     # built by a script
    } <= titles
    links = {item["title"]: item.get("external_url") or item.get("url") for item in feed["items"]}
    assert links["Ministerial meeting on skills"] == (
        f"{server.base_url}/updates/ministerial-meeting")
    # The same items in every format, and readable by a feed reader.
    atom = feedparser.parse((published / "all.atom").read_bytes())
    assert not atom.bozo
    # (A title with "&" is Atom HTML: a reader shows it unescaped.)
    assert {html.unescape(entry.title) for entry in atom.entries} == titles
