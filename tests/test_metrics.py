"""GET /metrics: refresh metrics read from the store at scrape time, request counters per app."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response, request
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from feedsvc.errors import StoreError
from feedsvc.metrics import (
    CONTENT_TYPE,
    RefreshStats,
    StoreHealth,
    histogram_buckets,
)
from feedsvc.settings import Settings, settings_from_mapping
from feedsvc.status import SourceHealth
from feedsvc.web.admin import admin_blueprint

ROOT = Path(__file__).resolve().parent.parent
T0 = dt.datetime(2026, 11, 22, 3, 0, tzinfo=dt.UTC)

STATS = RefreshStats(
    runs=3,
    last_started=T0,
    last_duration=0.4,
    last_ok=False,
    durations=(0.05, 0.4, 7.0),
    sources=(
        SourceHealth(name="a", items=10, consecutive_failures=0, stale=False, last_success=T0),
        SourceHealth(name="b", items=4, consecutive_failures=3, stale=True, last_success=None),
    ),
)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def settings_in(tmp_path: Path, sources: list[dict[str, Any]] | None = None) -> Settings:
    raw = {
        "storage": {"database": "sqlite:///var/db.sqlite3", "publish_dir": "var/public"},
        "sources": sources or [],
    }
    return settings_from_mapping(raw, config_path=tmp_path / "feedsvc.toml")


def app_with(settings: Settings, stats: Any) -> FlaskClient:
    app = Flask("test-metrics")
    app.register_blueprint(admin_blueprint(settings, stats=stats))

    @app.get("/feed")
    def feed() -> Response:
        return Response("x", status=304 if "If-None-Match" in request.headers else 200)

    return app.test_client()


@pytest.mark.parametrize(
    ("durations", "expected"),
    [
        ((), {"0.1": 0, "1.0": 0, "+Inf": 0}),
        ((0.1,), {"0.1": 1, "0.25": 1, "+Inf": 1}),
        ((0.05, 0.4, 7.0), {"0.1": 1, "0.5": 2, "5.0": 2, "10.0": 3, "+Inf": 3}),
        ((1000.0,), {"600.0": 0, "+Inf": 1}),
    ],
)
def test_histogram_buckets_are_cumulative(
    durations: tuple[float, ...], expected: dict[str, float]
) -> None:
    buckets = dict(histogram_buckets(durations))
    assert list(buckets)[-1] == "+Inf"
    for bound, count in expected.items():
        assert buckets[bound] == count


def test_refresh_metrics_come_from_the_stats_at_scrape_time(tmp_path: Path) -> None:
    current = {"stats": STATS}
    client = app_with(settings_in(tmp_path), lambda: current["stats"])
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type == CONTENT_TYPE
    assert response.headers["Cache-Control"] == "no-store"
    found = samples(response.get_data(as_text=True))
    assert found[("feedsvc_store_up", ())] == 1
    assert found[("feedsvc_refresh_runs_total", ())] == 3
    assert found[("feedsvc_refresh_duration_seconds_bucket", (("le", "0.5"),))] == 2
    assert found[("feedsvc_refresh_duration_seconds_count", ())] == 3
    assert found[("feedsvc_refresh_duration_seconds_sum", ())] == pytest.approx(7.45)
    assert found[("feedsvc_last_refresh_duration_seconds", ())] == 0.4
    assert found[("feedsvc_last_refresh_success", ())] == 0
    assert found[("feedsvc_last_refresh_timestamp_seconds", ())] == T0.timestamp()
    assert found[("feedsvc_source_items", (("source", "a"),))] == 10
    assert found[("feedsvc_source_consecutive_failures", (("source", "b"),))] == 3
    assert found[("feedsvc_source_stale", (("source", "b"),))] == 1
    assert ("feedsvc_source_last_success_timestamp_seconds", (("source", "b"),)) not in found

    current["stats"] = RefreshStats(runs=4, last_started=T0, last_duration=1.0, last_ok=True,
                                    durations=None, sources=())
    found = samples(client.get("/metrics").get_data(as_text=True))
    assert found[("feedsvc_refresh_runs_total", ())] == 4
    assert found[("feedsvc_last_refresh_success", ())] == 1
    assert ("feedsvc_refresh_duration_seconds_count", ()) not in found


def test_an_unreadable_store_is_a_metric_not_a_failed_scrape(tmp_path: Path) -> None:
    def broken() -> RefreshStats:
        raise StoreError("database is locked")

    response = app_with(settings_in(tmp_path), broken).get("/metrics")
    assert response.status_code == 200
    assert samples(response.get_data(as_text=True))[("feedsvc_store_up", ())] == 0


def test_requests_are_counted_by_endpoint_and_status_with_304s_apart(tmp_path: Path) -> None:
    client = app_with(settings_in(tmp_path), lambda: STATS)
    for _ in range(3):
        client.get("/feed")
    client.get("/feed", headers={"If-None-Match": '"x"'})
    client.get("/nowhere")
    found = samples(client.get("/metrics").get_data(as_text=True))
    assert found[("feedsvc_http_requests_total", (("endpoint", "feed"), ("status", "200")))] == 3
    assert found[("feedsvc_http_requests_total", (("endpoint", "feed"), ("status", "304")))] == 1
    assert found[("feedsvc_http_not_modified_total", (("endpoint", "feed"),))] == 1
    assert found[("feedsvc_http_requests_total",
                  (("endpoint", "unmatched"), ("status", "404")))] == 1


def test_each_app_has_its_own_registry(tmp_path: Path) -> None:
    first = app_with(settings_in(tmp_path), lambda: STATS)
    second = app_with(settings_in(tmp_path), lambda: STATS)
    first.get("/feed")
    found = samples(second.get("/metrics").get_data(as_text=True))
    assert ("feedsvc_http_requests_total", (("endpoint", "feed"), ("status", "200"))) not in found


def test_store_stats_read_what_a_real_refresh_recorded(tmp_path: Path) -> None:
    from feedsvc.pipeline import refresh

    listing = tmp_path / "listing.txt"
    shutil.copy(ROOT / "config" / "listings" / "newsroom-2021-11.txt", listing)
    settings = settings_in(tmp_path, [
        {"name": "good", "location": "listing.txt", "language": "en"},
        {"name": "gone", "location": "missing.txt", "language": "en"},
    ])
    refresh(settings)
    stats = StoreHealth(settings).stats()
    assert stats.runs == 1
    assert stats.last_ok is False
    assert stats.last_duration is not None
    assert stats.durations is not None and len(stats.durations) == 1
    by_name = {source.name: source for source in stats.sources}
    assert by_name["good"].items == 10
    assert by_name["good"].consecutive_failures == 0
    assert by_name["gone"].consecutive_failures == 1
    assert by_name["gone"].items == 0


@pytest.mark.slow
def test_metrics_of_a_real_store_include_the_refresh_duration_histogram(tmp_path: Path) -> None:
    from feedsvc.pipeline import refresh
    from feedsvc.web import create_app

    listing = tmp_path / "listing.txt"
    shutil.copy(ROOT / "config" / "listings" / "newsroom-2021-11.txt", listing)
    settings = settings_in(tmp_path, [{"name": "good", "location": "listing.txt"}])
    refresh(settings)
    refresh(settings)
    found = samples(create_app(settings).test_client().get("/metrics").get_data(as_text=True))
    assert found[("feedsvc_refresh_duration_seconds_count", ())] == 2
    assert found[("feedsvc_source_items", (("source", "good"),))] == 10
    assert found[("feedsvc_source_failures_total", (("source", "good"),))] == 0
