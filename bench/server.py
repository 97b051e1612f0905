"""The benchmark's PostgreSQL server: started, prepared, counted, stopped.

The server is the throwaway cluster of `scripts/pg-cluster`, in its own
directory and on its own port so that it never meets the tests' cluster. Two
things are added to it:

- `pg_stat_statements`, so that the queries a process sends are counted by the
  server itself, not by the process that sends them: every statement the
  server executes for the process (session set-up, transaction control and
  type introspection included) counts;
- a role, `bench_client`, that every measured process connects as, so that the
  count of one run is the statements of that role since the last reset, and
  the benchmark's own statements (loading, counting) never mix in.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

log = logging.getLogger("bench.server")

REPO = Path(__file__).resolve().parent.parent
PG_CLUSTER = REPO / "scripts" / "pg-cluster"
DEFAULT_DIR = REPO / "bench" / ".data" / "pg"
DEFAULT_PORT = 54339
CLIENT_ROLE = "bench_client"
CLIENT_PASSWORD = "bench-client"


@dataclass(frozen=True, slots=True)
class Server:
    """A running benchmark server: the admin URL and the measured client's URL."""

    directory: Path
    admin_url: str
    client_url: str


def start(directory: Path = DEFAULT_DIR, *, port: int = DEFAULT_PORT) -> Server:
    """Start the cluster (creating it if needed) and prepare it for measuring."""
    admin_url = _pg_cluster("start", directory, port=port)
    if not asyncio.run(_has_statement_counting(admin_url)):
        # shared_preload_libraries only takes effect at start. ALTER SYSTEM
        # writes postgresql.auto.conf, which pg-cluster leaves alone.
        log.info("enabling pg_stat_statements (one restart)")
        asyncio.run(
            _execute(
                admin_url,
                "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'",
            )
        )
        stop(directory)
        admin_url = _pg_cluster("start", directory, port=port)
    asyncio.run(_prepare(admin_url))
    return Server(directory, admin_url, _client_url(admin_url))


def stop(directory: Path = DEFAULT_DIR) -> None:
    """Stop the cluster; nothing to do when it is not running."""
    _pg_cluster("stop", directory)


def grant_reads(server: Server) -> None:
    """Let the client role read every table (run after the tables are rebuilt)."""
    asyncio.run(
        _execute(
            server.admin_url,
            f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {CLIENT_ROLE}",
        )
    )


def reset_statements(server: Server) -> None:
    """Forget every statement counted so far."""
    asyncio.run(_execute(server.admin_url, "SELECT pg_stat_statements_reset()"))


@dataclass(frozen=True, slots=True)
class StatementCount:
    statements: int  # every statement executed for the client role
    queries: int  # of which SELECT queries
    rows: int  # rows those queries returned


def count_statements(server: Server) -> StatementCount:
    """What the client role sent since the last reset."""
    return asyncio.run(_count(server.admin_url))


def server_version(server: Server) -> str:
    return asyncio.run(_fetchval(server.admin_url, "SHOW server_version"))


# -- internals ----------------------------------------------------------------


def _pg_cluster(command: str, directory: Path, *, port: int | None = None) -> str:
    env = dict(os.environ)
    if port is not None:
        env["SEEDCOMPILE_PG_PORT"] = str(port)
    result = subprocess.run(
        [str(PG_CLUSTER), command, str(directory)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"scripts/pg-cluster {command} {directory} failed "
            f"(exit {result.returncode}):\n{result.stderr.strip()}"
        )
    return result.stdout.strip()


def _client_url(admin_url: str) -> str:
    parts = urlsplit(admin_url)
    host = f"{parts.hostname}:{parts.port}"
    netloc = f"{CLIENT_ROLE}:{CLIENT_PASSWORD}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


async def _execute(url: str, statement: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _fetchval(url: str, query: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        value: str = await conn.fetchval(query)
        return value
    finally:
        await conn.close()


async def _has_statement_counting(url: str) -> bool:
    libraries = await _fetchval(url, "SHOW shared_preload_libraries")
    return "pg_stat_statements" in libraries


async def _prepare(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        exists = await conn.fetchval(
            "SELECT 1 FROM pg_roles WHERE rolname = $1", CLIENT_ROLE
        )
        verb = "ALTER" if exists else "CREATE"
        await conn.execute(
            f"{verb} ROLE {CLIENT_ROLE} LOGIN PASSWORD '{CLIENT_PASSWORD}'"
        )
    finally:
        await conn.close()


async def _count(url: str) -> StatementCount:
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(
            """
            SELECT coalesce(sum(s.calls), 0) AS statements,
                   coalesce(sum(s.calls) FILTER (
                       WHERE s.query ~* '^\\s*(select|with)\\M'), 0) AS queries,
                   coalesce(sum(s.rows) FILTER (
                       WHERE s.query ~* '^\\s*(select|with)\\M'), 0) AS rows
            FROM pg_stat_statements s
            JOIN pg_roles r ON r.oid = s.userid
            WHERE r.rolname = $1
            """,
            CLIENT_ROLE,
        )
    finally:
        await conn.close()
    return StatementCount(int(row["statements"]), int(row["queries"]), int(row["rows"]))
