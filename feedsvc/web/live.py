"""What every blueprint of one app shares: the live publication and how to serve from it.

``WebContext`` is the app's state (settings, the publication cache, the item
readers, the status provider, the admin guard), kept in
``app.extensions["feedsvc"]`` by ``create_app`` and read with ``web_context()``
while a request is handled. The opened publication is kept per generation and
re-opened when the ``current`` symlink points at a new one (one readlink per
request).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from flask import Flask, Response, current_app, request

from feedsvc.archive import ARCHIVE_MAX_AGE, is_archive_path
from feedsvc.errors import PublishError
from feedsvc.feeds import VIEW_CONTENT_TYPE, ItemRecord, SiteSnapshot
from feedsvc.logevents import Event, log_event
from feedsvc.publication import Publication, etag_of
from feedsvc.publishing import Publisher
from feedsvc.settings import Settings
from feedsvc.web.admin import AdminGuard
from feedsvc.web.http_cache import Representation, RequestConditions, decide
from feedsvc.web.responses import HTML, PAGE_POLICY, nothing_published, respond, unavailable

# One logger for the whole app, whichever module logs: operators filter on it.
log = logging.getLogger("feedsvc.web.app")

StatusProvider = Callable[[], dict[str, Any]]
ItemFinder = Callable[[SiteSnapshot, str], ItemRecord | None]
"""Finds an item by id for its page, labelled as the live site labels its categories."""
ItemPager = Callable[[SiteSnapshot, str | None, int, int], Sequence[ItemRecord]]
"""One page of a paged list: the items of a category slug (None: all items) from an
offset, at most a limit, newest first, labelled as the live site labels its categories."""

EXTENSION = "feedsvc"
PAGE_MAX_AGE = 60
MEMO_SIZE = 512
"""Rendered pages a worker keeps per generation: its memory stays flat however many
items the store holds."""


@dataclass(frozen=True)
class RenderedPage:
    """A page's bytes and the strong ETag of exactly those bytes."""

    body: bytes
    etag: str


@dataclass(frozen=True)
class LiveSite:
    """One opened generation, with the rendered pages it has served.

    A generation never changes, so each page is rendered at most once while it
    is remembered (a race only duplicates the work); at most ``MEMO_SIZE`` are,
    the least recently used forgotten first. Feed files are read from the
    generation for each request.
    """

    publication: Publication
    pages: OrderedDict[str, RenderedPage] = field(default_factory=OrderedDict)
    guard: threading.Lock = field(default_factory=threading.Lock)

    def read(self, path: str, *, gzipped: bool) -> bytes:
        # Read each time, not kept: the operating system caches the files, and a
        # worker's memory then does not grow with the feeds' size.
        return self.publication.read(path, gzipped=gzipped)

    def page(self, key: str, render: Callable[[], str]) -> RenderedPage:
        with self.guard:
            rendered = self.pages.get(key)
            if rendered is not None:
                self.pages.move_to_end(key)
                return rendered
        body = render().encode("utf-8")
        rendered = RenderedPage(body, etag_of(body))
        with self.guard:
            self.pages[key] = rendered
            while len(self.pages) > MEMO_SIZE:
                self.pages.popitem(last=False)
        return rendered


