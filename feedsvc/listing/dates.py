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
one ("Febuary 2021") is a misspelt heading: ``heading_classifier`` reports
it, so that a parser can end an item there and warn instead of taking the line
for text.

``classify_listing_date`` (and ``classify_date``/``read_date`` given ``today`` or
``date_order``) also reads the other forms listings write: abbreviated and
numeric dates (``date_order`` says which number is the day), a prefix, weekday
or time around the date, relative dates and dates without a year (resolved
against ``today``). The numbered and compact renderings keep the strict forms.

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
    "DATE_ORDERS",
    "LANGUAGES",
    "LANGUAGE_DATA",
    "DateProblem",
    "Language",
    "classify_date",
    "classify_listing_date",
    "date_classifier",
    "detect_language",
    "drop_future_items",
    "heading_classifier",
    "listing_date_classifier",
    "read_date",
]


@dataclass(frozen=True)
class Language:
    """What reading dates in one language needs besides Babel's month and day names.

    ``day_suffixes`` may follow the day number ("1er", "3rd");
    ``connectors`` may stand between day, month and year ("14 de febrero de 2002");
    ``extra_months`` adds (month number, spelling) pairs in use but missing from CLDR.

    The rest is read by the listing date forms only (``classify_listing_date``):
    ``date_prefixes`` may come before a date ("Published 3 May 2021", "publié le
    ...", a colon allowed after them); ``days_back`` are words for a day counted
    back from today ("yesterday" is 1); ``ago_patterns`` are relative dates, with
    ``{amount}`` (digits or one of ``one_words``) and ``{unit}`` (a spelling of
    ``units``, which maps spellings to "second", "minute", "hour", "day",
    "week", "month" or "year").
    """

    code: str
    day_suffixes: tuple[str, ...] = ()
    connectors: tuple[str, ...] = ()
    extra_months: tuple[tuple[int, str], ...] = ()
    date_prefixes: tuple[str, ...] = ()
    days_back: tuple[tuple[str, int], ...] = ()
    ago_patterns: tuple[str, ...] = ()
    units: tuple[tuple[str, str], ...] = ()
    one_words: tuple[str, ...] = ()


