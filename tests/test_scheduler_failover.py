"""Two real `feedsvc scheduler` processes on one store (SQLite, then PostgreSQL): one is
active, the other takes over when it is killed, and /status (read by a web app that
imports no scheduler) says which one is active and since when.

A short failover time (3 s) and an hour-long interval: after the start-up
refresh, refreshes happen only when the test asks for one with the admin
trigger, so every refresh is accounted for. Waits poll for a condition with
a generous deadline.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import waiting
from flask.testing import FlaskClient
from log_events import logged

from feedsvc.logevents import Event
from feedsvc.publication import open_publication
from feedsvc.settings import Settings, load_settings
from feedsvc.store import Store
from feedsvc.web import create_app

pytestmark = [pytest.mark.slow, pytest.mark.both_engines]

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LISTING = "newsroom-2021-01.txt"
OLD_TITLE = "ILO becomes member of International Aid Transparency Initiative (IATI)"
NEW_TITLE = "ILO joins the International Aid Transparency Initiative, a changed headline"
TOKEN = "failover-test-token-" + "f" * 24
FAILOVER = 3
WAIT = 60.0


wait_for = partial(waiting.wait_for, timeout=WAIT)


@dataclasses.dataclass
class Site:
    root: Path
    processes: dict[str, subprocess.Popen[bytes]] = dataclasses.field(default_factory=dict)

    @property
    def config(self) -> Path:
        return self.root / "feedsvc.toml"

    def settings(self) -> Settings:
        return load_settings(self.config)

    def scheduler(self, name: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, "FEEDSVC_CONFIG": str(self.config), "PYTHONPATH": str(ROOT)}
        with open(self.root / f"{name}.log", "wb") as log:
            process = subprocess.Popen([str(BIN / "feedsvc"), "scheduler"], cwd=ROOT, env=env,
                                       stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        self.processes[name] = process
        return process

    def log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")

    def run_count(self) -> int:
        with Store.open(self.settings().storage.database) as store:
            return store.run_count()

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(WAIT)


@pytest.fixture
def site(tmp_path: Path, database_url: Callable[..., str]) -> Iterator[Site]:
    (tmp_path / "listings").mkdir()
    shutil.copy(ROOT / "config" / "listings" / LISTING, tmp_path / "listings" / LISTING)
    (tmp_path / "feedsvc.toml").write_text(f"""
[site]
title = "Failover Test"
timezone = "Europe/Zurich"

[storage]
database = "{database_url()}"
publish_dir = "var/public"

[server]
admin_token = "{TOKEN}"

[schedule]
interval = "1h"
failover_seconds = {FAILOVER}

[[sources]]
name = "newsroom"
location = "listings/{LISTING}"
language = "en"
""")
    made = Site(tmp_path)
    yield made
    made.stop_all()


def admin_status(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/status", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def scheduler_of(client: FlaskClient) -> dict[str, Any]:
    scheduler: dict[str, Any] = admin_status(client)["scheduler"]
    return scheduler


def active_pid(client: FlaskClient) -> int | None:
    """The pid in the active instance's id (``host:pid:random``), or None."""
    active = scheduler_of(client)["active"]
    return None if active is None else int(active.split(":")[1])


def test_killing_the_active_scheduler_hands_over_to_the_standby(site: Site) -> None:
    first = site.scheduler("first")
    wait_for(lambda: site.run_count() == 1 and open_publication(
        site.settings().storage.publish_dir) is not None, what="the start-up refresh")
    client = create_app(site.settings()).test_client()
    wait_for(lambda: active_pid(client) == first.pid, what="the first scheduler active")
    since = scheduler_of(client)["active_since"]

    second = site.scheduler("second")
    wait_for(lambda: len(scheduler_of(client)["standbys"]) == 1, what="the standby")
    standby = scheduler_of(client)["standbys"][0]
    assert int(standby.split(":")[1]) == second.pid
    assert site.run_count() == 1  # the standby did not refresh at its start

    # The active one dies without a word; its lease expires.
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(WAIT)
    killed = time.monotonic()
    wait_for(lambda: active_pid(client) == second.pid, what="the standby taking over")
    took = time.monotonic() - killed
    assert took < FAILOVER + 10, took  # generous: within the lease, on a busy machine
    status = scheduler_of(client)
    assert status["running"] is True
    assert status["active"] == standby
    assert status["active_since"] is not None and status["active_since"] >= since
    assert logged(site.log("second"), Event.LEASE_TAKEN_OVER)

    # The new active scheduler refreshes: a change reaches the feed through it.
    listing = site.root / "listings" / LISTING
    listing.write_text(listing.read_text().replace(OLD_TITLE, NEW_TITLE))
    accepted = client.post("/admin/refresh", headers={"Authorization": f"Bearer {TOKEN}"})
    assert accepted.status_code == 202
    request_id = accepted.get_json()["id"]

    def request() -> dict[str, Any]:
        found: dict[str, Any] = admin_status(client)["refresh_requests"][0]
        assert found["id"] == request_id
        return found

    wait_for(lambda: request()["state"] == "done", what="the admin request done")
    assert request()["runner"] == standby
    publication = open_publication(site.settings().storage.publish_dir)
    assert publication is not None
    assert NEW_TITLE.encode() in publication.read("feeds/all.atom")
    assert site.run_count() == 2
    assert logged(site.log("second"), Event.RUN_FINISHED)


def test_stopping_the_active_scheduler_hands_over_at_once(site: Site) -> None:
    first = site.scheduler("first")
    client = create_app(site.settings()).test_client()
    wait_for(lambda: active_pid(client) == first.pid, what="the first scheduler active")
    second = site.scheduler("second")
    wait_for(lambda: len(scheduler_of(client)["standbys"]) == 1, what="the standby")
    first.send_signal(signal.SIGTERM)
    assert first.wait(WAIT) == 0, site.log("first")
    assert logged(site.log("first"), Event.LEASE_RELEASED)
    wait_for(lambda: active_pid(client) == second.pid, what="the standby taking over")
    assert not logged(site.log("second"), Event.LEASE_TAKEN_OVER)
