"""Getting a source's bytes: the fetcher contract and the local-file fetcher.

The pipeline asks a ``Fetcher`` for a location's bytes, passing the validators
it stored last time; a fetcher answers with the bytes, or ``not_modified``.
Fetchers raise ``FetchError`` (naming the source) for anything that went
wrong. The HTTP fetcher lives in ``feedsvc.http``: all outbound network I/O
is there. ``read_within`` runs the sources' reads side by side and stops
waiting for one that takes too long.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from feedsvc.errors import FetchError
from feedsvc.files import read_at_most
from feedsvc.settings import is_http_url

if TYPE_CHECKING:
    from feedsvc.http import HttpFetcher
    from feedsvc.settings import Settings

T = TypeVar("T")


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
    when ``not_modified`` is True. ``content_type`` is the declared media type
    (``text/html``), without parameters; None for files.
    """

    url: str
    body: bytes | None
    validators: Validators
    charset: str | None = None
    not_modified: bool = False
    content_type: str | None = None


class Fetcher(Protocol):
    """Turns a source location into bytes. Implementations must be thread-safe."""

    def fetch(self, source: str, location: str, validators: Validators | None) -> Fetched:
        """Fetch ``location`` for the source named ``source``; raise FetchError on failure."""
        ...


class FileFetcher:
    """Reads local listing files of at most ``max_bytes`` (``fetch.max_bytes``),
    waiting at most ``read_timeout`` seconds (``fetch.read_timeout``) for data
    from a FIFO or device (see ``read_at_most``).

    A regular file's validator is its size, modification time and inode (as an
    ETag): given it back, an unchanged file is "not modified" without being
    read, as a server would answer, so a large listing that did not change
    costs one ``stat``. FIFOs and devices have none."""

    def __init__(self, *, max_bytes: int, read_timeout: float | None = None) -> None:
        self._max_bytes = max_bytes
        self._read_timeout = read_timeout

    def fetch(self, source: str, location: str, validators: Validators | None) -> Fetched:
        path = Path(location)
        try:
            etag = _file_etag(path)
            if etag is not None and validators is not None and validators.etag == etag:
                return Fetched(url=str(path), body=None, validators=validators,
                               not_modified=True)
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
        # Taken before reading: a file that changes while read differs next time.
        return Fetched(url=str(path), body=body, validators=Validators(etag=etag))


def _file_etag(path: Path) -> str | None:
    """An ETag of a regular file from what ``stat`` says (None for anything else)."""
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        return None
    return f'"file-{info.st_size}-{info.st_mtime_ns}-{info.st_ino}"'


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


def read_within(
    reads: Sequence[tuple[str, Callable[[], T]]],
    *,
    concurrency: int,
    seconds: float,
    clock: Callable[[], float] = time.monotonic,
) -> list[T | FetchError]:
    """Run each source's read, at most ``concurrency`` at once, started in order;
    return each one's result, in order.

    ``reads`` pairs a source name with the call that reads it. A read still
    running ``seconds`` after it started is given up on: its result is
    ``FetchError("timed out after N s")``, its place goes to the next read,
    and its thread (a daemon, so it cannot hold the process) is left to end
    on its own. Whatever a read raises, BaseExceptions included, is raised
    here; so is an interruption of the wait, and then no further read starts.
    """
    runs = _BoundedReads(reads, concurrency=concurrency, seconds=seconds, clock=clock)
    return runs.wait()


class _BoundedReads(Generic[T]):
    """The state ``read_within`` shares with its threads, under one condition."""

    def __init__(
        self,
        reads: Sequence[tuple[str, Callable[[], T]]],
        *,
        concurrency: int,
        seconds: float,
        clock: Callable[[], float],
    ) -> None:
        self._reads = reads
        self._concurrency = concurrency
        self._seconds = seconds
        self._clock = clock
        self._changed = threading.Condition()
        self._started: dict[int, float] = {}
        self._outcomes: dict[int, T | FetchError] = {}
        self._raised: BaseException | None = None
        self._running = 0

    def wait(self) -> list[T | FetchError]:
        with self._changed:
            while True:
                if self._raised is not None:
                    raise self._raised
                self._give_up_on_overdue()
                if len(self._outcomes) == len(self._reads):
                    break
                self._start_what_may_start()
                self._changed.wait(self._time_to_next_overdue())
        return [self._outcomes[index] for index in range(len(self._reads))]

    def _start_what_may_start(self) -> None:
        while len(self._started) < len(self._reads) and self._running < self._concurrency:
            index = len(self._started)
            self._started[index] = self._clock()
            self._running += 1
            name = self._reads[index][0]
            threading.Thread(target=self._run, args=(index,), name=f"feedsvc-read-{name}",
                             daemon=True).start()

    def _unfinished(self) -> dict[int, float]:
        """When each read that is under way, and not given up on, started."""
        return {index: started for index, started in self._started.items()
                if index not in self._outcomes}

    def _give_up_on_overdue(self) -> None:
        now = self._clock()
        for index, started in self._unfinished().items():
            if now - started >= self._seconds:
                name = self._reads[index][0]
                self._outcomes[index] = FetchError(
                    f"timed out after {self._seconds:g} s", source=name)
                self._running -= 1

    def _time_to_next_overdue(self) -> float | None:
        """Seconds until the next read under way runs out of time; None when none is."""
        unfinished = self._unfinished()
        if not unfinished:
            return None
        return max(0.0, min(unfinished.values()) + self._seconds - self._clock())

    def _run(self, index: int) -> None:
        try:
            outcome = self._reads[index][1]()
        except BaseException as exc:
            with self._changed:
                if index not in self._outcomes and self._raised is None:
                    self._raised = exc
                self._changed.notify_all()
            return
        with self._changed:
            if index not in self._outcomes:
                self._outcomes[index] = outcome
                self._running -= 1
            self._changed.notify_all()
