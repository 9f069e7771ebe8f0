"""The errors feedsvc raises on purpose.

One base class, one subclass per kind of failure. Each carries what identifies
it (the config key, the source name) so that a caller can report it in one
line without a traceback.
"""

from __future__ import annotations


class FeedsvcError(Exception):
    """Base class of every error feedsvc reports to its user."""


class ConfigError(FeedsvcError):
    """The configuration is missing, unreadable or invalid.

    ``key`` names the offending setting (``site.base_url``, ``sources[2].location``)
    or is None when the whole file is at fault.
    """

    def __init__(self, message: str, *, key: str | None = None, path: str | None = None) -> None:
        self.key = key
        self.path = path
        self.detail = message
        where = f"{path}: " if path else ""
        what = f"{key}: " if key else ""
        super().__init__(f"{where}{what}{message}")


class SourceError(FeedsvcError):
    """A listing source could not be turned into items."""

    def __init__(self, message: str, *, source: str) -> None:
        self.source = source
        self.detail = message
        super().__init__(f"{source}: {message}")


class FetchError(SourceError):
    """The source's bytes could not be had (missing file, HTTP failure, too large, ...)."""


class ListingError(SourceError):
    """The source's bytes were had but hold no readable listing."""


class StoreError(FeedsvcError):
    """The item store could not be read or written."""


class RefreshInProgressError(FeedsvcError):
    """Another refresh holds the refresh lock."""


class PublishError(FeedsvcError):
    """The rendered feeds could not be published."""
