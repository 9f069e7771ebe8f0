"""Many machines, run for real on one: PostgreSQL, two web nodes, two schedulers, wrk.

The deployment of the README's "Deployment" (many machines): a PostgreSQL
server (tests/postgres.py); two gunicorn nodes (``gunicorn wsgi:app`` on two
loopback ports), each with its own working directory and settings file and
no file in common (``storage.publication = "database"``, the same database
URL); two ``feedsvc scheduler`` processes, each with its own directory and
settings (a 2-second interval, a 3-second failover). The schedulers read the
same listing file: that is "the site"; the nodes share nothing but the
database.

One test walks through it, in order: the nodes start before anything is in
the database and answer 503, not 500; a listing change reaches
/feeds/all.atom on both nodes, with the same bytes and ETag; ``kill -9`` of
the active scheduler hands over to the other and the next change still
reaches both nodes; an admin trigger sent to node B is run by a scheduler;
the balancer of deploy/nginx/feedsvc-upstream.conf serves the nodes' bytes
and 304s; wrk plus Python clients load both nodes while the refreshes
publish new generations, with no error and no torn answer; and the balancer
keeps serving when a node is killed. A second test shows a node's front,
with the real_ip lines of deploy/nginx/feedsvc.conf, passing on the client's
address rather than the balancer's. Waits poll for a condition with a
generous deadline; nothing sleeps on faith.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import waiting
from log_events import logged
from plain_http import Answer, free_port, get, request
from test_deploy import nginx_main_config

from feedsvc.logevents import Event
from feedsvc.publication import etag_of

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEPLOY = ROOT / "deploy"
WRK = Path("/usr/bin/wrk")
NGINX = Path("/usr/sbin/nginx")
LISTING = ROOT / "config" / "listings" / "newsroom-2021-01.txt"
OLD_TITLE = "ILO becomes member of International Aid Transparency Initiative (IATI)"
TOKEN = "multi-node-test-token-" + "m" * 24
INTERVAL = 2
FAILOVER = 3
WAIT = 60.0
LOAD_SECONDS = 15
FEED = "/feeds/all.atom"


wait_for = partial(waiting.wait_for, timeout=WAIT)






ADMIN = {"Authorization": f"Bearer {TOKEN}"}


def admin_status(port: int) -> dict[str, Any]:
    answer = get(port, "/status", ADMIN)
    assert answer.status == 200, answer.body[:500]
    found: dict[str, Any] = json.loads(answer.body)
    return found


def instance_pid(instance: str | None) -> int | None:
    """The pid in a scheduler instance id (``host:pid:random``), or None."""
    return None if instance is None else int(instance.split(":")[1])


# --- the deployment: one database, machines that share nothing else ----------------------


def settings_text(database: str, *, admin: bool) -> str:
    """One machine's settings: its own paths, the shared database, the site's listing."""
    token = f'\n[server]\nadmin_token = "{TOKEN}"\n' if admin else ""
    return f"""
[site]
title = "Multi-node Test"
base_url = "http://127.0.0.1/"
timezone = "Europe/Zurich"

