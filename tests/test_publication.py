"""Publication: atomic generations, no-op republishing, crash safety."""

from __future__ import annotations

import datetime as dt
import gzip
import os
from collections.abc import ItemsView, Iterator, Mapping
from pathlib import Path

import pytest

from feedsvc.errors import PublishError
from feedsvc.feeds import FeedLink, ItemRecord, SiteSnapshot
from feedsvc.publication import (
    CURRENT,
    GENERATIONS,
    KEEP_GENERATIONS,
    Document,
    current_generation,
    open_publication,
    publish,
)

WHEN = dt.datetime(2021, 1, 27, 9, 30, 15, 123456, tzinfo=dt.UTC)


def _site(title: str = "Site") -> SiteSnapshot:
    return SiteSnapshot(
        title=title,
        description="d",
        base_url="http://127.0.0.1:8000/",
        language="en",
        feeds=(FeedLink("all", title, None, None, 1, "2021-01-27", WHEN.isoformat()),),
        latest=(
            ItemRecord("abc", "urn:uuid:x", "Tïtle", "2021-01-27", None, None, "René", None,
                       None, ("all",)),
        ),
        item_count=1,
    )


def _docs(text: str) -> dict[str, Document]:
    return {
        "feeds/all.atom": Document(text.encode(), "application/atom+xml; charset=utf-8", WHEN),
        "feeds/category/x.rss": Document(b"<rss/>", "application/rss+xml; charset=utf-8", WHEN),
    }


def test_nothing_published_reads_as_none(tmp_path: Path) -> None:
    assert open_publication(tmp_path) is None
    assert current_generation(tmp_path) is None


def test_publish_then_open_round_trips(tmp_path: Path) -> None:
    assert publish(tmp_path, _docs("<feed/>"), _site()) is True
    publication = open_publication(tmp_path)
    assert publication is not None
    assert publication.site == _site()
    assert publication.read("feeds/all.atom") == b"<feed/>"
    assert gzip.decompress(publication.read("feeds/all.atom", gzipped=True)) == b"<feed/>"
    entry = publication.files["feeds/all.atom"]
    assert entry.last_modified == WHEN.replace(microsecond=0)
    assert entry.etag.startswith('"') and entry.etag != entry.gzip_etag
    assert entry.size == len(b"<feed/>")


def test_same_content_is_not_published_again(tmp_path: Path) -> None:
    assert publish(tmp_path, _docs("<feed/>"), _site()) is True
    first = current_generation(tmp_path)
    link_mtime = os.lstat(tmp_path / CURRENT).st_mtime_ns
    assert publish(tmp_path, _docs("<feed/>"), _site()) is False
    assert current_generation(tmp_path) == first
    assert os.lstat(tmp_path / CURRENT).st_mtime_ns == link_mtime


def test_gzip_twins_are_byte_identical_across_publications(tmp_path: Path) -> None:
    publish(tmp_path / "a", _docs("<feed/>"), _site())
    publish(tmp_path / "b", _docs("<feed/>"), _site())
    a, b = open_publication(tmp_path / "a"), open_publication(tmp_path / "b")
    assert a is not None and b is not None
    assert a.read("feeds/all.atom", gzipped=True) == b.read("feeds/all.atom", gzipped=True)
    assert a.files == b.files


def test_new_content_switches_generation_and_old_ones_are_pruned(tmp_path: Path) -> None:
    names = []
    for n in range(KEEP_GENERATIONS + 3):
        publish(tmp_path, _docs(f"<feed n='{n}'/>"), _site())
        names.append(current_generation(tmp_path))
    assert len(set(names)) == len(names)
    kept = sorted(p.name for p in (tmp_path / GENERATIONS).iterdir())
    assert len(kept) == KEEP_GENERATIONS
    assert names[-1] in kept


def test_a_leftover_staging_dir_does_not_cost_a_kept_generation(tmp_path: Path) -> None:
    names = []
    for n in range(KEEP_GENERATIONS):
        publish(tmp_path, _docs(f"<feed n='{n}'/>"), _site())
        names.append(current_generation(tmp_path))
    generations = tmp_path / GENERATIONS
    for age, name in enumerate(reversed(names), start=1):
        past = (WHEN - dt.timedelta(hours=age)).timestamp()
        os.utime(generations / str(name), (past, past))
    (generations / ".staging-abandoned").mkdir()  # newer than every old generation
    publish(tmp_path, _docs("<feed n='last'/>"), _site())
    kept = sorted(p.name for p in generations.iterdir())
    newest_old = names[1 - KEEP_GENERATIONS :]
    assert kept == sorted([str(current_generation(tmp_path)), *map(str, newest_old)])
    assert len(kept) == KEEP_GENERATIONS


