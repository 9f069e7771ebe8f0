"""The fetcher contract, and reading many sources side by side within a time bound.

The pipeline asks a ``Fetcher`` for a location's bytes, passing the validators
it stored last time; a fetcher answers with the bytes, or ``not_modified``.
Fetchers raise ``FetchError`` (naming the source) for anything that went
wrong. ``read_within`` runs the sources' reads side by side and stops
waiting for one that takes too long.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, Protocol, TypeVar

from feedsvc.errors import FetchError
from feedsvc.models import Fetched, Validators

T = TypeVar("T")


class Fetcher(Protocol):
    """Turns a source location into bytes. Implementations must be thread-safe."""

    def fetch(self, source: str, location: str, validators: Validators | None) -> Fetched:
        """Fetch ``location`` for the source named ``source``; raise FetchError on failure."""
        ...


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
