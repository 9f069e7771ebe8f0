"""A bad day for the refresh: far-future dates, floods of warnings, a full disk, a refresh
killed inside a container, and items that should never have been published."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from stored_items import every_item

from feedsvc import cli
from feedsvc.errors import RefreshInProgressError
from feedsvc.listing import render_numbered
from feedsvc.models import ListingItem
from feedsvc.pipeline import refresh
from feedsvc.publication import open_publication
from feedsvc.settings import Settings, load_settings
from feedsvc.store import Store

T0 = dt.datetime(2026, 11, 22, 6, 0, tzinfo=dt.UTC)
STEP = dt.timedelta(minutes=30)
ROOT = Path(__file__).resolve().parent.parent
MOJIBAKE = "Mojibake \u00e2\u20ac\u02dctitle\u00e2\u20ac\u2122"
"""A title read in the wrong charset, as a stray byte once made it."""
SQLITE = "sqlite:///var/feedsvc.sqlite3"

pytestmark = pytest.mark.both_engines


def news(count: int, *, category: str = "Press release") -> list[ListingItem]:
    return [ListingItem(title=f"Harbour news number {n}", date=dt.date(2021, 11, 20 - n % 15),
                        category=category if n % 2 else "Statement", credit=None,
                        summary=f"Summary {n}.") for n in range(count)]


SITE = """
[site]
title = "Harbour"
base_url = "http://feeds.test/"
timezone = "Europe/Zurich"

[storage]
database = "{database}"
publish_dir = "{publish_dir}"
keep_runs = 3

