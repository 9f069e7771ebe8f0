"""The deployment, run for real: gunicorn with 3 workers, `feedsvc scheduler`, nginx, systemd units.

Every test starts real processes on loopback ports against a site in a temp
directory (a copy of a bundled listing, a 2-second schedule). Waits poll for
a condition with a deadline; nothing sleeps for a whole interval on faith.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import runpy
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from log_events import lines_of, logged
from plain_http import free_port, get, request
from scheduler_state import read_scheduler_state
from waiting import wait_for

from feedsvc.logevents import Event
from feedsvc.publication import Publication, open_publication
from feedsvc.settings import Settings, load_settings

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEPLOY = ROOT / "deploy"
NGINX = Path("/usr/sbin/nginx")
LISTING = "newsroom-2021-01.txt"
OLD_TITLE = "ILO becomes member of International Aid Transparency Initiative (IATI)"
NEW_TITLE = "ILO joins the International Aid Transparency Initiative, a changed headline"
INTERVAL = 2
TOKEN = "deploy-test-token-" + "d" * 24
WAIT = 30.0






def require(path: Path, what: str) -> None:
    """Skip when a system tool is missing, except in CI, where that is a failure."""
    if path.exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required in CI but {path} is missing")
    pytest.skip(f"{what} is not installed ({path} missing)")


# --- a site in a temp directory --------------------------------------------------------


@dataclass
class Site:
    root: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def config(self) -> Path:
        return self.root / "feedsvc.toml"

    @property
    def listing(self) -> Path:
        return self.root / "listings" / LISTING

    def settings(self) -> Settings:
        return load_settings(self.config)

    def env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, "FEEDSVC_CONFIG": str(self.config), "PYTHONPATH": str(ROOT),
                **extra}

    def start(self, name: str, argv: list[str], **extra_env: str) -> subprocess.Popen[bytes]:
        log = open(self.root / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(argv, cwd=ROOT, env=self.env(**extra_env), stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.processes.append(process)
        return process

    def log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")

    def scheduler(self) -> subprocess.Popen[bytes]:
        return self.start("scheduler", [str(BIN / "feedsvc"), "scheduler"])

    def refresh(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "feedsvc"), "refresh"], cwd=ROOT, env=self.env(),
                              capture_output=True, text=True, timeout=WAIT, check=False)

    def gunicorn(self, port: int, app: str = "wsgi:app",
                 **extra_env: str) -> subprocess.Popen[bytes]:
        process = self.start("gunicorn", [
            str(BIN / "gunicorn"), "--config", str(DEPLOY / "gunicorn.conf.py"),
            "--pythonpath", str(self.root), "-w", "3", "-b", f"127.0.0.1:{port}", app,
        ], **extra_env)
        wait_for(lambda: process.poll() is not None or _answers(port), what="gunicorn")
        assert process.poll() is None, self.log("gunicorn")
        return process

    def publication(self) -> Publication | None:
        return open_publication(self.settings().storage.publish_dir)

    def run_count(self) -> int:
        from feedsvc.store import Store

        with Store.open(self.settings().storage.database) as store:
            return store.run_count()

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(WAIT)


def make_site(root: Path, *, stale_after: str = "1h", sources: str = "") -> Site:
    (root / "listings").mkdir(parents=True)
    shutil.copy(ROOT / "config" / "listings" / LISTING, root / "listings" / LISTING)
    (root / "feedsvc.toml").write_text(f"""
[site]
title = "Deploy Test"
base_url = "http://127.0.0.1/"
timezone = "Europe/Zurich"

[storage]
database = "sqlite:///var/feedsvc.sqlite3"
publish_dir = "var/public"

[server]
admin_token = "{TOKEN}"

[schedule]
interval = "{INTERVAL}s"
stale_after = "{stale_after}"

