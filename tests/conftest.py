"""Fixtures for the whole suite: the anyio backend and a real PostgreSQL server.

The server comes from SEEDCOMPILE_TEST_DATABASE_URL, which `make test` sets after
starting the throwaway cluster of scripts/pg-cluster. Without it the tests that
need PostgreSQL skip, except on CI (CI=true), where they fail instead.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from tests.support import build_demo

TEST_DATABASE_URL_VARIABLE = "SEEDCOMPILE_TEST_DATABASE_URL"
NO_SERVER_MESSAGE = (
    "no PostgreSQL server: set SEEDCOMPILE_TEST_DATABASE_URL or run make test"
)
# Tests that use any of these fixtures, directly or through others, get the
# `postgres` marker, so that `-m "not postgres"` leaves them out.
POSTGRES_FIXTURES = frozenset({"pg_url", "pg_database"})
CONNECT_TIMEOUT = 10.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs a PostgreSQL server as `postgres`."""
    for item in items:
        if POSTGRES_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Run `@pytest.mark.anyio` tests on asyncio only: asyncpg needs it."""
    return "asyncio"


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The URL of the test server's `seedcompile` database."""
    url = os.environ.get(TEST_DATABASE_URL_VARIABLE, "")
    if url:
        return url
    if os.environ.get("CI") == "true":
        pytest.fail(f"{NO_SERVER_MESSAGE} (CI=true, so this is an error)")
    pytest.skip(NO_SERVER_MESSAGE)


@pytest.fixture
def pg_database(pg_url: str) -> Iterator[str]:
    """A fresh empty database on the test server, dropped after the test.

    The fixture is synchronous and runs its own event loop, so sync and async
    tests can both use it; anyio's loop is not running while it sets up.
    """
    name = f"seedcompile_test_{uuid.uuid4().hex[:16]}"
    asyncio.run(_execute(pg_url, f'CREATE DATABASE "{name}"'))
    try:
        yield _database_url(pg_url, name)
    finally:
        asyncio.run(_execute(pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _database_url(url: str, name: str) -> str:
    """Return `url` pointing at database `name` on the same server."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def _execute(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


# -- demo reference data, shared by the modules that compile -------------------


@pytest.fixture(scope="module")
def sqlite_demo(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The demo data in an SQLite file, one per test module (read only)."""
    return build_demo(f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}")


@pytest.fixture
def pg_demo(pg_database: str) -> str:
    """The demo data in a fresh PostgreSQL database of its own."""
    return build_demo(pg_database)


@pytest.fixture(params=["sqlite", "postgresql"])
def demo_url(request: pytest.FixtureRequest) -> str:
    """The demo data on each backend in turn."""
    name = "sqlite_demo" if request.param == "sqlite" else "pg_demo"
    url: str = request.getfixturevalue(name)
    return url
