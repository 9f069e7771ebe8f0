"""POST /admin/refresh: off without a token, 401 without the right one, 202 or 409 with it.

The table tests use a fake trigger; the others use the real store: the
request is queued there, a web worker never refreshes, and a scheduler (the
one ``feedsvc serve`` runs, here) picks it up and runs the real pipeline.
"""

from __future__ import annotations

import dataclasses
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from waiting import wait_for

from feedsvc.metrics import RefreshStats
from feedsvc.publication import open_publication
from feedsvc.settings import ADMIN_TOKEN_ENV, Settings, settings_from_mapping
from feedsvc.web import create_app
from feedsvc.web.admin import QueuedRefresh, admin_blueprint

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "s3cret-token-for-tests-" + "t" * 16
LISTING = "newsroom-2021-01.txt"


def site_settings(tmp_path: Path, *, token: str | None = TOKEN,
                  environ: dict[str, str] | None = None,
                  database: str = "sqlite:///var/db.sqlite3") -> Settings:
    listings = tmp_path / "listings"
    listings.mkdir(exist_ok=True)
    shutil.copy(ROOT / "config" / "listings" / LISTING, listings / LISTING)
    raw: dict[str, Any] = {
        "site": {"title": "Test Newsroom", "timezone": "Europe/Zurich"},
        "storage": {"database": database, "publish_dir": "var/public"},
        "server": {"admin_token": token} if token else {},
        "sources": [{"name": "newsroom", "location": f"listings/{LISTING}", "language": "en"}],
    }
    return settings_from_mapping(raw, config_path=tmp_path / "feedsvc.toml", environ=environ)


class FakeTrigger:
    """Answers ``request()`` with a fixed verdict (request 7, or None) and counts the calls."""

    def __init__(self, accepts: bool = True) -> None:
        self.accepts = accepts
        self.calls: list[str] = []

    def request(self, requested_by: str) -> int | None:
        self.calls.append(requested_by)
        return 7 if self.accepts else None


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
    assert len(trigger.calls) == (1 if status in (202, 409) else 0)
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    if status == 202:
        assert response.headers["Location"] == "/status"
        assert response.get_json() == {"id": 7, "status": "/status"}
        assert trigger.calls == ["127.0.0.1"]
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
    assert trigger.calls == []


# --- the real trigger: a request in the store, run by a scheduler -------------------------


def post(client: FlaskClient) -> Any:
    return client.post("/admin/refresh", headers=bearer(TOKEN))


def admin_status(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/status", headers=bearer(TOKEN))
    assert response.status_code == 200
    body: dict[str, Any] = response.get_json()
    return body


@pytest.mark.both_engines
def test_a_request_is_queued_not_run_and_a_second_one_is_refused(
    tmp_path: Path, engine_database: Callable[[str], str],
) -> None:
    settings = site_settings(tmp_path, database=engine_database("sqlite:///var/db.sqlite3"))
    client = create_app(settings).test_client()
    accepted = post(client)
    assert accepted.status_code == 202
    request_id = accepted.get_json()["id"]
    assert post(client).status_code == 409
    # No scheduler runs: nothing was refreshed, and /status says why the request waits.
    assert open_publication(settings.storage.publish_dir) is None
    status = admin_status(client)
    (queued,) = status["refresh_requests"]
    assert queued["id"] == request_id and queued["state"] == "queued"
    assert queued["requested_by"] == "127.0.0.1"
    assert "no scheduler is running" in queued["waiting"]
    assert status["scheduler"]["running"] is False
    # The anonymous view shows neither the requests nor who asked.
    public = client.get("/status").get_json()
    assert "refresh_requests" not in public
    assert public["scheduler"]["running"] is False


@pytest.mark.both_engines
def test_409_while_any_process_holds_the_store_lock(
    tmp_path: Path, engine_database: Callable[[str], str],
) -> None:
    from feedsvc.store import Store

    settings = site_settings(tmp_path, database=engine_database("sqlite:///var/db.sqlite3"))
    client = make_client(settings, QueuedRefresh(settings))
    with Store.open(settings.storage.database) as store, store.refresh_lock("a test"):
        assert post(client).status_code == 409
        assert store.refresh_requests() == []
    assert post(client).status_code == 202


@pytest.mark.both_engines
@pytest.mark.slow
def test_the_scheduler_runs_a_request_and_status_shows_it_queued_running_done(
    tmp_path: Path, engine_database: Callable[[str], str],
) -> None:
    from feedsvc.scheduler import start_background_scheduler

    settings = site_settings(tmp_path, database=engine_database("sqlite:///var/db.sqlite3"))
    client = create_app(settings).test_client()
    request_id = post(client).get_json()["id"]
    seen: list[str] = []
    released = threading.Event()

    def refresh() -> Any:
        seen.append(admin_status(client)["refresh_requests"][0]["state"])
        released.wait(WAIT)
        from feedsvc.pipeline import refresh as pipeline_refresh

        return pipeline_refresh(settings, owner="test")

    # As `feedsvc serve` runs it: the scheduler inside the serving process.
    handle = start_background_scheduler(
        dataclasses.replace(settings, schedule=dataclasses.replace(
            settings.schedule, run_at_startup=False, failover_seconds=2)), job=refresh)
    try:
        wait_for(lambda: seen == ["running"])
        running = admin_status(client)
        assert running["scheduler"]["running"] is True
        assert running["scheduler"]["active"] == handle.recorder.instance
        assert post(client).status_code == 409
        released.set()
        wait_for(lambda: admin_status(client)["refresh_requests"][0]["state"] == "done")
    finally:
        released.set()
        handle.shutdown(wait=True)
    done = admin_status(client)["refresh_requests"][0]
    assert done["id"] == request_id
    assert done["runner"] == handle.recorder.instance
    assert done["started"] <= done["finished"]
    assert done["error"] is None
    publication = open_publication(settings.storage.publish_dir)
    assert publication is not None and "feeds/all.atom" in publication.files
    assert post(client).status_code == 202


def test_a_store_that_cannot_be_written_is_503(tmp_path: Path) -> None:
    settings = site_settings(tmp_path)
    (tmp_path / "var").write_text("not a directory")
    client = make_client(settings, QueuedRefresh(settings))
    response = post(client)
    assert response.status_code == 503
    assert response.get_json() == {"error": "the store is unavailable"}


WAIT = 30.0


