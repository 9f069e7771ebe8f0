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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from feedsvc.errors import PublishError
from feedsvc.feeds import SiteSnapshot

CURRENT = "current"
GENERATIONS = "generations"
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


@dataclass(frozen=True)
class Publication:
    """A live generation, opened for reading: from a directory (``directory``) or from
    the database (``documents``)."""

    directory: Path | None
    generation: str
    files: Mapping[str, PublishedFile]
    site: SiteSnapshot
    render_key: str | None = None
    """What the feeds were rendered under (see ``publish``); None for older publications."""
    documents: DocumentReader | None = None

    def file_path(self, path: str, *, gzipped: bool = False) -> Path:
        if self.directory is None:
            raise PublishError(f"publication {self.generation} is not a directory")
        return self.directory / (path + ".gz" if gzipped else path)

    def read(self, path: str, *, gzipped: bool = False) -> bytes:
        """The bytes of the published file ``path``. Raises OSError when they cannot
        be read (the generation was pruned under us, say)."""
        if self.documents is not None:
            return self.documents.read(self.files[path].etag, gzipped=gzipped)
        return self.file_path(path, gzipped=gzipped).read_bytes()


def etag_of(data: bytes) -> str:
    """The quoted, strong ETag of ``data``, as the manifest records it."""
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def _http_time(moment: dt.datetime) -> dt.datetime:
    """UTC, whole seconds: what an HTTP date can say."""
    if moment.tzinfo is None:
        raise PublishError("last_modified must be timezone-aware")
    return moment.astimezone(dt.UTC).replace(microsecond=0)


@dataclass(frozen=True)
class PreparedGeneration:
    """A generation ready to be written anywhere: its name, manifest, site and the
    gzip of each new document. The same inputs always give the same generation."""

    generation: str
    manifest: bytes
    site: bytes
    files: Mapping[str, PublishedFile]
    gzipped: Mapping[str, bytes]