[storage]
database = "{database}"
publication = "database"
publish_dir = "var/public"
publication_poll_seconds = 1
{token}
[schedule]
interval = "{INTERVAL}s"
failover_seconds = {FAILOVER}
"""


@dataclass
class Machine:
    """A working directory with its own settings file, and the process run there."""

    name: str
    root: Path
    process: subprocess.Popen[bytes] | None = None
    port: int = 0

    @property
    def config(self) -> Path:
        return self.root / "feedsvc.toml"

    def log(self) -> str:
        path = self.root / "process.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self, argv: list[str], **extra_env: str) -> None:
        env = {**os.environ, "FEEDSVC_CONFIG": str(self.config), "PYTHONPATH": str(ROOT),
               **extra_env}
        env.pop("FEEDSVC_ADMIN_TOKEN", None)
        with open(self.root / "process.log", "wb") as log:
            self.process = subprocess.Popen(argv, cwd=self.root, env=env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(WAIT)


@dataclass
class Cluster:
    tmp: Path
    database: str
    listing: Path
    machines: list[Machine] = field(default_factory=list)

    def machine(self, name: str, *, admin: bool, sources: bool) -> Machine:
        root = self.tmp / name
        root.mkdir()
        text = settings_text(self.database, admin=admin)
        if sources:
            text += (f'\n[[sources]]\nname = "newsroom"\nlocation = "{self.listing}"\n'
                     'language = "en"\n')
        (root / "feedsvc.toml").write_text(text)
        made = Machine(name, root)
        self.machines.append(made)
        return made

    def node(self, name: str) -> Machine:
        """A web node: gunicorn with two workers, as the systemd unit runs it."""
        # The same settings as the schedulers' (in production one file copied to
        # every machine); a node never reads the listing, only the database.
        node = self.machine(name, admin=True, sources=True)
        node.port = free_port()
        node.start([str(BIN / "gunicorn"), "--config", str(DEPLOY / "gunicorn.conf.py"),
                    "--pythonpath", str(ROOT), "--access-logfile", "/dev/null", "wsgi:app"],
                   FEEDSVC_BIND=f"127.0.0.1:{node.port}", FEEDSVC_WORKERS="2")
        return node

    def scheduler(self, name: str) -> Machine:
        made = self.machine(name, admin=True, sources=True)
        made.start([str(BIN / "feedsvc"), "scheduler"])
        return made

    def stop_all(self) -> None:
        for machine in self.machines:
            machine.kill()

    def change_listing(self, title: str) -> None:
        """Give the first item of the site's listing a new title (atomically)."""
        text = LISTING.read_text(encoding="utf-8").replace(OLD_TITLE, title)
        staged = self.listing.with_suffix(".new")
        staged.write_text(text, encoding="utf-8")
        staged.replace(self.listing)


@pytest.fixture
def cluster(tmp_path: Path, postgres_database: Callable[..., str]) -> Iterator[Cluster]:
    site = tmp_path / "site"
    site.mkdir()
    listing = site / "newsroom.txt"
    shutil.copy(LISTING, listing)
    made = Cluster(tmp_path, postgres_database(), listing)
    yield made
    made.stop_all()


def answers(node: Machine) -> bool:
    try:
        return get(node.port, "/healthz").status == 200
    except OSError:
        return False


def started(node: Machine) -> None:
    process = node.process
    assert process is not None
    wait_for(lambda: process.poll() is not None or answers(node), what=f"{node.name} answering")
    assert process.poll() is None, node.log()


def feed_has(node: Machine, title: str) -> bool:
    answer = get(node.port, FEED)
    return answer.status == 200 and title.encode() in answer.body


def assert_same_feed(nodes: list[Machine], title: str) -> None:
    """Both nodes serve ``title`` in the same bytes under the same ETag."""
    wait_for(lambda: all(feed_has(node, title) for node in nodes),
             what=f"{title!r} on every node")
    for encoding in ({}, {"Accept-Encoding": "gzip"}):
        seen = [get(node.port, FEED, encoding) for node in nodes]
        assert {answer.status for answer in seen} == {200}
        assert len({answer.body for answer in seen}) == 1
        assert len({answer.headers["etag"] for answer in seen}) == 1
        assert len({answer.headers["last-modified"] for answer in seen}) == 1
        assert etag_of(seen[0].body) == seen[0].headers["etag"]


def active_scheduler(node: Machine) -> str | None:
    active: str | None = admin_status_of(node)["scheduler"]["active"]
    return active


def node_pids(node: Machine) -> set[int]:
    """gunicorn's master and workers: the node's process group."""
    assert node.process is not None
    found = subprocess.run(["ps", "-o", "pid=", "-g", str(node.process.pid)],
                           capture_output=True, text=True, check=False).stdout.split()
    return {int(pid) for pid in found}


