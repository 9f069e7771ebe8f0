"""The output-format registry: every feed format the service publishes, declared once.

Rendering (``feedsvc.render``), the pipeline's publication (one file per
format and feed), collation (each feed's self URLs) and the web pages (the
subscribe links, ``<link rel="alternate">``, what ``/feeds/<key>.<ext>``
serves) all iterate ``OUTPUT_FORMATS``; none keeps its own list. Adding an
output format is one module with a pure renderer (``FeedSpec`` → bytes) and
one line below (see CONTRIBUTING.md).

The listing formats a source is read in are another kind of format, in
``feedsvc.formats`` (``SOURCE_FORMATS``).

``renderer`` names the function (``feedsvc.deferred.Deferred``): it is
imported on first use, so that the web layer reads the registry (names,
types, labels) without importing the renderers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from feedsvc.deferred import Deferred
from feedsvc.models import FeedSpec

__all__ = ["OUTPUT_FORMATS", "OutputFormat", "RenderFunction", "output_for_extension"]

RenderFunction = Callable[[FeedSpec], bytes]
"""A pure renderer: a feed's spec in, the feed document (UTF-8 bytes) out."""


@dataclass(frozen=True)
class OutputFormat:
    """One feed format.

    ``name`` is the key in ``OUTPUT_FORMATS`` and in a feed's ``self_urls``;
    ``extension`` the file name suffix (``feeds/all.<extension>``);
    ``content_type`` what the file is served as; ``label`` what people read
    ("Atom"); ``renderer`` the pure ``FeedSpec`` → UTF-8 bytes function. The
    spec it gets has its text cleaned and its links made URIs, and
    ``self_urls[name]`` is the feed's own address.
    """

    name: str
    extension: str
    content_type: str
    label: str
    renderer: Deferred[RenderFunction]

    @property
    def media_type(self) -> str:
        """``content_type`` without its parameters: ``application/atom+xml``."""
        return self.content_type.split(";", 1)[0].strip()

    def render(self, spec: FeedSpec) -> bytes:
        """``spec`` in this format (the renderer is imported on first use)."""
        return self.renderer.get()(spec)


OUTPUT_FORMATS: Mapping[str, OutputFormat] = {output.name: output for output in (
    OutputFormat("atom", "atom", "application/atom+xml; charset=utf-8", "Atom",
                 Deferred("feedsvc.render.feedgen_adapter:atom_document")),
    OutputFormat("rss", "rss", "application/rss+xml; charset=utf-8", "RSS",
                 Deferred("feedsvc.render.feedgen_adapter:rss_document")),
    OutputFormat("json", "json", "application/feed+json; charset=utf-8", "JSON Feed",
                 Deferred("feedsvc.render.jsonfeed:json_document")),
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
