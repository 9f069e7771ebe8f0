"""WebSub publishing (W3C Recommendation, 2018): telling hubs which feeds changed.

Every feed names the hubs of ``websub.hubs`` (``rel="hub"``) beside its own
address (``rel="self"``). After a publication goes live, the refresh hands the
addresses of exactly the feeds whose bytes changed to a ``Notifier``, and
returns: a background thread POSTs ``hub.mode=publish`` and ``hub.url=<feed>``
(form-encoded, one feed per request, as every hub reads it) to each hub, and
retries a failure (no answer, or a status other than 2xx) ``websub.retries``
times, waiting 1 s, 2 s, 4 s... between attempts. Hubs are told in parallel;
a hub that still fails is not sent the rest of that publication's feeds (a
dead hub costs one feed's retries per publication, not every feed's). Each
notification's outcome is counted in the store per hub, which ``/status``
(admin view) and ``/metrics`` show.

A process has one notifier (``default_notifier``), whose thread lives as long
as there is work. ``feedsvc refresh`` waits for it before exiting (``drain``);
pings still waiting when a process is killed are lost, and the feed's next
change pings again.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from feedsvc.errors import FeedsvcError
from feedsvc.settings import Settings

logger = logging.getLogger("feedsvc.websub")

BACKOFF_SECONDS = 1.0
"""The wait before the first retry; each further one doubles it."""


class Poster(Protocol):
    """Sends one form; ``feedsvc.http.FormPoster`` by default."""

    def post(self, url: str, fields: Sequence[tuple[str, str]]) -> int: ...

    def close(self) -> None: ...


class Recorder(Protocol):
    """Where outcomes go; ``feedsvc.store.Store`` has it."""

    def record_notification(self, hub: str, now: dt.datetime, error: str | None) -> None: ...


@dataclass(frozen=True)
class Ping:
    """Tell ``hub`` that the feed at ``url`` changed."""

    hub: str
    url: str


def publish_fields(url: str) -> list[tuple[str, str]]:
    """The form of a publish notification for the feed at ``url``."""
    return [("hub.mode", "publish"), ("hub.url", url)]


class Notifier:
    """Delivers ``Ping``s on a thread of its own, in the order submitted.

    ``poster`` sends the forms (default: a ``FormPoster`` made on first use),
    ``recorder`` keeps the outcomes (default: the store at
    ``settings.storage.database``, opened for each batch), ``sleep`` waits
    between retries and ``backoff`` is the first wait in seconds.
    """

    def __init__(
        self, settings: Settings, *, poster: Poster | None = None,
        recorder: Callable[[], Recorder] | None = None,
        sleep: Callable[[float], None] = time.sleep, backoff: float = BACKOFF_SECONDS,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._settings = settings
        self._poster = poster
        self._recorder = recorder
        self._sleep = sleep
        self._backoff = backoff
        self._clock = clock
        self._queue: queue.Queue[list[Ping]] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, feed_urls: Sequence[str]) -> int:
        """Queue a notification of each of ``feed_urls`` to every hub; return at once
        the number of pings queued."""
        pings = [Ping(hub, url) for hub in self._settings.websub.hubs for url in feed_urls]
        if not pings:
            return 0
        self._queue.put(pings)
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="websub", daemon=True)
                self._thread.start()
        logger.info("websub queued=%d feeds=%d hubs=%d", len(pings), len(feed_urls),
                    len(self._settings.websub.hubs))
        return len(pings)

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every ping submitted so far is delivered or given up on (at most
        ``timeout`` seconds); whether it was."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def _run(self) -> None:
        while True:
            try:
                batch = self._queue.get(timeout=1.0)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            try:
                self._deliver(batch)
            except Exception:
                logger.exception("websub batch failed")
            finally:
                self._queue.task_done()

    def _deliver(self, batch: Sequence[Ping]) -> None:
        """Deliver a publication's pings: each hub's on a thread of its own, so a slow
        hub holds up no other; a hub that fails one ping (after its retries) is not
        sent the rest of the batch, which are counted as failed with it."""
        poster = self._poster if self._poster is not None else _default_poster(self._settings)
        by_hub: dict[str, list[Ping]] = {}
        for ping in batch:
            by_hub.setdefault(ping.hub, []).append(ping)
        try:
            with ThreadPoolExecutor(max_workers=len(by_hub),
                                    thread_name_prefix="websub-hub") as pool:
                results = list(pool.map(partial(self._deliver_to_hub, poster), by_hub.values()))
        finally:
            if self._poster is None:
                poster.close()
        self._record([outcome for outcomes in results for outcome in outcomes])

    def _deliver_to_hub(self, poster: Poster, pings: Sequence[Ping]
                        ) -> list[tuple[Ping, str | None]]:
        outcomes: list[tuple[Ping, str | None]] = []
        failed: str | None = None
        for ping in pings:
            if failed is not None:
                outcomes.append((ping, f"not sent: {failed}"))
                continue
            error = self._send(poster, ping)
            outcomes.append((ping, error))
            failed = error
        return outcomes

    def _send(self, poster: Poster, ping: Ping) -> str | None:
        """Deliver one ping with retries: None when a hub took it, else the last error."""
        attempts = self._settings.websub.retries + 1
        error: str | None = None
        for attempt in range(attempts):
            if attempt:
                self._sleep(self._backoff * 2 ** (attempt - 1))
            try:
                status = poster.post(ping.hub, publish_fields(ping.url))
            except FeedsvcError as exc:
                error = str(exc).removeprefix("websub: ")
            else:
                if 200 <= status < 300:
                    logger.info("websub hub=%s url=%s status=%d", ping.hub, ping.url, status)
                    return None
                error = f"{ping.hub} answered {status}"
            logger.info("websub hub=%s url=%s attempt=%d error=%r", ping.hub, ping.url,
                        attempt + 1, error)
        logger.warning("websub hub=%s url=%s failed after %d attempts: %s",
                       ping.hub, ping.url, attempts, error)
        return f"{error} (notifying {ping.url}, {attempts} attempts)"

    def _record(self, outcomes: Sequence[tuple[Ping, str | None]]) -> None:
        now = self._clock()
        try:
            if self._recorder is not None:
                recorder = self._recorder()
                for ping, error in outcomes:
                    recorder.record_notification(ping.hub, now, error)
                return
            from feedsvc.store import Store

            with Store.open(self._settings.storage.database) as store:
                for ping, error in outcomes:
                    store.record_notification(ping.hub, now, error)
        except FeedsvcError as exc:
            logger.warning("websub outcomes not recorded: %s", exc)


def _default_poster(settings: Settings) -> Poster:
    from feedsvc.http import FormPoster

    return FormPoster(settings)


_DEFAULT: dict[tuple[str, ...], Notifier] = {}
_DEFAULT_LOCK = threading.Lock()


def default_notifier(settings: Settings) -> Notifier:
    """This process's notifier for ``settings``' hubs and store."""
    key = (settings.storage.database, *settings.websub.hubs)
    with _DEFAULT_LOCK:
        if key not in _DEFAULT:
            _DEFAULT[key] = Notifier(settings)
        return _DEFAULT[key]


def drain_all(timeout: float | None) -> bool:
    """Wait for every notifier of this process (at most ``timeout`` seconds in all;
    None: until done, which every attempt's timeouts bound)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    with _DEFAULT_LOCK:
        notifiers = list(_DEFAULT.values())
    return all(n.drain(None if deadline is None else max(0.0, deadline - time.monotonic()))
               for n in notifiers)
