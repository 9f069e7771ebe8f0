"""POST /admin/refresh: off without a token, 401 without the right one, 202 or 409 with it.

The table tests use a fake trigger; the lock tests use the real store, whose
refresh lock the test holds itself, and one runs the real pipeline.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from feedsvc.metrics import RefreshStats
from feedsvc.publication import open_publication
from feedsvc.settings import ADMIN_TOKEN_ENV, Settings, settings_from_mapping
from feedsvc.web.admin import BackgroundRefresh, admin_blueprint

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "s3cret-token-for-tests-" + "t" * 16
LISTING = "newsroom-2021-01.txt"


def site_settings(tmp_path: Path, *, token: str | None = TOKEN,
                  environ: dict[str, str] | None = None) -> Settings:
    listings = tmp_path / "listings"
    listings.mkdir(exist_ok=True)
    shutil.copy(ROOT / "config" / "listings" / LISTING, listings / LISTING)
    raw: dict[str, Any] = {
        "site": {"title": "Test Newsroom", "timezone": "Europe/Zurich"},
        "storage": {"database": "sqlite:///var/db.sqlite3", "publish_dir": "var/public"},
        "server": {"admin_token": token} if token else {},
        "sources": [{"name": "newsroom", "location": f"listings/{LISTING}", "language": "en"}],
    }
    return settings_from_mapping(raw, config_path=tmp_path / "feedsvc.toml", environ=environ)


class FakeTrigger:
    """Answers ``start()`` with a fixed verdict and counts the calls."""

    def __init__(self, accepts: bool = True) -> None:
        self.accepts = accepts
        self.calls = 0

    def start(self) -> bool:
        self.calls += 1
        return self.accepts


def no_stats() -> RefreshStats:
    return RefreshStats(runs=0, last_started=None, last_duration=None, last_ok=None,
                        durations=(), sources=())


def make_client(settings: Settings, trigger: Any) -> FlaskClient:
    app = Flask("test-admin")
    app.register_blueprint(admin_blueprint(settings, trigger=trigger, stats=no_stats))
    return app.test_client()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# (configured token, request headers, trigger accepts, expected status)
CASES = [
    pytest.param(None, bearer(TOKEN), True, 404, id="off-without-token"),
    pytest.param(None, {}, True, 404, id="off-without-token-or-header"),
    pytest.param(TOKEN, {}, True, 401, id="no-header"),
    pytest.param(TOKEN, bearer("wrong"), True, 401, id="wrong-token"),
    pytest.param(TOKEN, bearer(TOKEN + "x"), True, 401, id="token-prefix-only"),
    pytest.param(TOKEN, bearer(""), True, 401, id="empty-token"),
    pytest.param(TOKEN, {"Authorization": TOKEN}, True, 401, id="no-scheme"),
    pytest.param(TOKEN, {"Authorization": f"Basic {TOKEN}"}, True, 401, id="basic-scheme"),
    pytest.param(TOKEN, bearer(TOKEN), True, 202, id="accepted"),
    pytest.param(TOKEN, {"Authorization": f"bearer {TOKEN}"}, True, 202, id="scheme-any-case"),
    pytest.param(TOKEN, bearer(TOKEN), False, 409, id="already-running"),
]


@pytest.mark.parametrize(("token", "headers", "accepts", "status"), CASES)
def test_admin_refresh_answers(
    tmp_path: Path, token: str | None, headers: dict[str, str], accepts: bool, status: int
) -> None:
    trigger = FakeTrigger(accepts)
    client = make_client(site_settings(tmp_path, token=token), trigger)
    response = client.post("/admin/refresh", headers=headers)
    assert response.status_code == status
    assert response.headers["Cache-Control"] == "no-store"
    assert trigger.calls == (1 if status in (202, 409) else 0)
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    if status == 202:
        assert response.headers["Location"] == "/status"
        assert response.get_json() == {"status": "/status"}
    if status == 409:
        assert response.get_json()["status"] == "/status"


def test_the_token_can_come_from_the_environment(tmp_path: Path) -> None:
    from_env = "a-token-from-the-environment-" + "e" * 16
    settings = site_settings(tmp_path, token=None, environ={ADMIN_TOKEN_ENV: from_env})
    client = make_client(settings, FakeTrigger())
    assert client.post("/admin/refresh", headers=bearer(from_env)).status_code == 202
    assert client.post("/admin/refresh", headers=bearer(TOKEN)).status_code == 401


def test_only_post_triggers_a_refresh(tmp_path: Path) -> None:
    trigger = FakeTrigger()
    client = make_client(site_settings(tmp_path), trigger)
    assert client.get("/admin/refresh", headers=bearer(TOKEN)).status_code == 405
    assert trigger.calls == 0


# --- the real trigger against the real store lock ----------------------------------


class RecordingRefresh:
    def __init__(self) -> None:
        self.runs = 0

    def __call__(self) -> None:
        self.runs += 1


def post(client: FlaskClient) -> int:
    return client.post("/admin/refresh", headers=bearer(TOKEN)).status_code


def test_409_while_another_process_holds_the_store_lock(tmp_path: Path) -> None:
    from feedsvc.store import Store

    settings = site_settings(tmp_path)
    refresh = RecordingRefresh()
    trigger = BackgroundRefresh(settings, refresh=refresh)
    client = make_client(settings, trigger)
    with Store.open(settings.storage.database) as store, store.refresh_lock("a test"):
        assert post(client) == 409
    assert post(client) == 202
    trigger.join(10)
    assert refresh.runs == 1


def test_409_while_this_process_runs_an_admin_refresh(tmp_path: Path) -> None:
    import threading

    settings = site_settings(tmp_path)
    release = threading.Event()
    trigger = BackgroundRefresh(settings, refresh=lambda: release.wait(10))
    client = make_client(settings, trigger)
    assert post(client) == 202
    assert post(client) == 409
    release.set()
    trigger.join(10)
    assert post(client) == 202
    trigger.join(10)


@pytest.mark.slow
def test_an_accepted_trigger_publishes_the_feeds(tmp_path: Path) -> None:
    settings = site_settings(tmp_path)
    trigger = BackgroundRefresh(settings)
    client = make_client(settings, trigger)
    assert open_publication(settings.storage.publish_dir) is None
    assert post(client) == 202
    trigger.join(30)
    publication = open_publication(settings.storage.publish_dir)
    assert publication is not None
    assert "feeds/all.atom" in publication.files


def test_a_refresh_that_fails_in_the_background_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def explode() -> None:
        raise RuntimeError("boom")

    settings = site_settings(tmp_path)
    trigger = BackgroundRefresh(settings, refresh=explode)
    client = make_client(settings, trigger)
    assert post(client) == 202
    trigger.join(10)
    assert "admin refresh ok=false" in caplog.text
    assert post(client) == 202
    trigger.join(10)

