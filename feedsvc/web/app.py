"""The Flask application: serves what the refresh pipeline published, nothing more.

Every response is built from the live publication (``feedsvc.publication``):
feed files with their manifest (content type, ETags, Last-Modified, gzip
twin), and ``site.json`` for the human pages. No request parses a listing or
renders a feed: a feed's page for people (what a browser opening its address
is shown, chosen by ``Accept``; see ``feedsvc.web.negotiation``) is a file
the pipeline published beside the feed. Item pages and the paged item lists
read their items off the store's indexes, a page at a time. The opened
publication is kept per generation and re-opened when the ``current``
symlink points at a new one (one readlink per request).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from flask import Flask, Response, render_template, request
from werkzeug.exceptions import HTTPException

from feedsvc.archive import ARCHIVE_MAX_AGE, is_archive_path
from feedsvc.curation import NO_RULES, CategoryRules, as_published
from feedsvc.errors import FeedsvcError, PublishError, StoreError
from feedsvc.feeds import (
    ALL,
    FEED_FORMATS,
    OPML_PATH,
    VIEW_CONTENT_TYPE,
    ItemRecord,
    SiteSnapshot,
    category_key,
    feed_path,
    item_record,
    view_path,
)
from feedsvc.metrics import LazyStore, StoreStats
from feedsvc.publication import Publication, etag_of
from feedsvc.publishing import Publisher, publisher_for
from feedsvc.settings import Settings
from feedsvc.status import admin_status, public_status
from feedsvc.web import pages
from feedsvc.web.admin import AdminGuard, admin_blueprint, json_response
from feedsvc.web.http_cache import (
    NO_STORE,
    Decision,
    Representation,
    RequestConditions,
    decide,
)
from feedsvc.web.negotiation import prefers_html

if TYPE_CHECKING:
    from feedsvc.store import Store

log = logging.getLogger(__name__)

StatusProvider = Callable[[], dict[str, Any]]
ItemFinder = Callable[[SiteSnapshot, str], ItemRecord | None]
"""Finds an item by id for its page, labelled as the live site labels its categories."""
ItemPager = Callable[[SiteSnapshot, str | None, int, int], Sequence[ItemRecord]]
"""One page of a paged list: the items of a category slug (None: all items) from an
offset, at most a limit, newest first, labelled as the live site labels its categories."""

ITEM_ID = re.compile(r"[0-9a-f]{32}")
PAGE_NUMBER = re.compile(r"[1-9][0-9]{0,8}")
SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
MAIN_FEEDS = {"feed": "atom", "atom": "atom", "rss": "rss", "feeds": "atom"}
"""Short addresses people type, and the format of the all-items feed each redirects to."""
PAGE_MAX_AGE = 60
RETRY_AFTER_SECONDS = 30
HTML = "text/html; charset=utf-8"
# The site's own stylesheet and copy-button script only; no inline script, nothing
# from third parties.
PAGE_POLICY = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class StatusUnavailableError(Exception):
    """A status provider cannot read the refresh status: /status answers 503."""


@dataclass(frozen=True)
class RenderedPage:
    """A page's bytes and the strong ETag of exactly those bytes."""

    body: bytes
    etag: str


MEMO_SIZE = 512
"""Rendered pages a worker keeps per generation: its memory stays flat however many
items the store holds."""


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
            log.info("the publication in %s can be read again", self.publisher.describe())
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
            log.debug("the publication still cannot be read: %s", exc)
            return
        self._failing = True
        fallback = (f"serving publication {held.publication.generation} from memory meanwhile"
                    if held is not None else "answering 503 meanwhile")
        log.warning("cannot read the publication in %s (%s); %s",
                    self.publisher.describe(), exc, fallback)

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


