"""Reading dates and month headings in every supported language."""

from __future__ import annotations

import datetime as dt

import pytest

from feedsvc.listing.dates import (
    LANGUAGES,
    DateProblem,
    classify_date,
    detect_language,
    heading_classifier,
    read_date,
)


def classify_month_heading(text: str, language: str | None) -> tuple[int, int] | DateProblem | None:
    """``text`` read as the text parser reads a line as a month heading."""
    return heading_classifier(language)(text.strip())


DATES = [
    ("27 January 2021", "en", dt.date(2021, 1, 27)),
    ("09 November 2021", "en", dt.date(2021, 11, 9)),
    ("9 november 2021", "en", dt.date(2021, 11, 9)),
    ("  1st May 2020\t", "en", dt.date(2020, 5, 1)),
    ("3rd of March 2020", "en", dt.date(2020, 3, 3)),
    ("January 27, 2021", "en", dt.date(2021, 1, 27)),
    ("5 Sept 2021", "en", dt.date(2021, 9, 5)),
    ("7 avril 2020", "fr", dt.date(2020, 4, 7)),
    ("1er mai 2020", "fr", dt.date(2020, 5, 1)),
    ("3 février 2020", "fr", dt.date(2020, 2, 3)),
    ("3 fevrier 2020", "fr", dt.date(2020, 2, 3)),
    ("15 août 2020", "fr", dt.date(2020, 8, 15)),
    ("2 févr. 2020", "fr", dt.date(2020, 2, 2)),
    ("14 de febrero de 2002", "es", dt.date(2002, 2, 14)),
    ("14 febrero 2002", "es", dt.date(2002, 2, 14)),
    ("1º de mayo de 2002", "es", dt.date(2002, 5, 1)),
    ("31 de diciembre del 2002", "es", dt.date(2002, 12, 31)),
]


@pytest.mark.parametrize(("text", "language", "expected"), DATES)
def test_read_date(text: str, language: str, expected: dt.date) -> None:
    assert read_date(text, language) == expected
    assert read_date(text, None) == expected


@pytest.mark.parametrize(
    "text",
    ["", "Press release", "2021", "27 January", "January 2021", "27 January 2021 update",
     "On 27 January 2021", "27/01/2021", "2021-01-27", "27 January 21", "127 January 2021",
     "© 27 January 2021", "27 January 2021."],
)
def test_not_a_date(text: str) -> None:
    assert classify_date(text, "en") is None


@pytest.mark.parametrize(
    ("text", "language", "reason"),
    [
        ("31 February 2021", "en", "impossible date '31 February 2021'"),
        ("29 February 2021", "en", "impossible date"),
        ("32 January 2021", "en", "impossible date"),
        ("0 January 2021", "en", "impossible date"),
        ("12 Foobar 2021", "en", "unknown month name 'Foobar' in language 'en'"),
        ("12 Foobar 2021", None, "unknown month name 'Foobar'"),
        ("7 avril 2020", "en", "unknown month name 'avril' in language 'en'"),
        ("14 de febrero de 2002", "fr", "unknown month name 'febrero'"),
        ("31 avril 2020", "fr", "impossible date"),
    ],
)
def test_date_problems(text: str, language: str | None, reason: str) -> None:
    problem = classify_date(text, language)
    assert isinstance(problem, DateProblem)
    assert reason in problem.reason
    assert read_date(text, language) is None


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("January 2021", "en", (2021, 1)),
        ("JANUARY 2021", "en", (2021, 1)),
        ("Avril 2020", "fr", (2020, 4)),
        ("Février 2020", "fr", (2020, 2)),
        ("Febrero 2002", "es", (2002, 2)),
        ("febrero de 2002", "es", (2002, 2)),
        ("Avril 2020", None, (2020, 4)),
    ],
)
def test_month_heading(text: str, language: str | None, expected: tuple[int, int]) -> None:
    assert classify_month_heading(text, language) == expected


@pytest.mark.parametrize(
    ("text", "language"),
    [("Video 2021", "en"), ("January", "en"), ("27 January 2021", "en"),
     ("Avril 2020", "en"), ("January 2021 news", "en")],
)
def test_not_a_month_heading(text: str, language: str) -> None:
    # A word close to a month name ("Avril" in English) is a problem, not a heading.
    assert not isinstance(classify_month_heading(text, language), tuple)


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("January 2021", "en", (2021, 1)),
        ("febrero de 2002", "es", (2002, 2)),
        ("Agenda 2030", "en", None),
        ("Agenda 2030", None, None),
        ("Mayor 2021", "en", None),
        ("Remember 2021", "en", None),
        ("Video 2021", "en", None),
        ("Sum1 Febuary 2021", "en", None),
        ("12 Febuary 2021", "en", None),
    ],
)
def test_classify_month_heading(
    text: str, language: str | None, expected: tuple[int, int] | None
) -> None:
    assert classify_month_heading(text, language) == expected


@pytest.mark.parametrize(
    ("text", "language", "near"),
    [
        ("Febuary 2021", "en", "February"),
        ("  Janury 2021 ", None, "January"),
        ("Agust 2021", "en", "August"),
        ("Ocotber, 2021", "en", "October"),
        ("Févriar 2020", "fr", "Fevrier"),
        ("Avril 2020", "en", "April"),
    ],
)
def test_misspelt_month_heading(text: str, language: str | None, near: str) -> None:
    problem = classify_month_heading(text, language)
    assert isinstance(problem, DateProblem)
    assert problem.reason == f"unknown month name in heading: {text.strip()!r} ({near}?)"


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["Avril 2020", "  1. Titre", "7 avril 2020", "8 avril 2020"], "fr"),
        (["Febrero 2002", "14 de febrero de 2002"], "es"),
        (["January 2021", "27 January 2021"], "en"),
        (["May 2021", "3 May 2021"], "en"),
        (["mayo de 2021", "3 de mayo de 2021"], "es"),
        (["no dates at all", "here"], "en"),
        ([], "en"),
        # Dates after a weekday or a few words, as listings often print them.
        (["Titre", "jeudi 26 novembre 2015", "Texte", "24/11/2015"], "fr"),
        (["Publicado el miércoles 4 de marzo de 2020"], "es"),
        (["3 mars 2020", "Posted on Tuesday, 3 March 2020", "Posted on Friday, 6 March 2020"],
         "en"),
        # A title that ends in a date after words with a digit is no date line.
        (["3 mars 2020", "Apollo 11: 20 julio 1969", "Room 101: 12 julio 1969"], "fr"),
        # A long line mentioning a date is prose, not a date line.
        (["Le rapport de 2019 paraîtra en même temps que celui du 26 novembre 2015"], "en"),
    ],
)
def test_detect_language(lines: list[str], expected: str) -> None:
    assert detect_language(lines) == expected


def test_unsupported_language() -> None:
    with pytest.raises(ValueError, match="unsupported language 'de'"):
        read_date("1 Januar 2021", "de")


def test_every_language_reads_every_month_by_its_wide_name() -> None:
    import babel.dates

    for language in LANGUAGES:
        for month, name in babel.dates.get_month_names("wide", locale=language).items():
            assert read_date(f"5 {name} 2020", language) == dt.date(2020, month, 5)
            assert classify_month_heading(f"{name.title()} 2020", language) == (2020, month)


def test_settings_offer_exactly_the_languages_read_here() -> None:
    from feedsvc import settings

    assert settings.LANGUAGES == LANGUAGES
