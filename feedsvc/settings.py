"""Settings: read once from one TOML file, validated, frozen, passed explicitly.

Every setting is declared once: as a field of its section's frozen dataclass
(``SiteSettings.title``...), with its default, one-line help and check beside
it in ``metadata=setting(...)``; a source format's own settings are declared
with the format in ``feedsvc.formats``. ``OPTIONS``, ``SOURCE_OPTIONS`` and
``FEED_OPTIONS`` (the rows the loader reads by) are derived from those fields,
and so are the README's settings tables (``readme_tables``; the tests check
the README holds them as rendered), so the docs cannot drift.
Nothing here runs at import time; ``load_settings`` is called by the CLI and
by ``wsgi.py``.
"""

from __future__ import annotations

import os
import re
import tomllib
import unicodedata
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import SplitResult, urlsplit

from feedsvc.errors import ConfigError
from feedsvc.formats import AUTO, DATE_ORDERS, SOURCE_FORMAT_NAMES, SOURCE_FORMATS
from feedsvc.formats import (  # re-exported: declared with the html format
    HTML_SELECTOR_DEFAULTS as HTML_SELECTOR_DEFAULTS,
)
from feedsvc.uris import to_uri

CONFIG_ENV = "FEEDSVC_CONFIG"
ADMIN_TOKEN_ENV = "FEEDSVC_ADMIN_TOKEN"
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "feedsvc.toml"

LANGUAGES = ("en", "fr", "es")
RENDERS = ("fetch", "browser")
"""How a source's pages are had: fetched as the server sends them, or loaded in a
headless browser that runs their scripts first."""
PUBLICATIONS = ("directory", "database")

DEFAULT_MAX_BYTES = 5_000_000
"""``fetch.max_bytes`` when not set: the most bytes read from any source, local
file or HTTP response, by the refresh and by ``feedsvc parse`` alike."""


def is_http_url(location: str) -> bool:
    """Whether ``location`` is an http(s) URL rather than a file path."""
    return urlsplit(location).scheme in ("http", "https")


Validator = Callable[[Any, str], Any]


class _Required:
    """The type of REQUIRED."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Final = _Required()
"""The default of a setting that has none: leaving it out is an error."""


@dataclass(frozen=True)
class Option:
    """One documented setting: where it lives, its default as written in the
    file (or REQUIRED) and what it is for; ``shown``: how the README shows the
    default, when not as its literal. Derived from the settings' dataclass
    fields (``options_of``) and the formats' own settings."""

    section: str
    key: str
    default: Any
    help: str
    check: Validator
    shown: str | None = None

    @property
    def name(self) -> str:
        return f"{self.section}.{self.key}"


# --- value checks: each takes (value, key name) and returns the typed value ---


def _str(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"must be a string, not {type(value).__name__}", key=key)
    return value


def _nonempty_str(value: Any, key: str) -> str:
    text = _str(value, key).strip()
    if not text:
        raise ConfigError("must not be empty", key=key)
    return text


