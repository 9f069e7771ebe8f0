"""HTTP caching decisions: the one place that picks 200 or 304, gzip or identity.

Pure: it takes the request's header values and what is known about the
representation, and returns the status and the headers to send. It never
reads files, the clock or Flask's request, so a table of cases tests it.

Rules followed (RFC 9110 sections 8.8, 12.5.3 and 13; RFC 9111 section 5.2):

- ``If-None-Match`` uses the weak comparison; ``*`` matches any existing
  representation. When it is present, ``If-Modified-Since`` is ignored.
- ``If-Modified-Since`` is honoured only for GET and HEAD and only when it is
  one valid HTTP-date (IMF-fixdate, RFC 850 or asctime); otherwise ignored.
- gzip is chosen when ``Accept-Encoding`` gives it (or ``*``) a non-zero
  q-value at least as high as identity's; without the header, identity.
- A 304 repeats ETag, Cache-Control and Vary and carries no body.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Protocol

SAFE_METHODS = frozenset({"GET", "HEAD"})
NO_STORE = "no-store"


class HeaderLookup(Protocol):
    """A case-insensitive header mapping, such as Flask's ``request.headers``."""

    def get(self, key: str, /) -> str | None: ...


@dataclass(frozen=True)
class RequestConditions:
    """The request header values that matter here; None when a header is absent."""

    method: str = "GET"
    if_none_match: str | None = None
    if_modified_since: str | None = None
    accept_encoding: str | None = None

    @classmethod
    def from_headers(cls, method: str, headers: HeaderLookup) -> RequestConditions:
        """Build from the request method and its headers."""
        return cls(
            method=method.upper(),
            if_none_match=headers.get("If-None-Match"),
            if_modified_since=headers.get("If-Modified-Since"),
            accept_encoding=headers.get("Accept-Encoding"),
        )


@dataclass(frozen=True)
class Representation:
    """What is known about a resource without reading its bytes.

    ``etag`` (quoted, strong) identifies the identity bytes; ``gzip_etag``
    the precompressed bytes, or None when there is no gzip twin (then no
    ``Vary: Accept-Encoding`` either). ``last_modified`` is timezone-aware, or
    None. ``vary`` names the other request headers the representation was
    chosen by (``Accept`` where a feed's address also serves its HTML page).
    """

    content_type: str
    etag: str
    max_age: int
    gzip_etag: str | None = None
    last_modified: dt.datetime | None = None
    vary: tuple[str, ...] = ()
    immutable: bool = False
    """The bytes at this address never change (an archive page): said to caches."""


@dataclass(frozen=True)
class Decision:
    """What to answer: the status, whether to send the gzip bytes, the headers.

    ``headers`` never include Content-Length; the caller's framework sets it
    from the body it sends (and keeps it on HEAD).
    """

    status: int
    gzipped: bool
    headers: tuple[tuple[str, str], ...]

    @property
    def has_body(self) -> bool:
        return self.status != 304


def decide(request: RequestConditions, rep: Representation) -> Decision:
    """Choose the encoding, then answer 304 when the client's copy is current."""
    gzipped = rep.gzip_etag is not None and prefers_gzip(request.accept_encoding)
    etag = rep.gzip_etag if gzipped and rep.gzip_etag is not None else rep.etag
    common = [("ETag", etag), ("Cache-Control", cache_control(rep.max_age,
                                                              immutable=rep.immutable))]
    varies = (*rep.vary, *(("Accept-Encoding",) if rep.gzip_etag is not None else ()))
    if varies:
        common.append(("Vary", ", ".join(varies)))
    if is_not_modified(request, etag=etag, last_modified=rep.last_modified):
        return Decision(status=304, gzipped=gzipped, headers=tuple(common))
    headers = [("Content-Type", rep.content_type), *common]
    if rep.last_modified is not None:
        headers.append(("Last-Modified", format_http_date(rep.last_modified)))
    if gzipped:
        headers.append(("Content-Encoding", "gzip"))
    return Decision(status=200, gzipped=gzipped, headers=tuple(headers))


def cache_control(max_age: int, *, immutable: bool = False) -> str:
    """``public, max-age=N``: feeds and pages are the same for every client; with
    ``immutable`` (RFC 8246), caches need not revalidate within that age."""
    return f"public, max-age={max_age}" + (", immutable" if immutable else "")


def is_not_modified(
    request: RequestConditions, *, etag: str, last_modified: dt.datetime | None
) -> bool:
    """True when a 304 is the right answer for the representation with ``etag``."""
    if request.method not in SAFE_METHODS:
        return False
    if request.if_none_match is not None:
        return if_none_match_matches(request.if_none_match, etag)
    if request.if_modified_since is None or last_modified is None:
        return False
    since = parse_http_date(request.if_modified_since)
    if since is None:
        return False
    return _whole_seconds(last_modified) <= since