def prepare_generation(
    documents: Mapping[str, Document],
    site: SiteSnapshot,
    previous: Mapping[str, PublishedFile],
    *,
    now: dt.datetime | None = None,
    carried: Sequence[str] = (),
    render_key: str | None = None,
) -> PreparedGeneration:
    """The generation that publishes ``documents``, the files ``carried`` over from
    ``previous`` (the live generation's files) and ``site``. Pure. Raises PublishError
    for a path that cannot be published or a carried file ``previous`` lacks.

    A file's Last-Modified is its document's ``last_modified``, except that
    it never moves backwards while the bytes change: a feed that lost an
    entry has new bytes but maybe an older newest entry, and a client asking
    only If-Modified-Since must not be told it is unchanged. Such a file gets
    ``now`` (the refresh time), or one second past its previous date when no
    ``now`` is given. Unchanged bytes keep their previous date.
    """
    for path in (*documents, *carried):
        if path.startswith("/") or ".." in path.split("/") or path in (MANIFEST, SITE):
            raise PublishError(f"refusing to publish to {path!r}")
    missing = [path for path in carried if path not in previous]
    if missing:
        raise PublishError(f"cannot carry over {missing[0]!r}: not in the live publication")
    files: dict[str, PublishedFile] = {path: previous[path] for path in carried}
    gzipped: dict[str, bytes] = {}
    for path, doc in sorted(documents.items()):
        packed = gzip.compress(doc.content, compresslevel=GZIP_LEVEL, mtime=0)
        gzipped[path] = packed
        etag = etag_of(doc.content)
        files[path] = PublishedFile(
            path=path,
            content_type=doc.content_type,
            etag=etag,
            gzip_etag=etag_of(packed),
            last_modified=_last_modified(
                _http_time(doc.last_modified), previous.get(path), etag, now
            ),
            size=len(doc.content),
            gzip_size=len(packed),
        )
    manifest = {path: file.to_json() for path, file in files.items()}
    manifest_bytes = json.dumps({"files": manifest, "render_key": render_key},
                                sort_keys=True, indent=1).encode()
    site_bytes = site.to_json()
    generation = hashlib.sha256(manifest_bytes + b"\0" + site_bytes).hexdigest()[:24]
    return PreparedGeneration(generation, manifest_bytes, site_bytes, files, gzipped)


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
    was already live (nothing is written then). Raises PublishError.
    ``render_key`` (what the documents were rendered under) is kept in the
    manifest, for the next refresh to tell whether carrying files over is right.
    Last-Modified dates: see ``prepare_generation``.
    """
    live = current_generation(publish_dir)
    prepared = prepare_generation(documents, site, _previous_files(publish_dir), now=now,
                                  carried=carried, render_key=render_key)
    generation = prepared.generation
    if live == generation:
        return False
    generations = publish_dir / GENERATIONS
    staging: Path | None = None
    try:
        generations.mkdir(parents=True, exist_ok=True)
        _sweep_leftovers(publish_dir, generations)
        final = generations / generation
        if not final.is_dir():
            staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=generations))
            for path, doc in documents.items():
                _write(staging / path, doc.content)
                _write(staging / (path + ".gz"), prepared.gzipped[path])
            for path in carried:
                for name in (path, path + ".gz"):
                    _link(generations / str(live) / name, staging / name)
            _write(staging / MANIFEST, prepared.manifest)
            _write(staging / SITE, prepared.site)
            os.rename(staging, final)
            staging = None
        else:
            # Live again: the newest by the time pruning sorts generations.
            os.utime(final)
        link_tmp = publish_dir / f".{CURRENT}.{os.getpid()}.tmp"
        if link_tmp.is_symlink() or link_tmp.exists():
            link_tmp.unlink()
        os.symlink(Path(GENERATIONS) / generation, link_tmp)
        os.replace(link_tmp, publish_dir / CURRENT)
        _fsync_dir(publish_dir)
    except OSError as exc:
        # A full disk must not stay full of our half-written copies.
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        raise PublishError(f"cannot publish to {publish_dir}: {exc}") from exc
    _prune(generations, keep=generation)
    return True


def _sweep_leftovers(publish_dir: Path, generations: Path) -> None:
    """Remove what publications that died left behind: staging directories and
    temporary links. Only one publication runs at a time (the refresh lock)."""
    for entry in generations.iterdir():
        if entry.name.startswith(STAGING_PREFIX):
            shutil.rmtree(entry, ignore_errors=True)
    for entry in publish_dir.glob(f".{CURRENT}.*.tmp"):
        entry.unlink(missing_ok=True)


def _previous_files(publish_dir: Path) -> Mapping[str, PublishedFile]:
    """The live generation's manifest, or nothing when there is none (or it is unreadable)."""
    generation = current_generation(publish_dir)
    if generation is None:
        return {}
    try:
        return _read_manifest(publish_dir / GENERATIONS / generation)
    except PublishError:
        return {}


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


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


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


def _prune(generations: Path, *, keep: str) -> None:
    """Remove old generations, keeping the newest few (abandoned staging dirs went
    before publishing, see ``_sweep_leftovers``).

    A web worker may still be reading a generation that just stopped being
    current, so the most recent ones are kept rather than deleted at once.
    """
    entries = sorted(
        (p for p in generations.iterdir() if p.is_dir()),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    kept = 0
    for entry in entries:
        if entry.name == keep:
            continue
        kept += 1
        if kept >= KEEP_GENERATIONS:
            shutil.rmtree(entry, ignore_errors=True)


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
    return Publication(directory=directory, generation=generation, files=_files(manifest),
                       site=site, render_key=manifest.get("render_key"))


def _read_manifest(directory: Path) -> Mapping[str, PublishedFile]:
    """The files a generation's ``manifest.json`` describes. Raises PublishError."""
    return _files(_load_manifest(directory))


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
    return manifest


def manifest_files(manifest: Mapping[str, Any]) -> Mapping[str, PublishedFile]:
    """The files a checked manifest (see ``load_manifest``) describes."""
    return _files(manifest)


def _files(manifest: Mapping[str, Any]) -> Mapping[str, PublishedFile]:
    return _ManifestFiles(manifest["files"])


class _ManifestFiles(Mapping[str, PublishedFile]):
    """A manifest's files, each made a ``PublishedFile`` when looked up: a web worker
    opening a publication of many archive pages serves a few of them, and a refresh
    carries most over untouched."""

    def __init__(self, raw: Mapping[str, Mapping[str, Any]]) -> None:
        self._raw = raw

    def __getitem__(self, path: str) -> PublishedFile:
        return PublishedFile.from_json(self._raw[path])

    def __contains__(self, path: object) -> bool:
        return path in self._raw

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)
