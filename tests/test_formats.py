"""The format registry: what auto chooses, and that every format is complete."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedsvc.formats import (
    AUTO,
    FORMAT_NAMES,
    FORMATS,
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
    for fmt in FORMATS.values():
        assert fmt.name in FORMAT_NAMES
        for setting in fmt.settings:
            assert setting.key in keys


@pytest.mark.parametrize("name", list(FORMATS))
def test_every_parser_is_found(name: str) -> None:
    result = FORMATS[name].parse(ParseRequest(text="", source="s"))
    assert result.items == ()