def create_app(
    settings: Settings, *, status_provider: StatusProvider | None = None,
    item_finder: ItemFinder | None = None, item_pager: ItemPager | None = None,
) -> Flask:
    """The feedsvc web application for ``settings``.

    ``status_provider`` returns the JSON-able dict served at ``/status``; by
    default it reads the refresh status from the store. ``item_finder`` finds
    the item of an ``/items/<id>`` page; by default it looks the id up in the
    store (an index), so no worker holds the history; ``item_pager`` reads one
    page of a paged list, by default off the store's indexes. The operations
    blueprint (``/admin/refresh``, ``/metrics``) is registered too; /status
    and /metrics read the same lazily opened store.
    """
    app = Flask("feedsvc.web")
    app.config["FEEDSVC_SETTINGS"] = settings
    cache = PublicationCache(publisher_for(
        settings, poll_seconds=settings.storage.publication_poll_seconds))
    store = LazyStore(settings.storage.database)
    provider = status_provider or StoreStatus(settings, store)
    rules = CategoryRules.from_settings(settings.categories)
    finder = item_finder or functools.partial(find_item, store, rules=rules)
    pager = item_pager or functools.partial(page_of_items, store, rules=rules)
    readers = settings.web.readers
    page_max_age = min(PAGE_MAX_AGE, settings.feed_max_age)
    # One guard for /admin/refresh and /status: wrong tokens count against both.
    guard = AdminGuard(settings.server.admin_token)
    # POST /admin/refresh (only with a token) and GET /metrics.
    app.register_blueprint(admin_blueprint(settings, stats=StoreStats(settings, store),
                                           guard=guard))

    @app.context_processor
    def page_globals() -> dict[str, str]:
        # Root-relative links keep working when the app is mounted under a prefix.
        return {"root": request.script_root + "/", "site_title": settings.site.title}

    def live_site() -> LiveSite | None:
        try:
            return cache.get()
        except PublishError:  # logged by the cache, once per outage
            return None

    def not_live(message: str | None = None) -> Response:
        """503 for a request that found no live site: unpublished, or unreadable.

        ``message`` is what the page says when nothing is published yet; None
        on the home page, which explains it at length.
        """
        if not cache.failing and cache.generation is None:
            return nothing_published(message)
        # The publication cannot be read, or exists but could not be opened: the
        # how-to-publish advice would mislead, and the error is logged already.
        return unavailable("The feeds cannot be read right now. Try again in a moment.")

    def serve_file(live: LiveSite, path: str, *, vary: tuple[str, ...] = ()) -> Response:
        file = live.publication.files[path]
        archived = is_archive_path(path)  # RFC 5005 archive pages never change
        rep = Representation(
            content_type=file.content_type, etag=file.etag, gzip_etag=file.gzip_etag,
            last_modified=file.last_modified, vary=vary,
            max_age=ARCHIVE_MAX_AGE if archived else settings.feed_max_age, immutable=archived,
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

    def with_hub_links(response: Response, path: str) -> Response:
        """WebSub discovery (W3C WebSub, section 4): a feed's address answers with a
        ``Link`` to each hub (``rel="hub"``) and to itself (``rel="self"``)."""
        if settings.websub.hubs:
            response.headers["Link"] = ", ".join(
                [*(f'<{hub}>; rel="hub"' for hub in settings.websub.hubs),
                 f'<{settings.site.base_url}{path}>; rel="self"'])
        return response

    def serve_page(live: LiveSite, key: str, render: Callable[[], str]) -> Response:
        page = live.page(request.script_root + key, render)
        rep = Representation(content_type=HTML, etag=page.etag, max_age=page_max_age)
        decision = decide(RequestConditions.from_headers(request.method, request.headers), rep)
        response = respond(decision, page.body if decision.has_body else b"")
        response.headers["Content-Security-Policy"] = PAGE_POLICY
        return response

    @app.get("/")
    def home() -> Response:
        live = live_site()
        if live is None:
            return not_live()

        def render() -> str:
            view = pages.home_page(live.publication.site, readers=readers)
            return render_template("home.html", page=view, lang=view.language)

        return serve_page(live, "/", render)

    @app.get("/items/<item_id>")
    def item(item_id: str) -> Response:
        live = live_site()
        if live is None:
            return not_live("No items are published yet.")
        try:
            record = finder(live.publication.site, item_id)
        except FeedsvcError:
            log.exception("cannot look up item %s", item_id)
            return unavailable("The items cannot be read right now. Try again in a moment.")
        if record is None:
            return not_found("No such item",
                             "There is no item with this address. It may have left the site's "
                             "history, or the address was mistyped.")

        def render() -> str:
            view = pages.item_page(live.publication.site, record)
            return render_template("item.html", page=view, lang=view.language)

        return serve_page(live, "/items/" + item_id, render)

    def page_number() -> int | None:
        """The ``page`` query parameter (1 when absent), or None when it is no page number."""
        text = request.args.get("page", "1")
        return int(text) if PAGE_NUMBER.fullmatch(text) else None

    def serve_list(slug: str | None, path: str) -> Response:
        """A page of a paged list of items: every item (``slug`` None) or a category's."""
        live = live_site()
        if live is None:
            return not_live("No items are published yet.")
        number = page_number()
        site = live.publication.site
        key = ALL if slug is None else category_key(slug)
        link = next((link for link in site.feeds if link.key == key), None)
        if link is None:
            return not_found("Unknown category",
                             "There is no such category. The home page lists every category.")
        if number is None or number > pages.page_count(link.item_count):
            return not_found("No such page",
                             "This list has fewer pages. Its first page is linked from the "
                             "home page.")
        offset = (number - 1) * pages.PAGE_SIZE
        try:
            records = pager(site, slug, offset, pages.PAGE_SIZE) if link.item_count else ()
        except FeedsvcError:
            log.exception("cannot read page %d of %s", number, path)
            return unavailable("The items cannot be read right now. Try again in a moment.")
        view = pages.list_page(site, slug, number, records, readers)
        if view is None:
            return not_found("No such page", "There is nothing at this address.")

        def render() -> str:
            return render_template("list.html", page=view, lang=view.language)

        return serve_page(live, f"{path}?page={number}", render)

    @app.get("/items")
    def items() -> Response:
        return serve_list(None, "/items")

    @app.get("/categories/<slug>")
    def category(slug: str) -> Response:
        if not SLUG.fullmatch(slug):
            return not_found("Unknown category",
                             "There is no such category. The home page lists every category.")
        return serve_list(slug, "/categories/" + slug)

    def to_main_feed(fmt: str) -> Response:
        """301 from a short address people type to the all-items feed in ``fmt``."""
        response = Response(status=301, headers={
            "Location": f"{request.script_root}/{feed_path(ALL, fmt)}",
            "Cache-Control": f"public, max-age={settings.feed_max_age}",
        })
        return response

    for short, fmt in MAIN_FEEDS.items():
        app.add_url_rule(f"/{short}", f"short_{short}", functools.partial(to_main_feed, fmt))
    app.add_url_rule("/feeds/", "short_feeds_slash", functools.partial(to_main_feed, "atom"),
                     strict_slashes=True)

    @app.get("/feeds.opml")
    def opml() -> Response:
        live = live_site()
        if live is None:
            return not_live("The feeds are not published yet.")
        if OPML_PATH not in live.publication.files:
            # An older generation, published before the OPML file existed.
            return unavailable("The feed list is not published yet.")
        return serve_file(live, OPML_PATH)

    @app.get("/feeds/<path:name>")
    def feed(name: str) -> Response:
        live = live_site()
        if live is None:
            return not_live("The feeds are not published yet.")
        key, _, fmt = name.rpartition(".")
        files = live.publication.files
        path = feed_path(key, fmt)
        if fmt in FEED_FORMATS and path in files:
            # A browser gets the feed's page for people, every feed reader the feed.
            # Publications from before those pages existed serve the feed to all.
            view = view_path(key)
            if view not in files:
                return with_hub_links(serve_file(live, path), path)
            chosen = view if prefers_html(request.headers.get("Accept")) else path
            return with_hub_links(serve_file(live, chosen, vary=("Accept",)), path)
        if fmt == "html" and view_path(key) in files:
            return serve_file(live, view_path(key))
        return feed_not_found(key, fmt)

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok\n", content_type="text/plain; charset=utf-8",
                        headers={"Cache-Control": NO_STORE})

    @app.get("/status")
    def status() -> Response:
        # Anyone gets names, health and times; the admin token shows everything
        # (credentials in URLs still redacted). See feedsvc.status.
        access = guard.check(request)
        if access.refusal is not None:
            return access.refusal
        try:
            body = dict(provider())
        except StatusUnavailableError as exc:
            return _retry_later(json_response({"error": str(exc)}, 503))
        except Exception:
            log.exception("cannot read the refresh status")
            return json_response({"error": "the refresh status cannot be read"}, 500)
        body.setdefault("publication", publication_summary(live_site()))
        view = admin_status if access.admin else public_status
        return json_response(view(body), 200)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        if error.code == 404:
            return not_found("Not found", "There is nothing at this address.")
        response = error_page(error.code or 500, error.name, error.description or "")
        if error.code == 405:
            response.headers["Allow"] = ", ".join(getattr(error, "valid_methods", None) or [])
        return response

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> Response:
        log.exception("error while serving %s", request.path)
        return error_page(500, "Internal error", "Something went wrong on our side.")

    return app


