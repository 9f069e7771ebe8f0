"""The templating baseline: the least a feed service must do with a listing.

A plain line scan of a numbered listing, then the all-items feed and one feed
per category in Atom, RSS and JSON (the 50 newest items each), rendered with
string templates and escaping and written to files. The refresh benchmarks
are measured against it.
"""

from __future__ import annotations

import calendar
import json
import re
from collections import defaultdict
from html import escape
from pathlib import Path

FEED_SIZE = 50
_MONTHS = {name: number for number, name in enumerate(calendar.month_name) if name}
_DATE = re.compile(r"(\d{1,2}) ([A-Z][a-z]+) (\d{4})")
_HEADING = re.compile(r"[A-Z][a-z]+ \d{4}")
_MARKER = re.compile(r"\d{1,3}\. ")


def scan(text: str) -> list[dict[str, str | None]]:
    """The items of a numbered listing, with no checks: title, date, category, credit,
    summary."""
    blocks: list[list[str]] = []
    current: list[str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if _MARKER.match(line):
            current = [line.split(". ", 1)[1]]
            blocks.append(current)
        elif _HEADING.fullmatch(line):
            current = None
        elif current is not None:
            current.append(line)
    items = []
    for fields in blocks:
        dated = next(((index, match) for index, field in enumerate(fields)
                      if (match := _DATE.fullmatch(field))), None)
        if dated is None:
            continue
        index, match = dated
        day, month, year = match.groups()
        before = fields[:index]
        credit = before.pop(0)[1:].strip() if before and before[0].startswith("©") else None
        items.append({
            "title": before[-1] if before else "",
            "date": f"{year}-{_MONTHS.get(month, 1):02d}-{int(day):02d}",
            "category": before[-2] if len(before) > 1 else None,
            "credit": credit,
            "summary": " ".join(fields[index + 1:]) or None,
        })
    return items


def render_all(items: list[dict[str, str | None]], out: Path) -> int:
    """Write the all-items feed and each category's feed in three formats; returns the
    number of files written."""
    ordered = sorted(items, key=lambda item: str(item["date"]), reverse=True)
    feeds: dict[str, list[dict[str, str | None]]] = defaultdict(list)
    feeds["all"] = ordered[:FEED_SIZE]
    for item in ordered:
        category = item["category"]
        if category is not None and len(feeds[category]) < FEED_SIZE:
            feeds[category].append(item)
    written = 0
    out.mkdir(parents=True, exist_ok=True)
    for number, (name, entries) in enumerate(sorted(feeds.items())):
        for suffix, body in (("atom", _atom(name, entries)), ("rss", _rss(name, entries)),
                             ("json", _json(name, entries))):
            (out / f"feed-{number}.{suffix}").write_text(body, "utf-8")
            written += 1
    return written


def _atom(name: str, entries: list[dict[str, str | None]]) -> str:
    parts = [f'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
             f"<title>{escape(name)}</title><id>urn:feed:{escape(name)}</id>"]
    for item in entries:
        parts.append(
            f"<entry><id>urn:item:{escape(str(item['title']))}</id>"
            f"<title>{escape(str(item['title']))}</title>"
            f"<updated>{item['date']}T00:00:00Z</updated>"
            f"<summary>{escape(item['summary'] or '')}</summary></entry>")
    parts.append("</feed>\n")
    return "".join(parts)


def _rss(name: str, entries: list[dict[str, str | None]]) -> str:
    parts = [f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
             f"<title>{escape(name)}</title>"]
    for item in entries:
        parts.append(
            f"<item><title>{escape(str(item['title']))}</title>"
            f"<guid isPermaLink=\"false\">urn:item:{escape(str(item['title']))}</guid>"
            f"<pubDate>{item['date']}</pubDate>"
            f"<description>{escape(item['summary'] or '')}</description></item>")
    parts.append("</channel></rss>\n")
    return "".join(parts)


def _json(name: str, entries: list[dict[str, str | None]]) -> str:
    return json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": name,
                       "items": [{"id": item["title"], "title": item["title"],
                                  "date_published": item["date"],
                                  "content_text": item["summary"] or ""}
                                 for item in entries]}, ensure_ascii=False)


def baseline(text: str, out: Path) -> int:
    """Scan ``text`` and write its feeds under ``out``; returns the number of files."""
    return render_all(scan(text), out)
