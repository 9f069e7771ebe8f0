"""Validate feed files with a local checkout of the W3C Feed Validation Service.

usage: FV_HOME=/path/to/feedvalidator python scripts/validate_feeds.py FILE [FILE...]
Run with a Python that has lxml, html5lib and rdflib. Each file is validated
as if served at its own rel="self" address, with the content type feedsvc
serves it with; messages are filtered as the online service does ("AA").
Exits 1 when any file has an error or a warning.
"""
import io
import os
import re
import sys

sys.path.insert(0, os.path.join(os.environ.get("FV_HOME", "/tmp/fv"), "src"))
import feedvalidator  # noqa: E402
from feedvalidator import compatibility  # noqa: E402
from feedvalidator.formatter.text_plain import Formatter  # noqa: E402

CONTENT_TYPES = {
    ".atom": "application/atom+xml; charset=utf-8",
    ".rss": "application/rss+xml; charset=utf-8",
    ".opml": "text/x-opml; charset=utf-8",
}
SELF_LINK = re.compile(rb'<(?:atom:)?link href="([^"]+)" rel="self"')


def messages(path):
    data = open(path, "rb").read()
    found = SELF_LINK.search(data)
    base = found.group(1).decode() if found else "http://127.0.0.1:8000/" + os.path.basename(path)
    content_type = CONTENT_TYPES.get(os.path.splitext(path)[1])
    try:
        events = feedvalidator.validateStream(
            io.BytesIO(data), firstOccurrenceOnly=1, contentType=content_type, base=base
        )["loggedEvents"]
    except feedvalidator.logging.ValidationFailure as failure:
        events = [failure.event]
    return Formatter(compatibility.AA(events))


failed = False
for path in sys.argv[1:]:
    found = messages(path)
    print(f"== {path}: " + (f"{len(found)} messages" if found else "No errors or warnings"))
    for line in found:
        print("   " + line)
    failed = failed or bool(found)
sys.exit(1 if failed else 0)
