"""A bounded list of parser warnings: the first few kept, the rest only counted.

A listing of junk can make a warning of every line; kept whole, millions of
warnings would take far more memory than the listing itself, and nobody reads
past the first screenful. So a parser keeps the first MAX_WARNINGS and ends
the list with one ``OmittedWarnings`` that says how many more there were.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from feedsvc.models import ParseWarning

__all__ = ["MAX_WARNINGS", "OmittedWarnings", "WarningLog", "count_warnings"]

MAX_WARNINGS = 100
"""Most warnings a parser keeps for one document; the others are only counted."""


@dataclass(frozen=True)
class OmittedWarnings(ParseWarning):
    """The last warning of a bounded list: ``omitted`` more were found, not kept."""

    omitted: int = 0


def count_warnings(warnings: Iterable[ParseWarning]) -> int:
    """How many warnings ``warnings`` stands for, counting those it omits."""
    return sum(
        warning.omitted if isinstance(warning, OmittedWarnings) else 1 for warning in warnings
    )


class WarningLog:
    """Warnings about one document as a parser finds them, in order; at most
    ``limit`` are kept and the rest counted (see ``warnings``)."""

    __slots__ = ("_kept", "_limit", "_omitted", "source")

    def __init__(self, source: str, limit: int = MAX_WARNINGS) -> None:
        self.source = source
        self._limit = limit
        self._kept: list[ParseWarning] = []
        self._omitted = 0

    def warn(self, line: int, message: str) -> None:
        """Record a warning about ``line`` (0: the whole document)."""
        if len(self._kept) < self._limit:
            self._kept.append(ParseWarning(self.source, line, message))
        else:
            self._omitted += 1

    def extend(self, warnings: Iterable[ParseWarning]) -> None:
        """Record warnings made elsewhere (counting those they omit)."""
        for warning in warnings:
            if isinstance(warning, OmittedWarnings):
                self._omitted += warning.omitted
            elif len(self._kept) < self._limit:
                self._kept.append(warning)
            else:
                self._omitted += 1

    @property
    def count(self) -> int:
        """Every warning recorded, kept or not."""
        return len(self._kept) + self._omitted

    def warnings(self) -> tuple[ParseWarning, ...]:
        """The kept warnings, then, if any were not kept, one OmittedWarnings
        (line 0) saying "... and N more warning(s), not shown"."""
        if not self._omitted:
            return tuple(self._kept)
        more = OmittedWarnings(
            self.source, 0, f"... and {self._omitted} more warning(s), not shown",
            self._omitted,
        )
        return (*self._kept, more)
