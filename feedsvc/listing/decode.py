"""Bytes of a listing to text: which encoding, decided in a fixed order.

1. a byte order mark (UTF-8, UTF-16, UTF-32);
2. the charset the transport declared (HTTP ``Content-Type``);
3. a declaration inside the document's first 4 KB (HTML ``<meta charset>``,
   ``<meta http-equiv="Content-Type" content="...; charset=...">``, XML
   declaration);
4. strict UTF-8, or UTF-8 cut off inside its last character (with a warning),
   or text that is almost all UTF-8 (a few stray bytes among many valid
   non-ASCII characters), each run of invalid bytes replaced by U+FFFD with a
   warning naming its line;
5. strict windows-1252 when the text reads as Western European, with a warning;
6. detection with charset-normalizer, with a warning.

Declared labels mean what the WHATWG Encoding Standard (and so every browser)
says they mean: ``iso-8859-1``, ``latin1``, ``l1``, ``ascii``, ``us-ascii`` and
their aliases are windows-1252, whose bytes 0x80-0x9F are curly quotes, dashes
and the euro sign rather than invisible C1 control characters.

A declared single-byte charset never wins over content that is valid (or
almost all valid) UTF-8 with non-ASCII characters: that is how UTF-8 pages served as "iso-8859-1"
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

_WINDOWS_1252 = "cp1252"
_WHATWG_SUPERSETS = {"iso8859-1": _WINDOWS_1252, "ascii": _WINDOWS_1252}
"""Codec names that a declared label resolves to, and what the label means on the web.

Pages declaring Latin-1 or ASCII are written in windows-1252 far more often
than not (0x91-0x97 for quotes and dashes), so browsers read them that way."""
_WHATWG_ONLY_LABELS = {"x-cp1252": _WINDOWS_1252, "iso88591": _WINDOWS_1252}
"""windows-1252 labels of the Encoding Standard that Python's codec registry lacks."""


def _cp1252_char(byte: int) -> str:
    """The character windows-1252 byte ``byte`` stands for, on the web."""
    try:
        return bytes([byte]).decode(_WINDOWS_1252)
    except UnicodeDecodeError:
        # The five bytes windows-1252 leaves undefined decode to the C1 control of
        # the same number, as the Encoding Standard says.
        return chr(byte)


_C1_AS_1252 = str.maketrans({chr(byte): _cp1252_char(byte) for byte in range(0x80, 0xA0)})
"""Latin-1 text to windows-1252 text: the two differ only in 0x80-0x9F."""

_UTF8_MAX_TAIL = 3
"""Most bytes of an incomplete UTF-8 sequence: a 4-byte character less its last byte."""
_MAX_ADJACENT_ACCENTED = 0.5
"""Share of non-ASCII letters that follow another one above which undeclared text
is not taken for windows-1252: Western European words mix a few accented letters
into ASCII ones, while Cyrillic or Greek read as windows-1252 is all accented runs."""

_MIN_VALID_PER_INVALID = 4
"""Valid non-ASCII UTF-8 characters needed per run of invalid bytes for text to
count as almost all UTF-8 (see ``_mostly_utf8``)."""
_MAX_INVALID_LINE_WARNINGS = 20
"""Lines with invalid UTF-8 bytes warned about one by one; one more warning counts the rest."""
_NON_ASCII_RUN = re.compile("[^\x00-\x7f]+")
_ESCAPED_BYTES = re.compile("[\udc80-\udcff]+")
"""Runs of bytes that UTF-8 refuses, as the "surrogateescape" error handler escapes them."""

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
    text = _after_bom(body, source, warnings)
    if text is not None:
        return text
    if b"\x00" in body:
        raise ListingError("binary data (NUL bytes), not a text listing", source=source)
    # Encodings already tried, none of which fitted: trying one again (the
    # document declaring what the transport did) would only repeat its warning.
    tried: set[str] = set()
    text, any_declared = _as_declared(body, declared, source, warnings, tried)
    if text is not None:
        return text
    if "utf-8" not in tried:
        text = _utf8(body, warnings, source)
        if text is not None:
            return text
    undeclared = "no declared charset fits" if any_declared else "no charset declared"
    text = _western(body)
    if text is not None:
        warnings.append(ParseWarning(
            source, DOCUMENT, f"{undeclared} and not UTF-8; read as windows-1252"
        ))
        return text
    return _detect(body, source, warnings, undeclared)


def _after_bom(body: bytes, source: str, warnings: list[ParseWarning]) -> str | None:
    """``body`` read in the encoding its byte order mark names, the mark consumed;
    None when it starts with none."""
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            rest = body[len(bom):]
            if encoding == "utf-8":
                text = _utf8(rest, warnings, source)
                if text is not None:
                    return text
            return _strict(rest, encoding, source, f"byte order mark ({encoding})")
    return None


