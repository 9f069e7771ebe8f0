"""A real PostgreSQL server for the tests, and a fresh database for each test that asks.

The server is ``FEEDSVC_TEST_POSTGRES_URL`` when that is set (a URL of a user
allowed to create databases, e.g. ``postgresql://feedsvc@127.0.0.1/postgres``);
else a throwaway one started for the session from Debian's binaries
(``/usr/lib/postgresql/*/bin``, or ``initdb`` on the PATH): ``initdb`` into a
temporary directory, then ``pg_ctl start`` on a free loopback port, as the
``postgres`` user when the tests run as root (``initdb`` refuses root), and
stopped at the end of the session. Without either, tests that need PostgreSQL
are skipped with the reason, except under CI (``CI=true``), where they fail.

Engines: the ``database_engine`` fixture is ``sqlite`` unless
``FEEDSVC_TEST_DATABASE=postgres`` says otherwise, and tests (or modules) marked
``both_engines`` run once on each. ``database_url()`` gives a store URL on the
test's engine: an SQLite file in the test's directory, or a new PostgreSQL
database (``CREATE DATABASE``, dropped when the test ends).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa

URL_VARIABLE = "FEEDSVC_TEST_POSTGRES_URL"
ENGINE_VARIABLE = "FEEDSVC_TEST_DATABASE"
ENGINES = ("sqlite", "postgres")
DEBIAN_BINARIES = "/usr/lib/postgresql/*/bin"
SERVER_USER = "postgres"
START_TIMEOUT = 60
PORT_ATTEMPTS = 3


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def default_engine() -> str:
    """The engine of tests not marked ``both_engines``: ``FEEDSVC_TEST_DATABASE``, else
    SQLite."""
    engine = os.environ.get(ENGINE_VARIABLE, "sqlite").strip().lower() or "sqlite"
    engine = {"postgresql": "postgres", "pg": "postgres"}.get(engine, engine)
    if engine not in ENGINES:
        raise pytest.UsageError(f"{ENGINE_VARIABLE}={engine!r}: must be sqlite or postgres")
    return engine


def psycopg_url(url: str) -> sa.URL:
    """``url`` with SQLAlchemy's psycopg 3 driver, whatever driver it named."""
    parsed = sa.make_url(url)
    return parsed.set(drivername="postgresql+psycopg")


@dataclass
class PostgresServer:
    """A server the tests may create and drop databases on."""

    admin_url: sa.URL
    _engine: sa.Engine | None = field(default=None, repr=False)

    def engine(self) -> sa.Engine:
        if self._engine is None:
            self._engine = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT",
                                            poolclass=sa.pool.NullPool)
        return self._engine

    def create_database(self, *, icu_locale: str | None = None) -> str:
        """A new empty database (UTF-8, C collation whatever the server's locale, or the
        ICU collation of ``icu_locale``, e.g. ``en-US``); its URL."""
        name = f"feedsvc_test_{uuid.uuid4().hex[:16]}"
        icu = f" LOCALE_PROVIDER icu ICU_LOCALE '{icu_locale}'" if icu_locale else ""
        with self.engine().connect() as conn:
            if icu and _server_version(conn) < (15,):
                pytest.skip("an ICU database collation needs PostgreSQL 15 or newer")
            conn.exec_driver_sql(f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' "
                                 f"LC_COLLATE 'C' LC_CTYPE 'C'{icu}")
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def drop_database(self, url: str) -> None:
        name = sa.make_url(url).database
        with self.engine().connect() as conn:
            # FORCE (13 and newer): a test that left a connection open must not keep its
            # database.
            force = " WITH (FORCE)" if _server_version(conn) >= (13,) else ""
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}{force}")

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def _server_version(conn: sa.Connection) -> tuple[int | str, ...]:
    """The server's version, e.g. (15, 4); every PostgreSQL connection reports one."""
    version = conn.dialect.server_version_info
    assert version is not None
    return version


def find_binaries() -> Path | None:
    """The directory of ``initdb`` and ``pg_ctl``: the newest Debian version, else the PATH."""
    candidates = sorted(Path("/").glob(DEBIAN_BINARIES.lstrip("/")),
                        key=lambda p: _version_key(p.parent.name), reverse=True)
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).parent
    return None


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


ROOT_PREFIX = "feedsvc-postgres-"
OWNER_FILE = "owner.pid"
"""Beside a throwaway server: the pid of the test session that started it."""


