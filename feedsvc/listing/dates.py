"""Reading the dates and month headings of listings, in several languages.

Month names come from Babel's CLDR data (never from the process locale) and
are fed to one python-dateutil ``parserinfo`` per language, which answers
"which month is this word?". Everything a language needs beyond its month
names (ordinal day suffixes, connecting words such as Spanish "de") is one
``Language`` entry in ``LANGUAGE_DATA``: adding a language is adding an entry
(and its code to ``feedsvc.settings.LANGUAGES``, which configuration accepts).

Reading is strict: a line is a date only if the whole line is one, in one of
these shapes (case-insensitive, any whitespace between parts)::

    27 January 2021      09 November 2021     1er mai 2020
    14 de febrero de 2002                     January 27, 2021

A line with a month heading's shape whose word is no month name but close to
one ("Febuary 2021") is a misspelt heading: ``classify_month_heading`` reports
it, so that a parser can end an item there and warn instead of taking the line
for text.

Lookup tables and patterns are built once, at import time.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import babel.dates
from dateutil.parser import parserinfo

from feedsvc.models import ListingItem, ParseWarning

__all__ = [
    "LANGUAGES",
    "LANGUAGE_DATA",
    "DateProblem",
    "Language",
    "classify_date",
    "classify_month_heading",
    "date_classifier",
    "detect_language",
    "drop_future_items",
    "heading_classifier",
    "read_date",
    "read_month_heading",
]


@dataclass(frozen=True)
class Language:
    """What reading dates in one language needs besides Babel's month names.

    ``day_suffixes`` may follow the day number ("1er", "3rd");
    ``connectors`` may stand between day, month and year ("14 de febrero de 2002");
    ``extra_months`` adds (month number, spelling) pairs in use but missing from CLDR.
    """

    code: str
    day_suffixes: tuple[str, ...] = ()
    connectors: tuple[str, ...] = ()
    extra_months: tuple[tuple[int, str], ...] = ()


LANGUAGE_DATA: tuple[Language, ...] = (
    Language(
        "en",
        day_suffixes=("st", "nd", "rd", "th"),
        connectors=("of",),
        extra_months=((9, "sept"),),
    ),
    Language("fr", day_suffixes=("er",)),
    Language("es", day_suffixes=("º", "°", "o"), connectors=("de", "del")),
)
"""Supported languages, in order of preference when detection is undecided."""

LANGUAGES: tuple[str, ...] = tuple(language.code for language in LANGUAGE_DATA)
DEFAULT_LANGUAGE = LANGUAGES[0]


@dataclass(frozen=True)
class DateProblem:
    """A line shaped like a date that is not one: unknown month or impossible day.

    ``reason`` is a short sentence fit for a warning ("unknown month name 'Foobar'").
    """

    text: str
    reason: str


def _strip_accents(word: str) -> str:
    decomposed = unicodedata.normalize("NFD", word)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _month_name_variants(language: Language) -> list[set[str]]:
    """For each month (index 0 = January), every lowercase spelling Babel knows (and
    the language's extra ones), plus the same without accents and without an
    abbreviation's final dot."""
    spellings: list[tuple[int, str]] = list(language.extra_months)
    for width in ("wide", "abbreviated"):
        for context in ("format", "stand-alone"):
            names = babel.dates.get_month_names(width, context, locale=language.code)
            spellings.extend(names.items())
    variants: list[set[str]] = [set() for _ in range(12)]
    for number, name in spellings:
        for spelling in {name.lower(), _strip_accents(name.lower())}:
            variants[number - 1].add(spelling)
            variants[number - 1].add(spelling.rstrip("."))
    return variants


def _alternatives(words: Iterable[str]) -> str:
    unique = sorted(set(words), key=len, reverse=True)
    return "|".join(re.escape(word) for word in unique)


def _date_patterns(suffixes: Iterable[str], connectors: Iterable[str]) -> tuple[
    re.Pattern[str], re.Pattern[str], re.Pattern[str]
]:
    """Day-first date, month-first date and month heading patterns.

    Groups are named day, month, year. The month group takes any word so that an
    unknown month name is seen as such rather than as "not a date".
    """
    suffix = f"(?:{_alternatives(suffixes)})?" if suffixes else ""
    joiners = _alternatives(connectors)
    joiner = rf"(?:\s+(?:{joiners}))?" if joiners else ""
    word = r"(?P<month>[^\W\d_]+\.?)"
    day = rf"(?P<day>\d{{1,2}}){suffix}"
    year = r"(?P<year>\d{4})"
    day_first = re.compile(rf"{day}{joiner}\s+{word},?{joiner}\s+{year}", re.IGNORECASE)
    month_first = re.compile(rf"{word}\s+{day},?\s+{year}", re.IGNORECASE)
    heading = re.compile(rf"{word},?{joiner}\s+{year}", re.IGNORECASE)
    return day_first, month_first, heading


def _localised_info(code: str, months: list[set[str]], words: tuple[str, ...]) -> parserinfo:
    """A dateutil ``parserinfo`` that knows ``months`` (spellings per month) and
    skips ``words`` (connectors, day suffixes) as dateutil's own words are skipped."""
    attributes = {
        "MONTHS": [tuple(sorted(names)) for names in months],
        "JUMP": [*parserinfo.JUMP, *words],
    }
    info_class = type(f"ParserInfo_{code}", (parserinfo,), attributes)
    info: parserinfo = info_class()
    return info


def _any_language_months() -> list[set[str]]:
    months: list[set[str]] = [set() for _ in range(12)]
    for language in LANGUAGE_DATA:
        for index, names in enumerate(_month_name_variants(language)):
            months[index] |= names
    _check_no_conflicts(months)
    return months


def _check_no_conflicts(months: list[set[str]]) -> None:
    """Reading "any language" is only sound while no spelling names two months."""
    seen: dict[str, int] = {}
    for index, names in enumerate(months):
        for name in names:
            if seen.setdefault(name, index) != index:
                raise AssertionError(f"month name {name!r} is ambiguous across languages")


# The shapes accept every language's suffixes and connectors, so that a date
# written in another language than the expected one is reported as an unknown
# month name rather than passed over as ordinary text.
_SUFFIXES = tuple(s for language in LANGUAGE_DATA for s in language.day_suffixes)
_CONNECTORS = tuple(c for language in LANGUAGE_DATA for c in language.connectors)
_DAY_FIRST, _MONTH_FIRST, _HEADING = _date_patterns(_SUFFIXES, _CONNECTORS)

_INFOS: dict[str | None, parserinfo] = {
    language.code: _localised_info(
        language.code,
        _month_name_variants(language),
        language.connectors + language.day_suffixes,
    )
    for language in LANGUAGE_DATA
}
_INFOS[None] = _localised_info("any", _any_language_months(), _SUFFIXES + _CONNECTORS)


def _info(language: str | None) -> parserinfo:
    try:
        return _INFOS[language]
    except KeyError:
        raise _unsupported(language) from None


def _unsupported(language: str | None) -> ValueError:
    return ValueError(
        f"unsupported language {language!r}; expected one of {', '.join(LANGUAGES)}"
    )


def _month(info: parserinfo, word: str) -> int | None:
    number: int | None = info.month(word)
    if number is None and word.endswith("."):
        number = info.month(word[:-1])
    return number


DateClassifier = Callable[[str], dt.date | DateProblem | None]
HeadingClassifier = Callable[[str], tuple[int, int] | DateProblem | None]

MISSPELLING_CUTOFF = 0.8
"""How close (difflib ratio, 0 to 1) an unknown word must be to a month name for
"<word> <year>" to be a misspelt month heading. 0.8 takes "Febuary", "Janury",
"Agust" and "Ocotber" for months but leaves "Mayor 2021" (0.75 from "may"),
"Remember 2021" and "Agenda 2030" as text."""


def date_classifier(language: str | None) -> DateClassifier:
    """``classify_date`` bound to ``language``, for lines already stripped of
    surrounding whitespace: the form a parser calls for every candidate line."""
    info = _info(language)
    where = f" in language {language!r}" if language else ""
    day_first = _DAY_FIRST.fullmatch
    month_first = _MONTH_FIRST.fullmatch

    def classify(line: str) -> dt.date | DateProblem | None:
        match = day_first(line) or month_first(line)
        if match is None:
            return None
        word = match["month"]
        month = _month(info, word)
        if month is None:
            return DateProblem(line, f"unknown month name {word!r}{where}")
        try:
            return dt.date(int(match["year"]), month, int(match["day"]))
        except ValueError:
            return DateProblem(line, f"impossible date {line!r}")

    return classify


def _wide_month_names(language: str | None) -> tuple[str, ...]:
    """The lowercase, accent-free wide month names of ``language`` (None: of every
    language): what a misspelt heading is compared with. Abbreviations are left
    out, as short words come close to them by chance."""
    codes = LANGUAGES if language is None else (language,)
    names: set[str] = set()
    for code in codes:
        for context in ("format", "stand-alone"):
            for name in babel.dates.get_month_names("wide", context, locale=code).values():
                names.add(_strip_accents(name.lower()))
    return tuple(sorted(names))


def heading_classifier(language: str | None) -> HeadingClassifier:
    """``classify_month_heading`` bound to ``language``, for stripped lines."""
    info = _info(language)
    heading = _HEADING.fullmatch
    names = _wide_month_names(language)

    # Only lines of a heading's shape with an unknown word get here: few, and
    # often the same typo again, so each word is compared with the names once.
    @functools.lru_cache(maxsize=256)
    def close_month(word: str) -> str | None:
        key = _strip_accents(word.lower().rstrip("."))
        matches = difflib.get_close_matches(key, names, n=1, cutoff=MISSPELLING_CUTOFF)
        return matches[0] if matches else None

    def classify(line: str) -> tuple[int, int] | DateProblem | None:
        match = heading(line)
        if match is None:
            return None
        word = match["month"]
        month = _month(info, word)
        if month is not None:
            return (int(match["year"]), month)
        near = close_month(word)
        if near is None:
            return None
        return DateProblem(line, f"unknown month name in heading: {line!r} ({near.capitalize()}?)")

    return classify


def classify_month_heading(
    text: str, language: str | None
) -> tuple[int, int] | DateProblem | None:
    """Read ``text`` (one whole line, surrounding whitespace ignored) as a month heading.

    Returns ``(year, month)`` for a heading ("January 2021", "febrero de 2002");
    a ``DateProblem`` for a misspelt one, a word close to a month name of
    ``language`` (see MISSPELLING_CUTOFF) followed by a year ("Febuary 2021");
    None for anything else ("Agenda 2030"). Raises ValueError for an
    unsupported language code.
    """
    classify = _HEADING_CLASSIFIERS.get(language)
    if classify is None:
        raise _unsupported(language)
    return classify(text.strip())


def classify_date(text: str, language: str | None) -> dt.date | DateProblem | None:
    """Read ``text`` (one whole line, surrounding whitespace ignored) as a date.

    Returns the date; a ``DateProblem`` when the line has the shape of a date but
    its month name is unknown in ``language`` or the day does not exist
    ("31 February 2021", "32 January 2021"); None when it is not a date at all.
    ``language`` None accepts the month names of every supported language.
    Raises ValueError for an unsupported language code.
    """
    classify = _CLASSIFIERS.get(language)
    if classify is None:
        raise _unsupported(language)
    return classify(text.strip())


def read_date(text: str, language: str | None) -> dt.date | None:
    """The date the whole line ``text`` states, or None (not a date, or not a valid one).

    Use ``classify_date`` to tell an invalid date from something that is no date.
    """
    result = classify_date(text, language)
    return result if isinstance(result, dt.date) else None


def read_month_heading(text: str, language: str | None) -> tuple[int, int] | None:
    """``(year, month)`` when the whole line is a month heading ("January 2021",
    "Avril 2020", "febrero de 2002"), else None (a misspelt heading included)."""
    heading = classify_month_heading(text, language)
    return heading if isinstance(heading, tuple) else None


_CLASSIFIERS = {code: date_classifier(code) for code in _INFOS}
_HEADING_CLASSIFIERS = {code: heading_classifier(code) for code in _INFOS}


DETECTION_SAMPLE = 64
"""Lines naming a known month that ``detect_language`` reads before it decides."""


def detect_language(lines: Iterable[str]) -> str:
    """The supported language whose month names occur most often in date-shaped
    lines (dates and month headings), stopping after DETECTION_SAMPLE lines that
    name a known month. Ties go to the language listed first; no evidence gives "en"."""
    hits = dict.fromkeys(LANGUAGES, 0)
    seen = 0
    for raw in lines:
        line = raw.strip()
        if not line or not line[-1].isdigit():
            continue
        match = _DAY_FIRST.fullmatch(line) or _MONTH_FIRST.fullmatch(line)
        match = match or _HEADING.fullmatch(line)
        if match is None:
            continue
        word = match["month"]
        known = [code for code in LANGUAGES if _month(_INFOS[code], word) is not None]
        for code in known:
            hits[code] += 1
        seen += bool(known)
        if seen >= DETECTION_SAMPLE:
            break
    best = max(LANGUAGES, key=lambda code: (hits[code], -LANGUAGES.index(code)))
    return best if hits[best] else DEFAULT_LANGUAGE


DAYS_AHEAD_ALLOWED = 1
"""How far past today an item's date may be: a day, for listings written in a
zone ahead of the site's. A later date ("31 December 9999") is a typo or a
trap; kept, it would top every feed for ever."""


def drop_future_items(
    items: Iterable[ListingItem], today: dt.date, *, source: str
) -> tuple[tuple[ListingItem, ...], tuple[ParseWarning, ...]]:
    """``items`` without those dated more than DAYS_AHEAD_ALLOWED days after
    ``today``, and one warning per item dropped, naming its line.

    Pure: the caller says what day it is (in the site's time zone). Order is kept.
    """
    kept: list[ListingItem] = []
    warnings: list[ParseWarning] = []
    for item in items:
        # A difference, not today + 1 day: that would overflow on 31 December 9999.
        days_ahead = (item.date - today).days
        if days_ahead > DAYS_AHEAD_ALLOWED:
            warnings.append(ParseWarning(
                source, item.line,
                f"item dated {item.date.isoformat()} is {days_ahead} days in the future "
                f"(today is {today.isoformat()}); skipped: {item.title[:60]!r}",
            ))
        else:
            kept.append(item)
    return tuple(kept), tuple(warnings)
