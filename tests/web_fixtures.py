"""Build a small publication for the web tests, without the render or pipeline modules.

The feed bytes, and each feed's page for people (``feeds/<key>.html``, what
browsers get at a feed's address), are written here by hand (string
templates), valid enough for real feed readers to subscribe to.
``publish_site`` publishes them with the real
``feedsvc.publication.publish``, exactly as a refresh would.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape, quoteattr

from werkzeug.serving import make_server

from feedsvc.feeds import (
    LATEST_ITEMS,
    OPML_CONTENT_TYPE,
    OPML_PATH,
    VIEW_CONTENT_TYPE,
    FeedLink,
    ItemRecord,
    SiteSnapshot,
    feed_path,
    view_path,
)
from feedsvc.outputs import OUTPUT_FORMATS
from feedsvc.publication import Document, Publication, open_publication, publish
from feedsvc.settings import Settings, settings_from_mapping
from feedsvc.web import create_app

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

SITE_TITLE = "Harbour Town News"
BASE_URL = "http://feeds.test/"


def slugify(label: str) -> str:
    words = "".join(ch if ch.isalnum() else " " for ch in label.lower()).split()
    return "-".join(words)


def item(
    id: str, title: str, date: str, category: str | None, *,
    credit: str | None = None, summary: str | None = None, link: str | None = None,
) -> ItemRecord:
    """An ItemRecord whose feeds follow from its category."""
    slug = slugify(category) if category else None
    feeds = ("all", f"category/{slug}") if slug else ("all",)
    return ItemRecord(
        id=id, guid=f"tag:feeds.test,2026:{id}", title=title, date=date, category=category,
        category_slug=slug, credit=credit, summary=summary, link=link, feeds=feeds,
    )


ITEMS: tuple[ItemRecord, ...] = (
    item("2026-11-20-ferry-timetable", "Winter ferry timetable published", "2026-11-20",
         "Press release", summary="Boats leave every forty minutes from December.",
         link="https://harbour.example/news/ferry-timetable"),
    item("2026-11-18-lighthouse", "Lighthouse reopens after repairs", "2026-11-18", "Statement",
         credit="© Ada Pier 2026", summary="The keeper welcomes visitors again on Sundays."),
    item("2026-11-15-market", "Fish market moves indoors", "2026-11-15", "Press release",
         summary="Stalls & crates move to the old boathouse for the cold months."),
    item("2026-11-10-escape", 'Quotes "and" <script>alert(1)</script> & friends', "2026-11-10",
         "Video & Audio", summary="<b>not bold</b> and a lonely < sign."),
    item("2026-11-02-regatta", "Regatta results", "2026-11-02", None,
         summary="A page with no category at all."),
)


def web_settings(
    root: Path, *, base_url: str = BASE_URL, cache_max_age: int | None = None
) -> Settings:
    """Settings whose publish_dir is ``root/public``; no sources."""
    server: dict[str, object] = {}
    if cache_max_age is not None:
        server["cache_max_age"] = cache_max_age
    raw = {
        "site": {"title": SITE_TITLE, "base_url": base_url, "timezone": "UTC"},
        "storage": {"publish_dir": "public", "database": "sqlite:///feedsvc.sqlite3"},
        "server": server,
    }
    return settings_from_mapping(raw, config_path=root / "feedsvc.toml")


def publish_site(
    publish_dir: Path, *, base_url: str = BASE_URL, items: Sequence[ItemRecord] = ITEMS,
    title: str = SITE_TITLE, views: bool = True, language: str = "en",
) -> Publication:
    """Publish feeds, OPML and site.json for ``items``; returns the live publication.
    Without ``views``, no feed has its page for people (as before they existed)."""
    documents, feeds = build_documents(base_url, items, title)
    if not views:
        documents = {path: doc for path, doc in documents.items()
                     if doc.content_type != VIEW_CONTENT_TYPE}
    site = SiteSnapshot(title=title, description="News from the harbour, by the harbour.",
                        base_url=base_url, language=language, feeds=feeds,
                        latest=tuple(items[:LATEST_ITEMS]), item_count=len(items))
    publish(publish_dir, documents, site)
    publication = open_publication(publish_dir)
    assert publication is not None
    return publication


def items_by_id(items: Sequence[ItemRecord] = ITEMS) -> Callable[[object, str], ItemRecord | None]:
    """An item finder for ``create_app`` over the fixture's items (which have no store)."""
    by_id = {record.id: record for record in items}
    return lambda site, item_id: by_id.get(item_id)


