"""Every feed published for the bundled site passes the W3C Feed Validation Service.

The validator is not a Python package: it runs from a checkout of
w3c/feedvalidator. Point FV_HOME at the checkout and FV_PYTHON at a Python
with lxml, html5lib and rdflib (see the README's Development section) to run
this test; without them it is skipped with that reason.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from feedsvc.pipeline import refresh
from feedsvc.publishing import publisher_for
from feedsvc.settings import Settings, load_settings
from feedsvc.websub import Notifier

ROOT = Path(__file__).resolve().parent.parent
# In the past: the validator calls dates later than its own clock implausible.
NOW = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


def published_files(settings: Settings, into: Path, suffixes: tuple[str, ...]) -> list[str]:
    """Every document of the live publication whose name ends in one of ``suffixes``,
    archive pages included (kept apart from the generation's directory), copied
    under ``into`` at its published path for the validator to read."""
    live = publisher_for(settings).live()
    assert live is not None, "nothing is published"
    written = []
    for path in sorted(live.files):
        if path.endswith(suffixes):
            target = into / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(live.read(path))
            written.append(str(target))
    return written


@pytest.mark.slow
def test_published_feeds_have_no_errors_or_warnings(tmp_path: Path) -> None:
    home, python = os.environ.get("FV_HOME"), os.environ.get("FV_PYTHON")
    if not home or not python:
        pytest.skip("set FV_HOME (a w3c/feedvalidator checkout) and FV_PYTHON to run it")
    shutil.copytree(ROOT / "config", tmp_path / "config")
    settings = load_settings(tmp_path / "config" / "feedsvc.toml", environ={})
    assert refresh(settings, now=NOW).published
    files = published_files(settings, tmp_path / "published", (".atom", ".rss", ".opml"))
    assert len(files) == 14 * 2 + 1
    result = subprocess.run(
        [python, str(ROOT / "scripts" / "validate_feeds.py"), *files],
        env={**os.environ, "FV_HOME": home}, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_archive_documents_have_no_errors_or_warnings(tmp_path: Path) -> None:
    """The bundled site with feeds of 4 entries: every feed has archive pages (RFC 5005),
    which must validate, as must the subscription documents linking to them."""
    home, python = os.environ.get("FV_HOME"), os.environ.get("FV_PYTHON")
    if not home or not python:
        pytest.skip("set FV_HOME (a w3c/feedvalidator checkout) and FV_PYTHON to run it")
    shutil.copytree(ROOT / "config", tmp_path / "config")
    settings = load_settings(tmp_path / "config" / "feedsvc.toml", environ={})
    settings = dataclasses.replace(settings, site=dataclasses.replace(settings.site, feed_size=4))
    assert refresh(settings, now=NOW).published
    files = published_files(settings, tmp_path / "published", (".atom", ".rss"))
    archives = [name for name in files if "/archive/" in name]
    assert len(archives) >= 2 * 6, "the bundled site's 20 items should fill pages"
    result = subprocess.run(
        [python, str(ROOT / "scripts" / "validate_feeds.py"), *files],
        env={**os.environ, "FV_HOME": home}, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


class Silent(Notifier):
    """Tells no hub anything."""

    def wake(self) -> None:
        pass


EXTRAS = """
[websub]
hubs = ["https://hub.example.org/", "http://127.0.0.1:7000/websub?site=ilo"]

[categories]
merge = { "Statement" = "Press release" }
hide = ["Feature"]

[[feeds]]
slug = "child-labour"
title = "Child labour"
include = ["child labour", "children"]

[[feeds]]
slug = "covid"
title = "COVID-19 & work <all sources>"
regex = true
include = ["covid", "pandemic"]
exclude = ["^Video"]
"""


@pytest.mark.slow
def test_custom_feeds_and_hub_links_have_no_errors_or_warnings(tmp_path: Path) -> None:
    home, python = os.environ.get("FV_HOME"), os.environ.get("FV_PYTHON")
    if not home or not python:
        pytest.skip("set FV_HOME (a w3c/feedvalidator checkout) and FV_PYTHON to run it")
    shutil.copytree(ROOT / "config", tmp_path / "config")
    config = tmp_path / "config" / "feedsvc.toml"
    config.write_text(config.read_text("utf-8") + EXTRAS, "utf-8")
    settings = load_settings(config, environ={})
    # The hubs are only named in the feeds: nothing is sent to them.
    assert refresh(settings, now=NOW, notifier=Silent(settings)).published
    current = settings.storage.publish_dir / "current"
    custom = sorted(str(p) for p in (current / "feeds" / "custom").rglob("*")
                    if p.suffix in (".atom", ".rss"))
    assert len(custom) == 2 * 2
    files = [*custom, str(current / "feeds" / "all.atom"), str(current / "feeds" / "all.rss"),
             str(current / "feeds.opml")]
    assert b'rel="hub"' in (current / "feeds" / "all.rss").read_bytes()
    result = subprocess.run(
        [python, str(ROOT / "scripts" / "validate_feeds.py"), *files],
        env={**os.environ, "FV_HOME": home}, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


MIXED_SITE = """
[[sources]]
name = "bureau-fr"
location = "listings/bureau-fr.html"

[[sources]]
name = "agency-api"
location = "listings/agency-posts.json"
"""


@pytest.mark.slow
def test_every_document_of_a_mixed_site_has_no_errors_or_warnings(tmp_path: Path) -> None:
    """Every document one refresh publishes, for the bundled text listings beside an
    HTML page read by detection (French, images with credits) and a JSON API (an
    item without a summary), with feeds of 3 entries (archive pages), custom feeds,
    category rules and hubs."""
    home, python = os.environ.get("FV_HOME"), os.environ.get("FV_PYTHON")
    if not home or not python:
        pytest.skip("set FV_HOME (a w3c/feedvalidator checkout) and FV_PYTHON to run it")
    shutil.copytree(ROOT / "config", tmp_path / "config")
    for name in ("bureau-fr.html", "agency-posts.json"):
        shutil.copy(ROOT / "tests" / "data" / "w3c" / name, tmp_path / "config" / "listings")
    config = tmp_path / "config" / "feedsvc.toml"
    text = config.read_text("utf-8").replace("feed_size = 50", "feed_size = 3")
    extras = EXTRAS.replace('"Statement" = "Press release"',
                            '"Communiqué de presse" = "Press release"')
    config.write_text(text + MIXED_SITE + extras, "utf-8")
    settings = load_settings(config, environ={})
    assert settings.site.feed_size == 3
    assert refresh(settings, now=NOW, notifier=Silent(settings)).ok
    files = published_files(settings, tmp_path / "published", (".atom", ".rss", ".opml"))
    assert any("/archive/" in name for name in files)
    assert any("/custom/" in name for name in files)
    assert len(files) > 40, len(files)
    every = b"".join(Path(name).read_bytes() for name in files)
    for wanted in (b'xml:lang="fr"', b'rel="enclosure"', b"<enclosure ", b"media:credit",
                   b'rel="hub"', b'rel="prev-archive"'):
        assert wanted in every, wanted
    result = subprocess.run(
        [python, str(ROOT / "scripts" / "validate_feeds.py"), *files],
        env={**os.environ, "FV_HOME": home}, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
