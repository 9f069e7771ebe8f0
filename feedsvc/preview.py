"""``feedsvc parse``: a source read exactly as a refresh reads it, shown, not stored.

``preview`` runs the refresh's own read (``feedsvc.pipeline.read_source``:
the same fetchers with the same limits and address rules, the same charset
handling, format choice, pages and date checks) for a configured source or
for one made up from a location given on the command line
(``adhoc_source``), with nothing remembered from earlier reads. The
functions that print what it gives (``items_json``, ``explain_toml``) are
pure.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from feedsvc.fetch.base import Fetcher
from feedsvc.fetch.routing import RoutingFetcher
from feedsvc.formats import SOURCE_FORMATS
from feedsvc.models import ListingItem, ParseWarning
from feedsvc.settings import Settings, SourceSettings, is_http_url

__all__ = ["Preview", "adhoc_source", "explain_toml", "item_json", "items_json", "preview"]


@dataclass(frozen=True)
class Preview:
    """What reading one source gave: its items in page order, the warnings, the format
    it was read as and (HTML) the selectors its first page was read with."""

    source: SourceSettings
    items: tuple[ListingItem, ...]
    warnings: tuple[ParseWarning, ...]
    format: str | None
    selectors_used: Mapping[str, str] | None


def adhoc_source(
    location: str, *, fmt: str = "auto", language: str | None = None,
    selectors: Mapping[str, str] | None = None, paths: Mapping[str, str] | None = None,
    render: str = "fetch", date_order: str = "dmy",
) -> SourceSettings:
    """A source for ``location`` (an http(s) URL, else a file path, relative to the
    current directory), named by its location, as the command line describes it."""
    resolved = location if is_http_url(location) else str(Path(location).resolve())
    options: dict[str, Any] = {"max_pages": 1}
    if selectors:
        options["selectors"] = MappingProxyType(dict(selectors))
    if paths:
        options["paths"] = MappingProxyType(dict(paths))
    return SourceSettings(name=location, location=resolved, format=fmt, language=language,
                          date_order=date_order, render=render,
                          options=MappingProxyType(options))


def preview(
    settings: Settings, source: SourceSettings, *, now: dt.datetime | None = None,
    fetcher: Fetcher | None = None, browser: Fetcher | None = None,
) -> Preview:
    """Read ``source`` in full as a refresh would (no validators, no snapshot, no store).

    ``fetcher`` defaults to the refresh's ``RoutingFetcher`` over ``settings``
    (with ``source`` among its sources, so that its own location is the
    trusted one), ``browser`` to a ``BrowserFetcher`` for ``render = "browser"``.
    Raises SourceError (FetchError, ListingError) as the refresh reports them.
    """
    from feedsvc.pipeline import read_source

    known = {configured.name for configured in settings.sources}
    if source.name not in known:
        settings = dataclasses.replace(settings, sources=(*settings.sources, source))
    moment = now if now is not None else dt.datetime.now(dt.UTC)
    today = moment.astimezone(zoneinfo.ZoneInfo(settings.site.timezone)).date()
    if browser is None and source.render == "browser":
        from feedsvc.fetch.browser import BrowserFetcher

        browser = BrowserFetcher(settings)
    own = fetcher is None
    active = fetcher if fetcher is not None else RoutingFetcher(settings)
    try:
        read = read_source(source, active, None, None, today=today, browser=browser)
    finally:
        if own and isinstance(active, RoutingFetcher):
            active.close()
    return Preview(source=source, items=read.items, warnings=read.warnings, format=read.format,
                   selectors_used=read.selectors_used)


def item_json(item: ListingItem) -> dict[str, str | None]:
    """An item as ``feedsvc parse`` prints it: exactly title, date (YYYY-MM-DD),
    category, credit, summary and link, None when absent."""
    return {
        "title": item.title,
        "date": item.date.isoformat(),
        "category": item.category,
        "credit": item.credit,
        "summary": item.summary,
        "link": item.link,
    }


def items_json(items: Sequence[ListingItem]) -> str:
    """The items as a JSON array, in page order, indented, with a final newline."""
    return json.dumps([item_json(item) for item in items], ensure_ascii=False, indent=2) + "\n"


def explain_toml(result: Preview) -> str:
    """A ``[[sources]]`` entry for what was read, ready to paste into the settings:
    its location and format and, for HTML, every selector used in a
    ``[sources.selectors]`` table (JSON: the paths given, in ``[sources.paths]``);
    a comment first says what it gave."""
    source = result.source
    first = result.items[0] if result.items else None
    lines = [f"# {len(result.items)} item(s) read"
             + (f"; the first: {_toml_string(first.title)} ({first.date.isoformat()})"
                if first else ""),
             "[[sources]]",
             f"name = {_toml_string(_suggested_name(source))}",
             f"location = {_toml_string(source.location)}",
             f"format = {_toml_string(result.format or source.format)}"]
    if source.language is not None:
        lines.append(f"language = {_toml_string(source.language)}")
    if source.render != "fetch":
        lines.append(f"render = {_toml_string(source.render)}")
    if result.selectors_used:
        lines += ["", "[sources.selectors]"]
        lines += [f"{key} = {_toml_string(value)}" for key, value in result.selectors_used.items()]
    paths = source.options.get("paths")
    if result.format == "json" and paths:
        lines += ["", "[sources.paths]"]
        lines += [f"{key} = {_toml_string(value)}" for key, value in paths.items()]
    if result.format is not None and result.format in SOURCE_FORMATS \
            and not SOURCE_FORMATS[result.format].settings:
        lines.append(f"# a {result.format} listing has no selectors")
    return "\n".join(lines) + "\n"


def _suggested_name(source: SourceSettings) -> str:
    if source.name != source.location and not is_http_url(source.name):
        return source.name
    from urllib.parse import urlsplit

    if is_http_url(source.location):
        parts = urlsplit(source.location)
        words = [parts.hostname or "site", *filter(None, parts.path.split("/"))]
        return "-".join(words)[:60]
    return Path(source.location).stem


def _toml_string(value: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's (``\\/``, which TOML lacks, is
    never written by json.dumps); DEL, which TOML wants escaped and JSON does
    not, is escaped too."""
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
