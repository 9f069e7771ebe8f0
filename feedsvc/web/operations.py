"""The ``operations`` blueprint: ``/healthz`` (the process answers) and ``/status`` (the
health of the refresh, the sources, the schedulers; see ``feedsvc.status``).

``POST /admin/refresh`` and ``/metrics`` are the ``admin`` blueprint
(``feedsvc.web.admin``); both share the app's ``AdminGuard``, so that wrong
tokens count against both.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, request

from feedsvc.errors import FeedsvcError
from feedsvc.status import admin_status, public_status
from feedsvc.web.admin import json_response
from feedsvc.web.http_cache import NO_STORE
from feedsvc.web.live import LiveSite, live_site, web_context
from feedsvc.web.responses import retry_later

log = logging.getLogger("feedsvc.web.app")  # the app's one logger (see web.live)

operations = Blueprint("operations", __name__)


@operations.get("/healthz")
def healthz() -> Response:
    return Response("ok\n", content_type="text/plain; charset=utf-8",
                    headers={"Cache-Control": NO_STORE})


@operations.get("/status")
def status() -> Response:
    """Anyone gets names, health and times; the admin token shows everything
    (credentials in URLs still redacted). 503 when the store cannot be read."""
    context = web_context()
    access = context.guard.check(request)
    if access.refusal is not None:
        return access.refusal
    try:
        body = dict(context.status())
    except FeedsvcError as exc:
        # The database is down or unreachable: a passing state, not a bug. The
        # detail (host, port) is for the log, not for anyone asking /status.
        log.warning("cannot read the refresh status: %s", exc)
        return retry_later(json_response({"error": "the database cannot be read right now"},
                                         503))
    except Exception:
        log.exception("cannot read the refresh status")
        return json_response({"error": "the refresh status cannot be read"}, 500)
    body.setdefault("publication", publication_summary(live_site()))
    view = admin_status if access.admin else public_status
    return json_response(view(body), 200)


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
