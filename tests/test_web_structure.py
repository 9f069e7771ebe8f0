"""The web app's shape: four blueprints around one app state, and one health model.

Every route belongs to one of the blueprints ``feeds``, ``pages``,
``operations`` and ``admin`` (``create_app`` only wires them), and /status and
/metrics report the same health of each source, read through one model
(``feedsvc.status.SiteHealth``) from one lazily opened store.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from feedsvc.metrics import StoreHealth, refresh_stats
from feedsvc.pipeline import refresh
from feedsvc.settings import Settings, settings_from_mapping
from feedsvc.status import SiteHealth, SourceHealth, read_status, site_health
from feedsvc.store import Store
from feedsvc.web import create_app

ROOT = Path(__file__).resolve().parent.parent
T0 = dt.datetime(2026, 11, 22, 3, 0, tzinfo=dt.UTC)
BLUEPRINTS = {"feeds", "pages", "operations", "admin"}
ROUTES = {
    "/feeds/<path:name>": "feeds", "/feeds.opml": "feeds", "/atom": "feeds", "/feeds/": "feeds",
    "/": "pages", "/items": "pages", "/items/<item_id>": "pages",
    "/categories/<slug>": "pages",
    "/healthz": "operations", "/status": "operations",
    "/admin/refresh": "admin", "/metrics": "admin",
}


def settings_in(tmp_path: Path) -> Settings:
    listing = tmp_path / "listing.txt"
    shutil.copy(ROOT / "config" / "listings" / "newsroom-2021-11.txt", listing)
    return settings_from_mapping({
        "storage": {"database": "sqlite:///var/db.sqlite3", "publish_dir": "var/public"},
        "sources": [{"name": "good", "location": "listing.txt", "language": "en"},
                    {"name": "gone", "location": "missing.txt", "language": "en"}],
    }, config_path=tmp_path / "feedsvc.toml")


def test_every_route_belongs_to_one_of_four_blueprints(tmp_path: Path) -> None:
    app = create_app(settings_in(tmp_path))
    assert set(app.blueprints) == BLUEPRINTS
    owners = {rule.rule: rule.endpoint.partition(".")[0] for rule in app.url_map.iter_rules()
              if rule.endpoint != "static"}
    for rule, owner in owners.items():
        assert owner in BLUEPRINTS, f"{rule} is served outside the blueprints ({owner})"
    for rule, owner in ROUTES.items():
        assert owners[rule] == owner


def test_status_and_metrics_read_one_health_model(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    refresh(settings, now=T0)
    with Store.open(settings.storage.database) as store:
        health = site_health(store, settings, now=T0)
        status = read_status(store, settings, now=T0)
        stats = refresh_stats(store, settings, now=T0)
    assert isinstance(health, SiteHealth)
    assert [source.name for source in health.sources] == ["good", "gone"]
    assert all(isinstance(source, SourceHealth) for source in stats.sources)
    # The metrics carry the very model /status is written from.
    assert {source.name: source for source in stats.sources} == {
        source.name: source for source in health.sources}
    for source in health.sources:
        shown = status["sources"][source.name]
        assert (shown["items"], shown["consecutive_failures"], shown["stale"]) == (
            source.items, source.consecutive_failures, source.stale)

    client = create_app(settings).test_client()
    body = client.get("/status").get_json()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(client.get("/metrics").get_data(as_text=True))
        for sample in family.samples
    }
    for name, shown in body["sources"].items():
        labels = (("source", name),)
        assert samples[("feedsvc_source_items", labels)] == shown["items"]
        assert samples[("feedsvc_source_consecutive_failures", labels)] == \
            shown["consecutive_failures"]
        assert samples[("feedsvc_source_stale", labels)] == (1 if shown["stale"] else 0)


def test_status_and_metrics_share_one_store_before_and_after_it_exists(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    health = StoreHealth(settings)
    assert health.stats().runs == 0
    assert health.status()["last_refresh"] is None
    assert not (tmp_path / "var" / "db.sqlite3").exists()
    refresh(settings, now=T0)
    assert health.stats().runs == 1
    assert health.status()["last_refresh"]["ok"] is False
