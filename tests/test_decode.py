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
    assert warnings[0].message.startswith("declared charset iso-8859-1 ")


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


def test_undeclared_legacy_text_is_read_as_windows_1252_with_a_warning() -> None:
    text = ("Le conseil d\u2019administration se réunit à Genève pour étudier la "
            "protection sociale des travailleurs âgés et l\u2019égalité salariale.\n") * 20
    decoded, warnings = decode_document(text.encode("cp1252"), source="s")
    assert decoded == text
    assert [w.message for w in warnings] == [
        "no charset declared and not UTF-8; read as windows-1252"
    ]
    assert warnings[0].source == "s"


RUSSIAN = "Международная организация труда опубликовала новый доклад о защите.\n" * 10  # noqa: RUF001
GREEK = "Η Διεθνής Οργάνωση Εργασίας δημοσίευσε νέα έκθεση για την προστασία.\n" * 10  # noqa: RUF001


@pytest.mark.parametrize(
    ("text", "encoding"),
    [(RUSSIAN, "cp1251"), (RUSSIAN, "koi8-r"), (GREEK, "iso-8859-7")],
)
def test_undeclared_text_of_other_scripts_is_still_detected(text: str, encoding: str) -> None:
    # Each of these bytes is defined in windows-1252 too; runs of accented
    # letters are what tells them apart from Western text.
    decoded, warnings = decode_document(text.encode(encoding))
    assert decoded == text
    assert "guessed" in warnings[0].message


# The Encoding Standard's windows-1252 labels, as a browser reads them.
WINDOWS_1252_LABELS = [
    "iso-8859-1", "ISO-8859-1", "iso8859-1", "iso_8859-1:1987", "iso88591", "latin-1",
    "latin1", "l1", "cp819", "ascii", "us-ascii", "windows-1252", "x-cp1252",
]
QUOTED = "Workers\u2019 pay \u2013 \u201ca fair deal\u201d \u2026 \u20ac5 \u00a9 Ren\u00e9\n"


@pytest.mark.parametrize("label", WINDOWS_1252_LABELS)
def test_latin1_and_ascii_labels_mean_windows_1252(label: str) -> None:
    body = QUOTED.encode("cp1252")
    assert b"\x92" in body
    assert decode_document(body, declared_charset=label) == (QUOTED, ())
    declared_inside = f'<meta charset="{label}">\n'
    assert decode_document(declared_inside.encode("ascii") + body) == (
        declared_inside + QUOTED, ()
    )


def test_declared_windows_1252_reads_undefined_bytes_as_browsers_do() -> None:
    # 0x81, 0x8D, 0x8F, 0x90 and 0x9D have no character in windows-1252; the
    # Encoding Standard maps each to the C1 control of the same number rather
    # than refusing the page.
    body = b"caf\xe9 \x93\x81\x9d\x94"
    assert decode_document(body, declared_charset="iso-8859-1") == (
        "caf\u00e9 \u201c\x81\x9d\u201d", ()
    )


def test_declared_charset_that_no_byte_fits_is_ignored_with_a_warning() -> None:
    text, warnings = decode_document(FRENCH.encode("cp1252"), declared_charset="utf-8")
    assert text == FRENCH
    assert [w.message for w in warnings] == [
        "declared charset utf-8 does not fit the content (byte 8), ignored",
        "no declared charset fits and not UTF-8; read as windows-1252",
    ]


def test_a_declaration_that_does_not_fit_is_reported_once() -> None:
    # The document repeats the transport's charset (spelt another way): trying it
    # again would only say the same thing again.
    body = b'<meta charset="UTF8">\n' + FRENCH.encode("cp1252")
    text, warnings = decode_document(body, declared_charset="utf-8")
    assert text.endswith(FRENCH)
    assert [w.message for w in warnings] == [
        "declared charset utf-8 does not fit the content (byte 30), ignored",
        "no declared charset fits and not UTF-8; read as windows-1252",
    ]


TRUNCATED = "Un été à Genève \u2014 l\u2019avenir \U0001f30d"


