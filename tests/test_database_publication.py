"""The publication kept in the database (``storage.publication = "database"``).

A web node then needs only the database URL: it serves the same bytes and the
same ETags as a directory publication of the same refresh, sees a new
generation within the poll interval (at once on PostgreSQL, by notification),
and old generations and their documents are pruned.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from feedsvc.pipeline import refresh
from feedsvc.publication import KEEP_GENERATIONS, Publication, open_publication
from feedsvc.publishing import publisher_for
from feedsvc.settings import Settings
from feedsvc.store import Store
from feedsvc.store.schema import publication_generations, published_documents
from feedsvc.web.app import create_app

T0 = dt.datetime(2026, 11, 22, 6, 0, tzinfo=dt.UTC)
STEP = dt.timedelta(minutes=30)
Build = Callable[..., Settings]


@pytest.fixture
def listings(tmp_path: Path, pipeline_data: Path) -> Path:
    directory = tmp_path / "listings"
    directory.mkdir()
    shutil.copy(pipeline_data / "site-a.txt", directory / "a.txt")
    shutil.copy(pipeline_data / "site-b.txt", directory / "b.txt")
    return directory


def site(make_settings: Build, *, publication: str, database: str = "sqlite:///var/db.sqlite3",
         poll: int = 1) -> Settings:
    return make_settings(
        [{"name": "a", "location": "listings/a.txt", "language": "en"},
         {"name": "b", "location": "listings/b.txt", "language": "en"}],
        storage={"database": database, "publish_dir": f"var/public-{publication}",
                 "publication": publication, "publication_poll_seconds": poll},
    )


def live(settings: Settings) -> Publication:
    publication = publisher_for(settings).live()
    assert publication is not None, "nothing is published"
    return publication


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert old in text
    path.write_text(text.replace(old, new), "utf-8")


def first_title(listing: Path) -> str:
    """The title line of the listing's first numbered item."""
    for line in listing.read_text("utf-8").splitlines():
        number, dot, rest = line.strip().partition(". ")
        if dot and number.isdigit() and rest:
            return rest
    raise AssertionError(f"no numbered item in {listing}")


@pytest.mark.slow
def test_web_nodes_serve_the_same_bytes_and_etags_from_the_database(
    make_settings: Build, listings: Path,
) -> None:
    on_disk = site(make_settings, publication="directory", database="sqlite:///var/disk.sqlite3")
    in_db = site(make_settings, publication="database")
    assert refresh(on_disk, now=T0).published
    assert refresh(in_db, now=T0).published

    directory = open_publication(on_disk.storage.publish_dir)
    assert directory is not None
    assert live(in_db).generation == directory.generation
    assert not in_db.storage.publish_dir.exists(), "a database publication writes no files"
    disk_client = create_app(on_disk).test_client()
    db_client = create_app(in_db).test_client()
    for path in directory.files:
        url = "/" + path
        for headers in ({}, {"Accept-Encoding": "gzip"}):
            from_disk = disk_client.get(url, headers=headers)
            from_db = db_client.get(url, headers=headers)
            assert from_db.status_code == from_disk.status_code == 200, url
            assert from_db.data == from_disk.data, url
            for name in ("ETag", "Last-Modified", "Content-Type", "Content-Encoding"):
                assert from_db.headers.get(name) == from_disk.headers.get(name), (url, name)
    etag = db_client.get("/feeds/all.atom").headers["ETag"]
    assert db_client.get("/feeds/all.atom", headers={"If-None-Match": etag}).status_code == 304
    assert db_client.get("/").status_code == 200


@pytest.mark.slow
def test_nothing_changed_keeps_the_generation_and_old_ones_are_pruned(
    make_settings: Build, listings: Path,
) -> None:
    settings = site(make_settings, publication="database")
    assert refresh(settings, now=T0).published
    first = live(settings).generation
    again = refresh(settings, now=T0 + STEP)
    assert not again.published and live(settings).generation == first

    title = first_title(listings / "a.txt")
    generations = [first]
    for n in range(KEEP_GENERATIONS + 2):
        edit(listings / "a.txt", title, f"{title} ({n})")
        title = f"{title} ({n})"
        assert refresh(settings, now=T0 + (n + 2) * STEP).published
        generations.append(live(settings).generation)
    assert len(set(generations)) == len(generations)

    with Store.open(settings.storage.database) as store, store.database.read() as conn:
        kept = set(conn.execute(sa.select(publication_generations.c.generation)).scalars())
        etags = set(conn.execute(sa.select(published_documents.c.etag)).scalars())
    assert kept == set(generations[-KEEP_GENERATIONS:])
    named = {file.etag for file in live(settings).files.values()}
    assert named <= etags, "every live document is kept"
    referenced: set[str] = set()
    with Store.open(settings.storage.database) as store, store.database.read() as conn:
        for manifest in conn.execute(sa.select(publication_generations.c.manifest)).scalars():
            referenced |= {f["etag"] for f in json.loads(manifest)["files"].values()}
    assert etags == referenced, "documents no kept generation names are deleted"


@pytest.mark.slow
def test_a_web_worker_sees_a_new_generation_within_the_poll_interval(
    make_settings: Build, listings: Path,
) -> None:
    settings = site(make_settings, publication="database", poll=1)
    assert refresh(settings, now=T0).published
    client = create_app(settings).test_client()
    before = client.get("/feeds/all.atom").headers["ETag"]
    title = first_title(listings / "a.txt")
    edit(listings / "a.txt", title, f"{title}, revised")
    assert refresh(settings, now=T0 + STEP).published
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        response = client.get("/feeds/all.atom")
        if response.headers["ETag"] != before:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the web worker never served the new generation")
    assert b"revised" in response.data
    assert response.headers["ETag"] == f'{live(settings).files["feeds/all.atom"].etag}'


@pytest.mark.slow
def test_a_web_node_started_before_the_first_publication_waits_politely(
    make_settings: Build, listings: Path,
) -> None:
    settings = site(make_settings, publication="database")
    client = create_app(settings).test_client()
    assert client.get("/feeds/all.atom").status_code == 503
    assert refresh(settings, now=T0).published
    time.sleep(1.1)
    assert client.get("/feeds/all.atom").status_code == 200


@pytest.mark.slow
def test_postgresql_tells_web_workers_of_a_new_generation_at_once(
    make_settings: Build, listings: Path, postgres_database: Callable[[], str],
) -> None:
    url = postgres_database()
    # A poll interval of an hour: only the notification can explain a prompt switch.
    settings = site(make_settings, publication="database", database=url, poll=3600)
    assert refresh(settings, now=T0).published
    client = create_app(settings).test_client()
    before = client.get("/feeds/all.atom").headers["ETag"]
    time.sleep(0.5)  # the listener is connected before the change
    title = first_title(listings / "a.txt")
    edit(listings / "a.txt", title, f"{title}, revised")
    assert refresh(settings, now=T0 + STEP).published
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if client.get("/feeds/all.atom").headers["ETag"] != before:
            return
        time.sleep(0.1)
    pytest.fail("no notification reached the web worker")
