"""Sending each source location to the fetcher that reads it."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from feedsvc.fetch.base import Fetcher
from feedsvc.fetch.file import FileFetcher
from feedsvc.models import Fetched, Validators
from feedsvc.settings import is_http_url

if TYPE_CHECKING:
    from feedsvc.fetch.http import HttpFetcher
    from feedsvc.settings import Settings


class RoutingFetcher:
    """Sends http(s) locations to ``remote`` and anything else to ``local``.

    ``remote`` defaults to ``feedsvc.fetch.http.HttpFetcher(settings)``, made on the
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
                from feedsvc.fetch.http import HttpFetcher

                self._made = HttpFetcher(self._settings)
                self._remote = self._made
            return self._remote

    def close(self) -> None:
        with self._guard:
            if self._made is not None:
                self._made.close()
                self._made = None
                self._remote = None
