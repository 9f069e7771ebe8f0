"""Settings: read once from one TOML file, validated, frozen, passed explicitly.

Every setting is declared once in ``OPTIONS`` (section, key, default, help) or
``SOURCE_OPTIONS`` (per ``[[sources]]`` entry). The README's settings table is
checked against these declarations by the tests, so the docs cannot drift.
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
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import SplitResult, urlsplit

from feedsvc.errors import ConfigError
from feedsvc.uris import to_uri

CONFIG_ENV = "FEEDSVC_CONFIG"
ADMIN_TOKEN_ENV = "FEEDSVC_ADMIN_TOKEN"
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "feedsvc.toml"

LANGUAGES = ("en", "fr", "es")
FORMATS = ("text", "html")
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
    """One documented setting: where it lives, its default (or REQUIRED) and
    what it is for."""

    section: str
    key: str
    default: Any
    help: str
    check: Validator

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


def _selectors(value: Any, key: str) -> Mapping[str, str]:
    if not isinstance(value, dict):
        raise ConfigError("must be a table of CSS selectors", key=key)
    allowed = set(HTML_SELECTOR_DEFAULTS)
    for name, selector in value.items():
        if name not in allowed:
            raise ConfigError(
                f"unknown selector {name!r}; known: {', '.join(sorted(allowed))}",
                key=f"{key}.{name}",
            )
        _check_css_selector(_nonempty_str(selector, f"{key}.{name}"), f"{key}.{name}")
    return MappingProxyType({**HTML_SELECTOR_DEFAULTS, **value})


def _check_css_selector(selector: str, key: str) -> None:
    """Refuse a selector the HTML parser cannot read, now rather than at every refresh."""
    from selectolax.lexbor import LexborHTMLParser, SelectolaxError

    try:
        LexborHTMLParser("<p></p>").css(selector)
    except SelectolaxError as exc:
        raise ConfigError(f"is not a CSS selector the parser can read: {exc}", key=key) from None


# Defaults that fit a newsroom listing page like the bundled samples' own pages.
HTML_SELECTOR_DEFAULTS: Mapping[str, str] = MappingProxyType(
    {
        "item": "article, li.news-item, .views-row",
        "title": "h2, h3, .title",
        "date": "time, .date",
        "category": ".category, .label",
        "summary": "p.summary, .summary, .teaser, p",
        "credit": ".credit, figcaption",
        "link": "a[href]",
        "image": "img[src]",
        "next": "a[rel~=next], .pager-next a, li.next a",
    }
)


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


OPTIONS: tuple[Option, ...] = (
    Option("site", "title", "feedsvc", "Site title; feed titles derive from it.", _nonempty_str),
    Option("site", "base_url", "http://127.0.0.1:8000/",
           "Public address of the service; every link in a feed is absolute. Kept as a URI: "
           "an IDNA host, other non-ASCII characters percent-encoded.", _http_url),
    Option("site", "description", "",
           "One-line description of the site, shown in feeds and on the home page.", _str),
    Option("site", "timezone", "UTC",
           "IANA time zone in which listing dates are read and feed dates written.", _timezone),
    Option("site", "language", "en", "Language of the feeds (RFC 5646 tag).", _language_tag),
    Option("site", "feed_size", 50, "Most entries in one feed, newest first.",
           _int_range(1, 10_000)),
    Option("site", "author", "", "Name of the feeds' author; the site title when empty.", _str),
    Option("site", "contact", "",
           "Contact address (e-mail or URL) put in the User-Agent of outbound requests; "
           "printable ASCII only.", _header_text),
    Option("storage", "database", "sqlite:///../var/feedsvc.sqlite3",
           "SQLAlchemy database URL; a relative SQLite path resolves against the config file.",
           _nonempty_str),
    Option("storage", "publish_dir", "../var/public",
           "Directory the published feeds are written to, relative to the config file.",
           _nonempty_str),
    Option("storage", "publication", "directory",
           "Where feeds are published: \"directory\" (publish_dir) or \"database\" (the "
           "store, for web nodes on several machines).", _choice(PUBLICATIONS)),
    Option("storage", "publication_poll_seconds", 2,
           "With publication = \"database\": how often a web worker asks for a new "
           "generation (PostgreSQL also notifies at once).", _int_range(1, 3600)),
    Option("storage", "keep_runs", 500,
           "Refresh runs kept in the store for /status and the metrics; older ones are deleted.",
           _int_range(1, 1_000_000)),
    Option("server", "host", "127.0.0.1", "Address `feedsvc serve` listens on.", _nonempty_str),
    Option("server", "port", 8000, "Port `feedsvc serve` listens on.", _int_range(1, 65535)),
    Option("server", "cache_max_age", None,
           "Cache-Control max-age of feeds in seconds; default: the refresh interval, "
           "at most one hour.", _optional(_int_range(0, 31_536_000))),
    Option("server", "admin_token", None,
           "Bearer token (32+ characters) for POST /admin/refresh and the full /status "
           "(or FEEDSVC_ADMIN_TOKEN); off when unset.",
           _optional(_admin_token)),
    Option("schedule", "interval", "30m",
           "Time between scheduled refreshes (\"30m\", \"6h\", at most \"365d\"); with cron "
           "set, still the basis of the default max-age and of retry back-off.", _duration),
    Option("schedule", "cron", None,
           "Five-field cron expression for refreshes, in the site's time zone; wins over "
           "interval. It must fire at least once every few years.", _optional(_cron)),
    Option("schedule", "run_at_startup", True, "Refresh once when the scheduler starts.", _bool),
    Option("schedule", "stale_after", "6h",
           "A source failing for longer than this (at most \"365d\") is flagged stale in "
           "/status and the logs.", _duration),
    Option("fetch", "connect_timeout", 10, "Seconds to wait for a connection.",
           _int_range(1, 600)),
    Option("fetch", "read_timeout", 30, "Seconds to wait for response data.",
           _int_range(1, 3600)),
    Option("fetch", "total_timeout", 120,
           "Seconds one request, and one source's whole read, may take in all, however "
           "slowly data trickles in.", _int_range(1, 3600)),
    Option("fetch", "max_bytes", DEFAULT_MAX_BYTES,
           "Largest body read from a source (HTTP response or local file), in bytes.",
           _int_range(1_000, 1_000_000_000)),
    Option("fetch", "max_redirects", 5, "Most redirects followed for one request.",
           _int_range(0, 30)),
    Option("fetch", "retries", 3, "Retries on connection errors, 5xx and 429 responses.",
           _int_range(0, 10)),
    Option("fetch", "concurrency", 4, "Most sources fetched at once (one at a time per host).",
           _int_range(1, 64)),
    Option("fetch", "allow_private_addresses", False,
           "Let redirects and links reach loopback, private, link-local and other internal "
           "addresses; only sources' own locations may otherwise.", _bool),
    Option("web", "readers", DEFAULT_READERS,
           "Web feed readers the pages offer \"open in\" links for: name and URL template "
           "({url} = the feed's encoded address); [] for none.", _readers),
)

SOURCE_OPTIONS: tuple[Option, ...] = (
    Option("sources", "name", REQUIRED,
           "Unique name of the source, used in messages and /status; one line, no control "
           "characters.", _one_line_name),
    Option("sources", "location", REQUIRED,
           "Path (relative to the config file) or http(s) URL of the listing.", _nonempty_str),
    Option("sources", "format", "text", "Listing format: \"text\" or \"html\".",
           _choice(FORMATS)),
    Option("sources", "language", None,
           "Language of dates and month names (en, fr, es); detected when unset.",
           _optional(_choice(LANGUAGES))),
    Option("sources", "selectors", None,
           "HTML format only: CSS selectors (item, title, date, category, summary, credit, "
           "link, image, next) overriding the defaults.", _optional(_selectors)),
    Option("sources", "max_pages", 1,
           "HTML format only: most listing pages followed through \"next\" links.",
           _int_range(1, 100)),
)

_SECTIONS = tuple(dict.fromkeys(option.section for option in OPTIONS))
"""The top-level tables besides [[sources]], in the order OPTIONS declares them."""


@dataclass(frozen=True)
class SiteSettings:
    title: str
    base_url: str
    description: str
    timezone: str
    language: str
    feed_size: int
    author: str
    contact: str


@dataclass(frozen=True)
class StorageSettings:
    database: str
    publish_dir: Path
    keep_runs: int = 500
    publication: str = "directory"
    publication_poll_seconds: int = 2


@dataclass(frozen=True)
class ServerSettings:
    host: str
    port: int
    cache_max_age: int | None
    # A secret: kept out of the repr so that logging the settings cannot leak it.
    admin_token: str | None = field(repr=False)


@dataclass(frozen=True)
class ScheduleSettings:
    interval: int
    cron: str | None
    run_at_startup: bool
    stale_after: int


@dataclass(frozen=True)
class FetchSettings:
    connect_timeout: int
    read_timeout: int
    total_timeout: int
    max_bytes: int
    max_redirects: int
    retries: int
    concurrency: int
    allow_private_addresses: bool


@dataclass(frozen=True)
class WebSettings:
    readers: tuple[WebReader, ...] = ()


@dataclass(frozen=True)
class SourceSettings:
    name: str
    location: str
    format: str = "text"
    language: str | None = None
    selectors: Mapping[str, str] | None = None
    max_pages: int = 1

    @property
    def is_remote(self) -> bool:
        return is_http_url(self.location)


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
    web: WebSettings = field(default_factory=WebSettings)

    @property
    def feed_max_age(self) -> int:
        """Cache-Control max-age for feeds: the setting, else the interval capped at an hour."""
        if self.server.cache_max_age is not None:
            return self.server.cache_max_age
        return min(self.schedule.interval, 3600)


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
    unknown = set(raw) - {*_SECTIONS, "sources"}
    if unknown:
        raise ConfigError(f"unknown section; known: {', '.join([*_SECTIONS, 'sources'])}",
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
        sources=_read_sources(raw.get("sources", []), base_dir),
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
        if values["format"] == "html" and values["selectors"] is None:
            values["selectors"] = HTML_SELECTOR_DEFAULTS
        sources.append(SourceSettings(**values))
    return tuple(sources)


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
    prefix = "sqlite:///"
    if url.startswith(prefix) and url != "sqlite:///:memory:":
        path = Path(url[len(prefix):])
        if not path.is_absolute():
            return prefix + str((base_dir / path).resolve())
    return url
