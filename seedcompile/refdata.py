"""Creating the reference schema and loading the demo dataset into it.

This is the one place seedcompile writes to a database: `seedcompile refdata
init` uses it to give development databases and tests known reference data.
Schema and rows go in one transaction, so a load that fails leaves the
database as it was, old reference data included.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from itertools import islice
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from seedcompile.database import (
    DatabaseSettings,
    create_engine,
    database_errors,
    describe,
    parse_url,
)
from seedcompile.demo import DemoData, demo_rows
from seedcompile.errors import UsageError
from seedcompile.refschema import metadata

logger = logging.getLogger("seedcompile.refdata")

# Rows per executemany on SQLite: large enough that the per-call overhead of
# the driver thread vanishes, small enough to keep only one chunk in memory.
SQLITE_CHUNK_ROWS = 20_000


async def init_reference_data(
    settings: DatabaseSettings, *, scale: int = 1, force: bool = False
) -> dict[str, int]:
    """Create the reference schema and load the demo dataset; rows per table."""
    data = demo_rows(scale)
    url = parse_url(settings.url, readonly=False)
    started = time.perf_counter()

    with database_errors(url):
        if url.get_backend_name() == "sqlite":
            _make_parent_folder(url)
        engine = create_engine(settings, readonly=False)
        if engine.dialect.name == "sqlite":
            _prepare_sqlite(engine)
        try:
            async with engine.begin() as conn:
                await _reset_schema(conn, url, force=force)
                counts = await _load(conn, data)
        finally:
            await engine.dispose()

    logger.info(
        "loaded %d reference rows (scale %d) into %s in %.2fs",
        sum(counts.values()),
        scale,
        describe(url),
        time.perf_counter() - started,
    )
    return counts


def _make_parent_folder(url: sa.URL) -> None:
    """SQLite creates a missing file but not a missing folder: create it."""
    Path(url.database or "").resolve().parent.mkdir(parents=True, exist_ok=True)


def _prepare_sqlite(engine: AsyncEngine) -> None:
    """Make SQLite load fast, check foreign keys, and run DDL transactionally."""

    @sa.event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver would start transactions only before DML, committing
        # CREATE and DROP on their own; take control of BEGIN instead.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # A crash mid-load can corrupt the file, but the file holds nothing
        # that a rerun with --force cannot rebuild.
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa.event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN")


async def _reset_schema(conn: AsyncConnection, url: sa.URL, *, force: bool) -> None:
    """Create the reference tables, first dropping any there are if forced."""
    existing = await conn.run_sync(_existing_reference_tables)
    if existing and not force:
        raise UsageError.single(
            "usage.refdata-exists",
            f"{describe(url)} already has reference data "
            f"({', '.join(existing)}): pass --force to drop and rebuild it",
        )
    if existing:
        logger.info("dropping the reference tables of %s", describe(url))
        await conn.run_sync(metadata.drop_all)
    await conn.run_sync(metadata.create_all)


def _existing_reference_tables(conn: sa.Connection) -> list[str]:
    names = set(sa.inspect(conn).get_table_names())
    return [table.name for table in metadata.sorted_tables if table.name in names]


async def _load(conn: AsyncConnection, data: DemoData) -> dict[str, int]:
    """Insert every table's rows, parents first; rows inserted per table."""
    rows = data.tables()
    counts: dict[str, int] = {}
    for table in metadata.sorted_tables:
        started = time.perf_counter()
        if conn.dialect.name == "postgresql":
            counts[table.name] = await _copy_rows(conn, table, rows[table.name])
        else:
            counts[table.name] = await _insert_rows(conn, table, rows[table.name])
        logger.debug(
            "%s: %d rows in %.2fs",
            table.name,
            counts[table.name],
            time.perf_counter() - started,
        )

    if conn.dialect.name == "postgresql":
        # Fresh tables have no statistics; without them the planner guesses
        # badly at the compiler's first large IN and JOIN queries.
        names = ", ".join(_quoted(conn, table) for table in metadata.sorted_tables)
        await conn.exec_driver_sql(f"ANALYZE {names}")
    return counts


async def _copy_rows(
    conn: AsyncConnection, table: sa.Table, rows: Iterable[tuple[Any, ...]]
) -> int:
    """COPY rows through asyncpg, in the transaction `conn` has begun."""
    pooled = await conn.get_raw_connection()
    raw: Any = pooled.driver_connection
    status: str = await raw.copy_records_to_table(
        table.name, records=rows, columns=list(table.columns.keys())
    )
    # asyncpg returns the server's command tag, "COPY <rows>".
    return int(status.split()[-1])


async def _insert_rows(
    conn: AsyncConnection, table: sa.Table, rows: Iterable[tuple[Any, ...]]
) -> int:
    """Insert rows with one executemany per chunk; rows inserted."""
    columns = list(table.columns.keys())
    insert = table.insert()
    remaining = iter(rows)
    count = 0
    while chunk := [
        dict(zip(columns, row, strict=True))
        for row in islice(remaining, SQLITE_CHUNK_ROWS)
    ]:
        await conn.execute(insert, chunk)
        count += len(chunk)
    return count


def _quoted(conn: AsyncConnection, table: sa.Table) -> str:
    return conn.dialect.identifier_preparer.format_table(table)