def admin_status_of(node: Machine) -> dict[str, Any]:
    return admin_status(node.port)


def test_two_nodes_two_schedulers_one_database(cluster: Cluster) -> None:
    # The nodes start first: nothing is in the database yet, not even its tables.
    node_a, node_b = cluster.node("node-a"), cluster.node("node-b")
    nodes = [node_a, node_b]
    for node in nodes:
        started(node)
        early = get(node.port, FEED)
        assert early.status == 503, early.body[:500]
        assert "retry-after" in early.headers
        assert b"Nothing published yet" in early.body
        assert get(node.port, "/status").status == 200

    # Two schedulers: one refreshes at start-up, both nodes serve it.
    first = cluster.scheduler("scheduler-1")
    assert_same_feed(nodes, OLD_TITLE)
    second = cluster.scheduler("scheduler-2")
    pids = {first.name: first.process.pid if first.process else 0,
            second.name: second.process.pid if second.process else 0}
    wait_for(lambda: instance_pid(active_scheduler(node_a)) in pids.values()
             and len(admin_status_of(node_a)["scheduler"]["standbys"]) == 1,
             what="one active scheduler and one standby")
    active_pid = instance_pid(active_scheduler(node_a))
    active, standby = (first, second) if active_pid == pids[first.name] else (second, first)

    # A listing change reaches both nodes after a tick, the same bytes on both.
    cluster.change_listing("A first changed headline")
    assert_same_feed(nodes, "A first changed headline")

    # kill -9 of the active scheduler: the standby takes over, seen from either node.
    active.kill()
    wait_for(lambda: instance_pid(active_scheduler(node_b)) == pids[standby.name],
             timeout=FAILOVER + WAIT, what="the standby taking over")
    assert admin_status_of(node_a)["scheduler"]["running"] is True
    cluster.change_listing("A change after the failover")
    assert_same_feed(nodes, "A change after the failover")

    # An admin trigger sent to node B is queued there and run by the scheduler.
    request_id = trigger(node_b)
    wait_for(lambda: request_state(node_a, request_id)["state"] == "done",
             what="the admin request done")
    runner = request_state(node_b, request_id)["runner"]
    assert instance_pid(runner) == pids[standby.name]
    assert instance_pid(runner) not in node_pids(node_b)
    for node in nodes:
        assert not logged(node.log(), Event.RUN_FINISHED)
        assert not logged(node.log(), Event.RUN_FAILED)

    # The balancer of deploy/nginx/feedsvc-upstream.conf in front of both nodes.
    balancer = start_balancer(cluster, nodes)
    direct = get(node_a.port, FEED)
    through = get(balancer.port, FEED)
    assert through.status == 200
    assert (through.body, through.headers["etag"]) == (direct.body, direct.headers["etag"])
    conditional = get(balancer.port, FEED, {"If-None-Match": direct.headers["etag"]})
    assert conditional.status == 304

    # Load on both nodes while new generations go live.
    load_both_nodes(cluster, nodes)
    for node in nodes:
        assert node.process is not None and node.process.poll() is None, node.log()

    # A node dies: the balancer sends every request to the other.
    node_a.kill()
    served = [get(balancer.port, FEED) for _ in range(6)]
    assert {answer.status for answer in served} == {200}
    assert len({answer.headers["etag"] for answer in served}) == 1


def require(path: Path, what: str) -> None:
    """Skip when a system tool is missing, except in CI, where that is a failure."""
    if path.exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required in CI but {path} is missing")
    pytest.skip(f"{what} is not installed ({path} missing)")


