"""Archive pages cost what changed, not the history: a generation's manifest names one
index per feed, page bytes are stored once and shared by every generation, pages no
kept generation references are pruned, and a publication holds one document at a
time, never all of them (both publishers)."""

from __future__ import annotations

import datetime as dt
import json
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from feedsvc.archive import is_archive_path
from feedsvc.feeds import FeedLink, SiteSnapshot
from feedsvc.listing import render_numbered
from feedsvc.models import ListingItem
from feedsvc.pipeline import refresh
from feedsvc.publication import (
    GENERATIONS,
    KEEP_GENERATIONS,
    MANIFEST,
    OBJECTS,
    Document,
    Publication,
    PublishedFile,
    PublishedFiles,
    load_manifest,
    manifest_files,
    object_name_of,
)
from feedsvc.publishing import STAGED_BYTES, publisher_for
from feedsvc.settings import Settings
from feedsvc.store import Store
from feedsvc.store.schema import publication_generations, published_documents

# Every test here runs refreshes or writes tens of megabytes: the slow tier.
pytestmark = pytest.mark.slow

T0 = dt.datetime(2026, 11, 22, 6, 0, tzinfo=dt.UTC)
STEP = dt.timedelta(minutes=30)
FEED_SIZE = 4
BASE = "http://feeds.test/"
CATEGORIES = ("Press release", "Video", "Statement")


def listing_items(count: int, *, first: int = 0, newest: dt.date = dt.date(2021, 11, 30),
                  ) -> list[ListingItem]:
    return [ListingItem(
        title=f"Item number {index} on decent work",
        date=newest - dt.timedelta(days=index - first),
        category=CATEGORIES[index % len(CATEGORIES)] if index % 4 else None,
        credit=None, summary=f"What happened in item {index}.",
    ) for index in range(first, first + count)]


def on_top(listing: list[ListingItem], number: int) -> list[ListingItem]:
    """``listing`` with one new item on top (numbered ``number``, dated after all)."""
    newest = listing[0].date + dt.timedelta(days=1)
    return [*listing_items(1, first=number, newest=newest), *listing]


Build = Callable[..., Settings]


def make_site(make_settings: Build, tmp_path: Path, name: str, publication: str, *,
              own_database: bool = True) -> Settings:
    """A site in ``tmp_path / name``; with ``own_database`` its store is a SQLite file of
    its own there, else the tests' engine's (SQLite or PostgreSQL, see tests/postgres.py)."""
    (tmp_path / name).mkdir(exist_ok=True)
    storage = {"publication": publication, "publish_dir": f"{name}/public"}
    if own_database:
        storage["database"] = f"sqlite:///{name}/db.sqlite3"
    return make_settings([{"name": "news", "location": f"{name}/news.txt"}],
                         site={"feed_size": FEED_SIZE, "base_url": BASE}, storage=storage)


def write(settings: Settings, listing: list[ListingItem]) -> None:
    Path(settings.sources[0].location).write_text(render_numbered(listing), "utf-8")


def live(settings: Settings) -> Publication:
    publication = publisher_for(settings).live()
    assert publication is not None
    return publication


def object_files(settings: Settings) -> dict[str, int]:
    """Every file of the directory publication's objects area, with its link count."""
    root = settings.storage.publish_dir / OBJECTS
    return {str(path.relative_to(root)): path.stat().st_nlink
            for path in root.rglob("*") if path.is_file()}


def manifest_of(settings: Settings) -> bytes:
    publication = live(settings)
    assert publication.directory is not None
    return (publication.directory / MANIFEST).read_bytes()


def stored_etags(settings: Settings) -> set[str]:
    with Store.open(settings.storage.database) as store, store.database.read() as conn:
        return set(conn.execute(sa.select(published_documents.c.etag)).scalars())


def referenced(files: PublishedFiles) -> set[str]:
    """The object names (unquoted) one generation references: its archive indexes and
    its archive pages."""
    assert files.objects is not None
    names = set(files.archives.values())
    for root in files.archives.values():
        segments = json.loads(files.objects.read_object(root))["segments"]
        names |= {name for name, _ in segments.values()}
    names |= {object_name_of(files[path]) for path in files if not files.is_plain(path)}
    return names


# --- (a) one new item: no page written or linked, a manifest that does not grow ---


