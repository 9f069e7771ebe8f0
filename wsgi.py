"""WSGI entry point for production servers: ``gunicorn wsgi:app``.

Reads the settings from $FEEDSVC_CONFIG (else the bundled config) when a
server imports this module. Web workers only serve: the scheduler runs in its
own process (``feedsvc scheduler``).

Logging: gunicorn configures only its own loggers, so without this feedsvc's
records (``admin refresh queued id=...``, a refused admin token) would be
dropped; the refresh an admin asks for is run, and logged, by the scheduler.
Records go to stderr, the server's error log, in the format of the
``feedsvc`` command, without the HTTP client's own records (they quote whole
URLs). A server that configured the root logger already
keeps its configuration.
"""

from feedsvc.cli import configure_logging
from feedsvc.settings import load_settings
from feedsvc.web import create_app

configure_logging()

app = create_app(load_settings())