def find_item(
    store: LazyStore, site: SiteSnapshot, item_id: str, *, rules: CategoryRules = NO_RULES,
) -> ItemRecord | None:
    """The item ``item_id`` as its page shows it, looked up in the store by id (an
    index), or None. Labels are the published ones (after ``[categories]``'s ``rules``)."""
    if not ITEM_ID.fullmatch(item_id):
        return None
    stored = store.get().item_by_id(item_id)
    if stored is None:
        return None
    labels = {link.slug: link.label for link in site.feeds
              if link.slug is not None and link.label is not None}
    return item_record(as_published(stored, rules, labels), labels)


def page_of_items(
    store: LazyStore, site: SiteSnapshot, slug: str | None, offset: int, limit: int,
    *, rules: CategoryRules = NO_RULES,
) -> list[ItemRecord]:
    """One page of the items of category ``slug`` (None: all items), read off the store's
    indexes; labels are the published ones. A category's items include those of the
    labels ``[categories]`` merges into it (``rules``), as its feed does."""
    labels = {link.slug: link.label for link in site.feeds
              if link.slug is not None and link.label is not None}
    members = () if slug is None else rules.members(slug)
    chosen: str | tuple[str, ...] | None = members if len(members) > 1 else slug
    return [item_record(as_published(stored, rules, labels), labels)
            for stored in store.get().items_page(chosen, offset, limit)]


