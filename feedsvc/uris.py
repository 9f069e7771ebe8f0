"""URLs as RFC 3986 URIs: what may be published in a feed or sent in a header.

Listing pages hold links with spaces, backslashes, non-ASCII letters or a
stray "%"; browsers forgive them, feed validators and HTTP headers do not.
``to_uri`` writes such a link as the URI a browser would request: the host in
IDNA, every other character that a URI cannot hold percent-encoded as UTF-8.
A link that is already a URI is returned unchanged, byte for byte.
"""

from __future__ import annotations

import re

__all__ = ["is_uri", "to_uri"]

_UNRESERVED = r"A-Za-z0-9\-._~"
_SUB_DELIMS = "!$&'()*+,;="
_PCHAR = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}:@]|%[0-9A-Fa-f]{{2}})"
_URI = re.compile(
    rf"[A-Za-z][A-Za-z0-9+.\-]*:"
    rf"(?://(?:(?:[{_UNRESERVED}{_SUB_DELIMS}:]|%[0-9A-Fa-f]{{2}})*@)?"
    rf"(?:\[[0-9A-Fa-f:.]+\]|(?:[{_UNRESERVED}{_SUB_DELIMS}]|%[0-9A-Fa-f]{{2}})*)(?::[0-9]*)?"
    rf"(?:/(?:{_PCHAR}|/)*)?"
    rf"|(?!//)(?:{_PCHAR}|/)*)"
    rf"(?:\?(?:{_PCHAR}|[/?])*)?"
    rf"(?:#(?:{_PCHAR}|[/?])*)?"
)
# Characters kept as they are in each part (besides ASCII letters and digits);
# anything else is percent-encoded.
_KEEP_IN_USERINFO = frozenset("-._~" + _SUB_DELIMS + ":")
_KEEP_IN_PATH = _KEEP_IN_USERINFO | frozenset("@/")
_KEEP_IN_QUERY = _KEEP_IN_PATH | frozenset("?")
_KEEP_IN_SAFE_FALLBACK = frozenset("-._~" + _SUB_DELIMS + "/")
_AUTHORITY = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*:)(?://(?P<authority>[^/?#\\]*))?")
_PERCENT_TRIPLET = re.compile(r"%[0-9A-Fa-f]{2}")


def is_uri(text: str) -> bool:
    """Whether ``text`` is an absolute URI by the grammar of RFC 3986."""
    return _URI.fullmatch(text) is not None


def to_uri(text: str) -> str:
    """``text`` as an RFC 3986 URI, or unchanged when it already is one.

    The host is written in IDNA ("bücher.example" -> "xn--bcher-kva.example");
    characters a URI cannot hold ("a b", "a\\b", "é", a "%" not starting a
    percent-encoding) are percent-encoded as UTF-8; a second "#" becomes "%23".
    """
    if is_uri(text):
        return text
    head = _AUTHORITY.match(text)
    if head is None:
        return _encode(text, _KEEP_IN_QUERY)
    rest = text[head.end():]
    path, hash_, fragment = rest.partition("#")
    path, question, query = path.partition("?")
    out = head["scheme"]
    if head["authority"] is not None:
        out += "//" + _authority(head["authority"])
    out += _encode(path, _KEEP_IN_PATH)
    if question:
        out += "?" + _encode(query, _KEEP_IN_QUERY)
    if hash_:
        out += "#" + _encode(fragment, _KEEP_IN_QUERY)
    if is_uri(out):
        return out
    # An authority beyond repair ("http://[::1/x"): keep only the slashes.
    return head["scheme"] + _encode(text[len(head["scheme"]):], _KEEP_IN_SAFE_FALLBACK)


def _authority(authority: str) -> str:
    userinfo, at, hostport = authority.rpartition("@")
    host, colon, port = hostport, "", ""
    if not hostport.startswith("["):
        host, colon, port = hostport.rpartition(":") if ":" in hostport else (hostport, "", "")
        if colon and not port.isdigit() and port:
            host, colon, port = hostport, "", ""
    encoded_host = host if host.startswith("[") else _host(host)
    userinfo_part = _encode(userinfo, _KEEP_IN_USERINFO) + at if at else ""
    return userinfo_part + encoded_host + colon + _encode(port, frozenset())


def _host(host: str) -> str:
    """A host name in ASCII: IDNA per label where it can be, else percent-encoded."""
    if host.isascii():
        return _encode(host, _KEEP_IN_USERINFO - frozenset(":"))
    labels = []
    for label in host.split("."):
        try:
            labels.append(label.encode("idna").decode("ascii") if label else label)
        except UnicodeError:
            labels.append(_encode(label, frozenset()))
    return ".".join(labels)


def _encode(part: str, keep: frozenset[str]) -> str:
    out: list[str] = []
    index = 0
    while index < len(part):
        char = part[index]
        if char == "%" and _PERCENT_TRIPLET.match(part, index):
            out.append(part[index:index + 3])
            index += 3
            continue
        if char.isascii() and (char.isalnum() or char in keep):
            out.append(char)
        else:
            out.extend(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))
        index += 1
    return "".join(out)