def items_pager(
    items: Sequence[ItemRecord] = ITEMS,
) -> Callable[[object, str | None, int, int], Sequence[ItemRecord]]:
    """A pager for ``create_app``'s paged lists over the fixture's items (newest first)."""

    def page(site: object, slug: str | None, offset: int, limit: int) -> Sequence[ItemRecord]:
        chosen = [record for record in items if slug is None or record.category_slug == slug]
        return chosen[offset:offset + limit]

    return page


def feed_keys(items: Sequence[ItemRecord]) -> list[str]:
    """``all`` then every category key, in the order categories first appear."""
    keys = ["all"]
    for record in items:
        for key in record.feeds:
            if key not in keys:
                keys.append(key)
    return keys


def build_documents(
    base_url: str, items: Sequence[ItemRecord], title: str
) -> tuple[dict[str, Document], tuple[FeedLink, ...]]:
    documents: dict[str, Document] = {}
    links: list[FeedLink] = []
    for key in feed_keys(items):
        members = [record for record in items if key in record.feeds]
        label = None if key == "all" else members[0].category
        feed_title = title if label is None else f"{title}: {label}"
        modified = _noon(members[0].date)
        for fmt, output in OUTPUT_FORMATS.items():
            content = FORMATTERS[fmt](base_url, key, feed_title, members, modified)
            documents[feed_path(key, fmt)] = Document(content, output.content_type, modified)
        documents[view_path(key)] = Document(
            view(base_url, key, feed_title, members), VIEW_CONTENT_TYPE, modified)
        links.append(FeedLink(
            key=key, title=feed_title, label=label,
            slug=None if key == "all" else key.removeprefix("category/"),
            item_count=len(members), newest=members[0].date, updated=modified.isoformat(),
        ))
    newest = _noon(items[0].date)
    documents[OPML_PATH] = Document(opml(base_url, title, links), OPML_CONTENT_TYPE, newest)
    return documents, tuple(links)


def _noon(iso_date: str) -> dt.datetime:
    return dt.datetime.fromisoformat(iso_date).replace(hour=12, tzinfo=dt.UTC)


def _entry_link(base_url: str, record: ItemRecord) -> str:
    return record.link or f"{base_url}items/{record.id}"


def atom(base_url: str, key: str, title: str, items: Sequence[ItemRecord],
         modified: dt.datetime) -> bytes:
    entries = "".join(
        f"""
 <entry>
  <id>{escape(r.guid)}</id>
  <title>{escape(r.title)}</title>
  <updated>{_noon(r.date).isoformat()}</updated>
  <link rel="alternate" href={quoteattr(_entry_link(base_url, r))}/>
  <summary>{escape(r.summary or "")}</summary>
 </entry>"""
        for r in items
    )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">
 <id>{escape(base_url)}feeds/{key}</id>
 <title>{escape(title)}</title>
 <updated>{modified.isoformat()}</updated>
 <author><name>{escape(SITE_TITLE)}</name></author>
 <link rel="self" href="{escape(base_url)}feeds/{key}.atom"/>
 <link rel="alternate" href="{escape(base_url)}"/>{entries}
</feed>
""".encode()


def rss(base_url: str, key: str, title: str, items: Sequence[ItemRecord],
        modified: dt.datetime) -> bytes:
    entries = "".join(
        f"""
  <item>
   <guid isPermaLink="false">{escape(r.guid)}</guid>
   <title>{escape(r.title)}</title>
   <link>{escape(_entry_link(base_url, r))}</link>
   <pubDate>{_rfc822(_noon(r.date))}</pubDate>
   <description>{escape(r.summary or "")}</description>
  </item>"""
        for r in items
    )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0">
 <channel>
  <title>{escape(title)}</title>
  <link>{escape(base_url)}</link>
  <description>{escape(title)}</description>
  <lastBuildDate>{_rfc822(modified)}</lastBuildDate>{entries}
 </channel>
</rss>
""".encode()


