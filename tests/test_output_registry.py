"""Adding an output format is one module plus one line in ``feedsvc.outputs.OUTPUT_FORMATS``.

A toy format (a plain-text list of the entries' titles) is registered in this
test's copy of the registry only; with nothing else changed, the pipeline
renders and publishes it for every feed, each feed names it among its self
URLs, the web app serves it with its content type, and the pages for people
link it by its label. Were any of them to keep its own list of formats, the
toy would be missing there and this test would fail.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from feedsvc.deferred import Deferred
from feedsvc.models import FeedSpec
from feedsvc.outputs import OUTPUT_FORMATS, OutputFormat, output_for_extension
from feedsvc.pipeline import refresh
from feedsvc.publication import open_publication
from feedsvc.settings import Settings
from feedsvc.web.app import create_app

T0 = dt.datetime(2026, 11, 22, 6, 0, tzinfo=dt.UTC)
TOY = OutputFormat(
    name="titles", extension="txt", content_type="text/plain; charset=utf-8",
    label="Plain text", renderer=Deferred(f"{__name__}:titles_document"))


def titles_document(spec: FeedSpec) -> bytes:
    """The toy renderer: the feed's title, then one entry title a line."""
    return "".join(f"{line}\n" for line in (spec.title, *(e.title for e in spec.entries))
                   ).encode("utf-8")


@pytest.fixture
def toy_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(OUTPUT_FORMATS, TOY.name, TOY)


@pytest.fixture
def settings(make_settings: Callable[..., Settings], tmp_path: Path,
             pipeline_data: Path) -> Settings:
    listings = tmp_path / "listings"
    listings.mkdir()
    shutil.copy(pipeline_data / "site-a.txt", listings / "a.txt")
    return make_settings([{"name": "a", "location": "listings/a.txt", "language": "en"}])


def test_the_registry_declares_each_format_once_with_distinct_extensions() -> None:
    assert list(OUTPUT_FORMATS) == ["atom", "rss", "json"]
    extensions = [output.extension for output in OUTPUT_FORMATS.values()]
    assert len(set(extensions)) == len(extensions)
    for output in OUTPUT_FORMATS.values():
        assert output_for_extension(output.extension) is output
    assert output_for_extension("html") is None


@pytest.mark.usefixtures("toy_registered")
def test_a_format_registered_once_is_rendered_published_served_and_linked(
    settings: Settings,
) -> None:
    refresh(settings, now=T0)
    publication = open_publication(settings.storage.publish_dir)
    assert publication is not None
    published = publication.files["feeds/all.txt"]
    assert published.content_type == TOY.content_type
    text = publication.read("feeds/all.txt").decode("utf-8")
    assert text.splitlines()[0] == publication.site.feeds[0].title
    assert len(text.splitlines()) > 1

    client = create_app(settings).test_client()
    served = client.get("/feeds/all.txt")
    assert served.status_code == 200
    assert served.headers["Content-Type"] == TOY.content_type
    assert served.get_data(as_text=True) == text

    home = client.get("/").get_data(as_text=True)
    assert 'href="/feeds/all.txt" type="text/plain"' in home
    assert "Plain text" in home
    # The feed's page for people offers it as an alternate, as the Atom feed names it.
    view = client.get("/feeds/all.html").get_data(as_text=True)
    assert 'type="text/plain"' in view and "(Plain text)" in view
    atom = client.get("/feeds/all.atom", headers={"Accept": "application/atom+xml"})
    assert atom.status_code == 200

    # Content negotiation knows the format from the registry alone: a client naming
    # its media type gets the text, a browser the feed's page.
    asked = client.get("/feeds/all.txt", headers={"Accept": "text/html, text/plain"})
    assert asked.headers["Content-Type"] == TOY.content_type
    browser = client.get("/feeds/all.txt", headers={"Accept": "text/html,*/*;q=0.8"})
    assert browser.headers["Content-Type"].startswith("text/html")

    unknown = client.get("/feeds/all.csv")
    assert unknown.status_code == 404
    assert ".txt" in unknown.get_data(as_text=True)
