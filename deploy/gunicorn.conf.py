"""gunicorn settings for feedsvc: ``gunicorn --config deploy/gunicorn.conf.py wsgi:app``.

Web workers only serve the published feeds; none of them runs the scheduler
(that is the separate ``feedsvc scheduler`` service), so any number of
workers is safe. These can be set from the environment (the other values
are fixed here):

FEEDSVC_BIND      address to listen on (default 127.0.0.1:8000; nginx proxies to it)
FEEDSVC_WORKERS   worker processes (default: 2 per CPU plus 1, at most 8)
FEEDSVC_TIMEOUT   seconds before a silent worker is restarted (default 30)
FEEDSVC_FORWARDED_ALLOW_IPS  proxies whose X-Forwarded-* headers are trusted
                  (default 127.0.0.1,::1)
PROMETHEUS_MULTIPROC_DIR  when set, /metrics sums the request counts of all workers;
                  the directory is created and emptied when gunicorn starts.

The settings ($FEEDSVC_CONFIG, FEEDSVC_ADMIN_TOKEN) are checked once before
any worker starts: invalid ones stop gunicorn with one error line naming the
key, instead of a traceback from every worker.

Sync workers serve one connection each, so a few clients sending slowly would
hold them all: run gunicorn only behind the nginx front of
deploy/nginx/feedsvc.conf, which reads whole requests first (README, Deployment).
"""

import os
import shutil
from pathlib import Path
from typing import Any

bind = os.environ.get("FEEDSVC_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("FEEDSVC_WORKERS", min(2 * (os.cpu_count() or 1) + 1, 8)))
timeout = int(os.environ.get("FEEDSVC_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
accesslog = "-"
errorlog = "-"
# Workers import the app after forking, so each opens its own database handles.
preload_app = False
forwarded_allow_ips = os.environ.get("FEEDSVC_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# gunicorn 25.1+ opens a control socket for `gunicornc`, by default under
# $HOME/.gunicorn, which the systemd unit's ProtectHome=yes forbids (a warning
# at every start); feedsvc does not use it. Older gunicorns ignore the setting.
control_socket_disable = True


def on_starting(server: Any) -> None:
    """Refuse invalid settings; start each run with empty multi-process metric files."""
    check_settings()
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        Path(directory).mkdir(parents=True, exist_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    """Tell the metrics library a worker is gone, so its live gauges are dropped."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def check_settings() -> None:
    """Exit with one line naming the file and key when the settings are invalid."""
    from feedsvc.errors import ConfigError
    from feedsvc.settings import load_settings

    try:
        load_settings()
    except ConfigError as exc:
        raise SystemExit(f"feedsvc: error: {exc}") from None