# --- entity tags ---

_ENTITY_TAG = re.compile(r'\s*(?:W/)?("[^"]*")\s*(?:,|$)')


def parse_entity_tags(header: str) -> tuple[str, ...] | None:
    """The opaque tags (with their quotes, without ``W/``) of an If-None-Match value.

    Returns ``("*",)`` for ``*`` and None when the value is not a valid list,
    which the caller treats as matching nothing.
    """
    value = header.strip()
    if value == "*":
        return ("*",)
    tags: list[str] = []
    position = 0
    while position < len(value):
        match = _ENTITY_TAG.match(value, position)
        if match is None:
            return None
        tags.append(match.group(1))
        position = match.end()
    return tuple(tags) or None


def if_none_match_matches(header: str, etag: str) -> bool:
    """Weak comparison of ``etag`` against an If-None-Match value (``*`` included)."""
    tags = parse_entity_tags(header)
    if tags is None:
        return False
    if tags == ("*",):
        return True
    return _opaque(etag) in tags


def _opaque(etag: str) -> str:
    return etag[2:] if etag.startswith("W/") else etag


# --- content codings ---


def parse_accept_encoding(header: str) -> dict[str, float]:
    """Coding name (lower case) -> q-value; members with a malformed q are dropped."""
    weights: dict[str, float] = {}
    for member in header.split(","):
        name, _, params = member.partition(";")
        coding = name.strip().lower()
        if not coding:
            continue
        quality = _quality(params)
        if quality is not None:
            weights[coding] = quality
    return weights


_QVALUE = re.compile(r"^\s*q\s*=\s*(0(?:\.\d{0,3})?|1(?:\.0{0,3})?)\s*$", re.IGNORECASE)


def _quality(params: str) -> float | None:
    if not params.strip():
        return 1.0
    match = _QVALUE.match(params)
    return float(match.group(1)) if match else None


def prefers_gzip(accept_encoding: str | None) -> bool:
    """True when the client accepts gzip at least as gladly as identity.

    No header at all means identity: clients that never asked for a coding
    are the ones least likely to decode one, whatever the RFC allows.
    """
    if accept_encoding is None:
        return False
    weights = parse_accept_encoding(accept_encoding)
    wildcard = weights.get("*")
    gzip_q = weights.get("gzip", weights.get("x-gzip", wildcard))
    if gzip_q is None or gzip_q <= 0:
        return False
    # "*" stands for every coding not listed, identity included.
    identity_q = weights.get("identity", 1.0 if wildcard is None else wildcard)
    return gzip_q >= identity_q


# --- HTTP dates ---

_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_LONG_DAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH = r"(?P<month>" + "|".join(_MONTHS) + r")"
_TIME = r"(?P<hour>\d\d):(?P<minute>\d\d):(?P<second>\d\d)"
_DATE_FORMATS = (
    re.compile(rf"^{_DAY}, (?P<day>\d\d) {_MONTH} (?P<year>\d{{4}}) {_TIME} GMT$", re.I),
    re.compile(rf"^{_LONG_DAY}, (?P<day>\d\d)-{_MONTH}-(?P<year>\d\d) {_TIME} GMT$", re.I),
    re.compile(rf"^{_DAY} {_MONTH} (?P<day>[ \d]\d) {_TIME} (?P<year>\d{{4}})$", re.I),
)


def parse_http_date(value: str) -> dt.datetime | None:
    """An aware UTC datetime from any of the three HTTP-date forms, else None."""
    text = value.strip()
    for pattern in _DATE_FORMATS:
        match = pattern.match(text)
        if match:
            return _build_date(match)
    return None


def _build_date(match: re.Match[str]) -> dt.datetime | None:
    year = int(match["year"])
    if len(match["year"]) == 2:
        # RFC 850 two-digit years: a fixed pivot keeps this free of the clock.
        year += 1900 if year >= 70 else 2000
    try:
        return dt.datetime(
            year, _MONTHS.index(match["month"].lower()) + 1, int(match["day"]),
            int(match["hour"]), int(match["minute"]), int(match["second"]), tzinfo=dt.UTC,
        )
    except ValueError:
        return None


def format_http_date(moment: dt.datetime) -> str:
    """IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``) of an aware datetime."""
    utc = _whole_seconds(moment)
    day = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[utc.weekday()]
    month = _MONTHS[utc.month - 1].capitalize()
    return f"{day}, {utc.day:02d} {month} {utc.year:04d} {utc:%H:%M:%S} GMT"


def _whole_seconds(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError("HTTP dates need a timezone-aware datetime")
    return moment.astimezone(dt.UTC).replace(microsecond=0)
