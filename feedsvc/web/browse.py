"""The ``pages`` blueprint: the pages for people (home, an item, the paged lists).

Pages are rendered from the live site snapshot (``site.json``) and, for items,
a page at a time off the store's indexes; each is rendered at most once per
generation (``feedsvc.web.live.serve_page``).
"""

from __future__ import annotations

import logging
import re

from flask import Blueprint, Response, render_template, request

from feedsvc.curation import NO_RULES, CategoryRules, as_published
from feedsvc.errors import FeedsvcError
from feedsvc.feeds import ALL, ItemRecord, SiteSnapshot, category_key, item_record
from feedsvc.metrics import LazyStore
from feedsvc.web import pages
from feedsvc.web.live import live_site, not_live, serve_page, web_context
from feedsvc.web.responses import not_found, unavailable

log = logging.getLogger("feedsvc.web.app")  # the app's one logger (see web.live)

ITEM_ID = re.compile(r"[0-9a-f]{32}")
PAGE_NUMBER = re.compile(r"[1-9][0-9]{0,8}")
SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")

browse = Blueprint("pages", __name__)


@browse.get("/")
def home() -> Response:
    live = live_site()
    if live is None:
        return not_live()
    readers = web_context().settings.web.readers

    def render() -> str:
        view = pages.home_page(live.publication.site, readers=readers)
        return render_template("home.html", page=view, lang=view.language)

    return serve_page(live, "/", render)


@browse.get("/items/<item_id>")
def item(item_id: str) -> Response:
    live = live_site()
    if live is None:
        return not_live("No items are published yet.")
    try:
        record = web_context().find_item(live.publication.site, item_id)
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


@browse.get("/items")
def items() -> Response:
    return serve_list(None, "/items")


@browse.get("/categories/<slug>")
def category(slug: str) -> Response:
    if not SLUG.fullmatch(slug):
        return not_found("Unknown category",
                         "There is no such category. The home page lists every category.")
    return serve_list(slug, "/categories/" + slug)


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
    context = web_context()
    try:
        records = (context.page_of_items(site, slug, offset, pages.PAGE_SIZE)
                   if link.item_count else ())
    except FeedsvcError:
        log.exception("cannot read page %d of %s", number, path)
        return unavailable("The items cannot be read right now. Try again in a moment.")
    view = pages.list_page(site, slug, number, records, context.settings.web.readers)
    if view is None:
        return not_found("No such page", "There is nothing at this address.")

    def render() -> str:
        return render_template("list.html", page=view, lang=view.language)

    return serve_page(live, f"{path}?page={number}", render)


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
    labels = _labels(site)
    return item_record(as_published(stored, rules, labels), labels)


def page_of_items(
    store: LazyStore, site: SiteSnapshot, slug: str | None, offset: int, limit: int,
    *, rules: CategoryRules = NO_RULES,
) -> list[ItemRecord]:
    """One page of the items of category ``slug`` (None: all items), read off the store's
    indexes; labels are the published ones. A category's items include those of the
    labels ``[categories]`` merges into it (``rules``), as its feed does."""
    labels = _labels(site)
    members = () if slug is None else rules.members(slug)
    chosen: str | tuple[str, ...] | None = members if len(members) > 1 else slug
    return [item_record(as_published(stored, rules, labels), labels)
            for stored in store.get().items_page(chosen, offset, limit)]


def _labels(site: SiteSnapshot) -> dict[str, str]:
    return {link.slug: link.label for link in site.feeds
            if link.slug is not None and link.label is not None}
