"""Measures that need a process of their own (peak memory, a cold web worker).
Run by bench.refresh as ``python -m bench.child MEASURE ARGS``; prints one JSON line."""

from __future__ import annotations

import json
import resource
import sqlite3
import sys
import time
from pathlib import Path


def peak_mb() -> float:
    """This process's peak resident memory since it started, in MB.

    From /proc (VmHWM), which starts afresh at exec: ``ru_maxrss`` would carry
    the peak of the parent this process was forked from.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def full_refresh_rss(settings_path: str) -> dict[str, float]:
    """Peak memory of one full refresh of the site ``settings_path`` (made by the parent)."""
    import datetime as dt

    from feedsvc.pipeline import refresh
    from feedsvc.settings import load_settings

    settings = load_settings(Path(settings_path))
    before = peak_mb()
    report = refresh(settings, now=dt.datetime(2026, 11, 22, 6, tzinfo=dt.UTC))
    assert report.ok
    return {"peak_mb": peak_mb(), "before_mb": before}


def _item_ids(settings_path: str, count: int) -> list[str]:
    from feedsvc.settings import load_settings

    database = load_settings(Path(settings_path)).storage.database.removeprefix("sqlite:///")
    with sqlite3.connect(database) as conn:
        rows = conn.execute("SELECT item_id FROM items ORDER BY key LIMIT ?", (count,))
        return [row[0] for row in rows]


def web_worker(settings_path: str) -> dict[str, float]:
    """Peak memory of a web worker that served every feed and 1,000 distinct item pages."""
    from feedsvc.publication import open_publication
    from feedsvc.settings import load_settings
    from feedsvc.web import create_app

    ids = _item_ids(settings_path, 1000)
    settings = load_settings(Path(settings_path))
    client = create_app(settings).test_client()
    publication = open_publication(settings.storage.publish_dir)
    assert publication is not None
    for path in publication.files:
        assert client.get(f"/{path}").status_code == 200
    assert client.get("/").status_code == 200
    for item_id in ids:
        assert client.get(f"/items/{item_id}").status_code == 200
    return {"peak_mb": peak_mb()}


def first_item_page(settings_path: str) -> dict[str, float]:
    """How long the first item page takes in a worker that was serving when a new
    publication went live, against a warm one."""
    import datetime as dt

    from feedsvc.pipeline import refresh
    from feedsvc.settings import load_settings
    from feedsvc.web import create_app

    settings = load_settings(Path(settings_path))
    ids = _item_ids(settings_path, 3)
    client = create_app(settings).test_client()
    assert client.get(f"/items/{ids[0]}").status_code == 200
    report = refresh(settings, now=dt.datetime(2026, 11, 23, 6, tzinfo=dt.UTC))
    assert report.published, report.summary_lines()
    start = time.perf_counter()
    assert client.get(f"/items/{ids[1]}").status_code == 200
    first = time.perf_counter() - start
    start = time.perf_counter()
    assert client.get(f"/items/{ids[2]}").status_code == 200
    warm = time.perf_counter() - start
    return {"first_ms": first * 1000, "warm_ms": warm * 1000}


MEASURES = {"full-refresh-rss": full_refresh_rss, "web-worker": web_worker,
            "first-item-page": first_item_page}

if __name__ == "__main__":
    print(json.dumps(MEASURES[sys.argv[1]](*sys.argv[2:])))
