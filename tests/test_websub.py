"""WebSub publishing against a hub of our own on a loopback port.

The hub checks the protocol as a hub would: a POST, form-encoded, with
``hub.mode=publish`` and one ``hub.url``; it records what it was told, and can
be told to fail (5xx) or to hold its answer.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from feedsvc.errors import ConfigError
from feedsvc.listing import render_numbered
from feedsvc.models import ListingItem
from feedsvc.pipeline import refresh
from feedsvc.publication import open_publication
from feedsvc.settings import Settings
from feedsvc.store import Store
from feedsvc.web import create_app
from feedsvc.websub import Notifier

pytestmark = pytest.mark.both_engines  # the refresh on SQLite and on PostgreSQL

T0 = dt.datetime(2026, 11, 22, 6, 0, tzinfo=dt.UTC)
TOKEN = "t" * 40
FEED_FILES = ("atom", "rss", "json")


class Hub:
    """A WebSub hub on 127.0.0.1 that records publish pings and checks their form.

    ``fail`` is how many of the next requests get a 503; ``hold`` (an Event),
    when set to a cleared event, holds every answer until it is set.
    """

    def __init__(self) -> None:
        self.pings: list[str] = []
        self.protocol_errors: list[str] = []
        self.requests = 0
        self.fail = 0
        self.hold: threading.Event | None = None
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length).decode("ascii")
                hub.check(self.headers.get("Content-Type", ""), body)
                if hub.hold is not None:
                    hub.hold.wait(30)
                with lock:
                    hub.requests += 1
                    failing = hub.fail > 0
                    hub.fail -= 1 if failing else 0
                    if not failing:
                        hub.pings.append(dict(parse_qsl(body))["hub.url"])
                self.send_response(503 if failing else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                hub.protocol_errors.append("GET")
                self.send_response(405)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        lock = threading.Lock()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hub"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def check(self, content_type: str, body: str) -> None:
        if content_type.split(";")[0].strip() != "application/x-www-form-urlencoded":
            self.protocol_errors.append(f"content type {content_type!r}")
        fields = parse_qsl(body, strict_parsing=True)
        names = [name for name, _ in fields]
        if sorted(names) != ["hub.mode", "hub.url"]:
            self.protocol_errors.append(f"fields {names}")
        if dict(fields).get("hub.mode") != "publish":
            self.protocol_errors.append(f"hub.mode {dict(fields).get('hub.mode')!r}")

    def close(self) -> None:
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hub() -> Iterator[Hub]:
    running = Hub()
    yield running
    running.close()


def listing(*titles: str, category: str = "Press release") -> list[ListingItem]:
    return [ListingItem(title=title, date=dt.date(2021, 11, 30 - index), category=category,
                        credit=None, summary=f"About {title}.")
            for index, title in enumerate(titles)]


@pytest.fixture
def site(make_settings: Callable[..., Settings], tmp_path: Path, hub: Hub) -> Settings:
    (tmp_path / "listings").mkdir()
    return make_settings([{"name": "news", "location": "listings/news.txt", "language": "en"}],
                         websub={"hubs": [hub.url], "retries": 2},
                         server={"admin_token": TOKEN})


def write(settings: Settings, items: list[ListingItem]) -> None:
    Path(settings.sources[0].location).write_text(render_numbered(items), "utf-8")


def notifier(settings: Settings) -> Notifier:
    return Notifier(settings, backoff=0.01)


def urls(settings: Settings, *keys: str) -> list[str]:
    return sorted(f"{settings.site.base_url}feeds/{key}.{fmt}" for key in keys
                  for fmt in FEED_FILES)


@pytest.mark.slow
def test_every_feed_names_the_hub_and_itself(site: Settings, hub: Hub) -> None:
    write(site, listing("One"))
    refresh(site, now=T0, notifier=notifier(site))
    publication = open_publication(site.storage.publish_dir)
    assert publication is not None
    for key in ("all", "category/press-release"):
        atom = publication.read(f"feeds/{key}.atom").decode()
        assert f'<link href="{hub.url}" rel="hub"/>' in atom
        assert f'href="{site.site.base_url}feeds/{key}.atom" rel="self"' in atom
        rss = publication.read(f"feeds/{key}.rss").decode()
        assert f'<atom:link href="{hub.url}" rel="hub"/>' in rss
        assert f'href="{site.site.base_url}feeds/{key}.rss" rel="self"' in rss
        feed = json.loads(publication.read(f"feeds/{key}.json"))
        assert feed["hubs"] == [{"type": "WebSub", "url": hub.url}]
        assert feed["feed_url"] == f"{site.site.base_url}feeds/{key}.json"


@pytest.mark.slow
def test_a_feed_answers_with_link_headers_to_the_hub_and_itself(site: Settings, hub: Hub) -> None:
    write(site, listing("One"))
    refresh(site, now=T0, notifier=notifier(site))
    client = create_app(site).test_client()
    for path in ("feeds/all.atom", "feeds/category/press-release.json"):
        for accept in ("application/atom+xml", "text/html"):
            response = client.get(f"/{path}", headers={"Accept": accept})
            assert response.status_code == 200
            assert response.headers["Link"] == (
                f'<{hub.url}>; rel="hub", <{site.site.base_url}{path}>; rel="self"')
            again = client.get(f"/{path}", headers={
                "Accept": accept, "If-None-Match": response.headers["ETag"]})
            assert again.status_code == 304 and "Link" in again.headers
    assert "Link" not in client.get("/").headers


@pytest.mark.slow
def test_the_hub_hears_of_exactly_the_feeds_whose_bytes_changed(
    site: Settings, hub: Hub
) -> None:
    sender = notifier(site)
    write(site, [*listing("One"), *listing("Two", category="Video")])
    refresh(site, now=T0, notifier=sender)
    assert sender.drain(30)
    assert sorted(hub.pings) == urls(site, "all", "category/press-release", "category/video")

    hub.pings.clear()
    write(site, [*listing("One", "Three"), *listing("Two", category="Video")])
    refresh(site, now=T0 + dt.timedelta(minutes=30), notifier=sender)
    assert sender.drain(30)
    assert sorted(hub.pings) == urls(site, "all", "category/press-release")

    hub.pings.clear()
    refresh(site, now=T0 + dt.timedelta(minutes=60), notifier=sender)
    assert sender.drain(30)
    assert hub.pings == []
    assert hub.protocol_errors == []


@pytest.mark.slow
def test_a_5xx_is_retried_and_the_delivery_recorded(site: Settings, hub: Hub) -> None:
    sender = notifier(site)
    write(site, listing("One"))
    hub.fail = 2
    refresh(site, now=T0, notifier=sender)
    assert sender.drain(30)
    # Two 503s, then every ping went through on a retry: nothing is lost.
    assert sorted(hub.pings) == urls(site, "all", "category/press-release")
    assert hub.requests == 2 + 6
    with Store.open(site.storage.database) as store:
        state = store.hub_states()[hub.url]
    assert (state.notified_total, state.failures_total, state.consecutive_failures) == (6, 0, 0)


@pytest.mark.slow
def test_failures_show_in_status_and_metrics_and_are_caught_up_later(
    site: Settings, hub: Hub
) -> None:
    sender = notifier(site)
    write(site, listing("One"))
    hub.fail = 1000
    refresh(site, now=T0, notifier=sender)
    assert sender.drain(30)
    assert hub.pings == []
    # The first feed file: the first attempt and 2 retries; the hub failing, it is
    # sent nothing more this time, and all six feeds wait in the outbox.
    assert hub.requests == 3

    client = create_app(site).test_client()
    admin = client.get("/status", headers={"Authorization": f"Bearer {TOKEN}"}).get_json()
    record = admin["websub"][hub.url]
    assert record["pending"] == 6
    assert record["failures_total"] == 1 and record["consecutive_failures"] == 1
    assert record["notified_total"] == 0 and record["last_success"] is None
    assert record["last_error"].startswith(f"{hub.url} answered 503")
    assert "3 attempts" in record["last_error"]
    # The anonymous view has no hub addresses or errors.
    assert "websub" not in client.get("/status").get_json()

    metrics = client.get("/metrics").get_data(as_text=True)
    assert f'feedsvc_websub_failures_total{{hub="{hub.url}"}} 1.0' in metrics
    assert f'feedsvc_websub_consecutive_failures{{hub="{hub.url}"}} 1.0' in metrics
    assert f'feedsvc_websub_pending{{hub="{hub.url}"}} 6.0' in metrics
    assert f'feedsvc_websub_notifications_total{{hub="{hub.url}"}} 0.0' in metrics

    # Back up: the next publication tells it of its own changes and of those it missed.
    hub.fail = 0
    write(site, [*listing("One"), ListingItem(title="Two", date=dt.date(2021, 10, 1),
                                              category="Video", credit=None, summary=None)])
    refresh(site, now=T0 + dt.timedelta(minutes=30), notifier=sender)
    assert sender.drain(30)
    assert sorted(hub.pings) == urls(site, "all", "category/press-release", "category/video")
    metrics = client.get("/metrics").get_data(as_text=True)
    assert f'feedsvc_websub_consecutive_failures{{hub="{hub.url}"}} 0.0' in metrics
    assert f'feedsvc_websub_notifications_total{{hub="{hub.url}"}} 9.0' in metrics
    assert f'feedsvc_websub_pending{{hub="{hub.url}"}} 0.0' in metrics


class Asleep(Notifier):
    """A notifier in a process killed before it could send anything."""

    def wake(self) -> None:
        pass


@pytest.mark.slow
def test_what_a_killed_process_did_not_send_is_sent_by_the_next(
    site: Settings, hub: Hub
) -> None:
    write(site, listing("One"))
    refresh(site, now=T0, notifier=Asleep(site))
    assert hub.requests == 0
    sender = notifier(site)
    sender.wake()
    assert sender.drain(30)
    assert sorted(hub.pings) == urls(site, "all", "category/press-release")


@pytest.mark.slow
def test_the_refresh_does_not_wait_for_the_hub(site: Settings, hub: Hub) -> None:
    sender = notifier(site)
    hub.hold = threading.Event()
    write(site, listing("One"))
    started = time.monotonic()
    report = refresh(site, now=T0, notifier=sender)
    assert report.published
    assert time.monotonic() - started < 20  # the hub holds its answers for 30 s
    assert hub.pings == []
    hub.hold.set()
    assert sender.drain(30)
    assert sorted(hub.pings) == urls(site, "all", "category/press-release")


@pytest.mark.slow
def test_a_dead_hub_holds_up_no_other(site: Settings, hub: Hub) -> None:
    dead = Hub()
    dead.hold = threading.Event()  # never answers within the read timeout
    try:
        settings = replace(site, websub=replace(site.websub, hubs=(dead.url, hub.url)),
                           fetch=replace(site.fetch, read_timeout=1))
        sender = notifier(settings)
        write(settings, listing("One"))
        refresh(settings, now=T0, notifier=sender)
        deadline = time.monotonic() + 20
        while len(hub.pings) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        # The live hub heard of every feed while the dead one was still timing out.
        assert sorted(hub.pings) == urls(settings, "all", "category/press-release")
        assert sender.drain(30)
        with Store.open(settings.storage.database) as store:
            states = store.hub_states()
        assert states[dead.url].failures_total == 1
        assert states[dead.url].pending == 6
        assert "timed out" in (states[dead.url].last_error or "").lower()
        assert (states[hub.url].notified_total, states[hub.url].pending) == (6, 0)
    finally:
        dead.close()


@pytest.mark.slow
def test_no_hub_no_links_and_no_pings(make_settings: Callable[..., Settings],
                                      tmp_path: Path, hub: Hub) -> None:
    (tmp_path / "listings").mkdir()
    plain = make_settings([{"name": "news", "location": "listings/news.txt"}])
    write(plain, listing("One"))
    refresh(plain, now=T0, notifier=notifier(plain))
    publication = open_publication(plain.storage.publish_dir)
    assert publication is not None
    assert b'rel="hub"' not in publication.read("feeds/all.atom")
    assert b'"hubs"' not in publication.read("feeds/all.json")
    assert "Link" not in create_app(plain).test_client().get("/feeds/all.atom").headers
    time.sleep(0.2)
    assert hub.requests == 0


@pytest.mark.parametrize(("hubs", "message"), [
    ("http://hub.test/", "must be an array"),
    (["ftp://hub.test/"], "websub.hubs[0]: must be an absolute http(s) URL"),
    (["https://hub.test/", ""], "websub.hubs[1]: must not be empty"),
])
def test_hubs_are_validated(make_settings: Callable[..., Settings], hubs: Any,
                            message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")
                       .replace(")", r"\)")):
        make_settings([], websub={"hubs": hubs})


@pytest.mark.slow
def test_feedsvc_refresh_tells_the_hubs_before_it_exits(
    tmp_path: Path, hub: Hub, capsys: pytest.CaptureFixture[str],
) -> None:
    from feedsvc import cli

    (tmp_path / "listings").mkdir()
    config = tmp_path / "feedsvc.toml"
    config.write_text(f"""
