"""The published state: what the pipeline writes and the web layer reads.

A publication is one immutable directory ("generation") holding every feed
file, its gzip twin, ``manifest.json`` (content type, ETags, Last-Modified of
each file) and ``site.json`` (what the home page shows: the feeds and the
newest items, never the whole history). A symlink named
``current`` points at the live generation and is swapped atomically with
``os.replace``, so a reader sees either the whole old publication or the whole
new one, never a mix, and a crash mid-publish leaves the old one live.

Generations are named by a hash of their content: publishing the same bytes
again is a no-op, which keeps ETags and Last-Modified stable. A file that a
refresh did not render again is carried over from the live generation as a
hard link (a copy where links are refused), so a publication writes only what
changed.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from feedsvc.archive import archive_page_of
from feedsvc.errors import PublishError
from feedsvc.feeds import SiteSnapshot

CURRENT = "current"
GENERATIONS = "generations"
OBJECTS = "objects"
"""Beside the generations: archive pages and their indexes, each stored once by name."""
MANIFEST = "manifest.json"
SITE = "site.json"
KEEP_GENERATIONS = 3
STAGING_PREFIX = ".staging-"
GZIP_LEVEL = 6
"""zlib's default: within a few percent of the smallest, at a third of the time of 9."""
@dataclass(frozen=True)
class Document:
    """One file to publish: its bytes, content type and the time of its newest change."""

    content: bytes
    content_type: str
    last_modified: dt.datetime


@dataclass(frozen=True)
class PublishedFile:
    """One published file as the manifest describes it. ETags are quoted, strong."""

    path: str
    content_type: str
    etag: str
    gzip_etag: str
    last_modified: dt.datetime
    size: int
    gzip_size: int

    def to_json(self) -> dict[str, Any]:
        # Field by field, not ``asdict`` (which deep-copies): a publication carries
        # every archive page's entry over, so this runs once per page per refresh.
        return {"path": self.path, "content_type": self.content_type, "etag": self.etag,
                "gzip_etag": self.gzip_etag, "last_modified": self.last_modified.isoformat(),
                "size": self.size, "gzip_size": self.gzip_size}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> PublishedFile:
        return cls(**{**raw, "last_modified": dt.datetime.fromisoformat(raw["last_modified"])})


class DocumentReader(Protocol):
    """Where a publication kept outside a directory reads its documents from."""

    def read(self, etag: str, *, gzipped: bool) -> bytes:
        """The bytes (or their gzip) of the document whose ETag is ``etag``. Raises
        OSError when they cannot be read (as a missing file would)."""
        ...


class ObjectReader(Protocol):
    """Where a publication's shared, content-addressed archive indexes are read from."""

    def read_object(self, name: str) -> bytes:
        """The bytes of the index object ``name`` (see ``object_name``). Raises OSError
        when it cannot be read."""
        ...


# --- archive indexes ------------------------------------------------------------
#
# Archive pages are kept out of the generation manifest: they would make every
# publication (and every web worker reading it) cost in proportion to history.
# Each feed's pages are described by a two-level, content-addressed index shared
# by every generation that did not change them: a root object listing segment
# objects, each describing SEGMENT_PAGES consecutive pages (every format). The
# manifest names each feed's root by hash ("archives"). A publication that adds
# a page writes one segment and one root; one that changes no page of a feed
# writes nothing for it. Page bytes are stored once, by ETag, beside the
# generations (a directory's ``objects``; the database's published documents).

SEGMENT_PAGES = 64
"""Archive pages one index segment describes (every format of each)."""
INDEX_CACHE_SIZE = 16
"""Index objects (roots and segments) a process keeps parsed: lookups of archive
pages of a few feeds read each at most once, and memory stays bounded."""


def object_name(data: bytes) -> str:
    """The content-addressed name of ``data``: its unquoted ETag."""
    return etag_of(data).strip('"')


