"""The ``feeds`` blueprint: the published feed files, the OPML list and the short
addresses people type.

``/feeds/<key>.<extension>`` serves a feed in each format of
``feedsvc.outputs.OUTPUT_FORMATS``; a browser asking for it gets the feed's
page for people instead (chosen by ``Accept``, see
``feedsvc.web.negotiation``), a file the pipeline published beside the feed.
"""

from __future__ import annotations

import functools
import logging

from flask import Blueprint, Response, request

from feedsvc.feeds import ALL, OPML_PATH, feed_path, view_path
from feedsvc.outputs import OUTPUT_FORMATS, output_for_extension
from feedsvc.web.live import live_site, not_live, serve_file, web_context
from feedsvc.web.negotiation import prefers_html
from feedsvc.web.responses import not_found, unavailable

log = logging.getLogger(__name__)

MAIN_FEEDS = {"feed": "atom", "atom": "atom", "rss": "rss", "feeds": "atom"}
"""Short addresses people type, and the format of the all-items feed each redirects to."""

feeds = Blueprint("feeds", __name__)


@feeds.get("/feeds.opml")
def opml() -> Response:
    live = live_site()
    if live is None:
        return not_live("The feeds are not published yet.")
    if OPML_PATH not in live.publication.files:
        # An older generation, published before the OPML file existed.
        return unavailable("The feed list is not published yet.")
    return serve_file(live, OPML_PATH)


@feeds.get("/feeds/<path:name>")
def feed(name: str) -> Response:
    live = live_site()
    if live is None:
        return not_live("The feeds are not published yet.")
    key, _, extension = name.rpartition(".")
    files = live.publication.files
    output = output_for_extension(extension)
    path = feed_path(key, output.name) if output is not None else None
    try:
        # An archive page is looked up in its feed's page index (read once, cached).
        found = path is not None and path in files
    except OSError:
        log.exception("cannot read the page index of %s in publication %s", path,
                      live.publication.generation)
        return unavailable("The feeds are being replaced. Try again in a moment.")
    if path is not None and found:
        # A browser gets the feed's page for people, every feed reader the feed.
        # Publications from before those pages existed serve the feed to all.
        view = view_path(key)
        if view not in files:
            return with_hub_links(serve_file(live, path), path)
        chosen = view if prefers_html(request.headers.get("Accept")) else path
        return with_hub_links(serve_file(live, chosen, vary=("Accept",)), path)
    if extension == "html" and view_path(key) in files:
        return serve_file(live, view_path(key))
    return feed_not_found(key, extension)


def to_main_feed(fmt: str) -> Response:
    """301 from a short address people type to the all-items feed in ``fmt``."""
    return Response(status=301, headers={
        "Location": f"{request.script_root}/{feed_path(ALL, fmt)}",
        "Cache-Control": f"public, max-age={web_context().settings.feed_max_age}",
    })


for _short, _fmt in MAIN_FEEDS.items():
    feeds.add_url_rule(f"/{_short}", f"short_{_short}", functools.partial(to_main_feed, _fmt))
feeds.add_url_rule("/feeds/", "short_feeds_slash", functools.partial(to_main_feed, "atom"),
                   strict_slashes=True)


def with_hub_links(response: Response, path: str) -> Response:
    """WebSub discovery (W3C WebSub, section 4): a feed's address answers with a
    ``Link`` to each hub (``rel="hub"``) and to itself (``rel="self"``)."""
    settings = web_context().settings
    if settings.websub.hubs:
        response.headers["Link"] = ", ".join(
            [*(f'<{hub}>; rel="hub"' for hub in settings.websub.hubs),
             f'<{settings.site.base_url}{path}>; rel="self"'])
    return response


def feed_not_found(key: str, extension: str) -> Response:
    formats = ", ".join(f".{output.extension}" for output in OUTPUT_FORMATS.values())
    if output_for_extension(extension) is None:
        return not_found("Unknown feed format",
                         f"Feeds come as {formats}, for example /feeds/all.atom.")
    if key.startswith("category/"):
        return not_found("Unknown category",
                         f"There is no category {key.removeprefix('category/')!r}. "
                         "The home page lists every category with its feeds.")
    first, *others = (output.extension for output in OUTPUT_FORMATS.values())
    also = f" ({', '.join(f'.{extension}' for extension in others)})" if others else ""
    return not_found("Unknown feed",
                     f"The feeds are /feeds/all.{first}{also} and one per category "
                     "under /feeds/category/.")
