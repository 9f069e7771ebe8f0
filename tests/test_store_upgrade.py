"""A store written by an earlier release upgrades in place with nothing lost.

``tests/data/stores/release-0.1.0`` holds a database made by feedsvc 0.1.0
(one refresh of the bundled sample site) and the feeds that refresh
published. Opening it with the current code migrates it; its next refresh,
with the same listings, must keep every item's id and times and publish the
expected bytes: 0.1.0's own, but for category feeds' home links (see
``moved_category_pages``) and for deliberate changes of the entries since, each
one rewritten with ``FEEDSVC_REGENERATE_GOLDEN=1`` and its diff reviewed.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import sqlite3
from pathlib import Path

import pytest

from feedsvc.pipeline import refresh
from feedsvc.settings import load_settings
from feedsvc.store import Store

RELEASE_0_1_0 = Path(__file__).resolve().parent / "data" / "stores" / "release-0.1.0"
LATER = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def _items(database: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(database) as conn:
        return conn.execute(
            "SELECT key, guid, item_id, title, date, category, credit, summary, link, image, "
            "first_seen, updated FROM items ORDER BY key"
        ).fetchall()


def _opml_urls(path: Path) -> list[str]:
    return re.findall(r'xmlUrl="([^"]+)"', path.read_text("utf-8"))


@pytest.fixture
def old_site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    shutil.copytree(RELEASE_0_1_0, site)
    return site


def test_the_old_store_upgrades_and_keeps_every_item(old_site: Path) -> None:
    database = old_site / "feedsvc.sqlite3"
    before = _items(database)
    assert len(before) == 20
    with Store.open(f"sqlite:///{database}"):
        pass
    assert _items(database) == before


def moved_category_pages(published: bytes) -> bytes:
    """``published`` with its category feed's home link where it is now: 0.1.0 linked
    a category feed to ``#category-<slug>`` of the home page, which had no such
    anchor; category feeds now link to the category's own page."""
    return re.sub(rb"/#category-([a-z0-9-]+)", rb"/categories/\1", published)


@pytest.mark.slow
def test_the_next_refresh_publishes_the_same_bytes(old_site: Path) -> None:
    settings = load_settings(old_site / "config" / "feedsvc.toml")
    before = _items(old_site / "feedsvc.sqlite3")
    report = refresh(settings, now=LATER)
    assert report.ok, report.summary_lines()
    assert all(source.new == 0 and source.updated == 0 for source in report.sources)
    assert _items(old_site / "feedsvc.sqlite3") == before
    expected = old_site / "published"
    live = settings.storage.publish_dir / "current"
    compared = 0
    for path in sorted(expected.rglob("*")):
        if path.is_file() and path.name != "README.md":
            relative = path.relative_to(expected)
            if os.environ.get("FEEDSVC_REGENERATE_GOLDEN") == "1":
                # A deliberate change of the feeds: rewrite the expected bytes for review.
                (RELEASE_0_1_0 / "published" / relative).write_bytes(
                    (live / relative).read_bytes())
            elif relative == Path("feeds.opml"):
                # Laid out anew since 0.1.0 (category feeds in an outline group of
                # their own): the same feeds, in the same order.
                assert _opml_urls(live / relative) == _opml_urls(path)
            else:
                assert (live / relative).read_bytes() == moved_category_pages(
                    path.read_bytes()), relative
            compared += 1
    assert compared == 43