@pytest.mark.parametrize(
    ("char", "kept"),
    [
        ("é", 1),            # 2-byte character, 1 byte left
        ("\u2014", 1),       # 3-byte character, 1 or 2 bytes left
        ("\u2014", 2),
        ("\U0001f30d", 1),   # 4-byte character, 1 to 3 bytes left
        ("\U0001f30d", 2),
        ("\U0001f30d", 3),
    ],
)
def test_utf8_cut_off_inside_its_last_character_is_read_without_it(char: str, kept: int) -> None:
    head = TRUNCATED[:TRUNCATED.rindex(char)]
    body = head.encode("utf-8") + char.encode("utf-8")[:kept]
    expected_warning = ["file ends inside a character (truncated?)"]
    for declared in (None, "utf-8", "iso-8859-1"):
        text, warnings = decode_document(body, declared_charset=declared)
        assert text == head
        assert [w.message for w in warnings][:1] == expected_warning, declared
    text, warnings = decode_document(codecs.BOM_UTF8 + body)
    assert (text, [w.message for w in warnings]) == (head, expected_warning)


@pytest.mark.parametrize(
    "body",
    [
        "Genève".encode() + b"\xe2\x28",          # a bad continuation byte, not a missing one
        "Genève".encode() + b"\x99",              # a continuation byte without a start
        b"Gen\xe8ve " + "à".encode() + b"\xe2\x80",  # invalid before the incomplete end
    ],
)
def test_other_invalid_utf8_is_not_taken_for_a_cut_off_file(body: bytes) -> None:
    _, warnings = decode_document(body)
    assert all("truncated" not in w.message for w in warnings)


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


# A UTF-8 listing in which one byte went astray: a windows-1252 quote (0x92)
# pasted among UTF-8 curly quotes and accents.
ALMOST_UTF8_TEXT = (
    "March 2022\n\n  1. \u201cSafe berths\u201d at the harbour\u2019s quay\n\n"
    "    14 March 2022\n\n    Caf\u00e9 crews\u2019 hours STRAY agreed\n"
)
ALMOST_UTF8 = ALMOST_UTF8_TEXT.encode("utf-8").replace(b"STRAY", b"\x92")
ALMOST_UTF8_DECODED = ALMOST_UTF8_TEXT.replace("STRAY", "\ufffd")
STRAY_BYTE_WARNING = (7, "invalid UTF-8 byte(s) replaced with U+FFFD")


@pytest.mark.parametrize("declared", [None, "utf-8", "iso-8859-1", "windows-1252"])
def test_almost_all_utf8_is_utf8_with_the_stray_byte_replaced(declared: str | None) -> None:
    text, warnings = decode_document(ALMOST_UTF8, declared_charset=declared, source="s")
    assert text == ALMOST_UTF8_DECODED
    assert (warnings[0].line, warnings[0].message) == STRAY_BYTE_WARNING
    assert all(w.source == "s" for w in warnings)
    assert all("guessed" not in w.message and "does not fit" not in w.message
               for w in warnings)


def test_almost_all_utf8_after_a_bom_is_utf8_too() -> None:
    text, warnings = decode_document(codecs.BOM_UTF8 + ALMOST_UTF8)
    assert text == ALMOST_UTF8_DECODED
    assert [(w.line, w.message) for w in warnings] == [STRAY_BYTE_WARNING]


def test_stray_bytes_are_warned_about_on_the_line_parsed() -> None:
    # Windows and old Mac line endings count as one line end each.
    body = ALMOST_UTF8.replace(b"\n", b"\r\n").replace(b"March 2022\r\n", b"March 2022\r")
    text, warnings = decode_document(body)
    assert text == ALMOST_UTF8_DECODED
    assert [(w.line, w.message) for w in warnings] == [STRAY_BYTE_WARNING]


def test_a_run_of_invalid_bytes_is_one_replacement_character() -> None:
    body = ("\u2019" * 8 + " a ").encode() + b"\xe2\x80 \xff\xfe\n"
    assert decode_document(body)[0] == "\u2019" * 8 + " a \ufffd \ufffd\n"


def test_stray_byte_warnings_are_bounded() -> None:
    line = "\u201cQuoted\u201d, \u201cquoted\u201d and stray ".encode() + b"\x92\n"
    text, warnings = decode_document(line * 1000, source="s")
    assert text.count("\ufffd") == 1000
    assert [w.line for w in warnings] == [*range(1, 21), 0]
    assert warnings[-1].message == "... and 980 more line(s) with invalid UTF-8 bytes"


@pytest.mark.parametrize(
    "body",
    [
        # A few valid UTF-8 characters among many invalid bytes are legacy text.
        "\u2019".encode() + " caf\u00e9 na\u00efve r\u00e9sum\u00e9 ".encode("cp1252"),
        # ASCII with one legacy byte has no valid UTF-8 to go by.
        b"It\x92s ASCII with one windows-1252 quote\n",
    ],
)
def test_text_that_is_mostly_not_utf8_is_not_taken_for_utf8(body: bytes) -> None:
    text, _ = decode_document(body)
    assert "\ufffd" not in text