[[sources]]
name = "newsroom"
location = "listings/{LISTING}"
language = "en"
{sources}""")
    return Site(root)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    made = make_site(tmp_path)
    yield made
    made.stop_all()


def _answers(port: int) -> bool:
    try:
        return get(port, "/healthz").status == 200
    except OSError:
        return False




def assert_publication_intact(publication: Publication | None) -> None:
    """Every file the manifest names is there, with the bytes its ETags promise."""
    assert publication is not None
    assert "feeds/all.atom" in publication.files
    for path, described in publication.files.items():
        body = publication.read(path)
        packed = publication.read(path, gzipped=True)
        assert len(body) == described.size
        assert '"' + hashlib.sha256(body).hexdigest()[:32] + '"' == described.etag
        assert '"' + hashlib.sha256(packed).hexdigest()[:32] + '"' == described.gzip_etag


# --- gunicorn + scheduler: a change reaches the feed after one tick, once per tick ---------


def test_a_listing_change_reaches_the_feed_after_one_tick_and_each_tick_refreshes_once(
    site: Site,
) -> None:
    port = free_port()
    scheduler = site.scheduler()
    started = time.monotonic()
    wait_for(lambda: site.publication() is not None, what="the start-up refresh")
    site.gunicorn(port)
    feed = get(port, "/feeds/all.atom")
    assert feed.status == 200
    assert OLD_TITLE.encode() in feed.body

    runs_before = site.run_count()
    text = site.listing.read_text()
    site.listing.write_text(text.replace(OLD_TITLE, NEW_TITLE))
    wait_for(lambda: NEW_TITLE.encode() in get(port, "/feeds/all.atom").body,
             timeout=3 * INTERVAL + 5, what="the change in /feeds/all.atom")
    # The tick after the change publishes it; a tick already reading the old
    # file when it changed may come first.
    assert site.run_count() - runs_before <= 2

    # Let a few more ticks pass, then stop the scheduler and count.
    wait_for(lambda: time.monotonic() - started > 4 * INTERVAL, timeout=5 * INTERVAL)
    scheduler.send_signal(signal.SIGTERM)
    assert scheduler.wait(WAIT) == 0, site.log("scheduler")
    elapsed = time.monotonic() - started
    state = read_scheduler_state(site.settings())
    assert state is not None and state["stopped"] is not None
    runs = site.run_count()
    log = site.log("scheduler")
    refresh_lines = len(lines_of(log, Event.RUN_FINISHED)) + len(lines_of(log, Event.RUN_FAILED))
    # Every run came from a scheduler tick: one per tick, none from the web workers.
    assert runs == state["ticks"] == refresh_lines
    assert "feedsvc.pipeline" not in site.log("gunicorn")
    # One tick at start-up, then at most one per interval elapsed (a busy
    # machine may make a refresh outlast a tick, which is then skipped).
    assert 3 <= runs <= 2 + elapsed / INTERVAL, (runs, elapsed)


# --- nginx in front: conditional requests pass through, ETags untouched --------------------


def nginx_config(tmp: Path, listen: int, upstream: int) -> Path:
    site_conf = (DEPLOY / "nginx" / "feedsvc.conf").read_text()
    site_conf = re.sub(r"listen 80;", f"listen 127.0.0.1:{listen};", site_conf)
    site_conf = re.sub(r"server 127\.0\.0\.1:8000;", f"server 127.0.0.1:{upstream};", site_conf)
    (tmp / "feedsvc.conf").write_text(site_conf)
    return nginx_main_config(tmp, tmp / "feedsvc.conf")


def nginx_main_config(tmp: Path, site_conf: Path) -> Path:
    """An nginx.conf in ``tmp`` that runs in the foreground, keeps every file it writes in
    ``tmp`` and serves the site ``site_conf``."""
    main = tmp / "nginx.conf"
    main.write_text(f"""
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {site_conf};
}}
""")
    return main


def test_nginx_passes_conditional_requests_and_keeps_etags(site: Site, tmp_path: Path) -> None:
    require(NGINX, "nginx")
    assert site.refresh().returncode == 0
    upstream, front = free_port(), free_port()
    site.gunicorn(upstream)
    nginx_dir = tmp_path / "nginx"
    nginx_dir.mkdir()
    config = nginx_config(nginx_dir, front, upstream)
    nginx = site.start("nginx", [str(NGINX), "-e", str(nginx_dir / "error.log"),
                                 "-p", str(nginx_dir), "-c", str(config)])
    wait_for(lambda: nginx.poll() is not None or _answers(front), what="nginx")
    assert nginx.poll() is None, site.log("nginx")

    for encoding in ({}, {"Accept-Encoding": "gzip"}):
        direct = get(upstream, "/feeds/all.atom", encoding)
        proxied = get(front, "/feeds/all.atom", encoding)
        assert proxied.status == 200
        assert proxied.headers["etag"] == direct.headers["etag"]
        assert proxied.headers["last-modified"] == direct.headers["last-modified"]
        assert proxied.headers.get("content-encoding") == direct.headers.get("content-encoding")
        assert proxied.body == direct.body
        etag = proxied.headers["etag"]

        by_etag = get(front, "/feeds/all.atom", {**encoding, "If-None-Match": etag})
        assert by_etag.status == 304
        assert by_etag.headers["etag"] == etag
        assert by_etag.body == b""

        by_date = get(front, "/feeds/all.atom",
                      {**encoding, "If-Modified-Since": proxied.headers["last-modified"]})
        assert by_date.status == 304
        assert by_date.headers["etag"] == etag

        changed = get(front, "/feeds/all.atom", {**encoding, "If-None-Match": '"other"'})
        assert changed.status == 200
    assert get(front, "/feeds/all.atom", {"Accept-Encoding": "gzip"}).headers[
        "content-encoding"] == "gzip"

    # /metrics is for the local monitoring host only, which the test is.
    assert get(front, "/metrics").status in (200, 404)
    nginx.send_signal(signal.SIGQUIT)
    nginx.wait(WAIT)


# --- two refreshes from two processes: one is refused, nothing is corrupted ---------------


@dataclass
class SlowSource:
    """A second source whose listing is a named pipe that the test holds open.

    A refresh reading it opens it at once but gets no end of file until the
    test ``release``s it, so the refresh stays in progress, holding the lock.
    """

    fifo: Path
    fd: int

    @classmethod
    def add_to(cls, site: Site, name: str = "slow") -> SlowSource:
        fifo = site.root / "listings" / f"{name}.txt"
        os.mkfifo(fifo)
        with site.config.open("a") as config:
            config.write(f'\n[[sources]]\nname = "{name}"\nlocation = "listings/{name}.txt"\n'
                         'language = "en"\n')
        # Read and write ends at once: opening never blocks, and the reader
        # sees no end of file while this descriptor stays open.
        return cls(fifo, os.open(fifo, os.O_RDWR))

    def release(self, data: bytes = b"") -> None:
        os.write(self.fd, data)
        os.close(self.fd)


def refresh_in_progress(site: Site) -> bool:
    from feedsvc.store import Store

    with Store.open(site.settings().storage.database) as store:
        return store.lock_holder() is not None


SLOW_LISTING = (ROOT / "config" / "listings" / "newsroom-2021-11.txt").read_bytes()


def test_two_refresh_processes_at_once_one_is_refused_nothing_corrupted(site: Site) -> None:
    assert site.refresh().returncode == 0
    before = site.publication()
    assert_publication_intact(before)
    slow = SlowSource.add_to(site)

    first = site.start("first", [str(BIN / "feedsvc"), "refresh"])
    wait_for(lambda: refresh_in_progress(site) or first.poll() is not None,
             what="the first refresh")
    assert first.poll() is None, site.log("first")

    second = site.refresh()
    assert second.returncode == 1
    assert "a refresh is already running" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1
    # The refused refresh changed nothing.
    assert_publication_intact(site.publication())

    slow.release(SLOW_LISTING)
    assert first.wait(WAIT) == 0, site.log("first")
    after = site.publication()
    assert_publication_intact(after)
    assert after is not None and before is not None
    assert after.generation != before.generation
    assert site.run_count() == 2


# --- SIGTERM in the middle of a refresh -------------------------------------------------------


def test_sigterm_abandons_a_feedsvc_refresh_and_releases_the_lock(site: Site) -> None:
    from feedsvc.store import Store

    assert site.refresh().returncode == 0
    before = site.publication()
    assert before is not None
    slow = SlowSource.add_to(site)
    refresh = site.start("refresh", [str(BIN / "feedsvc"), "refresh"])
    wait_for(lambda: refresh_in_progress(site) or refresh.poll() is not None,
             what="the refresh to block on the slow source")
    assert refresh.poll() is None, site.log("refresh")

    refresh.send_signal(signal.SIGTERM)
    wait_for(lambda: logged(site.log("refresh"), Event.REFRESH_TERMINATED)
             or refresh.poll() is not None,
             what="the refresh to acknowledge SIGTERM")
    # A read in progress is waited for (in production, bounded by the fetch
    # timeouts); ending it here lets the refresh unwind.
    slow.release()
    assert refresh.wait(WAIT) == 143, site.log("refresh")
    assert logged(site.log("refresh"), Event.RUN_ABANDONED)
    with Store.open(site.settings().storage.database) as store:
        assert store.lock_holder() is None
        last = store.last_run(finished=False)
        assert last is not None and last.finished is not None and last.ok is False
    after = site.publication()
    assert_publication_intact(after)
    assert after is not None and after.generation == before.generation



def start_blocked_scheduler(
    site: Site,
) -> tuple[subprocess.Popen[bytes], SlowSource, Publication]:
    assert site.refresh().returncode == 0
    before = site.publication()
    assert before is not None
    slow = SlowSource.add_to(site)
    scheduler = site.scheduler()
    wait_for(lambda: refresh_in_progress(site) or scheduler.poll() is not None,
             what="the scheduler's refresh to block on the slow source")
    assert scheduler.poll() is None, site.log("scheduler")
    return scheduler, slow, before


def test_sigterm_mid_refresh_lets_it_finish_and_exits_cleanly(site: Site) -> None:
    scheduler, slow, before = start_blocked_scheduler(site)
    scheduler.send_signal(signal.SIGTERM)
    wait_for(lambda: logged(site.log("scheduler"), Event.SIGNAL_RECEIVED),
             what="the scheduler to acknowledge SIGTERM")
    assert scheduler.poll() is None
    assert_publication_intact(site.publication())

    slow.release(SLOW_LISTING)
    assert scheduler.wait(WAIT) == 0, site.log("scheduler")
    after = site.publication()
    assert_publication_intact(after)
    assert after is not None and after.generation != before.generation
    state = read_scheduler_state(site.settings())
    assert state is not None
    assert state["stopped"] is not None and state["next_run"] is None
    assert state["last_tick"]["outcome"] == "ok"


def test_a_second_sigterm_abandons_the_refresh_and_keeps_the_last_publication(
    site: Site,
) -> None:
    scheduler, slow, before = start_blocked_scheduler(site)
    scheduler.send_signal(signal.SIGTERM)
    wait_for(lambda: logged(site.log("scheduler"), Event.SIGNAL_RECEIVED))
    scheduler.send_signal(signal.SIGTERM)
    assert scheduler.wait(WAIT) == 0, site.log("scheduler")
    assert logged(site.log("scheduler"), Event.REFRESH_ABANDONED)
    after = site.publication()
    assert_publication_intact(after)
    assert after is not None and after.generation == before.generation
    # The abandoned refresh's lock belonged to a dead process: the next refresh takes it.
    slow.release()
    slow.fifo.unlink()
    slow.fifo.write_bytes(SLOW_LISTING)
    result = site.refresh()
    assert result.returncode == 0, result.stderr


# --- a source failing, going stale, then recovering, as /status shows it -----------------------


def test_a_failing_source_turns_stale_then_recovers_in_status(tmp_path: Path) -> None:
    site = make_site(tmp_path, stale_after="1s")
    try:
        port = free_port()
        site.scheduler()
        wait_for(lambda: site.publication() is not None)
        site.gunicorn(port)

        # The full picture (with last_error) is the admin's.
        admin = {"Authorization": f"Bearer {TOKEN}"}

        def source() -> dict[str, object]:
            status = json.loads(get(port, "/status", admin).body)
            sources: dict[str, dict[str, object]] = status["sources"]
            return sources["newsroom"]

        assert source()["stale"] is False
        hidden = site.listing.with_suffix(".away")
        site.listing.rename(hidden)
        wait_for(lambda: source()["consecutive_failures"] != 0, what="the failure in /status")
        failing = source()
        assert failing["last_error"]
        assert failing["items"] == 10
        wait_for(lambda: source()["stale"] is True, what="the stale flag")
        feed = get(port, "/feeds/all.atom")
        assert feed.status == 200 and OLD_TITLE.encode() in feed.body

        hidden.rename(site.listing)
        wait_for(lambda: source()["consecutive_failures"] == 0, what="the recovery")
        recovered = source()
        assert recovered["stale"] is False
        assert recovered["failing_since"] is None
        status = json.loads(get(port, "/status").body)
        scheduler_state = status.get("scheduler")
        assert scheduler_state is not None and scheduler_state["next_run"] is not None
        next_run = dt.datetime.fromisoformat(scheduler_state["next_run"])
        assert next_run > dt.datetime.now(dt.UTC) - dt.timedelta(seconds=INTERVAL)
    finally:
        site.stop_all()


# --- the admin trigger and the metrics through gunicorn -----------------------------------------


def test_admin_trigger_and_metrics_through_gunicorn(site: Site, tmp_path: Path) -> None:
    assert site.refresh().returncode == 0
    # Only the admin request refreshes from here on: no tick at start-up, none for an hour.
    site.config.write_text(site.config.read_text().replace(
        f'interval = "{INTERVAL}s"', 'interval = "1h"\nrun_at_startup = false'))
    port = free_port()
    site.gunicorn(port, PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"))
    assert request(port, "POST", "/admin/refresh").status == 401
    from feedsvc.store import Store

    admin = {"Authorization": f"Bearer {TOKEN}"}
    with Store.open(site.settings().storage.database) as store, store.refresh_lock("test"):
        held = request(port, "POST", "/admin/refresh", admin)
        assert held.status == 409
    accepted = request(port, "POST", "/admin/refresh", admin)
    assert accepted.status == 202
    assert accepted.headers["location"] == "/status"
    request_id = json.loads(accepted.body)["id"]

    def requested() -> dict[str, object]:
        found: dict[str, object] = json.loads(get(port, "/status", admin).body)[
            "refresh_requests"][0]
        assert found["id"] == request_id
        return found

    # Queued: no web worker runs it, whatever the wait.
    assert requested()["state"] == "queued"
    assert request(port, "POST", "/admin/refresh", admin).status == 409
    site.scheduler()
    wait_for(lambda: requested()["state"] == "done", what="the admin refresh")
    assert site.run_count() == 2
    # The scheduler ran it, not gunicorn.
    assert logged(site.log("scheduler"), Event.RUN_FINISHED)
    assert any("source=newsroom status=not_modified" in line
               for line in lines_of(site.log("scheduler"), Event.SOURCE_READ))
    assert "feedsvc.pipeline" not in site.log("gunicorn")

    requests_made = 30
    for _ in range(requests_made):
        get(port, "/feeds/all.atom", {"If-None-Match": "*"})
    metrics = get(port, "/metrics").body.decode()
    not_modified = re.search(r'^feedsvc_http_not_modified_total\{endpoint="[^"]*feed[^"]*"\} '
                             r"(\S+)$", metrics, re.MULTILINE)
    # Summed over all three workers, whichever answered the scrape.
    assert not_modified is not None and float(not_modified.group(1)) == requests_made
    assert re.search(r"^feedsvc_refresh_runs_total 2\.0$", metrics, re.MULTILINE)
    assert re.search(r'^feedsvc_source_items\{source="newsroom"\} 10\.0$', metrics, re.MULTILINE)


# --- systemd units ------------------------------------------------------------------------------


def test_systemd_units_verify(tmp_path: Path) -> None:
    units = sorted((DEPLOY / "systemd").glob("*.service"))
    assert [unit.name for unit in units] == ["feedsvc-scheduler.service", "feedsvc-web.service"]
    for unit in units:
        text = unit.read_text()
        assert "Environment=FEEDSVC_CONFIG=" in text
        # Point the units at this checkout so that their commands exist here.
        text = text.replace("/opt/feedsvc/.venv", str(BIN.parent)).replace("/opt/feedsvc",
                                                                           str(ROOT))
        (tmp_path / unit.name).write_text(text)
    web = (tmp_path / "feedsvc-web.service").read_text()
    assert "gunicorn" in web and "wsgi:app" in web
    assert "feedsvc scheduler" in (tmp_path / "feedsvc-scheduler.service").read_text()
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        for unit in tmp_path.glob("*.service"):
            sections = re.findall(r"^\[(\w+)\]$", unit.read_text(), re.MULTILINE)
            assert sections == ["Unit", "Service", "Install"]
        return
    result = subprocess.run([analyze, "verify", *map(str, tmp_path.glob("*.service"))],
                            capture_output=True, text=True, check=False)
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if "feedsvc" in line]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr


def test_gunicorn_config_reads_its_settings_from_the_environment() -> None:
    code = ("import runpy, json; c = runpy.run_path('deploy/gunicorn.conf.py'); "
            "print(json.dumps([c['bind'], c['workers'], c['preload_app']]))")
    env = {**os.environ, "FEEDSVC_BIND": "0.0.0.0:9999", "FEEDSVC_WORKERS": "5"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                            capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == ["0.0.0.0:9999", 5, False]


def test_gunicorn_config_disables_the_control_socket() -> None:
    """gunicorn 25.1+ would open one under $HOME, which the unit's ProtectHome=yes forbids."""
    from gunicorn.config import Config

    if "control_socket_disable" not in Config().settings:
        pytest.skip("this gunicorn has no control socket")
    config = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    assert config["control_socket_disable"] is True
