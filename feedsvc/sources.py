"""Getting a source's bytes: the fetcher contract and the local-file fetcher.

The pipeline asks a ``Fetcher`` for a location's bytes, passing the validators
it stored last time; a fetcher answers with the bytes, or ``not_modified``.
Fetchers raise ``FetchError`` (naming the source) for anything that went
wrong. The HTTP fetcher lives in ``feedsvc.http``: all outbound network I/O
is there.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from feedsvc.errors import FetchError
from feedsvc.files import read_at_most
from feedsvc.settings import is_http_url

if TYPE_CHECKING:
    from feedsvc.http import HttpFetcher
    from feedsvc.settings import Settings


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


class FileFetcher:
    """Reads local listing files of at most ``max_bytes`` (``fetch.max_bytes``),
    waiting at most ``read_timeout`` seconds (``fetch.read_timeout``) for data
    from a FIFO or device (see ``read_at_most``). It gives no validators: every
    refresh reads the file."""

    def __init__(self, *, max_bytes: int, read_timeout: float | None = None) -> None:
        self._max_bytes = max_bytes
        self._read_timeout = read_timeout

    def fetch(self, source: str, location: str, validators: Validators | None) -> Fetched:
        path = Path(location)
        try:
            body = read_at_most(path, self._max_bytes, timeout=self._read_timeout)
        except FileNotFoundError:
            raise FetchError(f"file not found: {path}", source=source) from None
        except IsADirectoryError:
            raise FetchError(f"not a file: {path}", source=source) from None
        except OSError as exc:
            raise FetchError(f"cannot read {path}: {exc.strerror or exc}", source=source) from None
        if body is None:
            raise FetchError(
                f"{path} is more than fetch.max_bytes ({self._max_bytes}) bytes", source=source
            )
        return Fetched(url=str(path), body=body, validators=Validators())


class RoutingFetcher:
    """Sends http(s) locations to ``remote`` and anything else to ``local``.

    ``remote`` defaults to ``feedsvc.http.HttpFetcher(settings)``, made on the
    first remote fetch (so a site of local files never loads the HTTP stack);
    ``local`` defaults to a ``FileFetcher`` bound by ``fetch.max_bytes`` and
    ``fetch.read_timeout``. Thread-safe. ``close`` closes the HTTP fetcher this
    instance made, not one it was given.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        remote: Fetcher | None = None,
        local: Fetcher | None = None,
    ) -> None:
        self._settings = settings
        self._remote = remote
        self._local = local or FileFetcher(
            max_bytes=settings.fetch.max_bytes, read_timeout=settings.fetch.read_timeout
        )
        self._made: HttpFetcher | None = None
        self._guard = threading.Lock()

    def fetch(self, source: str, location: str, validators: Validators | None) -> Fetched:
        if is_http_url(location):
            return self._remote_fetcher().fetch(source, location, validators)
        return self._local.fetch(source, location, validators)

    def _remote_fetcher(self) -> Fetcher:
        with self._guard:
            if self._remote is None:
                from feedsvc.http import HttpFetcher

                self._made = HttpFetcher(self._settings)
                self._remote = self._made
            return self._remote

    def close(self) -> None:
        with self._guard:
            if self._made is not None:
                self._made.close()
                self._made = None
                self._remote = None
