"""The format registry: what auto chooses, and that every format is complete."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from feedsvc.formats import (
    AUTO,
    SOURCE_FORMAT_NAMES,
    SOURCE_FORMATS,
    ParseRequest,
    choose_format,
    format_named,
)
from feedsvc.settings import SOURCE_OPTIONS

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(("content_type", "body", "expected"), [
    ("text/html; charset=utf-8", b"News\n", "html"),
    ("text/html; charset=utf-8", b'{"posts": [{"title": "a"}]}', "json"),
    ("application/xhtml+xml", b"", "html"),
    ("application/json", b"not even json", "json"),
    ("application/vnd.api+json", b"{}", "json"),
    ("application/feed+json", b"{}", "json"),
    (None, b'\xef\xbb\xbf  [{"title": "a"}]', "json"),
    ("text/plain", b'{"items": []}', "json"),
    (None, b"<!DOCTYPE html><title>x</title>", "html"),
    ("application/octet-stream", b"\n\n<div class=views-row>", "html"),
    ("text/plain", b"January 2021\n\n  1. Title\n", "text"),
    (None, b"{ looks like json but is a text listing", "text"),
    (None, b"", "text"),
    (None, "<html><body>é</body></html>".encode("utf-16"), "html"),
])
def test_auto_decides_by_content_type_then_content(
    content_type: str | None, body: bytes, expected: str,
) -> None:
    assert choose_format(AUTO, content_type=content_type, body=body).name == expected


@pytest.mark.parametrize("path", [
    *sorted((DATA / "listings").glob("seed-*.txt")), *sorted((DATA / "html").glob("*.html"))])
def test_auto_reads_every_bundled_fixture_as_its_format(path: Path) -> None:
    expected = "html" if path.suffix == ".html" else "text"
    assert choose_format(AUTO, content_type=None, body=path.read_bytes()).name == expected


def test_a_named_format_is_taken_as_it_is() -> None:
    assert choose_format("text", content_type="text/html", body=b"<html>").name == "text"
    with pytest.raises(ValueError, match="unknown listing format 'pdf'; known: auto, text"):
        format_named("pdf")


def test_every_format_setting_is_a_source_option() -> None:
    keys = [option.key for option in SOURCE_OPTIONS]
    assert len(keys) == len(set(keys))
    for fmt in SOURCE_FORMATS.values():
        assert fmt.name in SOURCE_FORMAT_NAMES
        for setting in fmt.settings:
            assert setting.key in keys


@pytest.mark.parametrize("name", list(SOURCE_FORMATS))
def test_every_parser_is_found(name: str) -> None:
    result = SOURCE_FORMATS[name].parse(ParseRequest(text="", source="s"))
    assert result.items == ()


def test_every_source_setting_that_changes_a_read_changes_the_fingerprint(
    tmp_path: Path,
) -> None:
    from feedsvc.pipeline import config_fingerprint
    from feedsvc.settings import settings_from_mapping

    base = {"name": "s", "location": "https://example.org/news"}
    variants: list[dict[str, object]] = [
        {}, {"format": "json"}, {"date_order": "mdy"}, {"render": "browser"},
        {"paths": {"items": "data.news"}}, {"selectors": {"item": ".row"}}, {"max_pages": 2},
        {"language": "fr"},
    ]
    sources = settings_from_mapping(
        {"sources": [{**base, "name": f"s{n}", **v} for n, v in enumerate(variants)]},
        config_path=tmp_path / "feedsvc.toml").sources
    fingerprints = [config_fingerprint(source) for source in sources]
    assert len(set(fingerprints)) == len(variants)
    # Not the name, nor the order selectors are written in.
    same = settings_from_mapping(
        {"sources": [{**base, "name": "x", "selectors": {"title": "h2", "item": ".row"}},
                     {**base, "name": "y", "selectors": {"item": ".row", "title": "h2"}}]},
        config_path=tmp_path / "feedsvc.toml").sources
    assert config_fingerprint(same[0]) == config_fingerprint(same[1])


@pytest.mark.slow
def test_a_refresh_reads_each_source_in_the_format_auto_chooses(
    make_settings: Any, make_fetcher: Any,
) -> None:
    import datetime as dt

    from feedsvc.models import Fetched, Validators
    from feedsvc.pipeline import refresh

    settings = make_settings([
        {"name": "text", "location": "https://example.org/news.txt"},
        {"name": "html", "location": "https://example.org/news/"},
        {"name": "json", "location": "https://example.org/api"},
    ])
    api = (DATA / "jsonapi" / "wordpress-posts.input.json").read_bytes()
    fetcher = make_fetcher({
        "https://example.org/news.txt": (DATA / "listings" / "seed-newsroom-2021-01.txt")
        .read_bytes(),
        "https://example.org/news/": (DATA / "preview" / "drupal-news.html").read_bytes(),
        # Labelled as HTML, as some servers do: the content says JSON.
        "https://example.org/api": Fetched(url="https://example.org/api", body=api,
                                           validators=Validators(), content_type="text/html"),
    })
    report = refresh(settings, now=dt.datetime(2024, 6, 1, tzinfo=dt.UTC), fetcher=fetcher)
    assert [(source.name, source.found) for source in report.sources] == [
        ("text", 10), ("html", 2), ("json", 2)]