[site]
base_url = "http://feeds.test/"
[storage]
database = "sqlite:///var/feedsvc.sqlite3"
publish_dir = "var/public"
[websub]
hubs = ["{hub.url}"]
[[sources]]
name = "news"
location = "listings/news.txt"
language = "en"
""", "utf-8")
    (tmp_path / "listings" / "news.txt").write_text(render_numbered(listing("One")), "utf-8")
    assert cli.main(["--config", str(config), "refresh"]) == 0
    # No waiting here: the command returned only once the hub had been told.
    assert sorted(hub.pings) == sorted(f"http://feeds.test/feeds/{key}.{fmt}"
                                       for key in ("all", "category/press-release")
                                       for fmt in FEED_FILES)
    assert "published" in capsys.readouterr().out


@pytest.mark.slow
def test_a_publication_kept_in_the_database_tells_the_hub_too(
    make_settings: Callable[..., Settings], tmp_path: Path, hub: Hub,
) -> None:
    (tmp_path / "listings").mkdir()
    settings = make_settings(
        [{"name": "news", "location": "listings/news.txt", "language": "en"}],
        websub={"hubs": [hub.url], "retries": 0}, storage={"publication": "database"})
    sender = notifier(settings)
    write(settings, listing("One"))
    refresh(settings, now=T0, notifier=sender)
    assert sender.drain(30)
    assert sorted(hub.pings) == urls(settings, "all", "category/press-release")
    hub.pings.clear()
    write(settings, [*listing("One"), ListingItem(title="Two", date=dt.date(2021, 10, 1),
                                                  category="Video", credit=None, summary=None)])
    refresh(settings, now=T0 + dt.timedelta(minutes=30), notifier=sender)
    assert sender.drain(30)
    assert sorted(hub.pings) == urls(settings, "all", "category/video")
