"""The paged item lists read one page off the store's indexes, never the history."""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from feedsvc.pipeline import refresh
from feedsvc.settings import load_settings
from feedsvc.store import Store
from feedsvc.store.items import items_page
from feedsvc.store.schema import metadata

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    root = tmp_path_factory.mktemp("paged")
    shutil.copytree(ROOT / "config", root / "config")
    settings = load_settings(root / "config" / "feedsvc.toml", environ={})
    assert refresh(settings, now=dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)).published
    opened = Store.open(settings.storage.database)
    try:
        yield opened
    finally:
        opened.close()


@pytest.mark.parametrize("slug", [None, "press-release", "social-protection"])
def test_pages_cut_the_newest_first_order_into_pieces(store: Store, slug: str | None) -> None:
    everything = store.newest_items(slug, 1000)
    assert everything
    pages = [store.items_page(slug, offset, 3) for offset in range(0, len(everything) + 3, 3)]
    assert [item for page in pages for item in page] == everything
    assert pages[-1] == []


def test_a_page_is_read_off_an_index(tmp_path: Path) -> None:
    """SQLite's plan for a page: walk the newest-first index, no sort of the table."""
    database = tmp_path / "plan.sqlite3"
    engine = sa.create_engine(f"sqlite:///{database}")
    metadata.create_all(engine)
    captured: list[tuple[str, Any]] = []

    def capture(conn: object, cursor: object, sql: str, params: Any, *_: object) -> None:
        captured.append((sql, params))

    sa.event.listen(engine, "before_cursor_execute", capture)
    for slug in (None, "video"):
        with engine.connect() as conn:
            assert items_page(conn, slug, 100, 50) == []
    engine.dispose()
    with sqlite3.connect(database) as raw:
        plans = [" ".join(str(row[-1]) for row in raw.execute("EXPLAIN QUERY PLAN " + sql, params))
                 for sql, params in captured]
    assert "USING INDEX ix_items_newest" in plans[0], plans[0]
    assert "USING INDEX ix_items_category_newest" in plans[1], plans[1]
    assert not any("TEMP B-TREE" in plan for plan in plans), plans
