"""``feedsvc copy-store --to URL``: a whole store moved to another database and back.

A site lives a short history on SQLite (new items, an edit, a failing source,
a removed item and category, a published generation in the database), is
copied to PostgreSQL and back, and every row of every table arrives as it
left; the copy then refreshes exactly as the original does, to the byte.
"""

from __future__ import annotations

import datetime as dt
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from stored_items import every_item

from feedsvc import cli
from feedsvc.errors import StoreError
from feedsvc.pipeline import refresh
from feedsvc.publication import Publication
from feedsvc.publishing import publisher_for
from feedsvc.settings import Settings, load_settings
from feedsvc.store import Store
from feedsvc.store.copy import NOT_COPIED, copied_tables, copy_store

T0 = dt.datetime(2026, 11, 22, 6, 0, tzinfo=dt.UTC)
STEP = dt.timedelta(minutes=30)

pytestmark = pytest.mark.slow


def write_site(root: Path, pipeline_data: Path, database: str) -> Settings:
    """A site of two local sources in ``root``, published into its database."""
    (root / "listings").mkdir(parents=True, exist_ok=True)
    for name, data in (("a", "site-a.txt"), ("b", "site-b.txt")):
        shutil.copy(pipeline_data / data, root / "listings" / f"{name}.txt")
    config = root / "feedsvc.toml"
    config.write_text(textwrap.dedent(f"""\
        [site]
        title = "Test Newsroom"
        base_url = "http://feeds.test/"
        timezone = "Europe/Zurich"

        [storage]
        database = "{database}"
        publish_dir = "public"
        publication = "database"

        [[sources]]
        name = "a"
        location = "listings/a.txt"
        language = "en"

        [[sources]]
        name = "b"
        location = "listings/b.txt"
        language = "en"
        """), "utf-8")
    return load_settings(config)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert old in text
    path.write_text(text.replace(old, new), "utf-8")


def live_history(settings: Settings) -> None:
    """A few refreshes' worth of everything a store keeps."""
    listings = settings.config_path.parent / "listings"
    assert refresh(settings, now=T0).published
    edit(listings / "a.txt", "Forty families", "Fifty families")
    b_text = (listings / "b.txt").read_bytes()
    (listings / "b.txt").unlink()
    report = refresh(settings, now=T0 + STEP)
    assert report.published and not report.ok  # b failed, a's edit published
    (listings / "b.txt").write_bytes(b_text)
    with Store.open(settings.storage.database) as store:
        victim = next(i for i in every_item(store) if i.title.startswith("Statement"))
        assert store.remove_items([victim.item_id], T0 + 2 * STEP)
        assert store.remove_categories(["feature"], T0 + 2 * STEP)
    assert refresh(settings, now=T0 + 2 * STEP).ok


def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every copied table's rows, in primary-key order, as the store's types read them."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {table.name: [tuple(row) for row in conn.execute(
                sa.select(table).order_by(*table.primary_key.columns))]
                for table in copied_tables()}
    finally:
        engine.dispose()


def live(settings: Settings) -> Publication:
    publication = publisher_for(settings).live()
    assert publication is not None
    return publication


def feeds(settings: Settings) -> dict[str, bytes]:
    publication = live(settings)
    return {path: publication.read(path) for path in sorted(publication.files)}


@pytest.fixture
def history(tmp_path: Path, pipeline_data: Path) -> Settings:
    settings = write_site(tmp_path / "original", pipeline_data,
                          f"sqlite:///{tmp_path}/original/store.sqlite3")
    live_history(settings)
    return settings


def test_a_store_copied_to_postgresql_and_back_keeps_every_row(
    history: Settings, tmp_path: Path, pipeline_data: Path,
    postgres_database: Callable[..., str],
) -> None:
    original = dump(history.storage.database)
    assert {name: len(rows) > 0 for name, rows in original.items()
            if name in ("items", "item_sources", "sources", "source_snapshots", "refresh_runs",
                        "categories", "removals", "published_documents")} == dict.fromkeys(
        ("items", "item_sources", "sources", "source_snapshots", "refresh_runs", "categories",
         "removals", "published_documents"), True)
    assert not NOT_COPIED & set(original)

    postgres = postgres_database()
    report = copy_store(history.storage.database, postgres)
    assert report.rows["items"] == len(original["items"])
    assert dump(postgres) == original

    back = f"sqlite:///{tmp_path}/back.sqlite3"
    copy_store(postgres, back)
    assert dump(back) == original


def test_the_copy_serves_and_refreshes_exactly_as_the_original(
    history: Settings, tmp_path: Path, pipeline_data: Path,
    postgres_database: Callable[..., str],
) -> None:
    postgres = postgres_database()
    copy_store(history.storage.database, postgres)
    copy = write_site(tmp_path / "copy", pipeline_data, postgres)
    edit(copy.config_path.parent / "listings" / "a.txt", "Forty families", "Fifty families")
    # A web node of the copy serves the generation the original published.
    assert live(copy).generation == live(history).generation
    assert feeds(copy) == feeds(history)
    # The same change on both: the same new item, ids, times and bytes.
    for settings in (history, copy):
        listing = settings.config_path.parent / "listings" / "a.txt"
        listing.write_text(listing.read_text("utf-8").replace(
            "March 2024\n", "March 2024\n\n  1. Press release\n\n    A new item on top\n\n"
            "    14 March 2024\n\n", 1), "utf-8")
        report = refresh(settings, now=T0 + 3 * STEP)
        assert report.ok and report.published, report.summary_lines()
    assert feeds(copy) == feeds(history)
    with Store.open(postgres) as store:
        last = store.last_run()
        assert last is not None and last.id == len(dump(history.storage.database)
                                                   ["refresh_runs"])


def test_a_target_holding_data_is_refused_unless_replaced(
    history: Settings, postgres_database: Callable[..., str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    postgres = postgres_database()
    config = ["--config", str(history.config_path)]
    assert cli.main([*config, "copy-store", "--to", postgres]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith("copied 5 items, 2 sources, 3 runs, 3 categories, 2 removals and ")
    assert cli.main([*config, "copy-store", "--to", postgres]) == cli.EXIT_ERROR
    error = capsys.readouterr().err
    assert "is not empty (" in error and "--replace" in error
    with Store.open(postgres) as store:
        store.start_run(T0)
    assert cli.main([*config, "copy-store", "--to", postgres, "--replace"]) == cli.EXIT_OK
    assert dump(postgres) == dump(history.storage.database)


def test_a_store_is_not_copied_onto_itself(
    history: Settings, monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(StoreError, match="same database"):
        copy_store(history.storage.database, history.storage.database)
    monkeypatch.chdir(history.config_path.parent)
    with pytest.raises(StoreError, match="same database"):
        copy_store(history.storage.database, "sqlite:///store.sqlite3")


def test_a_postgresql_url_naming_no_driver_is_copied_to_with_psycopg_3(
    history: Settings, postgres_database: Callable[..., str],
) -> None:
    bare = postgres_database().replace("postgresql+psycopg://", "postgresql://")
    assert copy_store(history.storage.database, bare).rows["items"] == 5