def view(base_url: str, key: str, title: str, items: Sequence[ItemRecord]) -> bytes:
    """A feed's page for people, as the pipeline publishes one beside the feed."""
    entries = "".join(
        f'\n<li class="entry"><a class="entry-title" href={quoteattr(_entry_link(base_url, r))}>'
        f'{escape(r.title)}</a> <time datetime="{r.date}">{r.date}</time></li>'
        for r in items
    )
    return f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{escape(title)} (feed)</title></head>
<body>
<h1 class="feed-title">{escape(title)}</h1>
<p>This is a feed: copy its address into a feed reader.</p>
<input id="address-atom" readonly value="{escape(base_url)}feeds/{key}.atom">
<ul>{entries}
</ul>
</body>
</html>
""".encode()


def json_feed(base_url: str, key: str, title: str, items: Sequence[ItemRecord],
              modified: dt.datetime) -> bytes:
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": title,
        "home_page_url": base_url,
        "feed_url": f"{base_url}feeds/{key}.json",
        "items": [
            {"id": r.guid, "url": _entry_link(base_url, r), "title": r.title,
             "content_text": r.summary or "", "date_published": _noon(r.date).isoformat()}
            for r in items
        ],
    }
    return (json.dumps(feed, ensure_ascii=False, indent=1) + "\n").encode()


def opml(base_url: str, title: str, links: Sequence[FeedLink]) -> bytes:
    outlines = "".join(
        f'\n  <outline type="rss" text={quoteattr(link.title)} title={quoteattr(link.title)} '
        f'xmlUrl="{escape(base_url)}feeds/{link.key}.atom" htmlUrl="{escape(base_url)}"/>'
        for link in links
    )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<opml version="2.0">
 <head><title>{escape(title)}</title></head>
 <body>{outlines}
 </body>
</opml>
""".encode()


FORMATTERS = {"atom": atom, "rss": rss, "json": json_feed}


def _rfc822(moment: dt.datetime) -> str:
    return moment.strftime("%a, %d %b %Y %H:%M:%S +0000")


@dataclass(frozen=True)
class Hit:
    """One request a live server answered."""

    method: str
    path: str
    status: int
    user_agent: str


@dataclass
class LiveServer:
    """A real HTTP server on a loopback port, and every request it answered."""

    url: str
    hits: list[Hit] = field(default_factory=list)

    def statuses(self, path: str) -> list[int]:
        return [hit.status for hit in self.hits if hit.path == path]


def recording(app: WSGIApplication, hits: list[Hit]) -> WSGIApplication:
    """Wrap a WSGI app so each answered request is appended to ``hits``."""

    def wrapped(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        def record(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            hits.append(Hit(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""),
                            int(status.split()[0]), environ.get("HTTP_USER_AGENT", "")))
            return start_response(status, headers, exc_info)

        return app(environ, record)

    return wrapped


@contextmanager
def live_server(
    root: Path, *, publish: bool = True, items: Sequence[ItemRecord] = ITEMS
) -> Iterator[LiveServer]:
    """Serve a fresh publication under ``root`` on 127.0.0.1:<free port> in a thread.

    The socket is bound before anything is published so that the feeds' own
    links (base_url) carry the real port.
    """
    hits: list[Hit] = []
    holder: dict[str, WSGIApplication] = {}

    def late_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return holder["app"](environ, start_response)

    server = make_server("127.0.0.1", 0, late_app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}/"
    settings = web_settings(root, base_url=url, cache_max_age=300)
    if publish:
        publish_site(settings.storage.publish_dir, base_url=url, items=items)
    app = create_app(settings, status_provider=lambda: {"last_refresh": None, "sources": {}},
                     item_finder=items_by_id(items), item_pager=items_pager(items))
    holder["app"] = recording(app, hits)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(url=url, hits=hits)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
