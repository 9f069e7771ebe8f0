"""The app on a real loopback server, subscribed to by real feed readers.

feedparser and the ``reader`` library (PyPI) poll twice: the second poll must
be answered with 304. Debian's newsboat, when installed, reloads the feeds
non-interactively into its SQLite cache. ``feedsvc serve`` itself is started
in a child process and stopped with SIGTERM.
"""

from __future__ import annotations

import gzip
import http.client
import logging
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import feedparser
import pytest
from log_events import events, field, logged, records, tag
from reader import make_reader
from web_fixtures import ITEMS, LiveServer, live_server, publish_site, web_settings
from werkzeug.serving import make_server

from feedsvc.errors import FeedsvcError
from feedsvc.logevents import Event
from feedsvc.web import create_app, serve
from feedsvc.web.server import announce, links_elsewhere

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
NEWSBOAT = "/usr/bin/newsboat"
ALL_TITLES = {record.title for record in ITEMS}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(tmp_path) as running:
        yield running


def request(server: LiveServer, method: str, path: str,
            headers: dict[str, str] | None = None) -> tuple[http.client.HTTPResponse, bytes]:
    """One request on the wire, without any client-side decoding."""
    parts = urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response, response.read()
    finally:
        connection.close()


def require(path: str, what: str) -> None:
    """Skip when a Debian tool is missing, unless running in CI (then it must be there)."""
    if not Path(path).exists():
        message = f"{what} is not installed at {path} (Debian: apt-get install {what})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


# --- feedparser ---


@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_feedparser_subscribes_then_gets_304(server: LiveServer, fmt: str) -> None:
    url = f"{server.url}feeds/all.{fmt}"
    first = feedparser.parse(url)
    assert first.status == 200
    assert not first.bozo, first.get("bozo_exception")
    assert {entry.title for entry in first.entries} == ALL_TITLES
    assert first.etag and first.modified

    second = feedparser.parse(url, etag=first.etag, modified=first.modified)
    assert second.status == 304
    assert second.entries == []
    assert server.statuses(f"/feeds/all.{fmt}") == [200, 304]


def test_feedparser_with_only_modified_gets_304(server: LiveServer) -> None:
    url = f"{server.url}feeds/category/press-release.atom"
    first = feedparser.parse(url)
    assert len(first.entries) == 2
    second = feedparser.parse(url, modified=first.modified)
    assert second.status == 304


def test_feedparser_reads_a_category_feed_gzipped(server: LiveServer) -> None:
    first = feedparser.parse(f"{server.url}feeds/category/statement.rss")
    assert first.headers.get("content-encoding") == "gzip"
    assert [entry.title for entry in first.entries] == ["Lighthouse reopens after repairs"]


# --- the reader library ---


@pytest.mark.parametrize("fmt", ["atom", "rss", "json"])
def test_reader_subscribes_then_is_not_modified(server: LiveServer, fmt: str) -> None:
    url = f"{server.url}feeds/all.{fmt}"
    reader = make_reader(":memory:")
    try:
        reader.add_feed(url)
        first = list(reader.update_feeds_iter(scheduled=False))
        assert [result.url for result in first] == [url]
        updated = first[0].updated_feed
        assert updated is not None, first[0].error
        assert updated.new == len(ITEMS)
        assert {entry.title for entry in reader.get_entries()} == ALL_TITLES

        # scheduled=False: poll now, even though the feed is not due yet.
        second = list(reader.update_feeds_iter(scheduled=False))
        assert [(result.url, result.value) for result in second] == [(url, None)]
        assert reader.get_feed(url).last_exception is None
        assert reader.get_entry_counts().total == len(ITEMS)
    finally:
        reader.close()
    assert server.statuses(f"/feeds/all.{fmt}") == [200, 304]


# --- newsboat ---


