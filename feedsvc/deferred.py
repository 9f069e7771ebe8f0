"""Functions named, not imported: how a registry lists code of the layers above it.

A registry low in the layers (``feedsvc.formats``, ``feedsvc.outputs``)
describes each of its entries to every layer and names the function that
implements the entry as ``Deferred("package.module:function")``. The
function's module is imported the first time it is called, so that reading
a registry (the settings, the web pages) never loads a parser or a
renderer, and the layers above import the registry, never the reverse.

This is the one place feedsvc imports a module by name (with the standard
library's ``pkgutil.resolve_name``). ``tests/test_import_direction.py``
checks every ``Deferred`` name: it must name a function that exists, in a
module of the pure layer (a parser, a renderer), above the registry.
"""

from __future__ import annotations

import pkgutil
import re
from dataclasses import dataclass
from functools import cache
from typing import Generic, TypeVar, cast

__all__ = ["Deferred"]

F = TypeVar("F")

_NAME = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")


@dataclass(frozen=True)
class Deferred(Generic[F]):
    """The function ``name`` (``"package.module:function"``), of type ``F``, its
    module imported when the function is first asked for."""

    name: str

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"not a function name (\"package.module:function\"): "
                             f"{self.name!r}")

    def get(self) -> F:
        """The function (its module is imported on the first call; then cached)."""
        return cast(F, _load(self.name))


@cache
def _load(name: str) -> object:
    return pkgutil.resolve_name(name)