def test_one_new_item_writes_and_links_no_archive_page(
    make_settings: Build, tmp_path: Path,
) -> None:
    settings = make_site(make_settings, tmp_path, "site", "directory")
    listing = listing_items(23)  # 10 pages of all items, 3 items open
    write(settings, listing)
    assert refresh(settings, now=T0).published
    pages_before = {path: live(settings).files[path] for path in live(settings).files
                    if is_archive_path(path)}
    assert "feeds/all/archive/10.atom" in pages_before
    objects_before = object_files(settings)

    write(settings, on_top(listing, 100))  # 4 open: no page fills
    assert refresh(settings, now=T0 + STEP).published
    publication = live(settings)
    assert publication.directory is not None
    # No page file was written, linked or copied into the new generation...
    assert object_files(settings) == objects_before
    in_generation = [str(path.relative_to(publication.directory))
                     for path in publication.directory.rglob("*")]
    assert not [path for path in in_generation if "/archive/" in path], in_generation
    # ... and the manifest names no page: the feeds' indexes are shared as they were.
    assert b"/archive/" not in manifest_of(settings)
    assert {path: publication.files[path] for path in publication.files
            if is_archive_path(path)} == pages_before


def test_the_manifest_does_not_grow_with_the_number_of_pages(
    make_settings: Build, tmp_path: Path,
) -> None:
    sizes = {}
    for count in (23, 403):  # 10 and 200 pages of all items
        settings = make_site(make_settings, tmp_path, f"site{count}", "directory")
        write(settings, listing_items(count))
        assert refresh(settings, now=T0).published
        publication = live(settings)
        pages = [path for path in publication.files if is_archive_path(path)]
        assert len(pages) >= 3 * count // 2  # every format of every page of all items
        sizes[count] = len(manifest_of(settings))
    # Only numbers in it (item counts, sizes) may differ in length.
    assert sizes[403] <= sizes[23] + 200, sizes


@pytest.mark.both_engines
def test_one_new_item_stores_no_archive_page_in_the_database(
    make_settings: Build, tmp_path: Path,
) -> None:
    settings = make_site(make_settings, tmp_path, "site", "database", own_database=False)
    listing = listing_items(23)
    write(settings, listing)
    assert refresh(settings, now=T0).published
    before = stored_etags(settings)
    write(settings, on_top(listing, 100))
    assert refresh(settings, now=T0 + STEP).published
    publication = live(settings)
    assert isinstance(publication.files, PublishedFiles)
    new = stored_etags(settings) - before
    plain = {raw["etag"] for raw in publication.files.plain.values()}
    assert new and new <= plain, "only the documents the manifest lists were stored"
    with Store.open(settings.storage.database) as store, store.database.read() as conn:
        manifest = conn.execute(sa.select(publication_generations.c.manifest).where(
            publication_generations.c.generation == publication.generation)).scalar_one()
    assert "/archive/" not in manifest


# --- (b) pruning: a page no kept generation references goes -----------------------


@pytest.mark.both_engines
@pytest.mark.parametrize("publication", ["directory", "database"])
def test_a_replaced_page_is_pruned_once_no_kept_generation_references_it(
    make_settings: Build, tmp_path: Path, publication: str,
) -> None:
    settings = make_site(make_settings, tmp_path, "site", publication, own_database=False)
    listing = listing_items(23)
    write(settings, listing)
    assert refresh(settings, now=T0).published
    old_page = live(settings).files["feeds/all/archive/2.atom"]
    files = live(settings).files
    assert isinstance(files, PublishedFiles)
    old_roots = dict(files.archives)

    # Item 20 is on page 2 of all items: editing it replaces that page.
    edited = [replace(item, summary="Corrected.") if item.title.startswith("Item number 20 ")
              else item for item in listing]
    write(settings, edited)
    assert refresh(settings, now=T0 + STEP).published
    new_page = live(settings).files["feeds/all/archive/2.atom"]
    assert new_page.etag != old_page.etag
    assert b"Corrected." in live(settings).read("feeds/all/archive/2.atom")
    assert stored(settings, old_page), "the previous generations still reference it"

    # Publications that change no page, until the generation of the old page is pruned.
    for n in range(KEEP_GENERATIONS):
        edited = [replace(item, summary=f"Edit {n}.") if item.title.startswith("Item number 0 ")
                  else item for item in edited]
        write(settings, edited)
        assert refresh(settings, now=T0 + (n + 2) * STEP).published
    assert not stored(settings, old_page), "no kept generation references the old page"
    assert stored(settings, new_page)
    assert live(settings).read("feeds/all/archive/2.atom", gzipped=True)
    # What is stored is exactly what the kept generations reference.
    plain, wanted = kept_references(settings)
    assert old_roots["all"] not in wanted
    if publication == "directory":
        names = {Path(name).name.removesuffix(".gz").removesuffix(".json")
                 for name in object_files(settings)}
        assert names == wanted
    else:
        assert stored_etags(settings) == plain | {f'"{name}"' for name in wanted}


