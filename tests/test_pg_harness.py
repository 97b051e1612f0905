"""The test harness itself: scripts/pg-cluster and the PostgreSQL fixtures."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

REPO = Path(__file__).resolve().parent.parent
PG_CLUSTER = REPO / "scripts" / "pg-cluster"
DEFAULT_CLUSTER_DIR = REPO / ".pgdata"


def run_pg_cluster(
    *args: str | Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run scripts/pg-cluster from outside the repository, capturing its output."""
    return subprocess.run(
        [PG_CLUSTER, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
        env=env,
        check=False,
    )


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


async def fetch_one(url: str, query: str) -> object:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        return await connection.fetchval(query)
    finally:
        await connection.close()


def test_pg_database_is_an_empty_database_we_can_connect_to(pg_database: str) -> None:
    name = asyncio.run(fetch_one(pg_database, "SELECT current_database()"))
    relations = asyncio.run(
        fetch_one(
            pg_database,
            """
            SELECT count(*) FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
              AND n.nspname NOT LIKE 'pg_toast%'
            """,
        )
    )

    assert name == database_name(pg_database)
    assert relations == 0


def test_pg_database_is_a_new_database_on_the_test_server(
    pg_url: str, pg_database: str
) -> None:
    name = database_name(pg_database)
    exists = asyncio.run(
        fetch_one(pg_url, f"SELECT count(*) FROM pg_database WHERE datname = '{name}'")
    )

    assert name != database_name(pg_url)
    assert exists == 1


@pytest.mark.anyio
async def test_pg_database_works_in_async_tests(pg_database: str) -> None:
    connection = await asyncpg.connect(pg_database, timeout=10)
    try:
        await connection.execute("CREATE TABLE t (n integer)")
        await connection.execute("INSERT INTO t VALUES (1), (2)")
        total = await connection.fetchval("SELECT sum(n) FROM t")
    finally:
        await connection.close()

    assert total == 3


def test_pg_cluster_url_matches_the_environment(pg_url: str) -> None:
    url_file = DEFAULT_CLUSTER_DIR / "url"
    if not url_file.is_file() or url_file.read_text().strip() != pg_url:
        pytest.skip("SEEDCOMPILE_TEST_DATABASE_URL is not the repository's cluster")

    result = run_pg_cluster("url")

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{pg_url}\n"


def test_pg_cluster_url_fails_where_no_cluster_runs(tmp_path: Path) -> None:
    result = run_pg_cluster("url", tmp_path / "nothing-here")

    assert result.returncode == 1
    assert result.stdout == ""
    assert "no server running" in result.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def cluster_env() -> dict[str, str]:
    """The environment for a second cluster, skipping without server programs."""
    if run_pg_cluster("available").returncode != 0:
        message = "no PostgreSQL server programs (initdb, pg_ctl)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return {**os.environ, "SEEDCOMPILE_PG_PORT": str(free_port())}


@pytest.mark.postgres
def test_pg_cluster_start_stop_destroy(
    tmp_path: Path, cluster_env: dict[str, str]
) -> None:
    # Under root, tmp_path is not reachable by the server's user, so this also
    # covers the data directory kept in /tmp behind a pointer file.
    cluster = tmp_path / "cluster"
    try:
        first = run_pg_cluster("start", cluster, env=cluster_env)
        again = run_pg_cluster("start", cluster, env=cluster_env)
        url = first.stdout.strip()
        assert first.returncode == 0, first.stderr
        assert again.returncode == 0, again.stderr
        assert again.stdout == first.stdout == f"{url}\n"
        assert (cluster / "url").read_text() == first.stdout
        assert asyncio.run(fetch_one(url, "SELECT current_user")) == "seedcompile"

        assert run_pg_cluster("stop", cluster, env=cluster_env).returncode == 0
        assert run_pg_cluster("url", cluster, env=cluster_env).returncode == 1
        assert run_pg_cluster("stop", cluster, env=cluster_env).returncode == 0

        restarted = run_pg_cluster("start", cluster, env=cluster_env)
        assert restarted.stdout == first.stdout, restarted.stderr
    finally:
        destroyed = run_pg_cluster("destroy", cluster, env=cluster_env)

    assert destroyed.returncode == 0, destroyed.stderr
    assert not cluster.exists()
