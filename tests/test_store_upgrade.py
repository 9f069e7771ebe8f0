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
import json
import os
import re
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from feedsvc.outcomes import RunSummary, SourceReport, SourceStatus
from feedsvc.pipeline import refresh
from feedsvc.settings import load_settings
from feedsvc.status import run_error
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
        last = store.last_run()
    assert _items(url) == before
    # Its run's JSON summary, as columns and rows now, reads back as the record.
    assert last is not None and last.summary == RunSummary(
        feed_count=14, item_count=20,
        sources=(SourceReport("newsroom-2021-01", found=10, new=10),
                 SourceReport("newsroom-2021-11", found=10, new=10)))


OLD_SUMMARY = {
    "error": None, "feed_count": 3, "item_count": 9, "ok": False, "published": True,
    "sources": [
        {"name": "harbour", "found": 4, "new": 1, "updated": 0, "warnings": 2, "error": None,
         "skipped": False, "not_modified": False, "unchanged": False, "retry_at": None,
         "stale": False, "ok": True, "warning_messages": ["harbour: line 2: odd", "... and 1 "
                                                          "more warning(s)"]},
        {"name": "lighthouse", "found": 0, "new": 0, "updated": 0, "warnings": 0,
         "error": None, "skipped": False, "not_modified": True, "unchanged": False,
         "retry_at": None, "stale": False, "ok": True, "warning_messages": []},
        {"name": "pier", "found": 0, "new": 0, "updated": 0, "warnings": 0, "error": None,
         "skipped": False, "not_modified": False, "unchanged": True, "retry_at": None,
         "stale": False, "ok": True, "warning_messages": []},
        {"name": "ferry", "found": 0, "new": 0, "updated": 0, "warnings": 0,
         "error": "HTTP 503", "skipped": False, "not_modified": False, "unchanged": False,
         "retry_at": None, "stale": True, "ok": False, "warning_messages": []},
        {"name": "tower", "found": 0, "new": 0, "updated": 0, "warnings": 0, "error": None,
         "skipped": True, "not_modified": False, "unchanged": False,
         "retry_at": "2026-11-30T23:55:00+00:00", "stale": False, "ok": False,
         "warning_messages": []},
    ],
}


def test_an_old_run_summary_of_every_status_becomes_columns(
    tmp_path: Path, database_engine: str, database_url: Callable[..., str],
) -> None:
    old = tmp_path / "old.sqlite3"
    shutil.copy(RELEASE_0_1_0 / "feedsvc.sqlite3", old)
    with sqlite3.connect(old) as conn:
        conn.execute("UPDATE refresh_runs SET ok = 0, summary = ?", (json.dumps(OLD_SUMMARY),))
    conn.close()
    url = f"sqlite:///{old}"
    if database_engine == "postgres":
        url = database_url()
        copy_old_store(f"sqlite:///{old}", url)
    with Store.open(url) as store:
        last = store.last_run()
    assert last is not None and last.summary == RunSummary(feed_count=3, item_count=9, sources=(
        SourceReport("harbour", found=4, new=1, warnings=2,
                     warning_messages=("harbour: line 2: odd", "... and 1 more warning(s)")),
        SourceReport("lighthouse", status=SourceStatus.NOT_MODIFIED),
        SourceReport("pier", status=SourceStatus.UNCHANGED),
        SourceReport("ferry", status=SourceStatus.FAILED, error="HTTP 503", stale=True),
        SourceReport("tower", status=SourceStatus.SKIPPED,
                     retry_at=dt.datetime(2026, 11, 30, 23, 55, tzinfo=dt.UTC)),
    ))
    assert run_error(last) == "ferry: HTTP 503; tower: skipped: still failing"
    engine = sa.create_engine(url)
    try:
        assert "summary" not in {column["name"] for column in
                                 sa.inspect(engine).get_columns("refresh_runs")}
    finally:
        engine.dispose()


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