def _segment_of(page: int) -> str:
    return str((page - 1) // SEGMENT_PAGES)


class _IndexCache:
    """Parsed index objects by name, least recently used dropped first. Thread-safe.
    Names are content hashes, so one cache serves every publication and publisher."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._kept: OrderedDict[str, Mapping[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def load(self, objects: ObjectReader, name: str) -> Mapping[str, Any]:
        """The index object ``name``. Raises OSError when it cannot be read or parsed."""
        with self._lock:
            found = self._kept.get(name)
            if found is not None:
                self._kept.move_to_end(name)
                return found
        try:
            parsed = json.loads(objects.read_object(name))
        except ValueError as exc:
            raise OSError(f"archive index {name} is unreadable: {exc}") from exc
        if not isinstance(parsed, dict):
            raise OSError(f"archive index {name} is unreadable")
        with self._lock:
            self._kept[name] = parsed
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
        return parsed


_INDEXES = _IndexCache(INDEX_CACHE_SIZE)


def _root_segments(objects: ObjectReader, root: str) -> Mapping[str, list[Any]]:
    """segment number (str) → [segment object name, files it describes]."""
    segments: Mapping[str, list[Any]] = _INDEXES.load(objects, root)["segments"]
    return segments


def _segment_files(objects: ObjectReader, segment: str) -> Mapping[str, Mapping[str, Any]]:
    files: Mapping[str, Mapping[str, Any]] = _INDEXES.load(objects, segment)["files"]
    return files


class PublishedFiles(Mapping[str, PublishedFile]):
    """Every file of a generation: those its manifest lists (``plain``) and the archive
    pages of its feeds' indexes (``archives``: feed key → root object name), read
    through ``objects`` when looked up. Entries are made ``PublishedFile`` only when
    looked up. Looking up an archive page reads at most two (cached) index objects;
    iterating reads every index (tests and tools, never a request). A lookup whose
    index cannot be read raises OSError."""

    def __init__(self, plain: Mapping[str, Mapping[str, Any]],
                 archives: Mapping[str, str] | None = None,
                 objects: ObjectReader | None = None) -> None:
        self.plain = plain
        self.archives: Mapping[str, str] = archives or {}
        self.objects = objects

    def archive_entry(self, path: str) -> Mapping[str, Any] | None:
        """The raw entry of the archive page ``path`` in its feed's index, or None."""
        where = archive_page_of(path)
        if where is None or where[0] not in self.archives or self.objects is None:
            return None
        found = _root_segments(self.objects, self.archives[where[0]]).get(_segment_of(where[1]))
        if found is None:
            return None
        return _segment_files(self.objects, found[0]).get(path)

    def is_plain(self, path: str) -> bool:
        """Whether ``path`` is listed in the manifest itself (not in an archive index)."""
        return path in self.plain

    def __getitem__(self, path: str) -> PublishedFile:
        raw = self.plain.get(path)
        if raw is None:
            raw = self.archive_entry(path)
        if raw is None:
            raise KeyError(path)
        return PublishedFile.from_json(raw)

    def __contains__(self, path: object) -> bool:
        if not isinstance(path, str):
            return False
        return path in self.plain or self.archive_entry(path) is not None

    def __iter__(self) -> Iterator[str]:
        yield from self.plain
        if self.objects is None:
            return
        for feed in sorted(self.archives):
            segments = _root_segments(self.objects, self.archives[feed])
            for number in sorted(segments, key=int):
                yield from sorted(_segment_files(self.objects, segments[number][0]))

    def __len__(self) -> int:
        if self.objects is None:
            return len(self.plain)
        return len(self.plain) + sum(
            int(count) for root in self.archives.values()
            for _, count in _root_segments(self.objects, root).values())


@dataclass(frozen=True)
class Publication:
    """A live generation, opened for reading: from a directory (``directory``, its
    archive pages in ``objects``) or from the database (``documents``)."""

    directory: Path | None
    generation: str
    files: Mapping[str, PublishedFile]
    site: SiteSnapshot
    render_key: str | None = None
    """What the feeds were rendered under (see ``publish``); None for older publications."""
    documents: DocumentReader | None = None
    objects: Path | None = None
    """Where a directory publication's archive pages are stored (see ``OBJECTS``)."""

    def file_path(self, path: str, *, gzipped: bool = False) -> Path:
        if self.directory is None:
            raise PublishError(f"publication {self.generation} is not a directory")
        files = self.files
        if (self.objects is not None and isinstance(files, PublishedFiles)
                and not files.is_plain(path) and path in files):
            return _object_path(self.objects, object_name_of(files[path]), gzipped=gzipped)
        return self.directory / (path + ".gz" if gzipped else path)

    def read(self, path: str, *, gzipped: bool = False) -> bytes:
        """The bytes of the published file ``path``. Raises OSError when they cannot
        be read (the generation was pruned under us, say)."""
        if self.documents is not None:
            return self.documents.read(self.files[path].etag, gzipped=gzipped)
        return self.file_path(path, gzipped=gzipped).read_bytes()


def object_name_of(file: PublishedFile) -> str:
    """The name under which an archive page's bytes are stored: its unquoted ETag."""
    return file.etag.strip('"')


def etag_of(data: bytes) -> str:
    """The quoted, strong ETag of ``data``, as the manifest records it."""
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def _http_time(moment: dt.datetime) -> dt.datetime:
    """UTC, whole seconds: what an HTTP date can say."""
    if moment.tzinfo is None:
        raise PublishError("last_modified must be timezone-aware")
    return moment.astimezone(dt.UTC).replace(microsecond=0)


# --- building a generation --------------------------------------------------------


class GenerationSink(Protocol):
    """Where a generation being built puts its bytes, as they come (see
    ``GenerationBuilder``). Each method raises OSError or PublishError."""

    def put_file(self, path: str, content: bytes, gzipped: bytes, etag: str) -> None:
        """A document the manifest lists, at ``path`` of the new generation."""
        ...

    def carry_file(self, path: str, etag: str) -> None:
        """A manifest document carried over as it is from the live generation."""
        ...

    def put_object(self, name: str, content: bytes, gzipped: bytes) -> None:
        """An archive page's bytes, stored once by name (a no-op when present)."""
        ...

    def put_index(self, name: str, data: bytes) -> None:
        """An archive index object, stored once by name (a no-op when present)."""
        ...


@dataclass(frozen=True)
class PreparedGeneration:
    """A generation ready to go live: its name, manifest and site. The same inputs
    always give the same generation."""

    generation: str
    manifest: bytes
    site: bytes


class GenerationBuilder:
    """Builds one generation document by document, handing each to ``sink`` at once
    (nothing is held but each file's metadata), on top of ``previous`` (the live
    generation's files; empty for none).

    With ``keep_archives`` every feed's archive index is carried over and only
    the pages added change it; without, only the pages added (or carried
    explicitly) are published. ``changed`` lists, in order, the paths added
    whose bytes differ from ``previous``'s.

    Last-Modified: a file's date is its document's ``last_modified``, except
    that it never moves backwards while the bytes change: a feed that lost an
    entry has new bytes but maybe an older newest entry, and a client asking
    only If-Modified-Since must not be told it is unchanged. Such a file gets
    ``now`` (the refresh time), or one second past its previous date when no
    ``now`` is given. Unchanged bytes keep their previous date.
    """

    def __init__(self, sink: GenerationSink, previous: PublishedFiles, *,
                 now: dt.datetime | None = None, render_key: str | None = None,
                 keep_archives: bool = False) -> None:
        self._sink = sink
        self._previous = previous
        self._now = now
        self._render_key = render_key
        self._keep_archives = keep_archives
        self._plain: dict[str, PublishedFile] = {}
        # feed key → segment number → path → entry: pages added or carried.
        self._pages: dict[str, dict[str, dict[str, PublishedFile]]] = {}
        self._added: set[str] = set()
        self.changed: list[str] = []

    def __contains__(self, path: object) -> bool:
        """Whether ``path`` was added (not carried)."""
        return path in self._added

    def add(self, path: str, document: Document) -> None:
        """Publish ``document`` at ``path``: its bytes (and gzip) go to the sink now.
        Raises PublishError for a path that cannot be published."""
        _check_path(path)
        content = document.content
        packed = gzip.compress(content, compresslevel=GZIP_LEVEL, mtime=0)
        etag = etag_of(content)
        page = archive_page_of(path)
        before = self._previous_entry(path)
        file = PublishedFile(
            path=path, content_type=document.content_type, etag=etag,
            gzip_etag=etag_of(packed),
            last_modified=_last_modified(_http_time(document.last_modified), before, etag,
                                         self._now),
            size=len(content), gzip_size=len(packed))
        if page is None:
            self._sink.put_file(path, content, packed, etag)
            self._plain[path] = file
        else:
            self._sink.put_object(etag.strip('"'), content, packed)
            self._pages.setdefault(page[0], {}).setdefault(_segment_of(page[1]), {})[path] = file
        self._added.add(path)
        if before is None or before.etag != etag:
            self.changed.append(path)

    def carry(self, paths: Sequence[str]) -> None:
        """Keep the files ``paths`` of ``previous`` as they are. Raises PublishError for
        a path ``previous`` lacks."""
        for path in paths:
            _check_path(path)
            before = self._previous_entry(path)
            if before is None:
                raise PublishError(f"cannot carry over {path!r}: not in the live publication")
            page = archive_page_of(path)
            if page is not None and not self._previous.is_plain(path):
                if not self._keep_archives:
                    self._pages.setdefault(page[0], {}).setdefault(
                        _segment_of(page[1]), {})[path] = before
                continue
            if page is not None:
                # An older generation listed its pages in the manifest: now stored once.
                self._sink.put_object(object_name_of(before), *self._previous_bytes(path))
                self._pages.setdefault(page[0], {}).setdefault(
                    _segment_of(page[1]), {})[path] = before
                continue
            self._sink.carry_file(path, before.etag)
            self._plain[path] = before

    def _previous_entry(self, path: str) -> PublishedFile | None:
        try:
            return self._previous.get(path)
        except OSError:
            # The live generation's index is unreadable: as if it had no such file.
            return None

    def _previous_bytes(self, path: str) -> tuple[bytes, bytes]:
        reader = getattr(self._sink, "read_previous", None)
        if reader is None:
            raise PublishError(f"cannot carry over {path!r}: its bytes cannot be read")
        content, packed = reader(path)
        return content, packed

    def finish(self, site: SiteSnapshot) -> PreparedGeneration:
        """Write the archive indexes that changed and name the generation."""
        archives = dict(self._previous.archives) if self._keep_archives else {}
        if self._keep_archives and self._previous.plain:
            # Pages of an older generation's manifest that nothing replaced.
            self._adopt_plain_pages()
        for feed, segments in sorted(self._pages.items()):
            archives[feed] = self._write_index(feed, archives.get(feed), segments)
        manifest = {path: file.to_json() for path, file in sorted(self._plain.items())}
        manifest_bytes = json.dumps(
            {"files": manifest, "archives": archives, "render_key": self._render_key},
            sort_keys=True, indent=1).encode()
        site_bytes = site.to_json()
        generation = hashlib.sha256(manifest_bytes + b"\0" + site_bytes).hexdigest()[:24]
        return PreparedGeneration(generation, manifest_bytes, site_bytes)

    def _adopt_plain_pages(self) -> None:
        for path in self._previous.plain:
            if archive_page_of(path) is not None and path not in self._added:
                self.carry([path])

    def _write_index(self, feed: str, root: str | None,
                     added: Mapping[str, Mapping[str, PublishedFile]]) -> str:
        objects = self._previous.objects
        segments: dict[str, list[Any]] = {}
        if root is not None and objects is not None:
            segments = {number: list(entry)
                        for number, entry in _root_segments(objects, root).items()}
        for number, files in sorted(added.items()):
            raw: dict[str, Mapping[str, Any]] = {}
            if number in segments and objects is not None:
                raw.update(_segment_files(objects, segments[number][0]))
            raw.update((path, file.to_json()) for path, file in files.items())
            data = json.dumps({"files": raw}, sort_keys=True, separators=(",", ":")).encode()
            name = object_name(data)
            self._sink.put_index(name, data)
            segments[number] = [name, len(raw)]
        data = json.dumps({"segments": segments}, sort_keys=True,
                          separators=(",", ":")).encode()
        name = object_name(data)
        self._sink.put_index(name, data)
        return name


def _check_path(path: str) -> None:
    if path.startswith("/") or ".." in path.split("/") or path in (MANIFEST, SITE):
        raise PublishError(f"refusing to publish to {path!r}")


def _last_modified(
    wanted: dt.datetime, previous: PublishedFile | None, etag: str, now: dt.datetime | None
) -> dt.datetime:
    if previous is None:
        return wanted
    if previous.etag == etag:
        return previous.last_modified
    if wanted > previous.last_modified:
        return wanted
    floor = previous.last_modified + dt.timedelta(seconds=1)
    return max(floor, _http_time(now)) if now is not None else floor


def unreferenced(gone: Sequence[PublishedFiles], kept: Sequence[PublishedFiles], *,
                 plain: bool) -> set[str]:
    """What pruning the generations ``gone`` frees, given the ``kept`` ones: the names of
    the index objects and archive page objects (unquoted ETags) only ``gone``
    generations reference, and with ``plain`` the ETags (quoted) of the manifest
    documents only they list. Its cost follows what differs between them (a feed
    whose index a kept generation shares is not read), not the history. An index
    that cannot be read frees nothing of its own."""
    freed: set[str] = set()
    kept_plain = {raw["etag"] for files in kept for raw in files.plain.values()}
    kept_roots = {root for files in kept for root in files.archives.values()}
    seen: set[str] = set()
    for files in gone:
        if plain:
            for path, raw in files.plain.items():
                etag = raw["etag"]
                if etag in kept_plain or _kept_page(kept, path, etag):
                    continue
                freed.add(etag)
        for feed, root in files.archives.items():
            if root in kept_roots or root in seen or files.objects is None:
                continue
            seen.add(root)
            try:
                freed |= _freed_by_root(files.objects, feed, root, kept)
            except (OSError, KeyError, TypeError):
                continue
    return freed


def _kept_page(kept: Sequence[PublishedFiles], path: str, etag: str) -> bool:
    """Whether a kept generation still publishes the archive page ``path`` as ``etag``."""
    if archive_page_of(path) is None:
        return False
    for files in kept:
        try:
            raw = files.plain.get(path) or files.archive_entry(path)
        except (OSError, KeyError, TypeError):
            return True  # unsure: keep it
        if raw is not None and raw["etag"] == etag:
            return True
    return False


def _freed_by_root(objects: ObjectReader, feed: str, root: str,
                   kept: Sequence[PublishedFiles]) -> set[str]:
    freed = {root}
    kept_segments: dict[str, set[str]] = {}
    for files in kept:
        other = files.archives.get(feed)
        if other is not None and files.objects is not None:
            for number, (name, _) in _root_segments(files.objects, other).items():
                kept_segments.setdefault(number, set()).add(name)
    kept_names = {name for names in kept_segments.values() for name in names}
    for number, (name, _) in _root_segments(objects, root).items():
        if name in kept_names:
            continue
        freed.add(name)
        still = {raw["etag"] for other in kept_segments.get(number, ())
                 for raw in _segment_files(objects, other).values()}
        freed |= {raw["etag"].strip('"') for raw in _segment_files(objects, name).values()
                  if raw["etag"] not in still}
    return freed


# --- the directory publication ----------------------------------------------------


class _DirectoryObjects:
    """Index objects of the directory publication whose ``objects`` area is ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def read_object(self, name: str) -> bytes:
        return _object_path(self.root, name, suffix=".json").read_bytes()


def _object_path(root: Path, name: str, *, gzipped: bool = False, suffix: str = "") -> Path:
    return root / name[:2] / (name + suffix + (".gz" if gzipped else ""))


class DirectoryDraft:
    """A generation being written into ``publish_dir``: manifest documents into a
    staging directory, archive pages and indexes into the shared ``objects`` area
    (each written once: they are named by their bytes), as they are added. Nothing
    is live until ``commit``; ``abandon`` removes the staging directory (so would
    the next publication, after a crash)."""

    def __init__(self, publish_dir: Path, previous: Publication | None, *,
                 now: dt.datetime | None = None, render_key: str | None = None,
                 keep_archives: bool = False) -> None:
        self._publish_dir = publish_dir
        self._generations = publish_dir / GENERATIONS
        self._objects = publish_dir / OBJECTS
        self._previous = previous
        self._live = None if previous is None else previous.generation
        try:
            self._generations.mkdir(parents=True, exist_ok=True)
            _sweep_leftovers(publish_dir, self._generations)
            self._staging: Path | None = Path(
                tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self._generations))
        except OSError as exc:
            raise PublishError(f"cannot publish to {publish_dir}: {exc}") from exc
        files = previous.files if previous is not None else None
        self.builder = GenerationBuilder(
            self, files if isinstance(files, PublishedFiles) else PublishedFiles({}),
            now=now, render_key=render_key, keep_archives=keep_archives)

    @classmethod
    def begin(cls, publish_dir: Path, *, now: dt.datetime | None = None,
              render_key: str | None = None, keep_archives: bool = False) -> DirectoryDraft:
        """A draft on top of the live generation of ``publish_dir`` (none when it cannot
        be read)."""
        try:
            previous = open_publication(publish_dir)
        except PublishError:
            previous = None
        return cls(publish_dir, previous, now=now, render_key=render_key,
                   keep_archives=keep_archives)

    # GenerationSink

    def put_file(self, path: str, content: bytes, gzipped: bytes, etag: str) -> None:
        staging = self._staging_dir()
        _write(staging / path, content)
        _write(staging / (path + ".gz"), gzipped)

    def carry_file(self, path: str, etag: str) -> None:
        staging = self._staging_dir()
        live = self._generations / str(self._live)
        for name in (path, path + ".gz"):
            _link(live / name, staging / name)

    def put_object(self, name: str, content: bytes, gzipped: bytes) -> None:
        self._put(name, "", content)
        self._put(name, ".gz", gzipped)

    def put_index(self, name: str, data: bytes) -> None:
        self._put(name, ".json", data)

    def read_previous(self, path: str) -> tuple[bytes, bytes]:
        if self._previous is None:
            raise PublishError(f"cannot carry over {path!r}: nothing is live")
        return self._previous.read(path), self._previous.read(path, gzipped=True)

    def _put(self, name: str, suffix: str, data: bytes) -> None:
        target = _object_path(self._objects, name, suffix=suffix)
        # Named by its content: one of the right size is the right one (a power cut
        # before the generation's sync can leave one short, which is written again).
        if target.exists() and target.stat().st_size == len(data):
            return
        # Written whole beside the generation, then renamed in: an object that
        # exists is complete.
        temporary = self._staging_dir() / f".object-{name}{suffix}"
        _write(temporary, data)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temporary, target)

    def _staging_dir(self) -> Path:
        if self._staging is None:
            raise PublishError("this generation was committed or abandoned already")
        return self._staging

    def add(self, path: str, document: Document) -> None:
        """See ``GenerationBuilder.add``. Raises PublishError."""
        try:
            self.builder.add(path, document)
        except OSError as exc:
            self.abandon()
            raise PublishError(f"cannot publish to {self._publish_dir}: {exc}") from exc

    def carry(self, paths: Sequence[str]) -> None:
        """See ``GenerationBuilder.carry``. Raises PublishError."""
        try:
            self.builder.carry(paths)
        except OSError as exc:
            self.abandon()
            raise PublishError(f"cannot publish to {self._publish_dir}: {exc}") from exc

    def __contains__(self, path: object) -> bool:
        return path in self.builder

    @property
    def changed(self) -> Sequence[str]:
        return self.builder.changed

    def abandon(self) -> None:
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None

    def commit(self, site: SiteSnapshot) -> bool:
        """Make the generation live. Returns False when the same generation was live
        already (nothing changes then). Raises PublishError."""
        staging = self._staging_dir()
        try:
            prepared = self.builder.finish(site)
            generation = prepared.generation
            if self._live == generation:
                self.abandon()
                return False
            final = self._generations / generation
            if not final.is_dir():
                _write(staging / MANIFEST, prepared.manifest)
                _write(staging / SITE, prepared.site)
                _make_durable()
                os.rename(staging, final)
                self._staging = None
            else:
                self.abandon()
                # Live again: the newest by the time pruning sorts generations.
                os.utime(final)
            link_tmp = self._publish_dir / f".{CURRENT}.{os.getpid()}.tmp"
            if link_tmp.is_symlink() or link_tmp.exists():
                link_tmp.unlink()
            os.symlink(Path(GENERATIONS) / generation, link_tmp)
            os.replace(link_tmp, self._publish_dir / CURRENT)
            _fsync_dir(self._publish_dir)
        except OSError as exc:
            # A full disk must not stay full of our half-written copies.
            self.abandon()
            raise PublishError(f"cannot publish to {self._publish_dir}: {exc}") from exc
        except BaseException:
            self.abandon()
            raise
        _prune(self._publish_dir, keep=generation)
        return True


def publish(
    publish_dir: Path,
    documents: Mapping[str, Document],
    site: SiteSnapshot,
    *,
    now: dt.datetime | None = None,
    carried: Sequence[str] = (),
    render_key: str | None = None,
) -> bool:
    """Publish ``documents`` (path → Document), the files ``carried`` over from the live
    generation as they are, and ``site`` as the live generation of ``publish_dir``.

    Returns True when a new generation went live, False when the same content
    was already live. Raises PublishError. ``render_key`` (what the documents
    were rendered under) is kept in the manifest, for the next refresh to tell
    whether carrying files over is right. Last-Modified dates: see
    ``GenerationBuilder``. A refresh writes document by document instead (see
    ``DirectoryDraft``).
    """
    for path in (*documents, *carried):
        _check_path(path)
    draft = DirectoryDraft.begin(publish_dir, now=now, render_key=render_key)
    try:
        for path, doc in sorted(documents.items()):
            draft.add(path, doc)
        draft.carry(carried)
        return draft.commit(site)
    finally:
        draft.abandon()


def _sweep_leftovers(publish_dir: Path, generations: Path) -> None:
    """Remove what publications that died left behind: staging directories and
    temporary links. Only one publication runs at a time (the refresh lock)."""
    for entry in generations.iterdir():
        if entry.name.startswith(STAGING_PREFIX):
            shutil.rmtree(entry, ignore_errors=True)
    for entry in publish_dir.glob(f".{CURRENT}.*.tmp"):
        entry.unlink(missing_ok=True)


def _write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``; durable only after ``_make_durable`` (one sync for a
    whole generation, not one per file: a first refresh writes tens of thousands)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)


def _make_durable() -> None:
    """Every file written so far is on disk: called once before a generation goes live,
    so that no live generation names bytes a power cut could lose."""
    os.sync()


def _link(source: Path, target: Path) -> None:
    """``target`` as a hard link to ``source`` (the same immutable bytes), or a copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _prune(publish_dir: Path, *, keep: str) -> None:
    """Remove old generations, keeping the newest few (abandoned staging dirs went
    before publishing, see ``_sweep_leftovers``), and the objects (archive pages
    and indexes) only removed generations referenced (see ``unreferenced``).

    A web worker may still be reading a generation that just stopped being
    current, so the most recent ones are kept rather than deleted at once.
    """
    generations = publish_dir / GENERATIONS
    entries = sorted(
        (p for p in generations.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    others = [entry for entry in entries if entry.name != keep]
    kept = [entry for entry in entries if entry.name == keep] + others[:KEEP_GENERATIONS - 1]
    gone = others[KEEP_GENERATIONS - 1:]
    if not gone:
        return
    objects = publish_dir / OBJECTS
    freed: set[str] = set()
    try:
        freed = unreferenced([_files_of(entry, objects) for entry in gone],
                             [_files_of(entry, objects) for entry in kept], plain=False)
    except PublishError:
        freed = set()  # an unreadable manifest: its objects stay
    for entry in gone:
        shutil.rmtree(entry, ignore_errors=True)
    for name in freed:
        for suffix in ("", ".gz", ".json"):
            _object_path(objects, name, suffix=suffix).unlink(missing_ok=True)


def _files_of(directory: Path, objects: Path) -> PublishedFiles:
    return _files(_load_manifest(directory), _DirectoryObjects(objects))


def current_generation(publish_dir: Path) -> str | None:
    """The name of the live generation, or None when nothing is published. Cheap."""
    try:
        return Path(os.readlink(publish_dir / CURRENT)).name
    except OSError:
        return None


def open_publication(publish_dir: Path) -> Publication | None:
    """Open the live generation for reading, or None when nothing is published yet."""
    generation = current_generation(publish_dir)
    if generation is None:
        return None
    directory = publish_dir / GENERATIONS / generation
    manifest = _load_manifest(directory)
    try:
        site = SiteSnapshot.from_json((directory / SITE).read_bytes())
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PublishError(f"publication {directory} is unreadable: {exc}") from exc
    objects = publish_dir / OBJECTS
    return Publication(directory=directory, generation=generation,
                       files=_files(manifest, _DirectoryObjects(objects)),
                       site=site, render_key=manifest.get("render_key"), objects=objects)


def _load_manifest(directory: Path) -> dict[str, Any]:
    try:
        data = (directory / MANIFEST).read_bytes()
    except OSError as exc:
        raise PublishError(f"publication {directory} is unreadable: {exc}") from exc
    return load_manifest(data, str(directory))


def load_manifest(data: bytes, where: str) -> dict[str, Any]:
    """The manifest in ``data`` (of the publication ``where``), checked for its file list.
    Raises PublishError."""
    try:
        manifest = json.loads(data)
    except ValueError as exc:
        raise PublishError(f"publication {where} is unreadable: {exc}") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise PublishError(f"publication {where} is unreadable: no file list")
    if not isinstance(manifest.get("archives", {}), dict):
        raise PublishError(f"publication {where} is unreadable: bad archive list")
    return manifest


def manifest_files(manifest: Mapping[str, Any], objects: ObjectReader | None = None
                   ) -> PublishedFiles:
    """The files a checked manifest (see ``load_manifest``) describes, archive pages read
    through ``objects``."""
    return _files(manifest, objects)


def _files(manifest: Mapping[str, Any], objects: ObjectReader | None) -> PublishedFiles:
    return PublishedFiles(manifest["files"], manifest.get("archives") or {}, objects)