def respond(decision: Decision, body: bytes) -> Response:
    """A response from a caching decision; Content-Length follows the body (kept on HEAD)."""
    response = Response(body, status=decision.status)
    for name, value in decision.headers:
        response.headers[name] = value
    return response


def feed_not_found(key: str, fmt: str) -> Response:
    formats = ", ".join(f".{fmt}" for fmt in FEED_FORMATS)
    if fmt not in FEED_FORMATS:
        return not_found("Unknown feed format",
                         f"Feeds come as {formats}, for example /feeds/all.atom.")
    if key.startswith("category/"):
        return not_found("Unknown category",
                         f"There is no category {key.removeprefix('category/')!r}. "
                         "The home page lists every category with its feeds.")
    return not_found("Unknown feed",
                     "The feeds are /feeds/all.atom (.rss, .json) and one per category "
                     "under /feeds/category/.")


def not_found(title: str, message: str) -> Response:
    return error_page(404, title, message)


def nothing_published(message: str | None = None) -> Response:
    """503 with Retry-After: no refresh has published anything yet.

    The page says ``message`` and how to publish; without a message it is the
    home page's own explanation (``unpublished.html``).
    """
    if message is None:
        return _retry_later(error_page(503, "Nothing published yet", "",
                                       template="unpublished.html"))
    return _retry_later(error_page(503, "Nothing published yet", message, publish_hint=True))


def unavailable(message: str) -> Response:
    """503 with Retry-After: the feeds are published but cannot be served right now
    (being replaced, unreadable); the page only says ``message``."""
    return _retry_later(error_page(503, "Temporarily unavailable", message))


def _retry_later(response: Response) -> Response:
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def error_page(status: int, title: str, message: str, *, template: str = "error.html",
               publish_hint: bool = False) -> Response:
    """A short HTML page for an error; never cached, never a traceback.

    ``publish_hint`` adds how to publish the feeds (for "nothing published yet").
    """
    html = render_template(template, status=status, title=title, message=message,
                           publish_hint=publish_hint)
    return Response(html, status=status, content_type=HTML,
                    headers={"Cache-Control": NO_STORE, "Content-Security-Policy": PAGE_POLICY})


def publication_summary(live: LiveSite | None) -> dict[str, Any] | None:
    """What /status says about the live publication: which one, how many feeds and items."""
    if live is None:
        return None
    publication = live.publication
    return {
        "generation": publication.generation,
        "feeds": len(publication.site.feeds),
        "items": publication.site.item_count,
    }


class StoreStatus:
    """The default /status provider: ``feedsvc.status.read_status`` over the store (the
    refresh, the sources, the schedulers' lease and records, the refresh requests).

    ``store`` defaults to a ``LazyStore`` of its own: until a refresh has
    created an SQLite database, /status reads as "never refreshed" without
    creating it.
    """

    def __init__(self, settings: Settings, store: LazyStore | None = None) -> None:
        self._settings = settings
        self._store = store or LazyStore(settings.storage.database)

    def __call__(self) -> dict[str, Any]:
        from feedsvc.status import read_status

        now = dt.datetime.now(dt.UTC)
        try:
            # The never-refreshed stand-in has everything read_status reads of a store.
            store = cast("Store", self._store.get())
            status: dict[str, Any] = read_status(store, self._settings, now=now)
        except StoreError as exc:
            # The database is down or unreachable: a passing state, not a bug. The
            # detail (host, port) is for the log, not for anyone asking /status.
            log.warning("cannot read the refresh status: %s", exc)
            raise StatusUnavailableError("the database cannot be read right now") from exc
        return status