def _bool(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError("must be true or false", key=key)
    return value


def _int_range(low: int, high: int) -> Validator:
    def check(value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"must be a whole number from {low} to {high}", key=key)
        if not low <= value <= high:
            raise ConfigError(f"must be from {low} to {high}, not {value}", key=key)
        return value

    return check


MIN_ADMIN_TOKEN_LENGTH = 32
"""Shortest admin token accepted: long enough that guessing it is hopeless."""


def _admin_token(value: Any, key: str) -> str:
    """A bearer token: at least MIN_ADMIN_TOKEN_LENGTH visible ASCII characters.

    The message never quotes the value: it is a secret.
    """
    token = _str(value, key)
    if not all("!" <= char <= "~" for char in token):
        raise ConfigError("must be visible ASCII characters without spaces", key=key)
    if len(token) < MIN_ADMIN_TOKEN_LENGTH:
        raise ConfigError(
            f"must be at least {MIN_ADMIN_TOKEN_LENGTH} characters, not {len(token)} "
            "(make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))')",
            key=key)
    return token


def _optional(check: Validator) -> Validator:
    def optional(value: Any, key: str) -> Any:
        return None if value is None or value == "" else check(value, key)

    return optional


def _choice(choices: tuple[str, ...]) -> Validator:
    def check(value: Any, key: str) -> str:
        text = _str(value, key)
        if text not in choices:
            raise ConfigError(f"must be one of {', '.join(choices)}, not {text!r}", key=key)
        return text

    return check


def _timezone(value: Any, key: str) -> str:
    name = _nonempty_str(value, key)
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone {name!r}", key=key) from None
    return name


def _split_url(url: str, key: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- reading it validates the port number
    except ValueError as exc:
        raise ConfigError(f"is not a valid URL ({exc}): {url!r}", key=key) from None
    return parts


def _http_url(value: Any, key: str) -> str:
    url = _nonempty_str(value, key)
    parts = _split_url(url, key)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"must be an absolute http(s) URL, not {url!r}", key=key)
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        # Every feed link is base_url + path: a query or fragment would break them all.
        raise ConfigError(f"must not have a query or fragment: {url!r}", key=key)
    # Written as a URI (IDNA host, percent-encoded path): it starts every
    # link of every feed, and goes into the User-Agent header, which is ASCII.
    uri = to_uri(url)
    return uri if uri.endswith("/") else uri + "/"


def _header_text(value: Any, key: str) -> str:
    """Text that can go into an HTTP header as it is: printable ASCII only."""
    text = _str(value, key).strip()
    bad = next((char for char in text if not " " <= char <= "~"), None)
    if bad is not None:
        raise ConfigError(
            f"must be printable ASCII, as it goes into the User-Agent header; {bad!r} is not "
            "(write an e-mail domain in IDNA, a URL percent-encoded)", key=key,
        )
    return text


# Bidirectional embeddings, overrides and isolates: they reorder what a log line shows.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _one_line_name(value: Any, key: str) -> str:
    """A name printed in summaries and log lines: no control character, no line break."""
    name = _nonempty_str(value, key)
    for char in name:
        if unicodedata.category(char) in ("Cc", "Zl", "Zp") or char in _BIDI_CONTROLS:
            raise ConfigError(
                f"must not hold control characters or line breaks; it has {char!r}", key=key
            )
    return name


_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")


def _language_tag(value: Any, key: str) -> str:
    tag = _nonempty_str(value, key)
    if not _LANGUAGE_TAG.match(tag):
        raise ConfigError(f"must be a language tag such as \"en\" or \"fr-CH\", not {tag!r}",
                          key=key)
    return tag


_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}

MAX_DURATION = 365 * 86400
"""Longest duration a setting accepts: a year. Longer ones are typos, and past
what the scheduler and date arithmetic can hold."""


def parse_duration(text: str) -> int:
    """Seconds in a duration such as ``"90s"``, ``"30m"``, ``"6h"``, ``"1d"`` or ``"45"``.

    Raises ValueError for anything else.
    """
    match = _DURATION.match(text)
    if not match:
        raise ValueError(text)
    return int(match.group(1)) * _DURATION_UNITS[match.group(2)]


def _duration(value: Any, key: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    else:
        try:
            seconds = parse_duration(_str(value, key))
        except ValueError:
            raise ConfigError(
                f"must be a duration such as \"30m\", \"6h\" or \"90s\", not {value!r}", key=key
            ) from None
    if seconds <= 0:
        raise ConfigError("must be longer than zero", key=key)
    if seconds > MAX_DURATION:
        raise ConfigError(f"must be at most a year (\"365d\"), not {value!r}", key=key)
    return seconds


def _cron(value: Any, key: str) -> str:
    text = _str(value, key)
    fields = text.split()
    if len(fields) != 5:
        raise ConfigError(
            f"must be a five-field cron expression such as \"*/30 * * * *\", not {text!r}",
            key=key,
        )
    if fields[2] != "*" and fields[4] != "*":
        # crontab(5) fires when either matches; the scheduler would need both.
        raise ConfigError(
            "restricts both day of month and day of week; restrict only one", key=key
        )
    # Each field's values are checked where the expression is read, by the
    # scheduler at its start and by `feedsvc check-config`, both naming this key.
    return " ".join(fields)


def _str_list(check: Validator) -> Validator:
    """A TOML array whose every element ``check`` accepts, as a tuple; each element's
    errors name it (``websub.hubs[1]``)."""
    def check_list(value: Any, key: str) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple):
            raise ConfigError("must be an array", key=key)
        return tuple(check(element, f"{key}[{index}]") for index, element in enumerate(value))

    return check_list


def _hub_url(value: Any, key: str) -> str:
    """A WebSub hub's address: an absolute http(s) URL, kept as a URI (its query too)."""
    url = _nonempty_str(value, key)
    parts = _split_url(url, key)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
        raise ConfigError(f"must be an absolute http(s) URL without a fragment, not {url!r}",
                          key=key)
    return to_uri(url)