def stored(settings: Settings, file: PublishedFile) -> bool:
    name = object_name_of(file)
    if settings.storage.publication == "directory":
        return (settings.storage.publish_dir / OBJECTS / name[:2] / name).exists()
    return f'"{name}"' in stored_etags(settings)


def kept_references(settings: Settings) -> tuple[set[str], set[str]]:
    """What every kept generation (live or not) references: the ETags its manifest
    lists, and the names of its archive indexes and pages."""
    # Every generation's archive indexes are read where the live one's are.
    live_files = live(settings).files
    assert isinstance(live_files, PublishedFiles) and live_files.objects is not None
    if settings.storage.publication == "directory":
        generations = settings.storage.publish_dir / GENERATIONS
        manifests = [(path / MANIFEST).read_bytes() for path in generations.iterdir()]
    else:
        with Store.open(settings.storage.database) as store, store.database.read() as conn:
            manifests = [m.encode() for m in conn.execute(
                sa.select(publication_generations.c.manifest)).scalars()]
    kept = [manifest_files(load_manifest(manifest, "kept"), live_files.objects)
            for manifest in manifests]
    return ({raw["etag"] for files in kept for raw in files.plain.values()},
            set().union(*(referenced(files) for files in kept)))


# --- (c) memory: one document at a time ----------------------------------------------

DOCUMENT_BYTES = 256 * 1024
DOCUMENTS = 80  # 20 MB of documents, and as much again gzipped


def big_documents() -> Iterator[tuple[str, Document]]:
    """DOCUMENTS documents of DOCUMENT_BYTES each, half of them archive pages, made one
    at a time (this generator holds none of them)."""
    for n in range(DOCUMENTS):
        # Not compressible much, so their gzip costs memory too.
        body = b"".join(f"{n}:{k * 2654435761 % 4294967296:08x}\n".encode()
                        for k in range(DOCUMENT_BYTES // 14))
        path = f"feeds/all/archive/{n + 1}.atom" if n % 2 else f"feeds/category/c{n}.atom"
        yield path, Document(body, "application/atom+xml; charset=utf-8", T0)


def tiny_site() -> SiteSnapshot:
    return SiteSnapshot(title="t", description="d", base_url=BASE, language="en",
                        feeds=(FeedLink("all", "t", None, None, 1, None, T0.isoformat()),),
                        latest=(), item_count=1)


@pytest.mark.parametrize("publication", ["directory", "database"])
def test_a_publication_holds_one_document_at_a_time(
    make_settings: Build, tmp_path: Path, publication: str,
) -> None:
    settings = make_site(make_settings, tmp_path, "site", publication)
    if publication == "database":
        Store.open(settings.storage.database).close()  # the schema, before measuring
    publisher = publisher_for(settings)

    def publish_all() -> bool:
        draft = publisher.draft(None, now=T0)
        for path, document in big_documents():
            draft.add(path, document)
        return draft.commit(tiny_site())

    tracemalloc.start()
    try:
        assert publish_all()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    everything = DOCUMENTS * DOCUMENT_BYTES
    # A few documents (one being made, its gzip, the one just written) and, for the
    # database, one batch waiting to be stored; far below every document at once.
    bound = 8 * DOCUMENT_BYTES + (2 * STAGED_BYTES if publication == "database" else 0)
    assert peak <= bound + 2_000_000, (peak, everything)
    assert peak < everything / 2
    assert live(settings).read("feeds/all/archive/2.atom") == dict(big_documents())[
        "feeds/all/archive/2.atom"].content