def start_balancer(cluster: Cluster, nodes: list[Machine]) -> Machine:
    """nginx with deploy/nginx/feedsvc-upstream.conf, its servers the test's nodes."""
    require(NGINX, "nginx")
    balancer = Machine("balancer", cluster.tmp / "balancer", port=free_port())
    balancer.root.mkdir()
    cluster.machines.append(balancer)
    site = (DEPLOY / "nginx" / "feedsvc-upstream.conf").read_text()
    servers = "".join(f"    server 127.0.0.1:{node.port} max_fails=2 fail_timeout=10s;\n"
                      for node in nodes)
    site, count = re.subn(r"(?m)^    server 10\.0\.0\.\d+:80 [^\n]*\n", "", site)
    assert count == 2, "the example names two nodes"
    site = site.replace("    keepalive 32;", servers + "    keepalive 32;")
    site = site.replace("listen 80;", f"listen 127.0.0.1:{balancer.port};")
    (balancer.root / "site.conf").write_text(site)
    tmp = balancer.root
    main = nginx_main_config(tmp, tmp / "site.conf")
    argv = [str(NGINX), "-e", str(tmp / "error.log"), "-p", str(tmp), "-c", str(main)]
    checked = subprocess.run([*argv, "-t"], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    balancer.start(argv)
    started(balancer)
    return balancer


def trigger(node: Machine) -> int:
    """POST /admin/refresh until it is accepted (409 while a tick is refreshing)."""
    accepted: list[Answer] = []

    def post() -> bool:
        answer = request(node.port, "POST", "/admin/refresh", ADMIN)
        assert answer.status in (202, 409), answer.body[:500]
        if answer.status == 202:
            accepted.append(answer)
        return answer.status == 202

    wait_for(post, what="the admin trigger accepted")
    found: int = json.loads(accepted[0].body)["id"]
    return found


def request_state(node: Machine, request_id: int) -> dict[str, Any]:
    for entry in admin_status_of(node)["refresh_requests"]:
        if entry["id"] == request_id:
            found: dict[str, Any] = entry
            return found
    raise AssertionError(f"request {request_id} is not in /status")


# --- load: wrk and checking clients while refreshes publish ---------------------------------


@dataclass
class Checked:
    """What the checking clients saw."""

    answers: int = 0
    etags: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)


def check_answers(port: int, stop: threading.Event, seen: Checked, lock: threading.Lock) -> None:
    """Fetch the feed, gzip and not, over and over; each body must match its ETag."""
    known: str | None = None
    while not stop.is_set():
        for encoding in ({}, {"Accept-Encoding": "gzip"}):
            headers = dict(encoding)
            if known is not None and not encoding:
                headers["If-None-Match"] = known
            try:
                answer = get(port, FEED, headers)
            except OSError as exc:
                problem = f"{port}: {exc!r}"
            else:
                problem = torn(answer, encoding)
                if not encoding and answer.status == 200:
                    known = answer.headers.get("etag")
            with lock:
                seen.answers += 1
                if problem:
                    seen.problems.append(problem)
                elif answer.status == 200:
                    seen.etags.add(answer.headers["etag"])


def torn(answer: Answer, encoding: dict[str, str]) -> str:
    """Why ``answer`` is not whole and consistent, or ""."""
    if answer.status == 304:
        return "" if answer.body == b"" else "a 304 with a body"
    if answer.status != 200:
        return f"status {answer.status}"
    if etag_of(answer.body) != answer.headers.get("etag"):
        return f"the body does not match ETag {answer.headers.get('etag')}"
    body = answer.body
    if encoding:
        if answer.headers.get("content-encoding") != "gzip":
            return "no gzip for a client that accepts it"
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError) as exc:
            return f"gzip body does not decompress: {exc}"
    if not body.rstrip().endswith(b"</feed>"):
        return "the document is cut short"
    return ""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    bad_status: int
    socket_errors: int
    output: str


def parse_wrk(output: str) -> WrkResult:
    total = re.search(r"(\d+) requests in", output)
    assert total is not None, output
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       output)
    return WrkResult(int(total.group(1)), int(bad.group(1)) if bad else 0,
                     sum(int(n) for n in errors.groups()) if errors else 0, output)


