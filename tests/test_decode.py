"""Choosing the encoding of a listing's bytes."""

from __future__ import annotations

import codecs

import pytest

from feedsvc.errors import ListingError
from feedsvc.listing.decode import decode_document

FRENCH = "Actualités\n\n  1. Un été à Genève\n\n    7 août 2020\n"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (codecs.BOM_UTF8 + FRENCH.encode("utf-8"), FRENCH),
        (codecs.BOM_UTF16_LE + FRENCH.encode("utf-16-le"), FRENCH),
        (codecs.BOM_UTF16_BE + FRENCH.encode("utf-16-be"), FRENCH),
        (codecs.BOM_UTF32_LE + FRENCH.encode("utf-32-le"), FRENCH),
        (codecs.BOM_UTF32_BE + FRENCH.encode("utf-32-be"), FRENCH),
        (FRENCH.encode("utf-8"), FRENCH),
        (b"", ""),
    ],
)
def test_bom_and_plain_utf8(body: bytes, expected: str) -> None:
    assert decode_document(body) == (expected, ())


def test_bom_wins_over_declared_charset() -> None:
    body = codecs.BOM_UTF8 + FRENCH.encode("utf-8")
    assert decode_document(body, declared_charset="iso-8859-1") == (FRENCH, ())


def test_declared_charset_is_used() -> None:
    text, warnings = decode_document(FRENCH.encode("cp1252"), declared_charset="windows-1252")
    assert (text, warnings) == (FRENCH, ())


def test_utf8_content_is_never_read_as_a_declared_single_byte_charset() -> None:
    text, warnings = decode_document(FRENCH.encode("utf-8"), declared_charset="iso-8859-1")
    assert text == FRENCH
    assert "content is UTF-8" in warnings[0].message


def test_unknown_declared_charset_is_ignored_with_a_warning() -> None:
    text, warnings = decode_document(FRENCH.encode("utf-8"), declared_charset="no-such-code")
    assert text == FRENCH
    assert [w.message for w in warnings] == ["unknown declared charset 'no-such-code', ignored"]


def test_declared_charset_that_does_not_fit_falls_back() -> None:
    text, warnings = decode_document(FRENCH.encode("utf-8"), declared_charset="ascii")
    assert text == FRENCH
    assert len(warnings) == 1


@pytest.mark.parametrize(
    "declaration",
    [
        b'<meta charset="windows-1252">',
        b"<META CHARSET=windows-1252>",
        b'<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">',
        b'<?xml version="1.0" encoding="windows-1252"?>',
    ],
)
def test_in_document_declaration(declaration: bytes) -> None:
    body = declaration + b"\n" + FRENCH.encode("cp1252")
    text, warnings = decode_document(body)
    assert text.endswith(FRENCH)
    assert warnings == ()


def test_in_document_declaration_of_utf16_means_utf8() -> None:
    body = b'<meta charset="utf-16">' + FRENCH.encode("utf-8")
    assert decode_document(body)[0].endswith(FRENCH)


def test_declaration_beyond_the_first_4kb_is_not_seen() -> None:
    body = b" " * 5000 + b'<meta charset="koi8-r">' + FRENCH.encode("utf-8")
    assert decode_document(body)[0].endswith(FRENCH)


def test_undeclared_legacy_text_is_detected_with_a_warning() -> None:
    text = ("Le conseil d\u2019administration se réunit à Genève pour étudier la "
            "protection sociale des travailleurs âgés et l\u2019égalité salariale.\n") * 20
    decoded, warnings = decode_document(text.encode("cp1252"), source="s")
    assert decoded == text
    assert "guessed" in warnings[0].message
    assert warnings[0].source == "s"


def test_line_endings_are_normalised() -> None:
    assert decode_document(b"a\r\nb\rc\n")[0] == "a\nb\nc\n"


@pytest.mark.parametrize(
    "body",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
        bytes(range(256)) * 4,
        bytes((index * 131 + 7) % 128 + 128 for index in range(3000)),
    ],
)
def test_binary_junk_is_refused(body: bytes) -> None:
    with pytest.raises(ListingError, match="binary data"):
        decode_document(body, source="junk.bin")


def test_invalid_text_after_a_bom_is_refused() -> None:
    with pytest.raises(ListingError, match="not valid utf-8"):
        decode_document(codecs.BOM_UTF8 + b"\xff\xfe\xfd")
