"""The whole product, as a newcomer runs it: ``feedsvc serve`` on the bundled listings.

A copy of the bundled config (so nothing is written into the checkout) is
served by the real command in a child process; real feed readers subscribe.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import feedparser
import pytest
from reader import make_reader

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
FEEDSVC = Path(sys.executable).parent / "feedsvc"
SEEDS = [ROOT / "config" / "listings" / name
         for name in ("newsroom-2021-01.txt", "newsroom-2021-11.txt")]
SEED_CATEGORIES = 13
SEED_ITEMS = 20


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _seed_titles() -> set[str]:
    titles: set[str] = set()
    for path in SEEDS:
        result = subprocess.run([str(FEEDSVC), "parse", str(path)], capture_output=True,
                                text=True, check=True)
        titles |= {item["title"] for item in json.loads(result.stdout)}
    return titles


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``feedsvc serve`` on a copy of the bundled config; yields its base URL."""
    root = tmp_path_factory.mktemp("quick-start")
    shutil.copytree(ROOT / "config", root / "config")
    port = _free_port()
    config = root / "config" / "feedsvc.toml"
    text = config.read_text(encoding="utf-8")
    text = text.replace("http://127.0.0.1:8000/", f"http://127.0.0.1:{port}/")
    text = re.sub(r"(?m)^port = 8000$", f"port = {port}", text)
    config.write_text(text, encoding="utf-8")
    process = subprocess.Popen(
        [str(FEEDSVC), "--config", str(config), "serve"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"feedsvc serve exited: {process.communicate()[0]}")
            try:
                if _get(base + "feeds/all.atom")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            pytest.fail("feedsvc serve published nothing within 60 s")
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            output = process.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            process.kill()
            output = process.communicate()[0]
        assert process.returncode == 0, output


def test_a_reader_subscribed_to_all_atom_gets_the_seed_items(service: str) -> None:
    parsed = feedparser.parse(service + "feeds/all.atom")
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.status == 200
    assert len(parsed.entries) == SEED_ITEMS
    assert {entry.title for entry in parsed.entries} == _seed_titles()
    for entry in parsed.entries:
        assert entry.link.startswith(service + "items/")
        assert _get(entry.link)[0] == 200
    again = feedparser.parse(service + "feeds/all.atom", etag=parsed.etag,
                             modified=parsed.modified)
    assert again.status == 304


@pytest.mark.parametrize("fmt", ["atom", "rss", "json"])
def test_the_reader_library_subscribes_to_every_format(
    service: str, tmp_path: Path, fmt: str
) -> None:
    # feedparser's releases read no JSON Feed; the reader library does.
    reader = make_reader(str(tmp_path / "reader.sqlite"))
    try:
        url = service + f"feeds/all.{fmt}"
        reader.add_feed(url)
        reader.update_feeds()
        titles = {entry.title for entry in reader.get_entries(feed=url)}
        assert titles == _seed_titles()
        feed = reader.get_feed(url)
        assert feed.last_exception is None
    finally:
        reader.close()


def test_every_seed_category_has_a_feed_in_every_format(service: str) -> None:
    status, _, body = _get(service + "feeds.opml")
    assert status == 200
    slugs = sorted(set(re.findall(rb"/feeds/category/([a-z0-9-]+)\.atom", body)))
    assert len(slugs) == SEED_CATEGORIES
    for slug in slugs:
        for fmt, content_type in (("atom", "application/atom+xml"),
                                  ("rss", "application/rss+xml"),
                                  ("json", "application/feed+json")):
            status, headers, body = _get(f"{service}feeds/category/{slug.decode()}.{fmt}")
            assert status == 200, (slug, fmt)
            assert headers["Content-Type"] == f"{content_type}; charset=utf-8"
            if fmt == "json":
                assert json.loads(body)["items"]
            else:
                parsed = feedparser.parse(body)
                assert not parsed.bozo and parsed.entries, (slug, fmt)
