"""Fixtures shared by the store, collate and pipeline tests: fixed time, settings, fakes."""

from __future__ import annotations

import datetime as dt
import shutil
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from feedsvc.errors import FetchError
from feedsvc.models import Fetched, Validators
from feedsvc.settings import Settings, settings_from_mapping

ROOT = Path(__file__).resolve().parent.parent
PIPELINE_DATA = Path(__file__).resolve().parent / "data" / "pipeline"
FIXED_NOW = dt.datetime(2026, 11, 22, 6, 0, tzinfo=dt.UTC)

# A PostgreSQL server and a store URL on each test's engine: see tests/postgres.py.
pytest_plugins = ["postgres"]


@pytest.fixture
def fixed_now() -> dt.datetime:
    """A fixed, timezone-aware "now" for code that must never read the clock."""
    return FIXED_NOW


@pytest.fixture
def make_settings(
    tmp_path: Path, engine_database: Callable[[str], str],
) -> Callable[..., Settings]:
    """Build validated Settings for a site living in ``tmp_path``.

    ``sources`` is a list of ``[[sources]]`` tables (locations relative to
    ``tmp_path``); other keyword arguments are sections merged over defaults
    that keep the database and the publication inside ``tmp_path``. On
    PostgreSQL (see tests/postgres.py) the default database is one new database
    per test, made at the first build.
    """
    made: list[str] = []

    def default_database() -> str:
        if not made:
            made.append(engine_database("sqlite:///var/feedsvc.sqlite3"))
        return made[0]

    def build(sources: Sequence[Mapping[str, Any]] = (), **sections: Mapping[str, Any]) -> Settings:
        raw: dict[str, Any] = {
            "site": {"title": "Test Newsroom", "base_url": "http://feeds.test/",
                     "timezone": "Europe/Zurich", "description": "Items for tests"},
            "storage": {"publish_dir": "var/public"},
            "schedule": {"interval": "30m", "stale_after": "6h"},
        }
        for name, values in sections.items():
            raw[name] = {**raw.get(name, {}), **values}
        if "database" not in raw["storage"]:
            raw["storage"]["database"] = default_database()
        raw["sources"] = [dict(source) for source in sources]
        return settings_from_mapping(raw, config_path=tmp_path / "feedsvc.toml")

    return build


@pytest.fixture
def bundled_site(tmp_path: Path) -> Path:
    """A copy of the bundled config and its listings in tmp; returns the config file."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    return tmp_path / "config" / "feedsvc.toml"


class FakeFetcher:
    """Serves fixed bodies by location; anything else is a FetchError. Thread-safe.

    A response is bytes, an exception (raised as is, BaseExceptions included)
    or a Fetched. With ``etags``, a location answers ``not_modified`` when the
    stored validators carry its current etag.
    """

    def __init__(
        self,
        responses: Mapping[str, bytes | BaseException | Fetched] | None = None,
        *,
        etags: Mapping[str, str] | None = None,
    ) -> None:
        self.responses: dict[str, bytes | BaseException | Fetched] = dict(responses or {})
        self.etags = dict(etags or {})
        self.calls: list[tuple[str, str, Validators | None]] = []
        self._guard = threading.Lock()

    def fetch(self, source: str, location: str, validators: Validators | None) -> Fetched:
        with self._guard:
            self.calls.append((source, location, validators))
        response = self.responses.get(location)
        if response is None:
            raise FetchError(f"nothing at {location}", source=source)
        if isinstance(response, BaseException):
            raise response
        if isinstance(response, Fetched):
            return response
        etag = self.etags.get(location)
        if etag is not None and validators is not None and validators.etag == etag:
            return Fetched(url=location, body=None, validators=validators, not_modified=True)
        return Fetched(url=location, body=response, validators=Validators(etag=etag))

    def locations(self) -> list[str]:
        with self._guard:
            return [location for _, location, _ in self.calls]


@pytest.fixture
def make_fetcher() -> type[FakeFetcher]:
    """The FakeFetcher class: ``make_fetcher({location: bytes | exception | Fetched})``."""
    return FakeFetcher


@pytest.fixture
def pipeline_data() -> Path:
    """The directory of the pipeline tests' data files."""
    return PIPELINE_DATA