def _plurals(*pairs: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    """(spelling, unit) pairs for each spelling given and the same with an "s"."""
    return tuple((form, unit) for word, unit in pairs for form in (word, f"{word}s"))


LANGUAGE_DATA: tuple[Language, ...] = (
    Language(
        "en",
        day_suffixes=("st", "nd", "rd", "th"),
        connectors=("of",),
        extra_months=((9, "sept"),),
        date_prefixes=("published on", "published", "posted on", "posted", "updated on",
                       "updated", "date", "on"),
        days_back=(("today", 0), ("just now", 0), ("yesterday", 1)),
        ago_patterns=("{amount} {unit} ago",),
        units=_plurals(("second", "second"), ("sec", "second"), ("minute", "minute"),
                       ("min", "minute"), ("hour", "hour"), ("hr", "hour"), ("day", "day"),
                       ("week", "week"), ("month", "month"), ("year", "year")),
        one_words=("a", "an", "one"),
    ),
    Language(
        "fr",
        day_suffixes=("er",),
        date_prefixes=("publié le", "mis à jour le", "le", "date"),
        days_back=(("aujourd'hui", 0), ("à l'instant", 0), ("hier", 1), ("avant-hier", 2)),
        ago_patterns=("il y a {amount} {unit}",),
        units=(*_plurals(("seconde", "second"), ("minute", "minute"), ("heure", "hour"),
                         ("jour", "day"), ("semaine", "week"), ("an", "year"),
                         ("année", "year")), ("mois", "month")),
        one_words=("un", "une"),
    ),
    Language(
        "es",
        day_suffixes=("º", "°", "o"),
        connectors=("de", "del"),
        date_prefixes=("publicado el", "actualizado el", "el", "fecha"),
        days_back=(("hoy", 0), ("ahora", 0), ("ayer", 1), ("anteayer", 2), ("antier", 2)),
        ago_patterns=("hace {amount} {unit}",),
        units=(*_plurals(("segundo", "second"), ("minuto", "minute"), ("hora", "hour"),
                         ("día", "day"), ("dia", "day"), ("semana", "week"),
                         ("año", "year")), ("mes", "month"), ("meses", "month")),
        one_words=("un", "una", "uno"),
    ),
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
    """A function reading one stripped line as a month heading in ``language``.

    It returns ``(year, month)`` for a heading ("January 2021", "febrero de
    2002"); a ``DateProblem`` for a misspelt one, a word close to a month name
    of ``language`` (see MISSPELLING_CUTOFF) followed by a year ("Febuary
    2021"); None for anything else ("Agenda 2030"). ``language`` None reads the
    month names of every supported language. Raises ValueError for an
    unsupported language code.
    """
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


def classify_date(
    text: str, language: str | None, *, today: dt.date | None = None,
    date_order: str | None = None,
) -> dt.date | DateProblem | None:
    """Read ``text`` (one whole line, surrounding whitespace ignored) as a date.

    Returns the date; a ``DateProblem`` when the line has the shape of a date but
    its month name is unknown in ``language`` or the day does not exist
    ("31 February 2021", "32 January 2021"); None when it is not a date at all.
    ``language`` None accepts the month names of every supported language.
    Raises ValueError for an unsupported language code.

    With neither ``today`` nor ``date_order``, only the written forms with a year
    are dates (what the numbered and compact renderings hold); with either,
    every form ``classify_listing_date`` reads (``date_order`` defaulting to "dmy").
    """
    if today is not None or date_order is not None:
        return classify_listing_date(text, language, today=today, date_order=date_order or "dmy")
    classify = _CLASSIFIERS.get(language)
    if classify is None:
        raise _unsupported(language)
    return classify(text.strip())


def read_date(
    text: str, language: str | None, *, today: dt.date | None = None,
    date_order: str | None = None,
) -> dt.date | None:
    """The date the whole line ``text`` states, or None (not a date, or not a valid one).

    ``today`` and ``date_order`` are as for ``classify_date``. Use
    ``classify_date`` to tell an invalid date from something that is no date.
    """
    result = classify_date(text, language, today=today, date_order=date_order)
    return result if isinstance(result, dt.date) else None


_CLASSIFIERS = {code: date_classifier(code) for code in _INFOS}


DETECTION_SAMPLE = 64
"""Lines naming a known month that ``detect_language`` reads before it decides."""


def detect_language(lines: Iterable[str]) -> str:
    """The supported language whose month names occur most often in date-shaped
    lines (dates and month headings), stopping after DETECTION_SAMPLE lines that
    name a known month. A line that is a relative date in one language ("il y a
    3 jours", "hier", "hace 2 días", alone or before " -- " and a summary) counts
    as one naming a month of it, so a listing dated only relatively is told too,
    and so does a short line ending in a date after a weekday or a few words
    ("jeudi 26 novembre 2015"). Ties go to the language listed first; no
    evidence gives "en"."""
    hits = dict.fromkeys(LANGUAGES, 0)
    seen = 0
    for raw in lines:
        line = raw.strip()
        relative = _relative_languages(line)
        if relative:
            for code in relative:
                hits[code] += 1
            seen += 1
            if seen >= DETECTION_SAMPLE:
                break
            continue
        if not line or not line[-1].isdigit():
            continue
        match = _DAY_FIRST.fullmatch(line) or _MONTH_FIRST.fullmatch(line)
        match = match or _HEADING.fullmatch(line)
        if match is None and len(line) <= _DATED_LINE_CHARS:
            match = _date_after_words(line)
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


_DATED_LINE_CHARS = 60
"""Longest line looked at for a date among other words when telling the language."""


def _date_after_words(line: str) -> re.Match[str] | None:
    """The date ending ``line`` after a weekday or a few words ("jeudi 26 novembre
    2015", "Publié le 3 nov. 2015"), which still tells the listing's language; None
    when the words before it hold a digit ("Apollo 11: 20 julio 1969" is a title)."""
    for pattern in (_DAY_FIRST, _MONTH_FIRST):
        for match in pattern.finditer(line):
            before = line[:match.start()]
            if match.end() == len(line) and not any(char.isdigit() for char in before) \
                    and (not before or not before[-1].isalnum()):
                return match
    return None
_RELATIVE_LINE_CHARS = 40
"""Longest date part of a line looked at as a relative date ("il y a 3 semaines")."""
_SUMMARY_AFTER_DATE = re.compile(r"\s+(?:--|\u2013|\u2014)\s+")


def _relative_languages(line: str) -> list[str]:
    """The languages in which ``line`` (or its part before " -- ") is a relative date,
    when it is one in some but not all of them (a bare number says nothing)."""
    date_part = _SUMMARY_AFTER_DATE.split(line, maxsplit=1)[0].strip(" .,;:()[]").casefold()
    if not date_part or len(date_part) > _RELATIVE_LINE_CHARS:
        return []
    found = [code for code in LANGUAGES if _is_relative(date_part, _RELATIVE[code])]
    return found if len(found) < len(LANGUAGES) else []


def _is_relative(text: str, relative: _Relative) -> bool:
    if text in relative.days_back:
        return True
    return relative.ago is not None and relative.ago.fullmatch(text) is not None


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


# --- Listing date forms: numeric, relative and yearless dates -------------------

DATE_ORDERS: tuple[str, ...] = ("dmy", "mdy", "ymd")
"""How a numeric date whose day and month could be swapped is read: day first
("26/11/2015"), month first ("11/26/2015") or year first ("15/11/26")."""

_TWO_DIGIT_YEAR_PIVOT = 70
"""Two-digit years below this are 20xx, the others 19xx."""

_NUMERIC_YEAR_FIRST = re.compile(r"(?P<year>\d{4})(?P<sep>[-/.])(?P<month>\d{1,2})(?P=sep)"
                                 r"(?P<day>\d{1,2})")
_NUMERIC = re.compile(r"(?P<a>\d{1,2})(?P<sep>[-/.])(?P<b>\d{1,2})(?P=sep)(?P<c>\d{4}|\d{2})")
_TIME_SUFFIX = re.compile(
    r"(?:T|,?\s+(?:at\s+|à\s+|a\s+las\s+|-\s+)?)\d{1,2}(?::|h)\d{2}(?::\d{2}(?:\.\d+)?)?"
    r"(?:\s*[ap]\.?\s?m\.?)?(?:\s*(?:Z|UTC|GMT|CES?T|E[SD]T|P[SD]T|[+-]\d{2}:?\d{2}))?",
    re.IGNORECASE,
)
"""A time after a date ("26.11.2015 14:30", "Nov 26, 2015 at 2:30 PM",
"2015-11-26T10:00:00Z"): dropped, as items are dated by the day."""


def _weekday_names() -> list[str]:
    names: set[str] = set()
    for language in LANGUAGE_DATA:
        for width in ("wide", "abbreviated"):
            for context in ("format", "stand-alone"):
                for name in babel.dates.get_day_names(width, context, locale=language.code
                                                      ).values():
                    names.update({name.lower().rstrip("."), _strip_accents(name.lower()
                                                                           ).rstrip(".")})
    return sorted(names)


def _lead_pattern() -> re.Pattern[str]:
    """Words that may come before a date: a prefix ("Published:", "publié le"), then
    a weekday ("Thursday,", "jeu.")."""
    prefixes = _alternatives(p for language in LANGUAGE_DATA for p in language.date_prefixes)
    weekdays = _alternatives(_weekday_names())
    return re.compile(
        rf"(?:(?:{prefixes})\s*:?\s+)?(?:(?:{weekdays})\.?,?\s+)?(?P<rest>.+)", re.IGNORECASE
    )


_LEAD = _lead_pattern()


def _yearless_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    suffix = f"(?:{_alternatives(_SUFFIXES)})?"
    joiner = rf"(?:\s+(?:{_alternatives(_CONNECTORS)}))?"
    word = r"(?P<month>[^\W\d_]+\.?)"
    day = rf"(?P<day>\d{{1,2}}){suffix}"
    return (re.compile(rf"{day}{joiner}\s+{word}", re.IGNORECASE),
            re.compile(rf"{word}\s+{day}", re.IGNORECASE))


_YEARLESS_DAY_FIRST, _YEARLESS_MONTH_FIRST = _yearless_patterns()


@dataclass(frozen=True)
class _Relative:
    """One language's (or every language's) relative date words, as lookups."""

    days_back: dict[str, int]
    ago: re.Pattern[str] | None
    units: dict[str, str]
    ones: frozenset[str]


def _ago_regex(pattern: str, index: int, amount: str, unit: str) -> str:
    """``pattern`` ("{amount} {unit} ago") as a regex whose groups ``amount<index>``
    and ``unit<index>`` take the amount and unit; any whitespace between words."""
    parts = re.split(r"(\{amount\}|\{unit\})", pattern)
    out: list[str] = []
    for part in parts:
        if part == "{amount}":
            out.append(f"(?P<amount{index}>{amount})")
        elif part == "{unit}":
            out.append(f"(?P<unit{index}>{unit})")
        else:
            out.append(r"\s+".join(re.escape(word) for word in part.split(" ")))
    return f"(?:{''.join(out)})"


def _relative(languages: Iterable[Language]) -> _Relative:
    languages = tuple(languages)
    days_back: dict[str, int] = {}
    units: dict[str, str] = {}
    ones: set[str] = set()
    patterns: list[str] = []
    for language in languages:
        days_back.update((word.casefold(), days) for word, days in language.days_back)
        units.update((word.casefold(), unit) for word, unit in language.units)
        ones.update(word.casefold() for word in language.one_words)
        patterns.extend(language.ago_patterns)
    if not patterns:
        return _Relative(days_back, None, units, frozenset(ones))
    amount = rf"(?:\d{{1,4}}|{_alternatives(ones)})"
    unit = f"(?:{_alternatives(units)})"
    alternatives = [
        _ago_regex(pattern, index, amount, unit)
        for index, pattern in enumerate(dict.fromkeys(patterns))
    ]
    pattern_text = "|".join(alternatives)
    return _Relative(days_back, re.compile(pattern_text, re.IGNORECASE), units, frozenset(ones))


_RELATIVE: dict[str | None, _Relative] = {
    language.code: _relative([language]) for language in LANGUAGE_DATA
}
_RELATIVE[None] = _relative(LANGUAGE_DATA)


def _months_back(today: dt.date, months: int) -> dt.date:
    """``today`` less ``months`` calendar months, the day clamped to the month's length."""
    index = today.year * 12 + today.month - 1 - months
    year, month = divmod(index, 12)
    if year < dt.MINYEAR:
        raise ValueError("before the first year")
    for day in range(today.day, 27, -1):
        try:
            return dt.date(year, month + 1, day)
        except ValueError:
            continue
    return dt.date(year, month + 1, min(today.day, 28))


def _ago(today: dt.date, amount: int, unit: str) -> dt.date | None:
    """The day ``amount`` ``unit`` before ``today``; units shorter than a day give
    ``today`` (items are dated by the day). None when out of range."""
    try:
        if unit in ("second", "minute", "hour"):
            return today
        if unit == "day":
            return today - dt.timedelta(days=amount)
        if unit == "week":
            return today - dt.timedelta(weeks=amount)
        if unit == "month":
            return _months_back(today, amount)
        return _months_back(today, 12 * amount)
    except (OverflowError, ValueError):
        return None


def _most_recent(month: int, day: int, today: dt.date) -> dt.date | None:
    """The latest date with this month and day that is not after ``today``
    (29 February goes back to the last leap year)."""
    for year in range(today.year, max(today.year - 8, dt.MINYEAR - 1), -1):
        try:
            candidate = dt.date(year, month, day)
        except ValueError:
            continue
        if candidate <= today:
            return candidate
    return None


def _numeric(core: str, date_order: str) -> dt.date | DateProblem | None:
    """A numeric date: year first with four digits is always year-month-day
    ("2015-11-26"); otherwise ``date_order`` says which number is the day, unless
    only one reading is a real date (a number over 12 can only be a day)."""
    match = _NUMERIC_YEAR_FIRST.fullmatch(core)
    if match is not None:
        return _checked(core, int(match["year"]), int(match["month"]), int(match["day"]))
    match = _NUMERIC.fullmatch(core)
    if match is None:
        return None
    first, second, third = int(match["a"]), int(match["b"]), match["c"]
    if len(third) == 4:
        year = int(third)
        day_first = date_order != "mdy"
        if day_first and first <= 12 < second:
            day_first = False
        elif not day_first and second <= 12 < first:
            day_first = True
        day, month = (first, second) if day_first else (second, first)
        return _checked(core, year, month, day)
    last = int(third)
    if date_order == "ymd":
        year, month, day = first, second, last
    elif date_order == "mdy":
        month, day, year = first, second, last
    else:
        day, month, year = first, second, last
    year += 2000 if year < _TWO_DIGIT_YEAR_PIVOT else 1900
    return _checked(core, year, month, day)


def _checked(text: str, year: int, month: int, day: int) -> dt.date | DateProblem:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return DateProblem(text, f"impossible date {text!r}")


def _needs_today(text: str, what: str) -> DateProblem:
    return DateProblem(text, f"{what} {text!r} needs the fetch date to be read")


def _impossible_unless_found(core: str, found: dt.date | None) -> dt.date | DateProblem:
    return found if found is not None else DateProblem(core, f"impossible date {core!r}")


def _yearless(core: str, info: parserinfo, today: dt.date | None) -> dt.date | DateProblem | None:
    """``core`` as a day and month without a year ("26 Nov"): the most recent such date
    up to ``today``; None when it is not one."""
    match = _YEARLESS_DAY_FIRST.fullmatch(core) or _YEARLESS_MONTH_FIRST.fullmatch(core)
    if match is None:
        return None
    month = _month(info, match["month"])
    if month is None:
        return None
    day = int(match["day"])
    if not 1 <= day <= 31:
        return DateProblem(core, f"impossible date {core!r}")
    if today is None:
        return _needs_today(core, "date without a year")
    return _impossible_unless_found(core, _most_recent(month, day, today))


def _ago_phrase(key: str, relative: _Relative) -> tuple[int, str] | None:
    """The amount and unit of an "{amount} {unit} ago" phrase (``key`` casefolded and
    spaced once), or None when ``key`` is not one."""
    if relative.ago is None:
        return None
    match = relative.ago.fullmatch(key)
    if match is None:
        return None
    amount_text = next(v for k, v in match.groupdict().items()
                       if k.startswith("amount") and v is not None)
    unit_text = next(v for k, v in match.groupdict().items()
                     if k.startswith("unit") and v is not None)
    amount = 1 if amount_text in relative.ones else int(amount_text)
    return amount, relative.units[unit_text]


def _relative_date(
    core: str, relative: _Relative, today: dt.date | None
) -> dt.date | DateProblem | None:
    """``core`` as a relative date ("yesterday", "3 days ago") counted back from
    ``today``; None when it is not one."""
    key = " ".join(core.casefold().replace("\u2019", "'").split())
    days = relative.days_back.get(key)
    ago = _ago_phrase(key, relative) if days is None else (days, "day")
    if ago is None:
        return None
    if today is None:
        return _needs_today(core, "relative date")
    amount, unit = ago
    return _impossible_unless_found(core, _ago(today, amount, unit))


def _written_or_numeric(
    core: str, written: DateClassifier, date_order: str
) -> dt.date | DateProblem | None:
    """``core`` as a date written with a year ("26 November 2015") or in numbers
    ("26/11/2015", read in ``date_order``); None when it is neither."""
    if not core[-1].isdigit():
        return None
    found = written(core)
    if found is None and core[0].isdigit():
        found = _numeric(core, date_order)
    return found


def _undecorated(line: str) -> str | None:
    """``line`` without the brackets, final dot or hyphens a date may be written with
    ("(26 November 2015)", "26 November 2015.", "26-Nov-2015"); None when it has none."""
    if line[0] in "([" or line[-1] in ".)]" or "-" in line:
        bare = _HYPHENATED.sub(r"\1 \2 \3", line.strip("()[]").removesuffix("."))
        if bare != line:
            return bare
    return None


def _timeless_core(line: str) -> tuple[str, str]:
    """``line`` without a trailing time of day, and that without a leading word such
    as "Published" too."""
    timeless = _TIME_SUFFIX.sub("", line, count=1) if ":" in line or "h" in line else line
    lead = _LEAD.fullmatch(timeless)
    return timeless, (lead["rest"] if lead is not None else timeless)


def listing_date_classifier(
    language: str | None, *, today: dt.date | None = None, date_order: str = "dmy"
) -> DateClassifier:
    """``classify_listing_date`` bound to its arguments, for stripped lines."""
    if date_order not in DATE_ORDERS:
        raise ValueError(f"unknown date_order {date_order!r}; expected one of "
                         f"{', '.join(DATE_ORDERS)}")
    written = date_classifier(language)
    info = _info(language)
    relative = _RELATIVE[language]

    def read_core(core: str) -> dt.date | DateProblem | None:
        if not core:
            return None
        return (_written_or_numeric(core, written, date_order)
                or _yearless(core, info, today) or _relative_date(core, relative, today))

    def classify(line: str) -> dt.date | DateProblem | None:
        if not line or len(line) > _LONGEST_LISTING_DATE:
            return None
        found = read_core(line)
        if found is not None:
            return found
        bare = _undecorated(line)
        if bare is not None:
            return classify(bare)
        timeless, core = _timeless_core(line)
        if core == line:
            return None
        return read_core(core) or (read_core(timeless) if timeless != line else None)

    return classify


@functools.lru_cache(maxsize=64)
def _cached_listing_classifier(
    language: str | None, today: dt.date | None, date_order: str
) -> DateClassifier:
    return listing_date_classifier(language, today=today, date_order=date_order)


_HYPHENATED = re.compile(r"^(\d{1,2})-([^\W\d_]+\.?)-(\d{4})$")

_LONGEST_LISTING_DATE = 80
"""Longer lines are never dates: spares reading every long line of a summary."""


def classify_listing_date(
    text: str, language: str | None, *, today: dt.date | None = None, date_order: str = "dmy"
) -> dt.date | DateProblem | None:
    """Read ``text`` (one whole line, surrounding whitespace ignored) as a date in any
    form a listing writes one.

    Besides the written forms of ``classify_date``: abbreviated months ("Nov 26,
    2015"); numeric dates ("2015-11-26", "26.11.2015", "26/11/2015", "26/11/15",
    read by ``date_order``, see DATE_ORDERS and ``_numeric``); a prefix and a
    weekday before the date and a time after it ("Published: Thursday, 26
    November 2015, 14:30"); relative dates ("2 hours ago", "yesterday", "il y a
    3 jours", "hier", "hace 2 días", "ayer"), resolved against ``today``; dates
    without a year ("26 November", "Nov 26"), read as the most recent such date
    not after ``today``. Without ``today``, relative and yearless dates are a
    ``DateProblem`` saying they need it (so a parser warns rather than takes the
    line for text). Returns None when the line is no date at all. Raises
    ValueError for an unsupported language or date order.
    """
    return _cached_listing_classifier(language, today, date_order)(text.strip())