def _label_map(value: Any, key: str) -> Mapping[str, str]:
    """``[categories.merge]``: label -> label it is published under."""
    if not isinstance(value, Mapping):
        raise ConfigError('must be a table such as { "Press releases" = "Press release" }',
                          key=key)
    from feedsvc.identity import slugify

    merged: dict[str, str] = {}
    for alias, target in value.items():
        name = f"{key}.{alias}"
        label = _nonempty_str(target, name)
        if slugify(alias) == slugify(label):
            raise ConfigError(f"merges the label into itself ({label!r})", key=name)
        merged[_nonempty_str(alias, name)] = label
    targets = {slugify(label) for label in merged.values()}
    for alias in merged:
        if slugify(alias) in targets:
            raise ConfigError("is merged into another label and is itself a merge target; "
                              "merge every label straight into the last one",
                              key=f"{key}.{alias}")
    return MappingProxyType(merged)


@dataclass(frozen=True)
class WebReader:
    """A web feed reader the pages offer to subscribe in: its name, and the address that
    subscribes to a feed, ``{url}`` standing for the feed's percent-encoded address."""

    name: str
    url: str


READER_PLACEHOLDER = "{url}"
DEFAULT_READERS: tuple[Mapping[str, str], ...] = (
    {"name": "Feedly", "url": "https://feedly.com/i/subscription/feed%2F{url}"},
    {"name": "Inoreader", "url": "https://www.inoreader.com/?add_feed={url}"},
    {"name": "NewsBlur", "url": "https://www.newsblur.com/?url={url}"},
    {"name": "The Old Reader", "url": "https://theoldreader.com/feeds/subscribe?url={url}"},
)


def _readers(value: Any, key: str) -> tuple[WebReader, ...]:
    """An array of ``{name = "...", url = "https://...{url}..."}`` tables; empty: none."""
    if not isinstance(value, list | tuple):
        raise ConfigError('must be an array of tables such as [{name = "Feedly", '
                          'url = "https://feedly.com/i/subscription/feed%2F{url}"}]', key=key)
    readers: list[WebReader] = []
    for index, entry in enumerate(value):
        entry_key = f"{key}[{index}]"
        if not isinstance(entry, Mapping) or set(entry) != {"name", "url"}:
            raise ConfigError("must be a table with exactly name and url", key=entry_key)
        name = _one_line_name(entry["name"], f"{entry_key}.name")
        url = _nonempty_str(entry["url"], f"{entry_key}.url")
        parts = _split_url(url, f"{entry_key}.url")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"must be an absolute http(s) URL, not {url!r}",
                              key=f"{entry_key}.url")
        if url.count(READER_PLACEHOLDER) != 1:
            raise ConfigError(f"must hold {READER_PLACEHOLDER} exactly once (where the feed's "
                              "address goes)", key=f"{entry_key}.url")
        readers.append(WebReader(name=name, url=url))
    return tuple(readers)


# --- the settings: each one a dataclass field, its help and check in its metadata ---

_SETTING = "feedsvc.setting"
_UNSET: Final = object()


@dataclass(frozen=True)
class _Declared:
    """What a field's ``metadata=setting(...)`` holds."""

    help: str
    check: Validator
    config: Any
    shown: str | None


def setting(help: str, check: Validator, *, config: Any = _UNSET,
            shown: str | None = None) -> Mapping[str, Any]:
    """Field metadata that makes a dataclass field a setting: its one-line ``help``
    (the README's "what it is for") and ``check`` (takes the value as written and
    the key's name, returns the typed value or raises ConfigError naming the key).

    ``config`` is the default as written in the file when the key is left out,
    if it differs from the field's default or the field has none (``"30m"`` for
    an interval kept in seconds); a field with neither is required. ``shown``
    replaces the default in the README where its literal would not read well.
    """
    return MappingProxyType({_SETTING: _Declared(help, check, config, shown)})


@dataclass(frozen=True)
class SiteSettings:
    title: str = field(metadata=setting(
        "Site title; feed titles derive from it.", _nonempty_str, config="feedsvc"))
    base_url: str = field(metadata=setting(
        "Public address of the service; every link in a feed is absolute. Kept as a URI: "
        "an IDNA host, other non-ASCII characters percent-encoded.", _http_url,
        config="http://127.0.0.1:8000/"))
    description: str = field(metadata=setting(
        "One-line description of the site, shown in feeds and on the home page.", _str,
        config=""))
    timezone: str = field(metadata=setting(
        "IANA time zone in which listing dates are read and feed dates written.", _timezone,
        config="UTC"))
    language: str = field(metadata=setting(
        "Language of the feeds whose entries' sources do not share one (RFC 5646 tag).",
        _language_tag, config="en"))
    feed_size: int = field(metadata=setting(
        "Most entries in a subscription feed; older ones are in its archive pages.",
        _int_range(1, 10_000), config=50))
    author: str = field(metadata=setting(
        "Name of the feeds' author; the site title when empty.", _str, config=""))
    contact: str = field(metadata=setting(
        "Contact address (e-mail or URL) put in the User-Agent of outbound requests; "
        "printable ASCII only.", _header_text, config=""))


