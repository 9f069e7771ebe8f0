"""A store written by an earlier release upgrades in place with nothing lost.

``tests/data/stores/release-0.1.0`` holds a database made by feedsvc 0.1.0
(one refresh of the bundled sample site) and the feeds that refresh
published. Opening it with the current code migrates it; its next refresh,
with the same listings, must keep every item's id and times and publish the
expected bytes: 0.1.0's own, but for category feeds' home links (see
``moved_category_pages``) and for deliberate changes of the entries since, each
one rewritten with ``FEEDSVC_REGENERATE_GOLDEN=1`` and its diff reviewed. On
PostgreSQL, the same store is first copied table by table as it is (the old
schema, reflected) into a new database, which is then upgraded.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from feedsvc.pipeline import refresh
from feedsvc.settings import load_settings
from feedsvc.store import Store

RELEASE_0_1_0 = Path(__file__).resolve().parent / "data" / "stores" / "release-0.1.0"
LATER = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


pytestmark = pytest.mark.both_engines


def _items(url: str) -> list[tuple[object, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(
                "SELECT key, guid, item_id, title, date, category, credit, summary, link, image, "
                "first_seen, updated FROM items ORDER BY key"))]
    finally:
        engine.dispose()


def copy_old_store(old: str, new: str) -> None:
    """Copy the store ``old`` into the empty database ``new`` as it is: its tables as
    reflected (the old schema), every row, sequences moved past the ids copied."""
    source, target = sa.create_engine(old), sa.create_engine(new)
    tables = sa.MetaData()
    tables.reflect(source)
    for table in tables.sorted_tables:
        for column in table.columns:
            column.type = column.type.as_generic()  # SQLite's DATETIME is TIMESTAMP there
    try:
        with source.connect() as reading, target.begin() as writing:
            tables.create_all(writing)
            for table in tables.sorted_tables:
                rows = [dict(row) for row in reading.execute(table.select()).mappings()]
                if rows:
                    writing.execute(table.insert(), rows)
            writing.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('refresh_runs', 'id'), "
                "(SELECT max(id) FROM refresh_runs))")
    finally:
        source.dispose()
        target.dispose()


def _opml_urls(path: Path) -> list[str]:
    return re.findall(r'xmlUrl="([^"]+)"', path.read_text("utf-8"))


@pytest.fixture
def old_site(tmp_path: Path, database_engine: str, database_url: Callable[..., str]) -> Path:
    """The old site in tmp; on PostgreSQL its settings name a copy of its store there."""
    site = tmp_path / "site"
    shutil.copytree(RELEASE_0_1_0, site)
    if database_engine == "postgres":
        url = database_url()
        copy_old_store(f"sqlite:///{site / 'feedsvc.sqlite3'}", url)
        config = site / "config" / "feedsvc.toml"
        config.write_text(config.read_text("utf-8").replace(
            'database = "sqlite:///../feedsvc.sqlite3"', f'database = "{url}"'), "utf-8")
    return site


def store_url(site: Path) -> str:
    return load_settings(site / "config" / "feedsvc.toml").storage.database


def test_the_old_store_upgrades_and_keeps_every_item(old_site: Path) -> None:
    url = store_url(old_site)
    before = _items(url)
    assert len(before) == 20
    with Store.open(url) as store:
        assert store.run_count() == 1
        assert len(store.source_states()) == 2
    assert _items(url) == before


def moved_category_pages(published: bytes) -> bytes:
    """``published`` with its category feed's home link where it is now: 0.1.0 linked
    a category feed to ``#category-<slug>`` of the home page, which had no such
    anchor; category feeds now link to the category's own page."""
    return re.sub(rb"/#category-([a-z0-9-]+)", rb"/categories/\1", published)


@pytest.mark.slow
def test_the_next_refresh_publishes_the_same_bytes(old_site: Path) -> None:
    settings = load_settings(old_site / "config" / "feedsvc.toml")
    before = _items(settings.storage.database)
    report = refresh(settings, now=LATER)
    assert report.ok, report.summary_lines()
    assert all(source.new == 0 and source.updated == 0 for source in report.sources)
    assert _items(settings.storage.database) == before
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
