"""Reading local files with a bound: the one way feedsvc reads a listing file.

Kept apart from ``feedsvc.sources`` (which also reaches the HTTP stack) so
that ``feedsvc.listing.read_listing_file`` can read files the same way.
"""

from __future__ import annotations

import os
import select
from pathlib import Path

__all__ = ["read_at_most"]

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