class ThrowawayServer:
    """A PostgreSQL cluster in a temporary directory, on a free loopback port."""

    def __init__(self, binaries: Path) -> None:
        self.binaries = binaries
        self.root = Path(tempfile.mkdtemp(prefix=ROOT_PREFIX))
        (self.root / OWNER_FILE).write_text(str(os.getpid()))
        self.data = self.root / "data"
        self.port = _free_port()
        self.user: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(SERVER_USER)
            except KeyError:
                raise RuntimeError(
                    f"running as root, and there is no {SERVER_USER!r} user to run "
                    "PostgreSQL as (initdb refuses root): install Debian's postgresql "
                    f"package or set {URL_VARIABLE}") from None
            self.user = SERVER_USER
            shutil.chown(self.root, user=SERVER_USER)

    def _run(self, *args: str) -> None:
        done = subprocess.run(args, user=self.user, cwd=self.root, capture_output=True,
                              text=True, timeout=START_TIMEOUT, check=False,
                              env={**os.environ, "LC_ALL": "C", "LANG": "C"})
        if done.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n"
                               f"{done.stdout}{done.stderr}{tail}")

    def start(self) -> sa.URL:
        self._run(str(self.binaries / "initdb"), "-D", str(self.data), "-U", "postgres",
                  "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
        for attempt in range(PORT_ATTEMPTS):
            # The tests' data is thrown away: durability buys nothing, speed does.
            options = (f"-c listen_addresses=127.0.0.1 -p {self.port} "
                       f"-c unix_socket_directories={self.root} -c max_connections=300 "
                       "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
            try:
                self._run(str(self.binaries / "pg_ctl"), "start", "-w", "-t",
                          str(START_TIMEOUT), "-D", str(self.data),
                          "-l", str(self.root / "server.log"), "-o", options)
                break
            except RuntimeError:
                # Another process may have taken the free port meanwhile: try another.
                if attempt == PORT_ATTEMPTS - 1:
                    raise
                self.port = _free_port()
        return sa.URL.create("postgresql+psycopg", username="postgres", host="127.0.0.1",
                             port=self.port, database="postgres")

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(str(self.binaries / "pg_ctl"), "stop", "-m", "immediate",
                          "-D", str(self.data))
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def sweep_orphans(self) -> None:
        """Stop the servers of test sessions that were killed before they could."""
        for root in Path(tempfile.gettempdir()).glob(ROOT_PREFIX + "*"):
            try:
                owner = int((root / OWNER_FILE).read_text())
            except (OSError, ValueError):
                continue
            if root == self.root or _alive(owner):
                continue
            orphan = ThrowawayServer.__new__(ThrowawayServer)
            orphan.binaries, orphan.root, orphan.data = self.binaries, root, root / "data"
            orphan.user = self.user
            with contextlib.suppress(RuntimeError, OSError, subprocess.SubprocessError):
                orphan.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _unavailable(reason: str) -> None:
    """Skip, or fail under CI, where the server must be there."""
    if in_ci():
        pytest.fail(f"PostgreSQL is required under CI: {reason}", pytrace=False)
    pytest.skip(f"no PostgreSQL: {reason}")


@pytest.fixture(scope="session")
def _postgres_session() -> Iterator[PostgresServer | str]:
    """The session's server, or why there is none (reported by the tests that need one)."""
    configured = os.environ.get(URL_VARIABLE, "").strip()
    if configured:
        server = PostgresServer(psycopg_url(configured))
        yield server
        server.dispose()
        return
    binaries = find_binaries()
    if binaries is None:
        yield (f"set {URL_VARIABLE}, or install Debian's postgresql package "
               f"(no initdb in {DEBIAN_BINARIES} or on the PATH)")
        return
    try:
        throwaway = ThrowawayServer(binaries)
        throwaway.sweep_orphans()
        url = throwaway.start()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        yield f"could not start a server from {binaries}: {exc}"
        return
    server = PostgresServer(url)
    try:
        yield server
    finally:
        server.dispose()
        throwaway.stop()


@pytest.fixture
def postgres_server(_postgres_session: PostgresServer | str) -> PostgresServer:
    """The session's PostgreSQL server (skips, or fails under CI, without one)."""
    if isinstance(_postgres_session, str):
        _unavailable(_postgres_session)
    assert isinstance(_postgres_session, PostgresServer)
    return _postgres_session


@pytest.fixture
def postgres_database(postgres_server: PostgresServer) -> Iterator[Callable[..., str]]:
    """``new(icu_locale=None)`` makes a new empty database (see
    ``PostgresServer.create_database``) and returns its URL; all are dropped after."""
    made: list[str] = []

    def new(*, icu_locale: str | None = None) -> str:
        made.append(postgres_server.create_database(icu_locale=icu_locale))
        return made[-1]

    yield new
    for url in made:
        postgres_server.drop_database(url)


@pytest.fixture
def database_engine(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``postgres``: the engine of this test's stores."""
    return str(getattr(request, "param", default_engine()))


@pytest.fixture
def database_url(
    database_engine: str, tmp_path: Path, request: pytest.FixtureRequest,
) -> Callable[..., str]:
    """``database_url(name="store")``: a new store URL on the test's engine (an SQLite file
    ``tmp/<name>.sqlite3``, or a new PostgreSQL database)."""

    def make(name: str = "store") -> str:
        if database_engine == "sqlite":
            return f"sqlite:///{tmp_path}/{name}.sqlite3"
        new: Callable[[], str] = request.getfixturevalue("postgres_database")
        return new()

    return make


@pytest.fixture
def engine_database(database_engine: str, database_url: Callable[..., str]) -> Callable[[str], str]:
    """``engine_database(sqlite_url)``: ``sqlite_url`` itself on SQLite, a new PostgreSQL
    database's URL on PostgreSQL; for settings that name an SQLite file of their own."""

    def pick(sqlite_url: str) -> str:
        return sqlite_url if database_engine == "sqlite" else database_url()

    return pick


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "both_engines: run the test once on SQLite and once on PostgreSQL")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if ("database_engine" in metafunc.fixturenames
            and metafunc.definition.get_closest_marker("both_engines") is not None):
        # The PostgreSQL case starts a server for the session: it is not in the fast tier.
        metafunc.parametrize(
            "database_engine",
            [pytest.param(engine, marks=pytest.mark.slow) if engine == "postgres" else engine
             for engine in ENGINES],
            indirect=True)