@dataclass(frozen=True)
class StorageSettings:
    """``database`` and ``publish_dir`` are resolved against the config file's folder."""

    database: str = field(metadata=setting(
        "SQLAlchemy database URL, SQLite or PostgreSQL (postgresql:// uses psycopg 3); "
        "a relative SQLite path resolves against the config file.", _nonempty_str,
        config="sqlite:///../var/feedsvc.sqlite3"))
    publish_dir: Path = field(metadata=setting(
        "Directory the published feeds are written to, relative to the config file.",
        _nonempty_str, config="../var/public"))
    publication: str = field(default="directory", metadata=setting(
        "Where feeds are published: \"directory\" (publish_dir) or \"database\" (the "
        "store, for web nodes on several machines).", _choice(PUBLICATIONS)))
    publication_poll_seconds: int = field(default=2, metadata=setting(
        "With publication = \"database\": how often a web worker asks for a new "
        "generation (PostgreSQL also notifies at once).", _int_range(1, 3600)))
    keep_runs: int = field(default=500, metadata=setting(
        "Refresh runs kept in the store for /status and the metrics; older ones are deleted.",
        _int_range(1, 1_000_000)))


@dataclass(frozen=True)
class ServerSettings:
    host: str = field(metadata=setting(
        "Address `feedsvc serve` listens on.", _nonempty_str, config="127.0.0.1"))
    port: int = field(metadata=setting(
        "Port `feedsvc serve` listens on.", _int_range(1, 65535), config=8000))
    cache_max_age: int | None = field(metadata=setting(
        "Cache-Control max-age of feeds in seconds; default: the refresh interval, "
        "at most one hour.", _optional(_int_range(0, 31_536_000)), config=None))
    # A secret: kept out of the repr so that logging the settings cannot leak it.
    admin_token: str | None = field(repr=False, metadata=setting(
        "Bearer token (32+ characters) for POST /admin/refresh and the full /status "
        "(or FEEDSVC_ADMIN_TOKEN); off when unset.", _optional(_admin_token), config=None))


@dataclass(frozen=True)
class ScheduleSettings:
    interval: int = field(metadata=setting(
        "Time between scheduled refreshes (\"30m\", \"6h\", at most \"365d\"); with cron "
        "set, still the basis of the default max-age and of retry back-off.", _duration,
        config="30m"))
    cron: str | None = field(metadata=setting(
        "Five-field cron expression for refreshes, in the site's time zone; wins over "
        "interval. It must fire at least once every few years.", _optional(_cron),
        config=None))
    run_at_startup: bool = field(metadata=setting(
        "Refresh once when the scheduler starts.", _bool, config=True))
    stale_after: int = field(metadata=setting(
        "A source failing for longer than this (at most \"365d\") is flagged stale in "
        "/status and the logs.", _duration, config="6h"))
    failover_seconds: int = field(default=60, metadata=setting(
        "Seconds within which a standby `feedsvc scheduler` takes over when the active "
        "one stops renewing its lease in the database.", _int_range(2, 3600)))


@dataclass(frozen=True)
class FetchSettings:
    connect_timeout: int = field(metadata=setting(
        "Seconds to wait for a connection.", _int_range(1, 600), config=10))
    read_timeout: int = field(metadata=setting(
        "Seconds to wait for response data.", _int_range(1, 3600), config=30))
    total_timeout: int = field(metadata=setting(
        "Seconds one request, and one source's whole read, may take in all, however "
        "slowly data trickles in.", _int_range(1, 3600), config=120))
    max_bytes: int = field(metadata=setting(
        "Largest body read from a source (HTTP response or local file), in bytes.",
        _int_range(1_000, 1_000_000_000), config=DEFAULT_MAX_BYTES))
    max_redirects: int = field(metadata=setting(
        "Most redirects followed for one request.", _int_range(0, 30), config=5))
    retries: int = field(metadata=setting(
        "Retries on connection errors, 5xx and 429 responses.", _int_range(0, 10),
        config=3))
    concurrency: int = field(metadata=setting(
        "Most sources fetched at once (one at a time per host).", _int_range(1, 64),
        config=4))
    allow_private_addresses: bool = field(metadata=setting(
        "Let redirects and links reach loopback, private, link-local and other internal "
        "addresses; only sources' own locations may otherwise.", _bool, config=False))


