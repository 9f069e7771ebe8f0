"""Every conditional-request and content-coding case, as a table over ``decide``.

The representation under test has identity ETag "id", gzip ETag "gz" and was
last modified on Fri, 20 Nov 2026 12:00:00 GMT.
"""

from __future__ import annotations

import datetime as dt

import pytest

from feedsvc.web.http_cache import (
    Representation,
    RequestConditions,
    decide,
    format_http_date,
    parse_accept_encoding,
    parse_entity_tags,
    parse_http_date,
    prefers_gzip,
)

LAST_MODIFIED = dt.datetime(2026, 11, 20, 12, 0, 0, tzinfo=dt.UTC)
LM = "Fri, 20 Nov 2026 12:00:00 GMT"
EARLIER = "Fri, 20 Nov 2026 11:59:59 GMT"
LATER = "Fri, 20 Nov 2026 12:00:01 GMT"
FEED = Representation(
    content_type="application/atom+xml; charset=utf-8", etag='"id"', gzip_etag='"gz"',
    last_modified=LAST_MODIFIED, max_age=900,
)
PAGE = Representation(content_type="text/html; charset=utf-8", etag='"page"', max_age=60)


def req(method: str = "GET", inm: str | None = None, ims: str | None = None,
        ae: str | None = None) -> RequestConditions:
    return RequestConditions(method=method, if_none_match=inm, if_modified_since=ims,
                             accept_encoding=ae)


# (id, request, expected status, expected gzipped)
CONDITIONAL_CASES = [
    ("unconditional", req(), 200, False),
    ("inm-match", req(inm='"id"'), 304, False),
    ("inm-mismatch", req(inm='"other"'), 200, False),
    ("inm-weak-tag-matches-weakly", req(inm='W/"id"'), 304, False),
    ("inm-list-match", req(inm='"a", "id", "b"'), 304, False),
    ("inm-list-weak-match", req(inm='"a",W/"id"'), 304, False),
    ("inm-list-mismatch", req(inm='"a", "b"'), 200, False),
    ("inm-star", req(inm="*"), 304, False),
    ("inm-star-gzip", req(inm="*", ae="gzip"), 304, True),
    ("inm-gzip-etag-with-gzip", req(inm='"gz"', ae="gzip"), 304, True),
    ("inm-identity-etag-with-gzip", req(inm='"id"', ae="gzip"), 200, True),
    ("inm-gzip-etag-without-gzip", req(inm='"gz"'), 200, False),
    ("inm-both-etags-with-gzip", req(inm='"id", "gz"', ae="gzip"), 304, True),
    ("inm-unquoted-garbage", req(inm="id"), 200, False),
    ("inm-empty", req(inm=""), 200, False),
    ("inm-tag-is-prefix", req(inm='"i"'), 200, False),
    ("ims-older", req(ims=EARLIER), 200, False),
    ("ims-equal", req(ims=LM), 304, False),
    ("ims-newer", req(ims=LATER), 304, False),
    ("ims-garbage", req(ims="yesterday"), 200, False),
    ("ims-impossible-date", req(ims="Mon, 30 Feb 2026 12:00:00 GMT"), 200, False),
    ("ims-rfc850", req(ims="Friday, 20-Nov-26 12:00:00 GMT"), 304, False),
    ("ims-asctime", req(ims="Fri Nov 20 12:00:00 2026"), 304, False),
    ("ims-not-gmt", req(ims="Fri, 20 Nov 2026 12:00:00 +0100"), 200, False),
    ("ims-gzip", req(ims=LM, ae="gzip"), 304, True),
    ("inm-mismatch-beats-ims-newer", req(inm='"other"', ims=LATER), 200, False),
    ("inm-match-beats-ims-older", req(inm='"id"', ims=EARLIER), 304, False),
    ("inm-garbage-still-beats-ims", req(inm="nonsense", ims=LATER), 200, False),
    ("head-unconditional", req("HEAD"), 200, False),
    ("head-inm-match", req("HEAD", inm='"id"'), 304, False),
    ("head-ims-equal-gzip", req("HEAD", ims=LM, ae="gzip"), 304, True),
    ("post-ignores-conditions", req("POST", inm='"id"', ims=LATER), 200, False),
]


@pytest.mark.parametrize(("request_", "status", "gzipped"),
                         [pytest.param(r, s, g, id=i) for i, r, s, g in CONDITIONAL_CASES])
def test_conditional_requests(request_: RequestConditions, status: int, gzipped: bool) -> None:
    decision = decide(request_, FEED)
    headers = dict(decision.headers)
    assert (decision.status, decision.gzipped) == (status, gzipped)
    assert headers["ETag"] == ('"gz"' if gzipped else '"id"')
    assert headers["Cache-Control"] == "public, max-age=900"
    assert headers["Vary"] == "Accept-Encoding"
    if status == 304:
        assert set(headers) == {"ETag", "Cache-Control", "Vary"}
        assert not decision.has_body
    else:
        assert headers["Content-Type"] == "application/atom+xml; charset=utf-8"
        assert headers["Last-Modified"] == LM
        assert headers.get("Content-Encoding") == ("gzip" if gzipped else None)
        assert decision.has_body