def newsboat_reload(workdir: Path, urls: list[str]) -> None:
    (workdir / "urls").write_text("".join(url + "\n" for url in urls))
    (workdir / "config").write_text("download-timeout 20\n")
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    result = subprocess.run(
        [NEWSBOAT, "-x", "reload", "-u", str(workdir / "urls"), "-c",
         str(workdir / "cache.db"), "-C", str(workdir / "config")],
        env={**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
             "XDG_DATA_HOME": str(home / ".local/share")},
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_newsboat_reloads_the_feeds(server: LiveServer, tmp_path: Path) -> None:
    require(NEWSBOAT, "newsboat")
    urls = [f"{server.url}feeds/all.atom", f"{server.url}feeds/category/press-release.rss"]
    newsboat_reload(tmp_path, urls)
    with sqlite3.connect(tmp_path / "cache.db") as db:
        feeds = dict(db.execute("SELECT rssurl, title FROM rss_feed").fetchall())
        titles = {title for (title,) in db.execute("SELECT title FROM rss_item")}
    assert feeds == {urls[0]: "Harbour Town News",
                     urls[1]: "Harbour Town News: Press release"}
    # newsboat keeps one row per guid, whichever feed it came from
    assert titles == ALL_TITLES

    # newsboat 2.21 keeps a new feed's ETag/Last-Modified only from its second
    # fetch on, so the third reload is the first one that can be answered 304.
    newsboat_reload(tmp_path, urls)
    newsboat_reload(tmp_path, urls)
    for url in urls:
        statuses = server.statuses(urlsplit(url).path)
        assert len(statuses) == 3
        assert statuses[0] == 200
        assert statuses[-1] == 304


# --- the wire ---


def test_head_on_the_wire_has_content_length_and_no_body(server: LiveServer) -> None:
    get, body = request(server, "GET", "/feeds/all.atom")
    head, nothing = request(server, "HEAD", "/feeds/all.atom")
    assert head.status == get.status == 200
    assert nothing == b""
    assert head.getheader("Content-Length") == str(len(body))
    assert head.getheader("ETag") == get.getheader("ETag")
    assert head.getheader("Date")


def test_304_on_the_wire_has_no_body(server: LiveServer) -> None:
    first, _ = request(server, "GET", "/feeds/all.json", {"Accept-Encoding": "gzip"})
    etag = first.getheader("ETag") or ""
    again, body = request(server, "GET", "/feeds/all.json",
                          {"Accept-Encoding": "gzip", "If-None-Match": etag})
    assert again.status == 304
    assert body == b""
    assert again.getheader("ETag") == etag
    assert again.getheader("Vary") == "Accept, Accept-Encoding"
    assert again.getheader("Cache-Control") == "public, max-age=300"
    assert again.getheader("Content-Encoding") is None


def test_gzip_on_the_wire(server: LiveServer) -> None:
    plain, identity = request(server, "GET", "/feeds.opml")
    packed, compressed = request(server, "GET", "/feeds.opml", {"Accept-Encoding": "gzip"})
    assert packed.getheader("Content-Encoding") == "gzip"
    assert packed.getheader("Content-Length") == str(len(compressed))
    assert gzip.decompress(compressed) == identity
    assert packed.getheader("ETag") != plain.getheader("ETag")


def test_pages_on_the_wire(server: LiveServer) -> None:
    home, body = request(server, "GET", "/")
    assert home.status == 200
    assert home.getheader("Content-Type") == "text/html; charset=utf-8"
    assert b'<link rel="alternate" type="application/atom+xml"' in body
    missing, text = request(server, "GET", "/feeds/category/nope.rss")
    assert missing.status == 404
    assert missing.getheader("Cache-Control") == "no-store"
    assert b"Unknown category" in text


def test_nothing_published_then_published(tmp_path: Path) -> None:
    with live_server(tmp_path, publish=False) as running:
        before, _ = request(running, "GET", "/feeds/all.atom")
        assert before.status == 503
        assert before.getheader("Retry-After") == "30"
        settings = web_settings(tmp_path, base_url=running.url)
        publish_site(settings.storage.publish_dir, base_url=running.url)
        after = feedparser.parse(f"{running.url}feeds/all.atom")
        assert after.status == 200
        assert {entry.title for entry in after.entries} == ALL_TITLES


# --- feedsvc serve ---

SERVE_SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from web_fixtures import publish_site, web_settings
    from feedsvc.cli import configure_logging
    from feedsvc.web import serve

    class FakeScheduler:
        def shutdown(self):
            print("scheduler stopped", flush=True)

        def on_second_signal(self, signum):
            print("second signal", flush=True)

    def start_background_scheduler(settings):
        print("scheduler started", flush=True)
        return FakeScheduler()

    configure_logging()  # as `feedsvc serve` does
    settings = web_settings(Path({root!r}))
    publish_site(settings.storage.publish_dir)
    serve(settings, host="127.0.0.1", port=0, start_scheduler=start_background_scheduler)
    print("serve returned", flush=True)
""")


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_serve_runs_until_a_signal_then_stops_cleanly(tmp_path: Path, stop: int) -> None:
    script = SERVE_SCRIPT.format(tests=str(ROOT / "tests"), root=str(tmp_path))
    process = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        url = wait_for_serving_url(process)
        parts = urlsplit(url)
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
        connection.request("GET", "/healthz")
        health = connection.getresponse()
        assert (health.status, health.read()) == (200, b"ok\n")
        connection.request("GET", "/feeds/all.atom")
        assert connection.getresponse().status == 200
        connection.close()
        process.send_signal(stop)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert stdout.splitlines() == ["scheduler started", "scheduler stopped", "serve returned"]
    assert logged(stderr, Event.SERVER_STOPPING)


def wait_for_serving_url(process: subprocess.Popen[str]) -> str:
    """Read the child's log (in the default format) until its ``server.started`` line,
    logged before serving, and return the address that line gives."""
    assert process.stderr is not None
    seen: list[str] = []
    for line in process.stderr:
        seen.append(line)
        if line.rstrip("\n").endswith(tag(Event.SERVER_STARTED)):
            match = re.search(r"http://\S+", line)
            assert match is not None, line
            return match.group(0)
    raise AssertionError("feedsvc serve exited without serving:\n" + "".join(seen))



# A scheduler whose refresh is still running when serve stops: shutdown()
# waits until a second signal abandons the refresh (here: records it and exits 0,
# as feedsvc.scheduler's handle does).
SERVE_WHILE_REFRESHING = textwrap.dedent("""
    import os, sys, threading
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from web_fixtures import web_settings
    from feedsvc.cli import configure_logging
    from feedsvc.web import serve

    abandoned = threading.Event()

    class RefreshingScheduler:
        def shutdown(self):
            print("waiting for the refresh", flush=True)
            abandoned.wait()

        def on_second_signal(self, signum):
            print("abandoned", flush=True)
            os._exit(0)

    configure_logging()  # as `feedsvc serve` does
    serve(web_settings(Path({root!r})), host="127.0.0.1", port=0,
          start_scheduler=lambda settings: RefreshingScheduler())
""")


def test_a_second_signal_while_stopping_goes_to_the_scheduler(tmp_path: Path) -> None:
    script = SERVE_WHILE_REFRESHING.format(tests=str(ROOT / "tests"), root=str(tmp_path))
    process = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_serving_url(process)
        assert process.stdout is not None
        process.send_signal(signal.SIGTERM)
        assert process.stdout.readline() == "waiting for the refresh\n"
        # Before the fix the default handler was back by now: exit 143.
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert stdout == "abandoned\n"


@pytest.mark.parametrize(("base_url", "port", "warned"), [
    ("http://127.0.0.1:8000/", 8000, False),
    ("http://127.0.0.1:8000/", 18471, True),
    ("http://localhost/", 80, False),
    ("http://localhost/", 8080, True),
    ("https://feeds.localhost/", 8443, True),
    ("https://[::1]:443/", 443, False),
    ("http://127.0.0.2:8000/news/", 9000, True),
    # A public address: a proxy in front may use any port.
    ("https://feeds.example.org/", 8000, False),
    ("http://192.0.2.7:8000/", 9000, False),
])
def test_links_elsewhere_warns_for_a_local_base_url_on_another_port(
    base_url: str, port: int, warned: bool
) -> None:
    warning = links_elsewhere(base_url, port)
    if warned:
        assert warning == (f"feed links use {base_url} but this server listens on port "
                           f"{port}; set site.base_url")
    else:
        assert warning is None


def test_serving_on_another_port_than_base_url_logs_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="feedsvc.web.server")
    settings = web_settings(tmp_path, base_url="http://127.0.0.1:8000/")
    server = make_server("127.0.0.1", 0, create_app(settings))
    try:
        port = server.server_address[1]
        announce(server, settings.site.base_url)
    finally:
        server.server_close()
    assert len(caplog.records) == 2
    assert events(caplog, "feedsvc.web.server") == [
        (logging.INFO, Event.SERVER_STARTED),
        (logging.WARNING, Event.SERVER_PORT_MISMATCH),
    ]
    started, = records(caplog, Event.SERVER_STARTED)
    assert field(started, "url") == f"http://127.0.0.1:{port}/"


@pytest.mark.parametrize("port", [70000, -1])
def test_serve_on_an_impossible_port_is_a_clear_error(tmp_path: Path, port: int) -> None:
    with pytest.raises(FeedsvcError, match=f"cannot listen on 127.0.0.1:{port}: "):
        serve(web_settings(tmp_path), host="127.0.0.1", port=port)


def test_serve_on_a_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(FeedsvcError, match=f"cannot listen on 127.0.0.1:{port}"):
            serve(web_settings(tmp_path), host="127.0.0.1", port=port)