class PublicationCache:
    """The live publication of ``publisher``, opened once per generation.

    When the publisher cannot be read (the database restarting or out of reach),
    the last generation this process opened is served on, from what it holds
    (a database publication keeps its documents in memory), rather than
    answering 503 for every request; the outage is logged once, as a warning,
    and its end once.
    """

    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher
        self._live: LiveSite | None = None
        self._lock = threading.Lock()
        self._failing = False

    def get(self) -> LiveSite | None:
        """The live site, or None when nothing is published. Raises PublishError when
        the publication cannot be read and this process has opened none before."""
        try:
            live = self._current()
        except PublishError as exc:
            held = self._live
            self._report_failure(exc, held)
            if held is None:
                raise
            return held
        if self._failing:
            self._failing = False
            log_event(log, Event.PUBLICATION_READABLE_AGAIN,
                      "the publication in %s can be read again", self.publisher.describe())
        return live

    def _current(self) -> LiveSite | None:
        generation = self.publisher.live_generation()
        if generation is None:
            return None
        live = self._live
        if live is not None and live.publication.generation == generation:
            return live
        with self._lock:
            live = self._live
            if live is None or live.publication.generation != generation:
                publication = self.publisher.live()
                if publication is None:
                    return None
                live = LiveSite(publication)
                self._live = live
                log.info("serving publication %s", publication.generation)
            return live

    def _report_failure(self, exc: PublishError, held: LiveSite | None) -> None:
        """A warning at the first failure, debug lines while it lasts: every request
        of every worker meets the same outage."""
        if self._failing:
            log_event(log, Event.PUBLICATION_STILL_UNREADABLE,
                      "the publication still cannot be read: %s", exc)
            return
        self._failing = True
        fallback = (f"serving publication {held.publication.generation} from memory meanwhile"
                    if held is not None else "answering 503 meanwhile")
        log_event(log, Event.PUBLICATION_UNREADABLE, "cannot read the publication in %s (%s); %s",
                  self.publisher.describe(), exc, fallback,
                  fallback="memory" if held is not None else "unavailable")

    @property
    def failing(self) -> bool:
        """Whether the last attempt to read the publication failed."""
        return self._failing

    @property
    def generation(self) -> str | None:
        """The live generation's name; None when nothing is published or it cannot be
        told (the error is logged where the site was opened)."""
        try:
            return self.publisher.live_generation()
        except PublishError:
            return None


@dataclass(frozen=True)
class WebContext:
    """One app's state, shared by its blueprints."""

    settings: Settings
    cache: PublicationCache
    status: StatusProvider
    find_item: ItemFinder
    page_of_items: ItemPager
    guard: AdminGuard

    @property
    def page_max_age(self) -> int:
        return min(PAGE_MAX_AGE, self.settings.feed_max_age)

    def install(self, app: Flask) -> None:
        app.extensions[EXTENSION] = self


def web_context() -> WebContext:
    """The ``WebContext`` of the app handling the current request."""
    return cast(WebContext, current_app.extensions[EXTENSION])


def live_site() -> LiveSite | None:
    """The live site; None when nothing is published or it cannot be opened (logged by
    the cache, once per outage)."""
    try:
        return web_context().cache.get()
    except PublishError:
        return None


def not_live(message: str | None = None) -> Response:
    """503 for a request that found no live site: unpublished, or unreadable.

    ``message`` is what the page says when nothing is published yet; None
    on the home page, which explains it at length.
    """
    cache = web_context().cache
    if not cache.failing and cache.generation is None:
        return nothing_published(message)
    # The publication cannot be read, or exists but could not be opened: the
    # how-to-publish advice would mislead, and the error is logged already.
    return unavailable("The feeds cannot be read right now. Try again in a moment.")


def serve_file(live: LiveSite, path: str, *, vary: tuple[str, ...] = ()) -> Response:
    """The published file ``path``, answering the request's cache conditions."""
    file = live.publication.files[path]
    archived = is_archive_path(path)  # RFC 5005 archive pages never change
    rep = Representation(
        content_type=file.content_type, etag=file.etag, gzip_etag=file.gzip_etag,
        last_modified=file.last_modified, vary=vary,
        max_age=ARCHIVE_MAX_AGE if archived else web_context().settings.feed_max_age,
        immutable=archived,
    )
    decision = decide(RequestConditions.from_headers(request.method, request.headers), rep)
    try:
        body = live.read(path, gzipped=decision.gzipped) if decision.has_body else b""
    except OSError:
        log.exception("cannot read %s from publication %s", path,
                      live.publication.generation)
        return unavailable("The feeds are being replaced. Try again in a moment.")
    response = respond(decision, body)
    if file.content_type == VIEW_CONTENT_TYPE:
        response.headers["Content-Security-Policy"] = PAGE_POLICY
    return response


def serve_page(live: LiveSite, key: str, render: Callable[[], str]) -> Response:
    """A page for people, rendered at most once per generation (see ``LiveSite.page``)."""
    page = live.page(request.script_root + key, render)
    rep = Representation(content_type=HTML, etag=page.etag,
                         max_age=web_context().page_max_age)
    decision = decide(RequestConditions.from_headers(request.method, request.headers), rep)
    response = respond(decision, page.body if decision.has_body else b"")
    response.headers["Content-Security-Policy"] = PAGE_POLICY
    return response