class StoppedMidWrite(Mapping[str, Document]):
    """Documents whose second one is never handed over: as if the process were
    stopped while the publication was being written."""

    def __init__(self, documents: dict[str, Document]) -> None:
        self._documents = documents

    def __getitem__(self, path: str) -> Document:
        return self._documents[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self._documents)

    def __len__(self) -> int:
        return len(self._documents)

    def items(self) -> ItemsView[str, Document]:
        return _StoppingItems(self)


class _StoppingItems(ItemsView[str, Document]):
    def __iter__(self) -> Iterator[tuple[str, Document]]:
        for handed, item in enumerate(super().__iter__()):
            if handed == 1:
                raise KeyboardInterrupt
            yield item


def test_a_crash_while_writing_leaves_the_old_publication_live(tmp_path: Path) -> None:
    publish(tmp_path, _docs("<feed old='1'/>"), _site())
    before = current_generation(tmp_path)

    with pytest.raises(KeyboardInterrupt):
        publish(tmp_path, StoppedMidWrite(_docs("<feed new='1'/>")), _site())

    assert current_generation(tmp_path) == before
    publication = open_publication(tmp_path)
    assert publication is not None
    assert publication.read("feeds/all.atom") == b"<feed old='1'/>"
    # The next successful publish cleans up the abandoned staging directory.
    publish(tmp_path, _docs("<feed new='2'/>"), _site())
    leftovers = [p for p in (tmp_path / GENERATIONS).iterdir() if p.name.startswith(".")]
    assert leftovers == []


@pytest.mark.parametrize("path", ["/etc/passwd", "../x", "feeds/../../x", "manifest.json"])
def test_paths_outside_the_publication_are_refused(tmp_path: Path, path: str) -> None:
    with pytest.raises(PublishError):
        publish(tmp_path, {path: Document(b"x", "text/plain", WHEN)}, _site())


def test_naive_timestamps_are_refused(tmp_path: Path) -> None:
    naive = Document(b"x", "text/plain", dt.datetime(2021, 1, 1))
    with pytest.raises(PublishError):
        publish(tmp_path, {"feeds/all.atom": naive}, _site())


def _atom(text: str, when: dt.datetime) -> dict[str, Document]:
    return {"feeds/all.atom": Document(text.encode(), "application/atom+xml", when)}


def _last_modified(root: Path) -> dt.datetime:
    publication = open_publication(root)
    assert publication is not None
    return publication.files["feeds/all.atom"].last_modified


def test_last_modified_never_goes_back_while_the_bytes_change(tmp_path: Path) -> None:
    # A feed that lost its newest entry has new bytes but an older newest date;
    # a client asking only If-Modified-Since must still see a change.
    later = WHEN + dt.timedelta(hours=1)
    refresh_time = (WHEN + dt.timedelta(days=2)).replace(microsecond=0)
    publish(tmp_path, _atom("<feed v='1'/>", later), _site())
    publish(tmp_path, _atom("<feed v='2'/>", WHEN), _site(), now=refresh_time)
    assert _last_modified(tmp_path) == refresh_time
    publish(tmp_path, _atom("<feed v='3'/>", WHEN), _site())
    assert _last_modified(tmp_path) == refresh_time + dt.timedelta(seconds=1)


def test_newer_content_takes_its_own_date_and_same_bytes_keep_theirs(tmp_path: Path) -> None:
    publish(tmp_path, _atom("<feed v='1'/>", WHEN), _site())
    newer = WHEN + dt.timedelta(days=1)
    publish(tmp_path, _atom("<feed v='2'/>", newer), _site(), now=newer + dt.timedelta(days=1))
    assert _last_modified(tmp_path) == newer.replace(microsecond=0)
    # The same bytes again, other site data: the file's date does not move.
    publish(tmp_path, _atom("<feed v='2'/>", newer), _site("Renamed"),
            now=newer + dt.timedelta(days=9))
    assert _last_modified(tmp_path) == newer.replace(microsecond=0)
