"""The responses every blueprint builds: cached representations and the error pages.

Error pages are short HTML, never cached and never a traceback; a 503 says when to
try again (``Retry-After``).
"""

from __future__ import annotations

from flask import Response, render_template

from feedsvc.web.http_cache import NO_STORE, Decision

RETRY_AFTER_SECONDS = 30
HTML = "text/html; charset=utf-8"
# The site's own stylesheet and copy-button script only; no inline script, nothing
# from third parties.
PAGE_POLICY = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def respond(decision: Decision, body: bytes) -> Response:
    """A response from a caching decision; Content-Length follows the body (kept on HEAD)."""
    response = Response(body, status=decision.status)
    for name, value in decision.headers:
        response.headers[name] = value
    return response


def not_found(title: str, message: str) -> Response:
    return error_page(404, title, message)


def nothing_published(message: str | None = None) -> Response:
    """503 with Retry-After: no refresh has published anything yet.

    The page says ``message`` and how to publish; without a message it is the
    home page's own explanation (``unpublished.html``).
    """
    if message is None:
        return retry_later(error_page(503, "Nothing published yet", "",
                                       template="unpublished.html"))
    return retry_later(error_page(503, "Nothing published yet", message, publish_hint=True))


def unavailable(message: str) -> Response:
    """503 with Retry-After: the feeds are published but cannot be served right now
    (being replaced, unreadable); the page only says ``message``."""
    return retry_later(error_page(503, "Temporarily unavailable", message))


def retry_later(response: Response) -> Response:
    """``response`` with ``Retry-After``: the answer may differ in a moment."""
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def error_page(status: int, title: str, message: str, *, template: str = "error.html",
               publish_hint: bool = False) -> Response:
    """A short HTML page for an error; never cached, never a traceback.

    ``publish_hint`` adds how to publish the feeds (for "nothing published yet").
    """
    html = render_template(template, status=status, title=title, message=message,
                           publish_hint=publish_hint)
    return Response(html, status=status, content_type=HTML,
                    headers={"Cache-Control": NO_STORE, "Content-Security-Policy": PAGE_POLICY})