[[sources]]
name = "news"
location = "listings/news.txt"
language = "en"
"""


def site_in(root: Path, publish_dir: str = "var/public", database: str = SQLITE) -> Settings:
    (root / "listings").mkdir(exist_ok=True)
    config = root / "feedsvc.toml"
    config.write_text(SITE.format(publish_dir=publish_dir, database=database), "utf-8")
    return load_settings(config)


@pytest.fixture
def site(tmp_path: Path, database_engine: str, database_url: Callable[..., str]) -> Settings:
    return site_in(tmp_path, database=SQLITE if database_engine == "sqlite" else database_url())


def write(settings: Settings, text: str) -> None:
    Path(settings.sources[0].location).write_text(text, "utf-8")


def titles(settings: Settings) -> set[str]:
    publication = open_publication(settings.storage.publish_dir)
    assert publication is not None
    return {record.title for record in publication.site.latest}


def feeds(settings: Settings) -> set[str]:
    publication = open_publication(settings.storage.publish_dir)
    assert publication is not None
    return {link.key for link in publication.site.feeds}


# --- dates ---------------------------------------------------------------------------


@pytest.mark.slow
def test_an_item_dated_far_ahead_is_refused_and_looked_at_again(site: Settings) -> None:
    future = ListingItem(title="The end of time", date=dt.date(9999, 12, 31), category=None,
                         credit=None, summary=None)
    write(site, render_numbered([future, *news(3)]))
    report = refresh(site, now=T0)
    assert report.ok
    (source,) = report.sources
    assert (source.found, source.warnings) == (3, 1)
    assert "9999-12-31" in source.warning_messages[0]
    assert "The end of time" not in titles(site)
    # Not "unchanged" next time: the skipped item is looked at again.
    again = refresh(site, now=T0 + STEP)
    assert again.sources[0].warnings == 1


# --- what is kept of warnings and runs ---------------------------------------------------


def test_a_flood_of_warnings_is_counted_not_kept(site: Settings) -> None:
    junk = "".join(f"  {n % 900 + 1}. Someone\n\n  Media contact\n\n" for n in range(3000))
    write(site, render_numbered(news(2)) + junk)
    report = refresh(site, now=T0)
    (source,) = report.sources
    assert source.warnings >= 3000
    assert len(source.warning_messages) == 21
    assert source.warning_messages[-1].startswith("... and ")
    with Store.open(site.storage.database) as store:
        last = store.last_run()
        assert last is not None and last.summary is not None
        assert len(last.summary["sources"][0]["warning_messages"]) == 21


@pytest.mark.slow
def test_run_history_is_pruned_to_the_setting(site: Settings) -> None:
    write(site, render_numbered(news(4)))
    for step in range(5):
        refresh(site, now=T0 + step * STEP)
    with Store.open(site.storage.database) as store:
        assert store.run_count() == 3
        assert len(store.run_durations()) == 3


# --- removing what should never have been published ----------------------------------------


@pytest.mark.slow
def test_removed_items_and_categories_stay_out_unless_listed_again(
    site: Settings, capsys: pytest.CaptureFixture[str],
) -> None:
    bad = ListingItem(title=MOJIBAKE, date=dt.date(2021, 11, 21),
                      category="Â© Photo", credit=None, summary=None)
    write(site, render_numbered([bad, *news(4)]))
    refresh(site, now=T0)
    assert MOJIBAKE in titles(site)
    assert "category/a-photo" in feeds(site)
    with Store.open(site.storage.database) as store:
        (item,) = [i for i in every_item(store) if i.title.startswith("Mojibake")]
    config = ["--config", str(site.config_path)]
    assert cli.main([*config, "categories", "remove", "a-photo"]) == cli.EXIT_ERROR
    assert "not a terminal" in capsys.readouterr().err
    # The listing is fixed; what it said before is taken out by hand.
    write(site, render_numbered(news(4)))
    assert cli.main([*config, "items", "remove", item.guid, "--yes"]) == cli.EXIT_OK
    assert cli.main([*config, "categories", "remove", "a-photo", "--yes"]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "removed 1 items" in out and "removed 1 categories" in out
    refresh(site, now=T0 + STEP)
    assert MOJIBAKE not in titles(site)
    assert "category/a-photo" not in feeds(site)
    refresh(site, now=T0 + 2 * STEP)
    assert "category/a-photo" not in feeds(site)
    # Listed again, it comes back, with the id it always had.
    write(site, render_numbered([bad, *news(4)]))
    refresh(site, now=T0 + 3 * STEP)
    assert MOJIBAKE in titles(site)
    assert "category/a-photo" in feeds(site)
    with Store.open(site.storage.database) as store:
        assert store.item_by_id(item.item_id) is not None


# --- the refresh lock: a lease ------------------------------------------------------------


@pytest.mark.slow
def test_a_held_lock_is_renewed_while_its_holder_lives(database_url: Callable[..., str]) -> None:
    with Store.open(database_url()) as store, \
            store.refresh_lock("long refresh", ttl=1.0):
        time.sleep(2.5)
        with pytest.raises(RefreshInProgressError), store.refresh_lock("next"):
            pass


HOLD_IN_A_CONTAINER = """
    import sys, time
    import feedsvc.store.lock as lock
    from feedsvc.store import Store

    lock.LEASE_SECONDS = 3.0
    with Store.open(sys.argv[1]) as store, store.refresh_lock("in a container"):
        print("LOCKED", flush=True)
        time.sleep(600)
