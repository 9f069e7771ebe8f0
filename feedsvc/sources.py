"""Getting a source's bytes: the fetcher contract and the local-file fetcher.

The pipeline asks a ``Fetcher`` for a location's bytes, passing the validators
it stored last time; a fetcher answers with the bytes, or ``not_modified``.
Fetchers raise ``FetchError`` (naming the source) for anything that went
wrong. The HTTP fetcher lives in ``feedsvc.http``: all outbound network I/O
is there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from feedsvc.errors import FetchError


@dataclass(frozen=True)
class Validators:
    """What a conditional GET sends back: the last ETag and Last-Modified seen."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class Fetched:
    """One fetched document.

    ``url`` is the final address after redirects (or the file path);
    ``charset`` the one the server declared, if any; ``body`` is None exactly
    when ``not_modified`` is True.
    """

    url: str
    body: bytes | None
    validators: Validators
    charset: str | None = None
    not_modified: bool = False


class Fetcher(Protocol):
    """Turns a source location into bytes. Implementations must be thread-safe."""

    def fetch(self, source: str, location: str, validators: Validators | None) -> Fetched:
        """Fetch ``location`` for the source named ``source``; raise FetchError on failure."""
        ...


MAX_FILE_BYTES = 50_000_000


class FileFetcher:
    """Reads local listing files. Validators are the file's size and mtime."""

    def fetch(self, source: str, location: str, validators: Validators | None) -> Fetched:
        path = Path(location)
        try:
            stat = path.stat()
            if stat.st_size > MAX_FILE_BYTES:
                raise FetchError(
                    f"{path} is {stat.st_size} bytes, more than {MAX_FILE_BYTES}", source=source
                )
            body = path.read_bytes()
        except FileNotFoundError:
            raise FetchError(f"file not found: {path}", source=source) from None
        except IsADirectoryError:
            raise FetchError(f"not a file: {path}", source=source) from None
        except OSError as exc:
            raise FetchError(f"cannot read {path}: {exc.strerror or exc}", source=source) from None
        return Fetched(url=str(path), body=body, validators=Validators())