def load_both_nodes(cluster: Cluster, nodes: list[Machine]) -> None:
    if not WRK.exists():
        if os.environ.get("CI"):
            pytest.fail(f"wrk is required in CI but {WRK} is missing")
        pytest.skip(f"wrk is not installed ({WRK} missing)")
    stop = threading.Event()
    seen = Checked()
    lock = threading.Lock()
    clients = [threading.Thread(target=check_answers, args=(node.port, stop, seen, lock))
               for node in nodes]
    wrks = [subprocess.Popen(
        [str(WRK), "-t1", "-c3", f"-d{LOAD_SECONDS}s", "--timeout", "15s",
         *(["-H", "Accept-Encoding: gzip"] if index else []),
         f"http://127.0.0.1:{node.port}{FEED}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for index, node in enumerate(nodes)]
    for client in clients:
        client.start()
    published = 0
    try:
        # New generations while the load runs: a change, then wait until it is live.
        deadline = time.monotonic() + LOAD_SECONDS - 2 * INTERVAL
        while time.monotonic() < deadline:
            published += 1
            title = f"A headline changed under load, number {published}"
            cluster.change_listing(title)
            wait_for(lambda t=title: all(feed_has(node, t) for node in nodes),  # type: ignore[misc]
                     what=f"change {published} live under load")
        outputs = [process.communicate(timeout=LOAD_SECONDS + WAIT)[0] for process in wrks]
    finally:
        stop.set()
        for client in clients:
            client.join(WAIT)
        for process in wrks:
            if process.poll() is None:
                process.kill()
                process.wait()
    results = [parse_wrk(output) for output in outputs]
    # Shown with -s, and in a failure's captured output.
    print(f"load: {[r.requests for r in results]} wrk requests, {seen.answers} checked "
          f"answers, {published} generations published, {len(seen.etags)} ETags seen")
    for result in results:
        assert result.requests > 0, result.output
        assert result.bad_status == 0, result.output
        assert result.socket_errors == 0, result.output
    assert published >= 2
    assert seen.problems == [], seen.problems[:10]
    assert seen.answers > 0
    # The clients saw more than one generation: the load ran across publications.
    assert len(seen.etags) >= 2, seen.etags


# --- a node's front behind the balancer: the client's address, not the balancer's ---------


class ForwardedEcho:
    """A loopback HTTP server standing in for gunicorn: answers each request with the
    X-Forwarded-For header it was sent."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = self.headers.get("X-Forwarded-For", "").encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port: int = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_node_front_behind_the_balancer_forwards_the_clients_address(tmp_path: Path) -> None:
    from test_deploy import nginx_config

    require(NGINX, "nginx")
    echo = ForwardedEcho()
    front = Machine("front", tmp_path / "front", port=free_port())
    front.root.mkdir()
    try:
        config = nginx_config(front.root, front.port, echo.port)
        site = front.root / "feedsvc.conf"
        text = site.read_text()
        # The lines the file says to uncomment, with the test's balancer: loopback.
        enabled = text.replace("    # set_real_ip_from 10.0.0.5;",
                               "    set_real_ip_from 127.0.0.1;")
        enabled = enabled.replace("    # real_ip_header X-Forwarded-For;",
                                  "    real_ip_header X-Forwarded-For;")
        assert enabled.count("real_ip") == text.count("real_ip") and enabled != text
        site.write_text(enabled)
        front.start([str(NGINX), "-e", str(front.root / "error.log"), "-p", str(front.root),
                     "-c", str(config)])
        wait_for(lambda: front.process is not None and (
            front.process.poll() is not None or _answers_at(front.port)), what="nginx")
        assert front.process is not None and front.process.poll() is None, front.log()
        # As the balancer sends it: whatever the client claimed, then the client's address.
        seen = get(front.port, "/", {"X-Forwarded-For": "203.0.113.9, 198.51.100.7"})
        assert seen.status == 200
        assert seen.body.decode().split(",")[-1].strip() == "198.51.100.7"
    finally:
        front.kill()
        echo.close()


def _answers_at(port: int) -> bool:
    try:
        return get(port, "/").status == 200
    except OSError:
        return False