"""


@pytest.fixture
def root_only() -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("mount") is None:
        if os.environ.get("CI"):
            pytest.fail("CI runs as root with unshare and mount; this test must run there")
        pytest.skip("needs root, unshare and mount (run by CI)")


@pytest.mark.slow
@pytest.mark.usefixtures("root_only")
def test_a_refresh_killed_in_a_pid_namespace_does_not_hold_the_lock(site: Settings) -> None:
    write(site, render_numbered(news(3)))
    Store.open(site.storage.database).close()
    with subprocess.Popen(
        ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", sys.executable, "-c",
         textwrap.dedent(HOLD_IN_A_CONTAINER), site.storage.database],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    ) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline() == "LOCKED\n"
            with Store.open(site.storage.database) as store:
                holder = store.lock_holder()
                # Pid 1 in its namespace: alive, as far as this namespace can tell.
                assert holder is not None and holder.pid == 1
        finally:
            # SIGKILL to unshare; --kill-child takes the holder (pid 1 inside) with it.
            child.kill()
            child.wait(timeout=30)
    started = time.monotonic()
    report = refresh(site, now=T0, lock_wait=30)
    assert report.ok
    assert time.monotonic() - started < 20


# --- a full disk ------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path, root_only: None) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
def test_a_full_disk_recovers_by_itself_once_space_is_freed(
    tmp_path: Path, small_disk: Path,
) -> None:
    settings = site_in(tmp_path, str(small_disk / "public"))
    write(settings, render_numbered(news(3)))
    assert refresh(settings, now=T0).published
    before = {p.name for p in (small_disk / "public" / "generations").iterdir()}
    wordy = [ListingItem(item.title, item.date, item.category, None, "Many words. " * 200)
             for item in news(60)]
    write(settings, render_numbered(wordy))
    failed = refresh(settings, now=T0 + STEP)
    assert not failed.published and failed.error is not None
    assert "No space left" in failed.error
    generations = small_disk / "public" / "generations"
    assert {p.name for p in generations.iterdir()} == before  # nothing half-written left
    subprocess.run(["mount", "-o", "remount,size=8m", str(small_disk)], check=True)
    assert refresh(settings, now=T0 + 2 * STEP).published
    assert not [p for p in generations.iterdir() if p.name.startswith(".staging-")]


@pytest.mark.slow
def test_a_store_on_a_full_disk_is_one_clear_line(tmp_path: Path, small_disk: Path) -> None:
    settings = site_in(tmp_path)
    config = settings.config_path
    config.write_text(config.read_text("utf-8").replace(
        SQLITE, f"sqlite:///{small_disk}/feedsvc.sqlite3"), "utf-8")
    write(settings, render_numbered([
        ListingItem(f"Item {n} of a long listing", dt.date(2021, 11, 1 + n % 28), None, None,
                    "Words to fill the disk. " * 20) for n in range(2000)]))
    done = subprocess.run([sys.executable, "-m", "feedsvc.cli", "--config", str(config),
                           "refresh"], capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == cli.EXIT_ERROR
    assert done.stderr.splitlines() == [
        "feedsvc: error: store write failed: database or disk is full"]


# --- categories the publication never got to remember --------------------------------------


def test_one_item_listed_under_two_categories_publishes(tmp_path: Path) -> None:
    settings = site_in(tmp_path)
    config = settings.config_path
    config.write_text(config.read_text("utf-8") + (
        '\n[[sources]]\nname = "other"\nlocation = "listings/other.txt"\nlanguage = "en"\n'),
        "utf-8")
    settings = load_settings(config)
    same = news(1)[0]
    write(settings, render_numbered([ListingItem(same.title, same.date, "Foo", None, None)]))
    (tmp_path / "listings" / "other.txt").write_text(
        render_numbered([ListingItem(same.title, same.date, "Bar", None, None)]), "utf-8")
    for step in range(2):
        report = refresh(settings, now=T0 + step * STEP)
        assert report.error is None, report.summary_lines()
    assert "category/bar" in feeds(settings)


class StopWhileRendering(Exception):
    """Stands for a refresh stopped between merging and publishing."""


@pytest.mark.slow
def test_a_refresh_stopped_before_publishing_leaves_nothing_stuck(site: Settings) -> None:
    from feedsvc.pipeline import DefaultRenderer

    class Stopping(DefaultRenderer):
        def render_feed(self, spec: object, fmt: str) -> bytes:
            raise StopWhileRendering

    write(site, render_numbered(news(4)))
    with pytest.raises(StopWhileRendering):
        refresh(site, now=T0, renderer=Stopping())
    for step in range(1, 3):
        report = refresh(site, now=T0 + step * STEP)
        assert report.error is None, report.summary_lines()
    assert {"category/press-release", "category/statement"} <= feeds(site)
