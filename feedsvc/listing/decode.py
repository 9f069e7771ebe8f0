"""Bytes of a listing to text: which encoding, decided in a fixed order.

1. a byte order mark (UTF-8, UTF-16, UTF-32);
2. the charset the transport declared (HTTP ``Content-Type``);
3. a declaration inside the document's first 4 KB (HTML ``<meta charset>``,
   ``<meta http-equiv="Content-Type" content="...; charset=...">``, XML
   declaration);
4. strict UTF-8;
5. detection with charset-normalizer, with a warning.

A declared single-byte charset never wins over content that is valid UTF-8
with non-ASCII characters: that is how UTF-8 pages served as "iso-8859-1"
would otherwise turn into mojibake. Unknown charset names are ignored with a
warning. Line endings are normalised to LF. Binary data raises ListingError.
"""

from __future__ import annotations

import codecs
import re

from charset_normalizer import CharsetMatch, CharsetMatches, from_bytes

from feedsvc.errors import ListingError
from feedsvc.models import ParseWarning

__all__ = ["decode_document"]

_BOMS: tuple[tuple[bytes, str], ...] = (
    # UTF-32 first: its little-endian mark begins with UTF-16's.
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

_SNIFF_BYTES = 4096
_META_CHARSET = re.compile(rb"""<meta\b[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml\b[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""", re.I)

_MAX_CHAOS = 0.4
"""charset-normalizer's mess ratio above which a guess is taken for binary data."""
_CHAOS_TOLERANCE = 0.05
"""Guesses this close to the least messy one compete on how well they read as a language."""
_MAX_CONTROL_SHARE = 0.05
"""Share of control characters in decoded text above which it is binary data."""

DOCUMENT = 0
"""The line number of warnings about the whole document."""


def decode_document(
    body: bytes, *, declared_charset: str | None = None, source: str = "<input>"
) -> tuple[str, tuple[ParseWarning, ...]]:
    """Decode a listing's bytes to text with LF line endings, and say what was doubtful.

    ``declared_charset`` is the transport's charset (HTTP header), if any. A
    leading byte order mark is consumed. Raises ListingError (naming ``source``)
    for binary data: NUL bytes outside UTF-16/32, or content no encoding reads.
    """
    warnings: list[ParseWarning] = []
    text = _decode(body, declared_charset, source, warnings)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text, tuple(warnings)


def _decode(
    body: bytes, declared: str | None, source: str, warnings: list[ParseWarning]
) -> str:
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return _strict(body[len(bom):], encoding, source, f"byte order mark ({encoding})")
    if b"\x00" in body:
        raise ListingError("binary data (NUL bytes), not a text listing", source=source)
    declared_encoding = _known(declared, "declared charset", source, warnings)
    if declared_encoding is not None:
        text = _try_declared(body, declared_encoding, "declared charset", source, warnings)
        if text is not None:
            return text
    document_encoding = _known(_sniff(body), "charset in the document", source, warnings)
    if document_encoding is not None:
        text = _try_declared(body, document_encoding, "document charset", source, warnings)
        if text is not None:
            return text
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return _detect(body, source, warnings)


def _strict(body: bytes, encoding: str, source: str, origin: str) -> str:
    try:
        return body.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ListingError(
            f"not valid {encoding} at byte {exc.start} despite its {origin}", source=source
        ) from None


def _known(
    name: str | None, origin: str, source: str, warnings: list[ParseWarning]
) -> str | None:
    """The codec name for ``name``, or None (with a warning if it is unknown)."""
    if not name:
        return None
    try:
        encoding = codecs.lookup(name.strip()).name
    except LookupError:
        warnings.append(ParseWarning(source, DOCUMENT, f"unknown {origin} {name!r}, ignored"))
        return None
    # A document that could declare itself in ASCII is not UTF-16/32 (HTML's rule).
    if origin == "charset in the document" and encoding.startswith(("utf-16", "utf-32")):
        return "utf-8"
    return encoding


def _sniff(body: bytes) -> str | None:
    head = body[:_SNIFF_BYTES]
    match = _XML_ENCODING.search(head) or _META_CHARSET.search(head)
    return match[1].decode("ascii") if match else None


def _try_declared(
    body: bytes, encoding: str, origin: str, source: str, warnings: list[ParseWarning]
) -> str | None:
    if not encoding.startswith("utf") and not body.isascii():
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            warnings.append(ParseWarning(
                source, DOCUMENT, f"{origin} is {encoding} but the content is UTF-8; read as UTF-8"
            ))
            return text
    try:
        return body.decode(encoding)
    except UnicodeDecodeError as exc:
        warnings.append(ParseWarning(
            source, DOCUMENT,
            f"{origin} {encoding} does not fit the content (byte {exc.start}), ignored",
        ))
        return None


def _detect(body: bytes, source: str, warnings: list[ParseWarning]) -> str:
    best = _most_coherent(from_bytes(body))
    if best is None or best.chaos > _MAX_CHAOS:
        raise ListingError("binary data or unknown encoding, not a text listing", source=source)
    text = str(best)
    controls = sum(1 for char in text if char < " " and char not in "\t\n\r")
    if controls > _MAX_CONTROL_SHARE * max(len(text), 1):
        raise ListingError("binary data (control characters), not a text listing", source=source)
    warnings.append(ParseWarning(
        source, DOCUMENT, f"no charset declared and not UTF-8; guessed {best.encoding}"
    ))
    return text


def _most_coherent(results: CharsetMatches) -> CharsetMatch | None:
    """The least messy guess, except that among guesses about as clean, the one
    that reads most like a language wins: for short Western text, code pages
    differ by a few letters and mess alone picks the wrong one."""
    if not results:
        return None
    cleanest = min(match.chaos for match in results)
    candidates = [match for match in results if match.chaos <= cleanest + _CHAOS_TOLERANCE]
    return max(candidates, key=lambda match: match.coherence)
