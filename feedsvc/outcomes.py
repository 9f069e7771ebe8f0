"""What a refresh did, as types: each source's report and the run's summary.

The pipeline makes them (``feedsvc.pipeline``), the store keeps them as columns
(``feedsvc.store.runs``) and /status, /metrics and ``feedsvc refresh`` read them
back as they were made: one shared record, no JSON text to pick apart. Plain
data only, so that every layer may import it.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import Any


class SourceStatus(enum.Enum):
    """How one refresh left one source. The values are what the store keeps."""

    MERGED = "merged"
    """Read and merged: the counts say what it held."""
    NOT_MODIFIED = "not_modified"
    """The server said nothing changed."""
    UNCHANGED = "unchanged"
    """It sent the bytes last merged: nothing was parsed or merged."""
    FAILED = "failed"
    """It could not be fetched, decoded or parsed, or it listed no items."""
    SKIPPED = "skipped"
    """A failing remote source not yet due for a retry."""


@dataclass(frozen=True)
class SourceReport:
    """What one refresh did with one source: its ``status``, and for each status the
    fields that say more (``found``, ``new``, ``updated``, ``warnings`` and the
    warning lines when MERGED; ``error`` when FAILED; ``retry_at`` when SKIPPED;
    ``stale`` when FAILED or SKIPPED)."""

    name: str
    status: SourceStatus = SourceStatus.MERGED
    found: int = 0
    new: int = 0
    updated: int = 0
    warnings: int = 0
    error: str | None = None
    retry_at: dt.datetime | None = None
    stale: bool = False
    warning_messages: tuple[str, ...] = ()
    """The first ``REPORTED_WARNINGS`` warnings (see ``feedsvc.pipeline``), and a line
    counting the rest: what the run keeps in the store and /status shows."""
    all_warning_messages: tuple[str, ...] = field(default=(), repr=False, compare=False)
    """Every warning the parsers kept (see ``feedsvc.listing.warnings``: at most
    MAX_WARNINGS per document, then a line counting the rest), for ``feedsvc -v
    refresh``; never stored."""

    def __post_init__(self) -> None:
        if (self.status is SourceStatus.FAILED) != (self.error is not None):
            raise ValueError(f"source {self.name!r}: an error goes with status FAILED only")

    @property
    def ok(self) -> bool:
        return self.status not in (SourceStatus.FAILED, SourceStatus.SKIPPED)

    @property
    def skipped(self) -> bool:
        return self.status is SourceStatus.SKIPPED

    @property
    def not_modified(self) -> bool:
        return self.status is SourceStatus.NOT_MODIFIED

    @property
    def unchanged(self) -> bool:
        return self.status is SourceStatus.UNCHANGED

    def summary_line(self) -> str:
        match self.status:
            case SourceStatus.FAILED:
                return f"{self.name}: FAILED: {self.error}"
            case SourceStatus.SKIPPED:
                when = self.retry_at.isoformat() if self.retry_at else "later"
                return f"{self.name}: skipped: still failing, next attempt after {when}"
            case SourceStatus.NOT_MODIFIED:
                return f"{self.name}: not modified"
            case SourceStatus.UNCHANGED:
                return f"{self.name}: unchanged"
        return (f"{self.name}: {self.found} found, {self.new} new, {self.updated} updated, "
                f"{self.warnings} warnings")

    def to_json(self) -> dict[str, Any]:
        """The report as ``feedsvc refresh --json`` has always shown it: one flag per
        status besides ``ok``."""
        return {
            "name": self.name, "found": self.found, "new": self.new, "updated": self.updated,
            "warnings": self.warnings, "error": self.error, "skipped": self.skipped,
            "not_modified": self.not_modified, "unchanged": self.unchanged,
            "retry_at": self.retry_at.isoformat() if self.retry_at else None,
            "stale": self.stale, "warning_messages": list(self.warning_messages),
            "ok": self.ok,
        }


@dataclass(frozen=True)
class RunSummary:
    """What a finished refresh run did, as the store keeps it: why it was not ok
    (``error``: nothing could be published, or the run was abandoned), the feeds
    and items it published and each source's report, in settings order (none when
    it was abandoned)."""

    error: str | None = None
    feed_count: int = 0
    item_count: int = 0
    sources: tuple[SourceReport, ...] = ()

    def failure(self) -> str | None:
        """Why the run was not ok in one line: its own error, else each source that
        failed or was skipped as ``name: error`` joined by "; "; None when nothing
        says (an ok run)."""
        if self.error:
            return self.error
        failures = [
            f"{source.name}: "
            + (source.error if source.error is not None else "skipped: still failing")
            for source in self.sources if not source.ok
        ]
        return "; ".join(failures) or None

    def warning_messages(self) -> dict[str, list[str]]:
        """Each merged source's warning lines, without their ``name: `` prefix."""
        return {
            source.name: [line.removeprefix(f"{source.name}: ")
                          for line in source.warning_messages]
            for source in self.sources if source.status is SourceStatus.MERGED
        }
