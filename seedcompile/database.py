"""Connecting to the reference database: PostgreSQL (asyncpg) or SQLite (aiosqlite).

Everything above this module speaks SQLAlchemy Core; the two backends differ
only in how a URL becomes an engine, how a snapshot is opened and how a large
set of keys is bound (`keys_in`).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Collection, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from seedcompile.errors import DatabaseError, Diagnostic, UsageError

DEFAULT_CONNECTION_LIMIT = 10
DEFAULT_CONNECT_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    """Where the reference data lives and how hard to lean on it."""

    url: str
    max_connections: int = DEFAULT_CONNECTION_LIMIT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT

    @classmethod
    def from_env(
        cls,
        url: str | None = None,
        *,
        max_connections: int | None = None,
        environ: dict[str, str] | None = None,
    ) -> DatabaseSettings:
        """Settings from explicit values, falling back to the environment."""
        env = os.environ if environ is None else environ
        url = url or env.get("DATABASE_URL")
        if not url:
            raise UsageError.single(
                "usage.no-database",
                "no database given: pass --db URL or set DATABASE_URL",
                hint="for the embedded demo data run `make demo`, or "
                "`seedcompile refdata init --db sqlite:///demo.db` first",
            )
        if max_connections is None:
            raw = env.get("DATABASE_CONNECTION_LIMIT", "")
            try:
                max_connections = int(raw) if raw else DEFAULT_CONNECTION_LIMIT
            except ValueError:
                raise UsageError.single(
                    "usage.connection-limit",
                    f"DATABASE_CONNECTION_LIMIT must be a whole number, not {raw!r}",
                ) from None
        if max_connections < 1:
            raise UsageError.single(
                "usage.connection-limit",
                f"the connection limit must be at least 1, not {max_connections}",
            )
        return cls(url=url, max_connections=max_connections)


def parse_url(raw: str, *, readonly: bool = True) -> sa.URL:
    """Turn a user's database URL into the SQLAlchemy URL of its async driver."""
    try:
        url = sa.make_url(raw)
    except sa.exc.ArgumentError:
        raise UsageError.single(
            "usage.database-url",
            "the database URL is not valid",
            hint="use postgresql://user@host:port/dbname or sqlite:///path/to/file.db",
        ) from None
    backend = url.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+asyncpg")
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            raise UsageError.single(
                "usage.database-url",
                "an SQLite database must be a file: sqlite:///path/to/file.db",
            )
        if readonly:
            # Open the file read only, so a missing file is an error instead of
            # a fresh empty database, and the compiler cannot write to it.
            path = os.path.abspath(url.database)
            return sa.make_url(f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true")
        return url.set(drivername="sqlite+aiosqlite")
    raise UsageError.single(
        "usage.database-url",
        f"unsupported database {backend!r}",
        hint="use postgresql://... or sqlite:///...",
    )


def describe(url: sa.URL) -> str:
    """Name the database for messages: host and database, never the password."""
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        database = database.removeprefix("file:")
        return f"SQLite database {database}"
    host = url.host or "localhost"
    port = f":{url.port}" if url.port else ""
    return f"PostgreSQL database {url.database or '(default)'} on {host}{port}"


def create_engine(settings: DatabaseSettings, *, readonly: bool = True) -> AsyncEngine:
    """An async engine whose pool never holds more than the connection limit."""
    url = parse_url(settings.url, readonly=readonly)
    if url.get_backend_name() == "postgresql":
        return create_async_engine(
            url,
            pool_size=settings.max_connections,
            max_overflow=0,
            pool_timeout=settings.connect_timeout,
            connect_args={"timeout": settings.connect_timeout},
        )
    return create_async_engine(url)


@asynccontextmanager
async def read_snapshot(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One read-only transaction: every query in it sees the same data."""
    async with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = await conn.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        async with conn.begin():
            yield conn


def keys_in(
    column: sa.ColumnElement[Any], keys: Collection[Any], *, dialect: str
) -> sa.ColumnElement[bool]:
    """`column IN keys` with one bound parameter, however many keys there are.

    asyncpg refuses more than 32,767 parameters in one statement and SQLite
    has a limit of its own, so the keys travel as one array (PostgreSQL) or
    one JSON document (SQLite) instead of one parameter each.
    """
    values = sorted(keys)
    if dialect == "postgresql":
        param = sa.bindparam(None, values, type_=postgresql.ARRAY(column.type))
        return column == sa.any_(param)
    document = sa.bindparam(None, json.dumps(values, default=str), type_=sa.String)
    table = sa.func.json_each(document).table_valued("value")
    return column.in_(sa.select(table.c.value))


@contextmanager
def database_errors(url: sa.URL) -> Iterator[None]:
    """Translate driver and network errors into a `DatabaseError`."""
    try:
        yield
    except DatabaseError:
        raise
    except (sa.exc.DBAPIError, OSError, TimeoutError, sa.exc.TimeoutError) as exc:
        raise DatabaseError(_diagnose(url, exc)) from exc
    except Exception as exc:
        if type(exc).__module__.startswith("asyncpg"):
            raise DatabaseError(_diagnose(url, exc)) from exc
        raise


def _diagnose(url: sa.URL, exc: BaseException) -> Diagnostic:
    where = describe(url)
    original = getattr(exc, "orig", None) or exc
    reason = _scrub(str(original).strip().splitlines()[0] if str(original) else "", url)
    name = type(original).__name__
    if "UndefinedTable" in name or "no such table" in reason:
        return Diagnostic(
            "database.no-schema",
            f"{where} has no reference schema ({reason})",
            hint="create it with `seedcompile refdata init --db URL`",
        )
    if isinstance(original, TimeoutError | sa.exc.TimeoutError) or "timeout" in (
        reason.lower() + name.lower()
    ):
        return Diagnostic(
            "database.timeout",
            f"{where} did not answer in time ({reason or name})",
            hint="check the server's load, or raise the timeout",
        )
    if isinstance(original, OSError) or "connect" in name.lower():
        return Diagnostic(
            "database.unreachable",
            f"could not connect to {where}: {reason or name}",
            hint="check that the server runs and that DATABASE_URL is right",
        )
    return Diagnostic("database.failed", f"{where} failed: {reason or name}")


def _scrub(text: str, url: sa.URL) -> str:
    """Remove the password from a driver's message, should one ever echo it."""
    if url.password:
        text = text.replace(str(url.password), "***")
    return text
