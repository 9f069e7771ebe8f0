"""The PostgreSQL test server (tests/postgres.py): skipped on a developer's machine
without one, a failure under CI."""

from __future__ import annotations

import postgres
import pytest

pytest_plugins = ["pytester"]

NEEDS_POSTGRES = """
def test_on_postgres(postgres_database):
    postgres_database()


def test_on_sqlite(database_url):
    assert database_url().startswith("sqlite:///")
"""


@pytest.fixture
def without_postgres(monkeypatch: pytest.MonkeyPatch, pytester: pytest.Pytester) -> None:
    monkeypatch.delenv(postgres.URL_VARIABLE, raising=False)
    monkeypatch.delenv(postgres.ENGINE_VARIABLE, raising=False)
    monkeypatch.setattr(postgres, "find_binaries", lambda: None)
    pytester.makeconftest('pytest_plugins = ["postgres"]\n')
    pytester.makepyfile(NEEDS_POSTGRES)


@pytest.mark.usefixtures("without_postgres")
def test_without_a_server_postgres_tests_are_skipped_with_the_reason(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    result = pytester.runpytest_inprocess("-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*no PostgreSQL: set FEEDSVC_TEST_POSTGRES_URL, or install*"])


@pytest.mark.usefixtures("without_postgres")
def test_without_a_server_under_ci_postgres_tests_fail(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CI", "true")
    result = pytester.runpytest_inprocess()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*PostgreSQL is required under CI*"])