@dataclass(frozen=True)
class WebSubSettings:
    hubs: tuple[str, ...] = field(default=(), metadata=setting(
        "WebSub hubs (http(s) URLs) every feed names as rel=\"hub\"; each is told of every "
        "feed whose bytes a publication changed.", _str_list(_hub_url)))
    retries: int = field(default=3, metadata=setting(
        "Retries of a failed hub notification, waiting 1 s, 2 s, 4 s... between them.",
        _int_range(0, 10)))


@dataclass(frozen=True)
class CategorySettings:
    """``merge``: label -> label it is published under; ``hide``: labels with no feed
    and left off entries; ``min_items``: items a new category feed needs."""

    merge: Mapping[str, str] = field(default_factory=dict, metadata=setting(
        "Labels published under another label (\"Press releases\" = \"Press release\"): "
        "their items join that label's feed.", _label_map))
    hide: tuple[str, ...] = field(default=(), metadata=setting(
        "Labels that get no feed of their own and are left off entries; their items stay "
        "in the other feeds.", _str_list(_nonempty_str)))
    min_items: int = field(default=1, metadata=setting(
        "Items a category needs before it gets a feed of its own; a feed once published "
        "stays.", _int_range(1, 1_000_000)))


@dataclass(frozen=True)
class WebSettings:
    """Built directly (tests), it offers no readers; read from a file, the defaults."""

    readers: tuple[WebReader, ...] = field(default=(), metadata=setting(
        "Web feed readers the pages offer \"open in\" links for: name and URL template "
        "({url} = the feed's encoded address); [] for none.", _readers,
        config=DEFAULT_READERS, shown=", ".join(reader["name"] for reader in DEFAULT_READERS)))


@dataclass(frozen=True)
class SourceSettings:
    """One ``[[sources]]`` entry. The settings that belong to a format (see
    ``feedsvc.formats``: ``selectors``, ``max_pages``, ``paths``...) are in
    ``options`` by key, unset ones left out."""

    name: str = field(metadata=setting(
        "Unique name of the source, used in messages and /status; one line, no control "
        "characters.", _one_line_name))
    location: str = field(metadata=setting(
        "Path (relative to the config file) or http(s) URL of the listing.", _nonempty_str))
    format: str = field(default=AUTO, metadata=setting(
        "Listing format: \"auto\" (by content type and content), "
        + ", ".join(f"\"{name}\"" for name in SOURCE_FORMATS) + ".", _choice(SOURCE_FORMAT_NAMES)))
    language: str | None = field(default=None, metadata=setting(
        "Language of dates and month names (en, fr, es); detected when unset.",
        _optional(_choice(LANGUAGES))))
    date_order: str = field(default="dmy", metadata=setting(
        "How numeric dates such as 03/04/2021 are read: \"dmy\", \"mdy\" or \"ymd\".",
        _choice(DATE_ORDERS)))
    render: str = field(default="fetch", metadata=setting(
        "\"browser\": load the page in headless Chromium and read the page its scripts "
        "build (needs the browser extra); \"fetch\": read what the server sends.",
        _choice(RENDERS)))
    # Not a setting of its own: the format's settings (declared with each format in
    # feedsvc.formats, documented after the ones above), gathered by key.
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def is_remote(self) -> bool:
        return is_http_url(self.location)

    @property
    def selectors(self) -> Mapping[str, str] | None:
        """The CSS selectors the source sets (HTML), None when it sets none."""
        selectors: Mapping[str, str] | None = self.options.get("selectors")
        return selectors

    @property
    def max_pages(self) -> int:
        """Most pages followed through "next" links (formats that paginate)."""
        return int(self.options.get("max_pages") or 1)


_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def _feed_slug(value: Any, key: str) -> str:
    slug = _nonempty_str(value, key)
    if not _SLUG.match(slug) or len(slug) > 80:
        raise ConfigError("must be lower-case letters, digits and single hyphens (at most 80), "
                          f"such as \"child-labour\", not {slug!r}", key=key)
    return slug


def _pattern(value: Any, key: str) -> str:
    return _nonempty_str(value, key)