def _as_declared(
    body: bytes, declared: str | None, source: str, warnings: list[ParseWarning],
    tried: set[str],
) -> tuple[str | None, bool]:
    """``body`` read in the transport's charset, else in the one the document
    declares (None when neither fits), and whether any known charset was declared.
    Adds each encoding tried to ``tried``."""
    declarations = (
        (declared, "declared charset", "declared charset", False),
        (_sniff(body), "charset in the document", "document charset", True),
    )
    any_declared = False
    for label, origin, prefix, in_document in declarations:
        known = _known(label, origin, source, warnings, in_document=in_document)
        if label and known is not None:
            any_declared = True
            if known in tried:
                continue
            tried.add(known)
            # Warnings quote the label as written ("iso-8859-1"), not the codec it means.
            text = _try_declared(body, known, f"{prefix} {label.strip()}", source, warnings)
            if text is not None:
                return text, True
    return None, any_declared


def _utf8(body: bytes, warnings: list[ParseWarning], source: str) -> str | None:
    """``body`` as strict UTF-8 (see ``_utf8_or_bad_byte``), else as almost all
    UTF-8 (see ``_mostly_utf8``), else None."""
    text = _utf8_or_bad_byte(body, warnings, source)
    if isinstance(text, str):
        return text
    return _mostly_utf8(body, warnings, source)


def _mostly_utf8(body: bytes, warnings: list[ParseWarning], source: str) -> str | None:
    """``body`` as UTF-8 with its invalid bytes replaced, if it is almost all UTF-8;
    else None.

    Almost all: at least _MIN_VALID_PER_INVALID valid non-ASCII characters for
    each run of invalid bytes. Legacy single-byte text hardly ever holds a valid
    multi-byte UTF-8 sequence, so this takes one stray byte in a UTF-8 file for
    what it is, instead of reading every other character as mojibake. Each run
    of invalid bytes becomes one U+FFFD, with a warning naming its line (for
    the first _MAX_INVALID_LINE_WARNINGS such lines; one more counts the rest).
    The text comes back with LF line endings, so that the lines named are
    the lines parsed.
    """
    valid = body.decode("utf-8", "ignore")
    if valid.isascii():
        # Legacy text (the usual case here): no valid multi-byte UTF-8 at all.
        return None
    valid_non_ascii = len(valid) - len(valid.encode("ascii", "ignore"))
    del valid
    text = body.decode("utf-8", "surrogateescape")
    for runs, _ in enumerate(_ESCAPED_BYTES.finditer(text), 1):
        if _MIN_VALID_PER_INVALID * runs > valid_non_ascii:
            return None
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    warnings.extend(_invalid_byte_warnings(text, source))
    return _ESCAPED_BYTES.sub("\ufffd", text)


def _invalid_byte_warnings(text: str, source: str) -> list[ParseWarning]:
    """One warning per line of ``text`` that holds escaped invalid bytes (first
    _MAX_INVALID_LINE_WARNINGS lines), then one counting the other lines."""
    found: list[ParseWarning] = []
    line, position, last_line, later_lines = 1, 0, 0, 0
    for match in _ESCAPED_BYTES.finditer(text):
        line += text.count("\n", position, match.start())
        position = match.start()
        if line == last_line:
            continue
        last_line = line
        if len(found) < _MAX_INVALID_LINE_WARNINGS:
            found.append(ParseWarning(
                source, line, "invalid UTF-8 byte(s) replaced with U+FFFD"
            ))
        else:
            later_lines += 1
    if later_lines:
        found.append(ParseWarning(
            source, DOCUMENT, f"... and {later_lines} more line(s) with invalid UTF-8 bytes"
        ))
    return found


