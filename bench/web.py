"""How fast the web layer answers feed polls, through Flask's test client (no sockets).

Baseline: a bare Flask route returning the same bytes, so the ratio shows
what the caching logic and the publication lookup cost on top of Flask.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask
from flask.testing import FlaskClient

from feedsvc.feeds import FeedLink, ItemRecord, SiteSnapshot
from feedsvc.outputs import OUTPUT_FORMATS
from feedsvc.publication import Document, publish
from feedsvc.settings import settings_from_mapping
from feedsvc.web import create_app

if TYPE_CHECKING:
    from bench.run import Measurement

REQUESTS = 2_000
ENTRIES = 50


def _feed_bytes() -> bytes:
    entries = "".join(
        f"<entry><id>tag:bench,2026:{n}</id><title>Item {n}</title>"
        f"<updated>2026-11-20T12:00:00+00:00</updated>"
        f"<summary>{'Words of a summary that fill a feed entry. ' * 12}</summary></entry>"
        for n in range(ENTRIES)
    )
    return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<id>bench</id><title>Bench</title><updated>2026-11-20T12:00:00+00:00</updated>"
            f"{entries}</feed>").encode()


def _publish(root: Path) -> bytes:
    body = _feed_bytes()
    when = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
    documents = {"feeds/all.atom": Document(body, OUTPUT_FORMATS["atom"].content_type, when)}
    items = tuple(
        ItemRecord(id=f"item-{n}", guid=f"tag:bench,2026:{n}", title=f"Item {n}",
                   date="2026-11-20", category=None, category_slug=None, credit=None,
                   summary=None, link=None, feeds=("all",))
        for n in range(ENTRIES)
    )
    site = SiteSnapshot(title="Bench", description="", base_url="http://bench.test/",
                        language="en", latest=items, item_count=len(items),
                        feeds=(FeedLink("all", "Bench", None, None, ENTRIES, "2026-11-20",
                                        when.isoformat()),))
    publish(root / "public", documents, site)
    return body


def serve_published_feeds() -> list[Measurement]:
    """Answer REQUESTS feed polls: full, gzip, 304, and the home page."""
    from bench.run import Measurement, best_time

    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        body = _publish(root)
        settings = settings_from_mapping({"storage": {"publish_dir": "public"}},
                                         config_path=root / "feedsvc.toml")
        client = create_app(settings, status_provider=dict).test_client()
        etag = client.get("/feeds/all.atom", headers={"Accept-Encoding": "gzip"}).headers["ETag"]

        bare = Flask("bench")
        bare.add_url_rule("/feed", "feed", lambda: body)
        bare_client = bare.test_client()

        def poll(client_: FlaskClient, path: str, headers: dict[str, str]) -> None:
            for _ in range(REQUESTS):
                client_.get(path, headers=headers)

        cases = [
            ("baseline: bare Flask route", bare_client, "/feed", {}),
            ("GET feed, identity", client, "/feeds/all.atom", {}),
            ("GET feed, gzip", client, "/feeds/all.atom", {"Accept-Encoding": "gzip"}),
            ("GET feed, 304", client, "/feeds/all.atom",
             {"Accept-Encoding": "gzip", "If-None-Match": etag}),
            ("GET home page (cached render)", client, "/", {}),
        ]
        return [
            Measurement(name, REQUESTS, "requests",
                        best_time(partial(poll, c, p, h)),
                        target_per_second=None if name.startswith("baseline") else 1_000)
            for name, c, p, h in cases
        ]
