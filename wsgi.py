"""WSGI entry point for production servers: ``gunicorn wsgi:app``.

Reads the settings from $FEEDSVC_CONFIG (else the bundled config) when a
server imports this module. Web workers only serve: the scheduler runs in its
own process (``feedsvc scheduler``).
"""

from feedsvc.settings import load_settings
from feedsvc.web import create_app

app = create_app(load_settings())
