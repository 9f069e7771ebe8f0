"""The output-format registry: every feed format the service publishes, declared once.

Rendering (``feedsvc.render``), the pipeline's publication (one file per
format and feed), collation (each feed's self URLs) and the web pages (the
subscribe links, ``<link rel="alternate">``, what ``/feeds/<key>.<ext>``
serves) all iterate ``OUTPUT_FORMATS``; none keeps its own list. Adding an
output format is one module with a pure renderer (``FeedSpec`` → bytes) and
one line below (see CONTRIBUTING.md).

The listing formats a source is read in are another kind of format, in
``feedsvc.formats`` (``SOURCE_FORMATS``).

``renderer`` names the function as ``"module:function"`` and is imported on
first use, so that the web layer can read the registry (names, types,
labels) without importing the renderers.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import cast

from feedsvc.models import FeedSpec

__all__ = ["OUTPUT_FORMATS", "OutputFormat", "output_for_extension"]


@dataclass(frozen=True)
class OutputFormat:
    """One feed format.

    ``name`` is the key in ``OUTPUT_FORMATS`` and in a feed's ``self_urls``;
    ``extension`` the file name suffix (``feeds/all.<extension>``);
    ``content_type`` what the file is served as; ``label`` what people read
    ("Atom"); ``renderer`` the pure ``FeedSpec`` → UTF-8 bytes function, as
    ``"module:function"``. The spec it gets has its text cleaned and its
    links made URIs, and ``self_urls[name]`` is the feed's own address.
    """

    name: str
    extension: str
    content_type: str
    label: str
    renderer: str

    @property
    def media_type(self) -> str:
        """``content_type`` without its parameters: ``application/atom+xml``."""
        return self.content_type.split(";", 1)[0].strip()

    def render(self, spec: FeedSpec) -> bytes:
        """``spec`` in this format (the renderer is imported on first use)."""
        return _renderer(self.renderer)(spec)


OUTPUT_FORMATS: Mapping[str, OutputFormat] = {output.name: output for output in (
    OutputFormat("atom", "atom", "application/atom+xml; charset=utf-8", "Atom",
                 "feedsvc.render.feedgen_adapter:atom_document"),
    OutputFormat("rss", "rss", "application/rss+xml; charset=utf-8", "RSS",
                 "feedsvc.render.feedgen_adapter:rss_document"),
    OutputFormat("json", "json", "application/feed+json; charset=utf-8", "JSON Feed",
                 "feedsvc.render.jsonfeed:json_document"),
)}
"""The feed formats by name, in the order they are offered. Read it live (it is looked
up on each use, never copied into another constant), so that one line here is all a
new format needs."""


def output_for_extension(extension: str) -> OutputFormat | None:
    """The registered format whose files end in ``.<extension>``; None if there is none."""
    for output in OUTPUT_FORMATS.values():
        if output.extension == extension:
            return output
    return None


_RENDERERS: dict[str, Callable[[FeedSpec], bytes]] = {}


def _renderer(name: str) -> Callable[[FeedSpec], bytes]:
    if name not in _RENDERERS:
        module, _, function = name.partition(":")
        _RENDERERS[name] = cast(Callable[[FeedSpec], bytes],
                                getattr(importlib.import_module(module), function))
    return _RENDERERS[name]