def _utf8_or_bad_byte(body: bytes, warnings: list[ParseWarning], source: str) -> str | int:
    """``body`` as strict UTF-8, else the offset of its first byte UTF-8 refuses.

    A file cut off inside its last character is UTF-8 all the same (its first
    bad byte is that character's first byte), and reads without it, with a
    warning: left to detection, the one incomplete character would turn every
    other one into mojibake."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason != "unexpected end of data" or len(body) - exc.start > _UTF8_MAX_TAIL:
            return exc.start
        text = body[:exc.start].decode("utf-8")
    warnings.append(ParseWarning(source, DOCUMENT, "file ends inside a character (truncated?)"))
    return text


def _western(body: bytes) -> str | None:
    """``body`` as windows-1252 if it reads as Western European text, else None.

    Undeclared legacy text in English, French or Spanish is windows-1252 (or its
    subset Latin-1) far more often than anything else, and detection, which
    weighs a few accented letters, tends to call it cp852 or cp1250. Strict: a
    byte windows-1252 leaves undefined refuses it (so C1 control characters
    never come out), as do a share of control characters that means binary
    data and runs of accented letters, the mark of Cyrillic or Greek read as
    windows-1252. Central European text (cp1250) still passes for windows-1252.
    """
    try:
        text = body.decode(_WINDOWS_1252)
    except UnicodeDecodeError:
        return None
    if _looks_binary(text):
        return None
    accented = adjacent = 0
    # Only runs of non-ASCII characters are looked at: few in Western text.
    for run in _NON_ASCII_RUN.finditer(text):
        previous_alpha = False
        for char in run[0]:
            alpha = char.isalpha()
            accented += alpha
            adjacent += alpha and previous_alpha
            previous_alpha = alpha
    if adjacent > _MAX_ADJACENT_ACCENTED * accented:
        return None
    return text


def _looks_binary(text: str) -> bool:
    """Whether so many control characters came out that the bytes were never text."""
    controls = sum(1 for char in text if char < " " and char not in "\t\n\r")
    return controls > _MAX_CONTROL_SHARE * max(len(text), 1)


def _strict(body: bytes, encoding: str, source: str, origin: str) -> str:
    try:
        return body.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ListingError(
            f"not valid {encoding} at byte {exc.start} despite its {origin}", source=source
        ) from None


def _known(
    name: str | None,
    origin: str,
    source: str,
    warnings: list[ParseWarning],
    *,
    in_document: bool,
) -> str | None:
    """The codec name for ``name``, or None (with a warning if it is unknown);
    ``in_document`` says the document declares it (rather than the transport)."""
    if not name:
        return None
    label = name.strip().lower()
    if label in _WHATWG_ONLY_LABELS:
        return _WHATWG_ONLY_LABELS[label]
    try:
        encoding = codecs.lookup(label).name
    except LookupError:
        warnings.append(ParseWarning(source, DOCUMENT, f"unknown {origin} {name!r}, ignored"))
        return None
    # The label's meaning on the web, not in Python's registry.
    encoding = _WHATWG_SUPERSETS.get(encoding, encoding)
    # A document that could declare itself in ASCII is not UTF-16/32 (HTML's rule).
    if in_document and encoding.startswith(("utf-16", "utf-32")):
        return "utf-8"
    return encoding


def _sniff(body: bytes) -> str | None:
    head = body[:_SNIFF_BYTES]
    match = _XML_ENCODING.search(head) or _META_CHARSET.search(head)
    return match[1].decode("ascii") if match else None


def _try_declared(
    body: bytes, encoding: str, named: str, source: str, warnings: list[ParseWarning]
) -> str | None:
    """``body`` read as the declared ``encoding`` (or as UTF-8 if it is that instead),
    or None with a warning when the declaration does not fit; ``named`` is the
    declaration as the warnings quote it ("declared charset iso-8859-1")."""
    if encoding == "utf-8":
        # What _utf8 refuses, a second decoding would refuse at the same byte.
        utf8 = _utf8_or_bad_byte(body, warnings, source)
        if isinstance(utf8, str):
            return utf8
        mostly = _mostly_utf8(body, warnings, source)
        if mostly is not None:
            return mostly
        _does_not_fit(named, utf8, source, warnings)
        return None
    if not encoding.startswith("utf") and not body.isascii():
        utf8_warnings: list[ParseWarning] = []
        text = _utf8(body, utf8_warnings, source)
        # Only non-ASCII UTF-8 says the declaration is wrong: a final lone byte
        # after ASCII text is more likely a legacy character than a cut-off one.
        if text is not None and not text.isascii():
            warnings.extend(utf8_warnings)
            warnings.append(ParseWarning(
                source, DOCUMENT, f"{named} but the content is UTF-8; read as UTF-8"
            ))
            return text
    if encoding == _WINDOWS_1252:
        # Total, as in browsers: no byte makes a windows-1252 declaration "not fit".
        return body.decode("latin-1").translate(_C1_AS_1252)
    try:
        return body.decode(encoding)
    except UnicodeDecodeError as exc:
        _does_not_fit(named, exc.start, source, warnings)
        return None


def _does_not_fit(
    named: str, bad_byte: int, source: str, warnings: list[ParseWarning]
) -> None:
    warnings.append(ParseWarning(
        source, DOCUMENT, f"{named} does not fit the content (byte {bad_byte}), ignored"
    ))


def _detect(body: bytes, source: str, warnings: list[ParseWarning], undeclared: str) -> str:
    best = _most_coherent(from_bytes(body))
    if best is None or best.chaos > _MAX_CHAOS:
        raise ListingError("binary data or unknown encoding, not a text listing", source=source)
    text = str(best)
    if _looks_binary(text):
        raise ListingError("binary data (control characters), not a text listing", source=source)
    warnings.append(ParseWarning(
        source, DOCUMENT, f"{undeclared} and not UTF-8; guessed {best.encoding}"
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