# (Accept-Encoding value, whether gzip is chosen)
ACCEPT_ENCODING_CASES = [
    (None, False),
    ("", False),
    ("gzip", True),
    ("GZip", True),
    ("x-gzip", True),
    ("gzip, deflate, br, zstd", True),
    ("deflate, br", False),
    ("identity", False),
    ("gzip;q=0", False),
    ("gzip; q=0.000", False),
    ("gzip;q=0.001", False),
    ("gzip;q=0.001, identity;q=0", True),
    ("gzip;Q=1.0", True),
    ("*", True),
    ("*;q=0", False),
    ("*, gzip;q=0", False),
    ("*;q=0, gzip", True),
    ("identity;q=0, gzip", True),
    ("gzip;q=0.5, identity", False),
    ("gzip, identity;q=0.5", True),
    ("gzip;q=0.5, *;q=0.8", False),
    ("deflate, *;q=0.1", True),
    ("gzip;q=bogus", False),
    ("gzip;q=2", False),
    (" , gzip ,", True),
]


@pytest.mark.parametrize(("header", "gzip"), ACCEPT_ENCODING_CASES,
                         ids=[repr(h) for h, _ in ACCEPT_ENCODING_CASES])
def test_accept_encoding(header: str | None, gzip: bool) -> None:
    assert prefers_gzip(header) is gzip
    decision = decide(req(ae=header), FEED)
    assert decision.gzipped is gzip
    assert ("Content-Encoding", "gzip") in decision.headers if gzip else True


def test_without_gzip_twin_never_gzips_and_never_varies() -> None:
    decision = decide(req(ae="gzip"), PAGE)
    headers = dict(decision.headers)
    assert decision.status == 200 and not decision.gzipped
    assert "Vary" not in headers and "Last-Modified" not in headers
    assert headers["ETag"] == '"page"'
    assert decide(req(inm='W/"page"'), PAGE).status == 304
    assert decide(req(ims=LATER), PAGE).status == 200


@pytest.mark.parametrize(("value", "tags"), [
    ("*", ("*",)),
    (' * ', ("*",)),
    ('"a"', ('"a"',)),
    ('W/"a", "b"', ('"a"', '"b"')),
    ('"a,b", "c"', ('"a,b"', '"c"')),
    ('""', ('""',)),
    ('"a" "b"', None),
    ("a", None),
    ("", None),
    ('"a", *', None),
])
def test_parse_entity_tags(value: str, tags: tuple[str, ...] | None) -> None:
    assert parse_entity_tags(value) == tags


@pytest.mark.parametrize("value", [
    "Sun, 06 Nov 1994 08:49:37 GMT",
    "Sunday, 06-Nov-94 08:49:37 GMT",
    "Sun Nov  6 08:49:37 1994",
    "sun, 06 nov 1994 08:49:37 gmt",
])
def test_parse_http_date_forms(value: str) -> None:
    assert parse_http_date(value) == dt.datetime(1994, 11, 6, 8, 49, 37, tzinfo=dt.UTC)


@pytest.mark.parametrize("value", [
    "", "0", "1994-11-06T08:49:37Z", "Sun, 06 Nov 1994 08:49 GMT", "Sun, 32 Nov 1994 08:49:37 GMT",
    "Sun, 06 Nov 1994 25:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT",
])
def test_parse_http_date_rejects(value: str) -> None:
    assert parse_http_date(value) is None


def test_rfc850_two_digit_years_pivot() -> None:
    assert parse_http_date("Thursday, 01-Jan-70 00:00:00 GMT") == dt.datetime(
        1970, 1, 1, tzinfo=dt.UTC)
    assert parse_http_date("Friday, 20-Nov-26 12:00:00 GMT") == LAST_MODIFIED


def test_format_http_date_is_imf_fixdate_in_utc() -> None:
    zurich = dt.timezone(dt.timedelta(hours=1))
    moment = dt.datetime(2026, 11, 20, 13, 0, 0, 999_999, tzinfo=zurich)
    assert format_http_date(moment) == LM
    assert parse_http_date(format_http_date(moment)) == LAST_MODIFIED
    with pytest.raises(ValueError):
        format_http_date(dt.datetime(2026, 11, 20))


def test_sub_second_last_modified_compares_in_whole_seconds() -> None:
    rep = Representation(content_type="x", etag='"e"', max_age=1,
                         last_modified=LAST_MODIFIED.replace(microsecond=500_000))
    assert decide(req(ims=LM), rep).status == 304


def test_parse_accept_encoding_weights() -> None:
    assert parse_accept_encoding("gzip;q=0.5, BR, *;q=0") == {"gzip": 0.5, "br": 1.0, "*": 0.0}


def test_from_headers_reads_case_insensitive_mapping() -> None:
    class Headers(dict[str, str]):
        def get(self, key: str, default: object = None) -> str | None:  # type: ignore[override]
            for name, value in self.items():
                if name.lower() == key.lower():
                    return value
            return None

    conditions = RequestConditions.from_headers(
        "head", Headers({"if-none-match": '"a"', "ACCEPT-ENCODING": "gzip"}))
    assert conditions == req("HEAD", inm='"a"', ae="gzip")


NEGOTIATED = Representation(
    content_type="text/html; charset=utf-8", etag='"view"', gzip_etag='"view-gz"',
    last_modified=LAST_MODIFIED, max_age=900, vary=("Accept",),
)


@pytest.mark.parametrize(("request_", "status"), [
    (req(), 200), (req(ae="gzip"), 200), (req(inm='"view"'), 304),
    (req(inm='"view-gz"', ae="gzip"), 304), (req("HEAD", ims=LM), 304),
    (req(inm='"id"'), 200),
])
def test_a_negotiated_representation_varies_on_accept_too(
    request_: RequestConditions, status: int
) -> None:
    decision = decide(request_, NEGOTIATED)
    headers = dict(decision.headers)
    assert decision.status == status
    assert headers["Vary"] == "Accept, Accept-Encoding"
    without_twin = decide(request_, Representation(
        content_type="text/html", etag='"view"', max_age=1, vary=("Accept",)))
    assert dict(without_twin.headers)["Vary"] == "Accept"
