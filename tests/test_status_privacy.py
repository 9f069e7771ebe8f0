"""/status tells anyone how the service is doing, and only the admin what it is made of.

A site whose remote source URL carries credentials and an API key in its
query, whose local source is an absolute path, whose errors quote both, and
whose scheduler recorded its pid: the anonymous answer shows none of that,
the admin's shows all of it except the credentials.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from feedsvc.settings import Settings, settings_from_mapping
from feedsvc.status import admin_status, public_status, redact_credentials
from feedsvc.store import InstanceState, Store
from feedsvc.web import create_app

TOKEN = "status-test-admin-token-" + "s" * 16
USER, PASSWORD, API_KEY = "keeper", "S3cret-pw", "K3yK3y-api"
REMOTE = f"http://{USER}:{PASSWORD}@lighthouse.test/news?api_key={API_KEY}"
REDACTED_REMOTE = f"http://***@lighthouse.test/news?api_key={API_KEY}"
PID = 424242
HOST = "scheduler-host.internal"
INSTANCE = f"{HOST}:{PID}:5eed"
NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
SECRETS = (USER, PASSWORD)


def status_site(tmp_path: Path) -> Settings:
    """A site with a troubled history: both sources failing, a failed run, a scheduler."""
    settings = settings_from_mapping({
        "storage": {"database": "sqlite:///var/feedsvc.sqlite3", "publish_dir": "var/public"},
        "server": {"admin_token": TOKEN},
        "sources": [{"name": "harbour", "location": "listings/harbour.txt"},
                    {"name": "lighthouse", "location": REMOTE}],
    }, config_path=tmp_path / "feedsvc.toml")
    harbour = settings.sources[0].location
    remote_error = f"HTTP 503 from {REMOTE}"
    local_error = f"cannot read {harbour}: No such file or directory"
    (tmp_path / "var").mkdir()
    with Store.open(settings.storage.database) as store:
        store.record_failure("lighthouse", NOW, remote_error)
        store.record_failure("harbour", NOW, local_error)
        run = store.start_run(NOW)
        store.finish_run(run, NOW + dt.timedelta(seconds=2), ok=False, published=False,
                         summary={"sources": [{"name": "lighthouse", "error": remote_error},
                                              {"name": "harbour", "error": local_error}]})
        store.record_scheduler(InstanceState(
            instance=INSTANCE, host=HOST, pid=PID, schedule="every 30m", started=NOW,
            stopped=None, seen=NOW, next_run=NOW + dt.timedelta(minutes=30), ticks=1,
            last_tick={"started": NOW.isoformat(), "finished": NOW.isoformat(),
                       "outcome": "failed"}))
        store.request_refresh("203.0.113.5", NOW)
    return settings


@pytest.fixture
def site(tmp_path: Path) -> Settings:
    return status_site(tmp_path)


@pytest.fixture
def client(site: Settings) -> Iterator[FlaskClient]:
    with create_app(site).test_client() as client:
        yield client


def strings_in(value: Any) -> Iterator[str]:
    """Every string in a JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def keys_in(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {key for item in value.values() for key in keys_in(item)}
    if isinstance(value, list):
        return {key for item in value for key in keys_in(item)}
    return set()


def test_anonymous_status_has_names_health_and_times_only(
    client: FlaskClient, tmp_path: Path
) -> None:
    response = client.get("/status")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    body = response.get_json()

    # Health and times are there.
    assert set(body["sources"]) == {"harbour", "lighthouse"}
    lighthouse = body["sources"]["lighthouse"]
    assert lighthouse["consecutive_failures"] == 1
    assert lighthouse["failing_since"] == NOW.isoformat()
    assert isinstance(lighthouse["stale"], bool)
    assert body["last_refresh"]["ok"] is False
    assert body["scheduler"]["next_run"] == (NOW + dt.timedelta(minutes=30)).isoformat()

    # What the service is made of is not.
    assert not keys_in(body) & {"location", "last_error", "error", "pid", "schedule", "host",
                                "active", "instance", "refresh_requests"}
    for secret in (*SECRETS, API_KEY, "lighthouse.test", str(tmp_path), str(PID), HOST,
                   "203.0.113.5"):
        assert secret not in text
    for value in strings_in(body):
        assert not value.startswith("/"), value


def test_admin_status_has_everything_but_credentials(client: FlaskClient, site: Settings) -> None:
    response = client.get("/status", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    body = response.get_json()

    lighthouse = body["sources"]["lighthouse"]
    assert lighthouse["location"] == REDACTED_REMOTE
    assert lighthouse["last_error"] == f"HTTP 503 from {REDACTED_REMOTE}"
    harbour = body["sources"]["harbour"]
    assert harbour["location"] == site.sources[0].location
    assert harbour["last_error"].startswith(f"cannot read {site.sources[0].location}")
    assert REDACTED_REMOTE in body["last_refresh"]["error"]
    assert body["scheduler"]["pid"] == PID
    assert body["scheduler"]["instance"] == INSTANCE
    assert body["refresh_requests"][0]["requested_by"] == "203.0.113.5"
    for secret in SECRETS:
        assert secret not in text


def test_a_wrong_token_on_status_is_refused_not_downgraded(client: FlaskClient) -> None:
    response = client.get("/status", headers={"Authorization": "Bearer " + "x" * 40})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "sources" not in response.get_json()


def test_without_a_configured_token_status_is_always_anonymous(tmp_path: Path) -> None:
    settings = status_site(tmp_path)
    settings = settings_from_mapping({
        "storage": {"database": "sqlite:///var/feedsvc.sqlite3", "publish_dir": "var/public"},
        "sources": [{"name": "lighthouse", "location": REMOTE}],
    }, config_path=settings.config_path)
    client = create_app(settings).test_client()
    response = client.get("/status", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert "location" not in response.get_json()["sources"]["lighthouse"]
    assert PASSWORD not in response.get_data(as_text=True)


@pytest.mark.parametrize(("text", "redacted"), [
    (REMOTE, REDACTED_REMOTE),
    ("https://user@example.test/a", "https://***@example.test/a"),
    ("https://:pw@example.test/", "https://***@example.test/"),
    ("https://user:p%40ss@example.test:8443/a?b=c", "https://***@example.test:8443/a?b=c"),
    ("GET http://a:b@one.test/ then https://c:d@two.test/x failed",
     "GET http://***@one.test/ then https://***@two.test/x failed"),
    ("https://example.test/a?mail=someone@example.test", "https://example.test/a?mail=someone@example.test"),
    ("https://example.test/@user", "https://example.test/@user"),
    ("mail someone@example.test", "mail someone@example.test"),
    ("/srv/feedsvc/listings/a.txt", "/srv/feedsvc/listings/a.txt"),
    ("", ""),
])
def test_redact_credentials(text: str, redacted: str) -> None:
    assert redact_credentials(text) == redacted


def test_the_public_view_is_an_allow_list() -> None:
    full = {
        "last_refresh": {"ok": True, "started": "t", "error": None, "summary": {"x": 1}},
        "sources": {"a": {"items": 3, "location": "/srv/a.txt", "new_detail": "secret",
                          "last_success": "t", "stale": False}},
        "scheduler": {"pid": 7, "next_run": "t", "last_tick": {"outcome": "ok"}},
        "publication": {"generation": "g", "feeds": 2, "items": 3},
        "config_path": "/etc/feedsvc/feedsvc.toml",
    }
    assert public_status(full) == {
        "last_refresh": {"ok": True, "started": "t"},
        "sources": {"a": {"items": 3, "last_success": "t", "stale": False}},
        "scheduler": {"next_run": "t"},
        "publication": {"generation": "g", "feeds": 2, "items": 3},
    }
    assert public_status({"last_refresh": None, "sources": {}}) == {
        "last_refresh": None, "sources": {}}


def test_the_admin_view_redacts_every_string_however_nested() -> None:
    full = {"a": [{"b": ("http://u:p@h.test/", 1)}], "http://u:p@k.test/": None, "n": 2}
    assert admin_status(full) == {"a": [{"b": ["http://***@h.test/", 1]}],
                                  "http://***@k.test/": None, "n": 2}