@dataclass(frozen=True)
class CustomFeedSettings:
    """One ``[[feeds]]`` entry: a feed of the items of ``categories`` and/or ``sources``
    (empty: any) whose title or summary holds one of ``include`` (empty: any) and
    none of ``exclude``; words, or regular expressions with ``regex``."""

    slug: str = field(metadata=setting(
        "Address of the feed: /feeds/custom/<slug>.atom, .rss and .json; lower-case "
        "letters, digits and hyphens.", _feed_slug))
    title: str = field(metadata=setting(
        "Title of the feed, shown after the site title.", _one_line_name))
    categories: tuple[str, ...] = field(default=(), metadata=setting(
        "Category labels whose items it takes (labels merged into them too); none: items "
        "of any category or none.", _str_list(_nonempty_str)))
    sources: tuple[str, ...] = field(default=(), metadata=setting(
        "Names of the sources whose items it takes; none: items of any source.",
        _str_list(_nonempty_str)))
    include: tuple[str, ...] = field(default=(), metadata=setting(
        "Words or phrases (regular expressions with regex) of which the title or summary "
        "must hold one; none: every item.", _str_list(_pattern)))
    exclude: tuple[str, ...] = field(default=(), metadata=setting(
        "Words or phrases (regular expressions with regex) that leave out an item whose "
        "title or summary holds one.", _str_list(_pattern)))
    regex: bool = field(default=False, metadata=setting(
        "Read include and exclude as regular expressions (Python syntax, case-insensitive) "
        "rather than whole words.", _bool))
    scan: int = field(default=5000, metadata=setting(
        "Most of the newest candidate items a feed with include or exclude filters reads "
        "to find its entries.", _int_range(1, 1_000_000)))


@dataclass(frozen=True)
class Settings:
    """Everything feedsvc is told, typed and validated. Build with ``load_settings``."""

    config_path: Path
    site: SiteSettings
    storage: StorageSettings
    server: ServerSettings
    schedule: ScheduleSettings
    fetch: FetchSettings
    sources: tuple[SourceSettings, ...] = field(default_factory=tuple)
    websub: WebSubSettings = field(default_factory=WebSubSettings)
    categories: CategorySettings = field(default_factory=CategorySettings)
    feeds: tuple[CustomFeedSettings, ...] = field(default_factory=tuple)
    web: WebSettings = field(default_factory=WebSettings)

    @property
    def feed_max_age(self) -> int:
        """Cache-Control max-age for feeds: the setting, else the interval capped at an hour."""
        if self.server.cache_max_age is not None:
            return self.server.cache_max_age
        return min(self.schedule.interval, 3600)


# --- the options tables, derived from the fields above ---------------------------------


def options_of(section: str, table: type[Any]) -> tuple[Option, ...]:
    """The settings among ``table``'s dataclass fields, in their order, as Option rows
    of ``section``: the default is ``config`` if given, else the field's default, else
    REQUIRED."""
    rows: list[Option] = []
    for each in fields(table):
        declared = each.metadata.get(_SETTING)
        if not isinstance(declared, _Declared):
            continue
        if declared.config is not _UNSET:
            default: Any = declared.config
        elif each.default is not MISSING:
            default = each.default
        elif each.default_factory is not MISSING:
            default = each.default_factory()
        else:
            default = REQUIRED
        rows.append(Option(section, each.name, default, declared.help, declared.check,
                           shown=declared.shown))
    return tuple(rows)


SECTIONS: Mapping[str, type[Any]] = MappingProxyType({
    "site": SiteSettings,
    "storage": StorageSettings,
    "server": ServerSettings,
    "schedule": ScheduleSettings,
    "fetch": FetchSettings,
    "websub": WebSubSettings,
    "categories": CategorySettings,
    "web": WebSettings,
})
"""The top-level tables besides [[sources]] and [[feeds]], in the order errors list them."""

OPTIONS: tuple[Option, ...] = tuple(
    option for section, table in SECTIONS.items() for option in options_of(section, table))
SOURCE_OPTIONS: tuple[Option, ...] = (
    *options_of("sources", SourceSettings),
    # Each format's own settings, from the format registry.
    *(Option("sources", each.key, each.default, each.help, each.check)
      for format in SOURCE_FORMATS.values() for each in format.settings),
)
FORMAT_OPTION_KEYS = frozenset(each.key for format in SOURCE_FORMATS.values()
                               for each in format.settings)
