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
    """Start each run of the master with empty multi-process metric files."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        Path(directory).mkdir(parents=True, exist_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    """Tell the metrics library a worker is gone, so its live gauges are dropped."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
