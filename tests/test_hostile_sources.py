"""Hostile content end to end: what a misbehaving server sends goes through a whole refresh
without breaking it, leaking through it or poisoning the feeds.

One hostile server (``tests/hostile_server.py``) on a loopback port serves a
listing whose title is 20,000 nested elements deep, a UTF-8 listing with one
stray byte, and a listing reached through a URL carrying credentials.
"""

from __future__ import annotations

import datetime as dt
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostile_server import HostileServer, html_listing, respond
from log_events import lines_of

from feedsvc.logevents import Event
from feedsvc.pipeline import refresh
from feedsvc.publication import open_publication
from feedsvc.settings import Settings, settings_from_mapping
from feedsvc.web import create_app

NOW = dt.datetime(2026, 11, 22, 6, 0, tzinfo=dt.UTC)
PASSWORD = "S3cretPassw0rd"
API_KEY = "k3y-0f-the-source"
ADMIN_TOKEN = "a" * 24 + "-admin-token-for-tests"

DEEP_TITLE = "<span>" * 20_000 + "Deep news" + "</span>" * 20_000
DEEP_PAGE = (
    '<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><main>'
    f'<article><h2>{DEEP_TITLE}</h2><time datetime="2021-11-16">16 November 2021</time>'
    "<p>Under many spans.</p></article>"
    '<article><h2>Shallow news</h2><time datetime="2021-11-15">15 November 2021</time>'
    "<p>Plain.</p></article></main></body></html>"
).encode()

STRAY_BYTE = (
    "November 2021\n\n"
    "  1. Press release\n\n"
    "    \u2018Quoted\u2019 news with caf\u00e9s\n\n"
    "    16 November 2021\n\n"
    "    A summary with \u201cquotes\u201d.\n\n"
    "  2. Video\n\n"
    "    Another item \u2014 with a dash\n\n"
    "    15 November 2021\n\n"
).encode("utf-8").replace(b"Another", b"An\xffother")


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer("127.0.0.1") as hostile:
        hostile.routes.update({
            "/deep": respond(DEEP_PAGE),
            # Served with no charset: the bytes alone say what they are.
            "/stray-byte": respond(STRAY_BYTE, content_type="text/plain"),
            "/private": respond(html_listing("Members only news")),
        })
        yield hostile


def write_config(root: Path, server: HostileServer) -> Path:
    """The same site as ``settings_for``, as a settings file for the command."""
    root.mkdir(parents=True)
    config = root / "feedsvc.toml"
    authority = f"user:{PASSWORD}@127.0.0.1:{server.port}"
    config.write_text(
        '[storage]\ndatabase = "sqlite:///db.sqlite3"\npublish_dir = "public"\n'
        '[[sources]]\nname = "private"\nformat = "html"\n'
        f'location = "http://{authority}/private?api_key={API_KEY}"\n', "utf-8")
    return config


def settings_for(root: Path, server: HostileServer) -> Settings:
    authority = f"user:{PASSWORD}@127.0.0.1:{server.port}"
    raw = {
        "site": {"title": "Hostile", "base_url": "http://feeds.test/", "timezone": "UTC"},
        "storage": {"database": "sqlite:///db.sqlite3", "publish_dir": "public"},
        "server": {"admin_token": ADMIN_TOKEN},
        "fetch": {"retries": 0, "total_timeout": 20},
        "sources": [
            {"name": "deep", "location": server.url("/deep"), "format": "html"},
            {"name": "stray-byte", "location": server.url("/stray-byte"), "language": "en"},
            {"name": "private", "location": f"http://{authority}/private?api_key={API_KEY}",
             "format": "html"},
        ],
    }
    return settings_from_mapping(raw, config_path=root / "feedsvc.toml")


@pytest.mark.slow
def test_hostile_content_goes_through_a_refresh(
    tmp_path: Path, server: HostileServer, caplog: pytest.LogCaptureFixture,
) -> None:
    settings = settings_for(tmp_path, server)
    with caplog.at_level(logging.DEBUG, logger="feedsvc"):
        report = refresh(settings, now=NOW)
    by_name = {source.name: source for source in report.sources}
    # Deep markup: read, or failed in one line; never a traceback, never a lost refresh.
    deep = by_name["deep"]
    assert deep.ok or (deep.error is not None and "\n" not in deep.error)
    assert "Traceback" not in caplog.text and "RecursionError" not in caplog.text
    # One stray byte: UTF-8 all the same, the byte replaced and said where.
    stray = by_name["stray-byte"]
    assert stray.ok and stray.found == 2
    assert any("line 13" in message and "U+FFFD" in message
               for message in stray.warning_messages)
    publication = open_publication(settings.storage.publish_dir)
    assert publication is not None
    titles = {record.title for record in publication.site.latest}
    assert "\u2018Quoted\u2019 news with caf\u00e9s" in titles
    assert not any("\u201a\u00c4" in title for title in titles)  # no mojibake
    # Credentials in a source's URL: used, never shown.
    assert by_name["private"].ok
    assert "Members only news" in titles
    assert PASSWORD not in caplog.text
    # Nor in what the command logs, the HTTP client's records included.
    done = subprocess.run(
        [sys.executable, "-m", "feedsvc.cli", "--verbose", "--config",
         str(write_config(tmp_path / "cli", server)), "refresh"],
        capture_output=True, text=True, check=False)
    assert PASSWORD not in done.stderr
    assert any("source=private status=ok" in line
               for line in lines_of(done.stderr, Event.SOURCE_READ))
    client = create_app(settings).test_client()
    anonymous = client.get("/status").get_data(as_text=True)
    assert PASSWORD not in anonymous and API_KEY not in anonymous
    admin = client.get("/status", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert admin.status_code == 200
    assert PASSWORD not in admin.get_data(as_text=True)