"""The source settings that belong to a format; SourceSettings keeps them in ``options``."""
FEED_OPTIONS: tuple[Option, ...] = options_of("feeds", CustomFeedSettings)

_SECTIONS = tuple(SECTIONS)


def _shown_default(option: Option) -> str:
    """An option's default as the README's table shows it."""
    default = option.default
    if option.shown is not None:
        return option.shown
    if default is REQUIRED:
        return "required"
    if default is None:
        return "`(unset)`"
    if isinstance(default, bool):
        return f"`{'true' if default else 'false'}`"
    if isinstance(default, str):
        return f"`\"{default}\"`"
    if isinstance(default, tuple | list) and not default:
        return "`[]`"
    if isinstance(default, Mapping) and not default:
        return "`{}`"
    return f"`{default}`"


def settings_table(options: tuple[Option, ...], *, qualified: bool = True) -> str:
    """The markdown table of ``options`` as the README has it: setting, default, help.

    ``qualified`` names each as ``section.key``; otherwise by key alone (the tables
    of one ``[[sources]]`` or ``[[feeds]]`` entry).
    """
    lines = ["| setting | default | what it is for |", "|---|---|---|"]
    for option in options:
        name = option.name if qualified else option.key
        lines.append(f"| `{name}` | {_shown_default(option)} | {option.help} |")
    return "\n".join(lines) + "\n"


def readme_tables() -> dict[str, str]:
    """The README's settings tables by what they list: ``settings`` (the top-level
    tables), ``sources`` (one ``[[sources]]`` entry), ``feeds`` (one ``[[feeds]]`` entry)."""
    return {
        "settings": settings_table(OPTIONS),
        "sources": settings_table(SOURCE_OPTIONS, qualified=False),
        "feeds": settings_table(FEED_OPTIONS, qualified=False),
    }


