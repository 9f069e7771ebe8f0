"""Validate feed files with a local checkout of the W3C Feed Validation Service.

usage: FV_HOME=/path/to/feedvalidator python scripts/validate_feeds.py FILE [FILE...]

Run it with a Python that has lxml, html5lib and rdflib (the validator's own
needs). Each file is validated as if served at its own rel="self" address,
with the content type feedsvc serves it with, and messages are filtered as
the online service filters them. Exits 1 when any file has an error or a
warning, 2 when the validator cannot be found.
"""

from __future__ import annotations

import importlib
import io
import os
import re
import sys
from pathlib import Path
from typing import Any

CONTENT_TYPES = {
    ".atom": "application/atom+xml; charset=utf-8",
    ".rss": "application/rss+xml; charset=utf-8",
    ".opml": "text/x-opml; charset=utf-8",
}
SELF_LINK = re.compile(rb'<(?:atom:)?link href="([^"]+)" rel="self"')


def load_validator(home: str) -> tuple[Any, Any, Any]:
    """The validator's package, its compatibility filters and its text formatter."""
    sys.path.insert(0, os.path.join(home, "src"))
    validator = importlib.import_module("feedvalidator")
    compatibility = importlib.import_module("feedvalidator.compatibility")
    formatter = importlib.import_module("feedvalidator.formatter.text_plain").Formatter
    return validator, compatibility, formatter


def messages(path: Path, validator: Any, compatibility: Any, formatter: Any) -> list[str]:
    """The validator's errors and warnings for one file, as text lines."""
    data = path.read_bytes()
    found = SELF_LINK.search(data)
    base = found.group(1).decode() if found else "http://127.0.0.1:8000/" + path.name
    try:
        events = validator.validateStream(
            io.BytesIO(data), firstOccurrenceOnly=1,
            contentType=CONTENT_TYPES.get(path.suffix), base=base,
        )["loggedEvents"]
    except validator.logging.ValidationFailure as failure:
        events = [failure.event]
    return list(formatter(compatibility.AA(events)))


def main(argv: list[str]) -> int:
    home = os.environ.get("FV_HOME")
    if not home or not os.path.isdir(os.path.join(home, "src", "feedvalidator")):
        print("set FV_HOME to a checkout of w3c/feedvalidator", file=sys.stderr)
        return 2
    loaded = load_validator(home)
    failed = False
    for name in argv:
        found = messages(Path(name), *loaded)
        print(f"== {name}: " + (f"{len(found)} messages" if found else "No errors or warnings"))
        for line in found:
            print("   " + line)
        failed = failed or bool(found)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
