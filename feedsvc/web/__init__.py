"""The web layer: serves the published feeds and the pages that link to them.

It only reads what the refresh pipeline published (``feedsvc.publication``);
it never parses listings or renders feeds while answering a request.
"""

from feedsvc.web.app import create_app
from feedsvc.web.server import serve

__all__ = ["create_app", "serve"]