def config_path_from_env(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The config file to read: the explicit path, else $FEEDSVC_CONFIG, else the bundled one."""
    if explicit:
        return Path(explicit)
    from_env = os.environ.get(CONFIG_ENV)
    return Path(from_env) if from_env else DEFAULT_CONFIG


def load_settings(
    path: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read, validate and return the settings in ``path`` (see ``config_path_from_env``).

    Raises ConfigError naming the file and the offending key.
    """
    env = os.environ if environ is None else environ
    config_path = config_path_from_env(path).resolve()
    try:
        raw = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("config file not found", path=str(config_path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file: {exc}", path=str(config_path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=str(config_path)) from None
    try:
        return settings_from_mapping(raw, config_path=config_path, environ=env)
    except ConfigError as exc:
        raise ConfigError(exc.detail, key=exc.key, path=str(config_path)) from None


def settings_from_mapping(
    raw: Mapping[str, Any], *, config_path: Path, environ: Mapping[str, str] | None = None
) -> Settings:
    """Validate an already-parsed config mapping; relative paths resolve against config_path."""
    env = {} if environ is None else environ
    unknown = set(raw) - {*_SECTIONS, "sources", "feeds"}
    if unknown:
        raise ConfigError(
            f"unknown section; known: {', '.join([*_SECTIONS, 'sources', 'feeds'])}",
            key=sorted(unknown)[0])
    values: dict[str, dict[str, Any]] = {}
    for section in _SECTIONS:
        table = raw.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError("must be a table", key=section)
        values[section] = _read_table(table, [o for o in OPTIONS if o.section == section], section)
    if env.get(ADMIN_TOKEN_ENV):
        values["server"]["admin_token"] = _admin_token(
            env[ADMIN_TOKEN_ENV], f"server.admin_token (from {ADMIN_TOKEN_ENV})")
    base_dir = config_path.parent
    storage = values["storage"]
    sources = _read_sources(raw.get("sources", []), base_dir)
    return Settings(
        config_path=config_path,
        site=SiteSettings(**values["site"]),
        storage=StorageSettings(
            database=_resolve_database_url(storage["database"], base_dir),
            publish_dir=(base_dir / storage["publish_dir"]).resolve(),
            keep_runs=storage["keep_runs"],
            publication=storage["publication"],
            publication_poll_seconds=storage["publication_poll_seconds"],
        ),
        server=ServerSettings(**values["server"]),
        schedule=ScheduleSettings(**values["schedule"]),
        fetch=FetchSettings(**values["fetch"]),
        sources=sources,
        websub=WebSubSettings(**values["websub"]),
        categories=CategorySettings(**values["categories"]),
        feeds=_read_feeds(raw.get("feeds", []), {source.name for source in sources}),
        web=WebSettings(**values["web"]),
    )


def _read_table(table: Mapping[str, Any], options: list[Option], prefix: str) -> dict[str, Any]:
    known = {o.key: o for o in options}
    for key in table:
        if key not in known:
            raise ConfigError(
                f"unknown setting; known in [{options[0].section}]: {', '.join(known)}",
                key=f"{prefix}.{key}",
            )
    values: dict[str, Any] = {}
    for option in options:
        name = f"{prefix}.{option.key}"
        if option.key in table:
            values[option.key] = option.check(table[option.key], name)
        elif option.default is REQUIRED:
            raise ConfigError("is required", key=name)
        else:
            values[option.key] = (
                option.default if option.default is None else option.check(option.default, name)
            )
    return values


def _read_sources(raw: Any, base_dir: Path) -> tuple[SourceSettings, ...]:
    if not isinstance(raw, list):
        raise ConfigError("must be an array of tables ([[sources]])", key="sources")
    sources: list[SourceSettings] = []
    seen: set[str] = set()
    for index, table in enumerate(raw):
        prefix = f"sources[{index}]"
        if not isinstance(table, dict):
            raise ConfigError("must be a table", key=prefix)
        values = _read_table(table, list(SOURCE_OPTIONS), prefix)
        if values["name"] in seen:
            raise ConfigError(f"duplicate source name {values['name']!r}", key=f"{prefix}.name")
        seen.add(values["name"])
        values["location"] = _resolve_location(values["location"], base_dir, f"{prefix}.location")
        options = {key: values.pop(key) for key in FORMAT_OPTION_KEYS}
        values["options"] = MappingProxyType(
            {key: value for key, value in options.items() if value is not None})
        sources.append(SourceSettings(**values))
    return tuple(sources)


def _read_feeds(raw: Any, source_names: set[str]) -> tuple[CustomFeedSettings, ...]:
    """The ``[[feeds]]`` entries. A source name no ``[[sources]]`` entry has, a bad
    regular expression or a repeated slug is an error naming the key; a category
    no item has yet is not (categories come from the listings: see the README)."""
    if not isinstance(raw, list):
        raise ConfigError("must be an array of tables ([[feeds]])", key="feeds")
    feeds: list[CustomFeedSettings] = []
    seen: set[str] = set()
    for index, table in enumerate(raw):
        prefix = f"feeds[{index}]"
        if not isinstance(table, dict):
            raise ConfigError("must be a table", key=prefix)
        values = _read_table(table, list(FEED_OPTIONS), prefix)
        if values["slug"] in seen:
            raise ConfigError(f"duplicate feed slug {values['slug']!r}", key=f"{prefix}.slug")
        seen.add(values["slug"])
        for position, name in enumerate(values["sources"]):
            if name not in source_names:
                raise ConfigError(f"no [[sources]] entry is named {name!r}",
                                  key=f"{prefix}.sources[{position}]")
        for kind in ("include", "exclude"):
            for position, text in enumerate(values[kind]):
                _check_pattern(text, regex=values["regex"], key=f"{prefix}.{kind}[{position}]")
        feeds.append(CustomFeedSettings(**values))
    return tuple(feeds)


def _check_pattern(text: str, *, regex: bool, key: str) -> None:
    if not regex:
        return
    try:
        re.compile(text, re.IGNORECASE)
    except re.error as exc:
        raise ConfigError(f"is not a regular expression: {exc}", key=key) from None


def _resolve_location(location: str, base_dir: Path, key: str) -> str:
    parts = _split_url(location, key)
    scheme = parts.scheme
    if scheme in ("http", "https"):
        if not parts.netloc:
            raise ConfigError(f"must be an absolute http(s) URL, not {location!r}", key=key)
        return location
    if scheme and len(scheme) > 1:
        raise ConfigError(f"must be a file path or an http(s) URL, not {location!r}", key=key)
    return str((base_dir / location).resolve())


def _resolve_database_url(url: str, base_dir: Path) -> str:
    """``url`` with a relative SQLite path made absolute, and a PostgreSQL URL naming no
    driver given psycopg 3's (``feedsvc[postgres]``; SQLAlchemy's default is psycopg2)."""
    for bare in ("postgresql://", "postgres://"):
        if url.startswith(bare):
            return "postgresql+psycopg://" + url[len(bare):]
    prefix = "sqlite:///"
    if url.startswith(prefix) and url != "sqlite:///:memory:":
        path = Path(url[len(prefix):])
        if not path.is_absolute():
            return prefix + str((base_dir / path).resolve())
    return url
