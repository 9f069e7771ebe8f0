"""Reading local files with a bound: the one way feedsvc reads a listing file.

``FileFetcher`` is the ``Fetcher`` of local paths, used by a refresh and by
``feedsvc parse`` alike; ``read_at_most`` is its bounded read.
"""

from __future__ import annotations

import os
import select
import stat
from pathlib import Path

from feedsvc.errors import FetchError
from feedsvc.models import Fetched, Validators

__all__ = ["FileFetcher", "read_at_most"]

_READ_CHUNK = 1 << 20


def read_at_most(path: Path, max_bytes: int, *, timeout: float | None = None) -> bytes | None:
    """The bytes of the file at ``path``, or None when it holds more than ``max_bytes``.

    Never trusts the file's size as ``stat`` gives it: at most ``max_bytes`` + 1
    bytes are read, whatever ``path`` is (a device such as /dev/zero, a FIFO, a
    file growing while it is read), and memory grows with what was read, not
    with the limit. A FIFO without a writer reads as empty instead of waiting
    for one; with ``timeout``, a FIFO or device that gives no data for that
    many seconds raises TimeoutError. Raises OSError (IsADirectoryError for a
    directory).
    """
    # Non-blocking, so that opening a FIFO does not wait for a writer and a
    # FIFO or device with nothing to read yet is waited for with a timeout.
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        poller = select.poll()
        poller.register(descriptor, select.POLLIN)
        wait_ms = None if timeout is None else timeout * 1000
        data = bytearray()
        while len(data) <= max_bytes:
            try:
                chunk = os.read(descriptor, min(_READ_CHUNK, max_bytes + 1 - len(data)))
            except BlockingIOError:
                # Only a FIFO or device with a writer but no data yet: wait for some.
                if not poller.poll(wait_ms):
                    raise TimeoutError(f"no data for {timeout:g} s") from None
                continue
            if not chunk:
                return bytes(data)
            data += chunk
        return None
    finally:
        os.close(descriptor)


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
