"""The Flask application: serves what the refresh pipeline published, nothing more.

Every response is built from the live publication (``feedsvc.publication``):
feed files with their manifest (content type, ETags, Last-Modified, gzip
twin), and ``site.json`` for the human pages. No request parses a listing or
renders a feed: a feed's page for people is a file the pipeline published
beside the feed. Item pages and the paged item lists read their items off the
store's indexes, a page at a time.

``create_app`` only wires the blueprints to one app's state
(``feedsvc.web.live.WebContext``):

- ``feeds`` (``feedsvc.web.feeds``): ``/feeds/...``, ``/feeds.opml``, short addresses;
- ``pages`` (``feedsvc.web.browse``): ``/``, ``/items``, ``/items/<id>``,
  ``/categories/<slug>``;
- ``operations`` (``feedsvc.web.operations``): ``/healthz``, ``/status``;
- ``admin`` (``feedsvc.web.admin``): ``POST /admin/refresh``, ``/metrics``.
"""

from __future__ import annotations

import functools
import logging

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from feedsvc.curation import CategoryRules
from feedsvc.metrics import LazyStore, StoreHealth
from feedsvc.publishing import publisher_for
from feedsvc.settings import Settings
from feedsvc.web.admin import AdminGuard, admin_blueprint
from feedsvc.web.browse import browse, find_item, page_of_items
from feedsvc.web.feeds import feeds
from feedsvc.web.live import (
    ItemFinder,
    ItemPager,
    PublicationCache,
    StatusProvider,
    WebContext,
    web_context,
)
from feedsvc.web.operations import operations
from feedsvc.web.responses import error_page, not_found

log = logging.getLogger(__name__)


def create_app(
    settings: Settings, *, status_provider: StatusProvider | None = None,
    item_finder: ItemFinder | None = None, item_pager: ItemPager | None = None,
) -> Flask:
    """The feedsvc web application for ``settings``.

    ``status_provider`` returns the JSON-able dict served at ``/status``; by
    default it reads the refresh status from the store. ``item_finder`` finds
    the item of an ``/items/<id>`` page; by default it looks the id up in the
    store (an index), so no worker holds the history; ``item_pager`` reads one
    page of a paged list, by default off the store's indexes. /status,
    /metrics and the item pages read the same lazily opened store.
    """
    app = Flask("feedsvc.web")
    app.config["FEEDSVC_SETTINGS"] = settings
    store = LazyStore(settings.storage.database)
    health = StoreHealth(settings, store)
    rules = CategoryRules.from_settings(settings.categories)
    # One guard for /admin/refresh and /status: wrong tokens count against both.
    guard = AdminGuard(settings.server.admin_token)
    WebContext(
        settings=settings,
        cache=PublicationCache(publisher_for(
            settings, poll_seconds=settings.storage.publication_poll_seconds)),
        status=status_provider or health.status,
        find_item=item_finder or functools.partial(find_item, store, rules=rules),
        page_of_items=item_pager or functools.partial(page_of_items, store, rules=rules),
        guard=guard,
    ).install(app)
    for blueprint in (feeds, browse, operations):
        app.register_blueprint(blueprint)
    app.register_blueprint(admin_blueprint(settings, stats=health.stats, guard=guard))
    app.context_processor(page_globals)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(Exception, unexpected_error)
    return app


def page_globals() -> dict[str, str]:
    """What every template sees: the app's root (root-relative links keep working when
    the app is mounted under a prefix) and the site's title."""
    return {"root": request.script_root + "/",
            "site_title": web_context().settings.site.title}


def http_error(error: HTTPException) -> Response:
    if error.code == 404:
        return not_found("Not found", "There is nothing at this address.")
    response = error_page(error.code or 500, error.name, error.description or "")
    if error.code == 405:
        response.headers["Allow"] = ", ".join(getattr(error, "valid_methods", None) or [])
    return response


def unexpected_error(error: Exception) -> Response:
    log.exception("error while serving %s", request.path)
    return error_page(500, "Internal error", "Something went wrong on our side.")
