"""WebSub publishing (W3C Recommendation, 2018): telling hubs which feeds changed.

Every feed names the hubs of ``websub.hubs`` (``rel="hub"``) beside its own
address (``rel="self"``). When a publication goes live, the refresh puts the
address of exactly each feed file whose bytes changed in the store's outbox,
for every hub (``Store.queue_pings``), and wakes this process's ``Notifier``;
then it returns. The notifier's thread POSTs ``hub.mode=publish`` and
``hub.url=<feed>`` (form-encoded, one feed per request, as every hub reads
it) and retries a failure (no answer, or a status other than 2xx)
``websub.retries`` times, waiting 1 s, 2 s, 4 s... between attempts.

Hubs are told in parallel. A hub that still fails is sent nothing more this
round: what it has not taken stays in the outbox and goes out at the next
publication (a dead hub costs one feed's retries per publication, and it is
caught up once it answers). A feed that changes again while waiting waits
once, for its newest change. Each attempt's outcome is counted in the store
per hub, which ``/status`` (admin view) and ``/metrics`` show. Since the
outbox is in the store, a process killed before telling the hubs loses
nothing: the next one to publish sends it.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Protocol

from feedsvc.errors import FeedsvcError
from feedsvc.settings import Settings
from feedsvc.store.hubs import PendingPing

logger = logging.getLogger("feedsvc.websub")

BACKOFF_SECONDS = 1.0
"""The wait before the first retry; each further one doubles it."""


class Poster(Protocol):
    """Sends one form; ``feedsvc.fetch.http.FormPoster`` by default."""

    def post(self, url: str, fields: Sequence[tuple[str, str]]) -> int: ...

    def close(self) -> None: ...


class Outbox(Protocol):
    """The store's outbox and hub records (``feedsvc.store.Store`` has them)."""

    def pending_pings(self, hubs: Sequence[str]) -> list[PendingPing]: ...

    def finish_ping(self, ping: PendingPing, now: dt.datetime, error: str | None) -> None: ...

    def close(self) -> None: ...


def publish_fields(url: str) -> list[tuple[str, str]]:
    """The form of a publish notification for the feed at ``url``."""
    return [("hub.mode", "publish"), ("hub.url", url)]


class Notifier:
    """Empties the outbox for ``settings.websub.hubs`` on a thread of its own.

    ``wake()`` returns at once; the thread then sends what the outbox holds,
    again if woken meanwhile, and ends when there is nothing more to do.
    ``poster`` sends the forms (default: a ``FormPoster`` per round),
    ``outbox`` opens the store (default: the one at
    ``settings.storage.database``, per round), ``sleep`` waits between
    retries and ``backoff`` is the first wait in seconds.
    """

    def __init__(
        self, settings: Settings, *, poster: Poster | None = None,
        outbox: Callable[[], Outbox] | None = None,
        sleep: Callable[[float], None] = time.sleep, backoff: float = BACKOFF_SECONDS,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._settings = settings
        self._poster = poster
        self._outbox = outbox or partial(_open_store, settings.storage.database)
        self._sleep = sleep
        self._backoff = backoff
        self._clock = clock
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._woken = False
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """Have the outbox sent, in the background; returns at once."""
        if not self._settings.websub.hubs:
            return
        with self._lock:
            self._woken = True
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="websub", daemon=True)
                self._thread.start()

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until the thread has nothing left to do (at most ``timeout`` seconds);
        whether it has. What hubs refused stays in the outbox all the same."""
        with self._idle:
            return self._idle.wait_for(lambda: self._thread is None, timeout)

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._woken:
                    self._thread = None
                    self._idle.notify_all()
                    return
                self._woken = False
            try:
                self._send_outbox()
            except Exception:
                logger.exception("websub round failed")

    def _send_outbox(self) -> None:
        hubs = self._settings.websub.hubs
        try:
            outbox = self._outbox()
        except FeedsvcError as exc:
            logger.warning("websub: cannot read the outbox: %s", exc)
            return
        try:
            by_hub: dict[str, list[PendingPing]] = {}
            for ping in outbox.pending_pings(hubs):
                by_hub.setdefault(ping.hub, []).append(ping)
            if not by_hub:
                return
            poster = self._poster if self._poster is not None else _default_poster(
                self._settings)
            try:
                with ThreadPoolExecutor(max_workers=len(by_hub),
                                        thread_name_prefix="websub-hub") as pool:
                    list(pool.map(partial(self._send_to_hub, poster, outbox), by_hub.values()))
            finally:
                if self._poster is None:
                    poster.close()
        finally:
            outbox.close()

    def _send_to_hub(self, poster: Poster, outbox: Outbox, pings: Sequence[PendingPing]) -> None:
        """Send one hub its pings in turn, until one fails after its retries."""
        for ping in pings:
            error = self._send(poster, ping)
            try:
                outbox.finish_ping(ping, self._clock(), error)
            except FeedsvcError as exc:
                logger.warning("websub: outcome not recorded: %s", exc)
            if error is not None:
                return

    def _send(self, poster: Poster, ping: PendingPing) -> str | None:
        """Deliver one ping with retries: None when the hub took it, else the last error."""
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


def _open_store(database: str) -> Outbox:
    from feedsvc.store import Store

    return Store.open(database)


def _default_poster(settings: Settings) -> Poster:
    from feedsvc.fetch.http import FormPoster

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
