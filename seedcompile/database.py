"""Connecting to the reference database: PostgreSQL (asyncpg) or SQLite (aiosqlite).

Everything above this module speaks SQLAlchemy Core; the two backends differ
only in how a URL becomes an engine (connect retries and the statement
timeout are PostgreSQL's), how a snapshot is opened and shared, and how the
database unpacks the one JSON text parameter that carries a set of keys
(`keys_in`).

Reading is all the compiler ever does, and this module makes sure of it: a
PostgreSQL session starts with `default_transaction_read_only` on and every
snapshot is a `REPEATABLE READ READ ONLY` transaction; an SQLite file is
opened read only. A bug further up can therefore never change reference data.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import socket
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterator,
    Mapping,
)
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from seedcompile.errors import DatabaseError, Diagnostic, UsageError

log = logging.getLogger("seedcompile.database")

DEFAULT_CONNECTION_LIMIT = 10
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_CONNECT_RETRIES = 3
# Generous: the largest prefetch query takes well under a second at 240,000
# customers. It is there so that a compile blocked by a lock fails instead of
# hanging a CI job; 0 turns it off.
DEFAULT_STATEMENT_TIMEOUT = 60.0
# Connecting again after a transient failure waits 0.25 s, 0.5 s, 1 s, ...,
# at most this long each time and this long in all.
RETRY_FIRST_DELAY = 0.25
RETRY_MAX_DELAY = 2.0
RETRY_TOTAL_DELAY = 5.0
# The most connections one snapshot is read on. The prefetch has six
# independent queries, one of which (customers) outweighs the others, so a
# third connection is the last that can help; each adds one statement
# (`SET TRANSACTION SNAPSHOT`) to the compile.
SNAPSHOT_CONNECTIONS = 3
APPLICATION_NAME = "seedcompile"

_SNAPSHOT_ID = re.compile(r"[0-9A-F]+-[0-9A-F]+(-[0-9]+)?")
# SQLSTATEs worth connecting again for: the server is starting or shutting
# down, has no connection slot free, or the connection broke while opening.
_TRANSIENT_SQLSTATES = frozenset({"57P03", "53300", "08001", "08006"})
# SQLSTATEs of a connection that died under a running compile: terminated by
# an administrator (pg_terminate_backend, a fast shutdown) or crashed.
_LOST_SQLSTATES = frozenset({"57P01", "57P02", "08003", "08006"})


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    """Where the reference data lives and how hard to lean on it."""

    url: str
    max_connections: int = DEFAULT_CONNECTION_LIMIT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    # Connecting again after a transient failure (refused, timed out, the
    # server starting up): how many more attempts, with a bounded backoff.
    connect_retries: int = DEFAULT_CONNECT_RETRIES
    # Seconds one statement may run before the server cancels it; 0: no limit.
    statement_timeout: float = DEFAULT_STATEMENT_TIMEOUT
    # Seconds to wait for a free connection of the pool; None: connect_timeout.
    pool_timeout: float | None = None
    # Connections the prefetch spreads its queries over, sharing one snapshot.
    # One by default: on loopback more gave no measurable gain and cost three
    # statements each; a distant server may gain from two or three.
    prefetch_connections: int = 1

    @classmethod
    def from_env(
        cls,
        url: str | None = None,
        *,
        max_connections: int | None = None,
        connect_retries: int | None = None,
        statement_timeout: float | None = None,
        prefetch_connections: int | None = None,
        environ: dict[str, str] | None = None,
    ) -> DatabaseSettings:
        """Settings from explicit values, falling back to the environment."""
        env = os.environ if environ is None else environ
        url = url or env.get("DATABASE_URL")
        if not url:
            raise UsageError.single(
                "usage.no-database",
                "no database given: pass --db URL or set DATABASE_URL",
                hint="after `make demo`, the demo data is at "
                "--db sqlite:///.demo/demo.db",
            )
        max_connections = _setting(
            max_connections,
            env,
            "DATABASE_CONNECTION_LIMIT",
            DEFAULT_CONNECTION_LIMIT,
            int,
            valid=lambda n: n >= 1,
            code="usage.connection-limit",
            problem="the connection limit must be at least 1",
        )
        connect_retries = _setting(
            connect_retries,
            env,
            "DATABASE_CONNECT_RETRIES",
            DEFAULT_CONNECT_RETRIES,
            int,
            valid=lambda n: n >= 0,
            code="usage.connect-retries",
            problem="connect retries must be 0 or more",
        )
        statement_timeout = _setting(
            statement_timeout,
            env,
            "DATABASE_STATEMENT_TIMEOUT",
            DEFAULT_STATEMENT_TIMEOUT,
            float,
            valid=lambda t: math.isfinite(t) and t >= 0,
            code="usage.statement-timeout",
            problem="the statement timeout must be 0 (no limit) or a number of seconds",
        )
        prefetch_connections = _setting(
            prefetch_connections,
            env,
            "DATABASE_PREFETCH_CONNECTIONS",
            1,
            int,
            valid=lambda n: 1 <= n <= SNAPSHOT_CONNECTIONS,
            code="usage.prefetch-connections",
            problem=f"the prefetch uses 1 to {SNAPSHOT_CONNECTIONS} connections",
        )
        return cls(
            url=url,
            max_connections=max_connections,
            connect_retries=connect_retries,
            statement_timeout=statement_timeout,
            prefetch_connections=prefetch_connections,
        )


N = TypeVar("N", int, float)


def _setting(
    given: N | None,
    env: Mapping[str, str],
    variable: str,
    default: N,
    kind: Callable[[str], N],
    *,
    valid: Callable[[N], bool],
    code: str,
    problem: str,
) -> N:
    """An option's value, else its environment variable's, else the default."""
    value = _number_from_env(env, variable, default, kind) if given is None else given
    if not valid(value):
        # Name the variable when the value came from it: the user never typed it.
        source = f"{variable}: " if given is None else ""
        raise UsageError.single(code, f"{source}{problem}, not {value}")
    return value


def _number_from_env(
    env: Mapping[str, str], name: str, default: N, kind: Callable[[str], N]
) -> N:
    raw = env.get(name, "")
    try:
        return kind(raw) if raw else default
    except ValueError:
        raise UsageError.single(
            "usage.environment",
            f"{name} must be a {'whole ' if kind is int else ''}number, not {raw!r}",
        ) from None


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
        connect = _asyncpg_connector(url, settings, readonly=readonly)
        engine = create_async_engine(
            url,
            pool_size=settings.max_connections,
            max_overflow=0,
            pool_timeout=(
                settings.connect_timeout
                if settings.pool_timeout is None
                else settings.pool_timeout
            ),
            async_creator=_with_retries(
                connect,
                url,
                retries=settings.connect_retries,
                deadline=settings.connect_timeout,
            ),
            # Private, but stable since SQLAlchemy 1.4: the compile skips
            # the dialect's first-connect look-ups (`_preinitialized`).
            _initialize=not readonly,
        )
        return _preinitialized(engine) if readonly else engine
    engine = create_async_engine(url)
    if readonly:
        _begin_explicitly(engine)
    return engine


@asynccontextmanager
async def connected(settings: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    """A read-only engine for the length of the block, its pool closed after."""
    engine = create_engine(settings)
    try:
        yield engine
    finally:
        await engine.dispose()


def _preinitialized(engine: AsyncEngine) -> AsyncEngine:
    """Tell the dialect what SQLAlchemy would otherwise ask the server.

    The engine is created without SQLAlchemy's first-connect look-ups (server
    version, current schema, default isolation level, string escaping: six
    statements, BEGIN and ROLLBACK included) nor its per-connection JSON
    codec set-up (the reference schema has no JSON column). What the compile
    relies on is set here: the isolation level a connection returns to the
    pool with, and the schema unqualified names resolve in.
    """
    dialect: Any = engine.dialect
    dialect.default_isolation_level = "READ COMMITTED"
    dialect.default_schema_name = "public"
    return engine


def _asyncpg_connector(
    url: sa.URL, settings: DatabaseSettings, *, readonly: bool
) -> Callable[[], Awaitable[Any]]:
    """A function that opens one asyncpg connection with our session settings."""
    import asyncpg

    # The dialect reads the URL (host, port, query options) exactly as it
    # would without `async_creator`.
    args, params = url.get_dialect()().create_connect_args(url)
    server_settings = {"application_name": APPLICATION_NAME}
    if readonly:
        # Belt and braces: even a transaction opened outside `open_snapshot`
        # cannot write.
        server_settings["default_transaction_read_only"] = "on"
        if settings.statement_timeout > 0:
            milliseconds = max(1, round(settings.statement_timeout * 1000))
            server_settings["statement_timeout"] = str(milliseconds)

    async def connect() -> Any:
        return await asyncpg.connect(
            *args,
            **params,
            timeout=settings.connect_timeout,
            server_settings=server_settings,
        )

    return connect


def _with_retries(
    connect: Callable[[], Awaitable[Any]],
    url: sa.URL,
    *,
    retries: int,
    deadline: float,
) -> Callable[[], Awaitable[Any]]:
    """`connect`, tried again after a transient failure with a bounded backoff.

    No attempt starts once `deadline` seconds have passed since the first, so
    that attempts which each run into the connect timeout do not add up.
    """

    async def connect_with_retries() -> Any:
        attempt, waited = 0, 0.0
        started = time.monotonic()
        while True:
            try:
                return await connect()
            except Exception as exc:
                delay = min(RETRY_FIRST_DELAY * 2**attempt, RETRY_MAX_DELAY)
                if (
                    attempt >= retries
                    or not is_transient(exc)
                    or waited + delay > RETRY_TOTAL_DELAY
                    or time.monotonic() - started + delay > deadline
                ):
                    raise
                log.info(
                    "could not connect to %s (%s); trying again in %.2f s",
                    describe(url),
                    _scrub(_reason(exc), url) or type(exc).__name__,
                    delay,
                )
                await anyio.sleep(delay)
                attempt, waited = attempt + 1, waited + delay

    return connect_with_retries


def is_transient(exc: BaseException) -> bool:
    """Whether connecting again may succeed where this attempt failed."""
    if isinstance(exc, OSError | TimeoutError):
        return True
    return getattr(exc, "sqlstate", None) in _TRANSIENT_SQLSTATES


def _begin_explicitly(engine: AsyncEngine) -> None:
    """Make an SQLite transaction start at BEGIN, not at the first write.

    Python's sqlite3 module only opens a transaction before a statement that
    writes, so the SELECTs of one "transaction" would each see the file as it
    is at that moment. An explicit BEGIN makes them one read transaction.
    """

    @sa.event.listens_for(engine.sync_engine, "connect")
    def _no_implicit_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN")


class Snapshot:
    """One read-only view of the reference database, on one or more connections.

    The first connection opens a `REPEATABLE READ READ ONLY` transaction and,
    when the snapshot may use more connections, exports its snapshot with
    `pg_export_snapshot()`. Every further connection (`attach`) opens a
    transaction of its own and adopts that snapshot with `SET TRANSACTION
    SNAPSHOT` before its first query, so that all of them see the database as
    it was at one instant, whatever is committed meanwhile. PostgreSQL forgets
    an exported snapshot when the exporting transaction ends, so the first
    connection's transaction stays open until the snapshot is closed, after
    every attached connection is done.
    """

    def __init__(
        self,
        engine: AsyncEngine | None,
        conn: AsyncConnection,
        *,
        exported: str | None = None,
        connections: int = 1,
    ) -> None:
        self.conn = conn
        self._engine = engine
        self._exported = exported
        self._connections = connections if exported is not None else 1

    @property
    def connections(self) -> int:
        """How many connections may read this snapshot at once (`conn` included)."""
        return self._connections

    @asynccontextmanager
    async def attach(self) -> AsyncIterator[AsyncConnection]:
        """Another connection that sees exactly what `conn` sees."""
        if self._engine is None or self._exported is None:
            raise RuntimeError("this snapshot is not shared: it has one connection")
        async with self._engine.connect() as conn:
            conn = await _read_only(conn)
            async with conn.begin():
                # A utility statement takes no bound parameters; the id comes
                # from the server and is checked against its form.
                await conn.exec_driver_sql(
                    f"SET TRANSACTION SNAPSHOT '{self._exported}'"
                )
                yield conn


@asynccontextmanager
async def open_snapshot(
    engine: AsyncEngine, *, max_connections: int = 1
) -> AsyncIterator[Snapshot]:
    """A read-only snapshot, shared by up to `max_connections` connections.

    Sharing needs PostgreSQL and at least two connections in the pool; an
    SQLite file is always read on one connection.
    """
    connections = min(max_connections, SNAPSHOT_CONNECTIONS, _pool_size(engine))
    async with engine.connect() as conn:
        conn = await _read_only(conn)
        async with conn.begin():
            exported = None
            if conn.dialect.name == "postgresql" and connections > 1:
                exported = await _export_snapshot(conn)
            yield Snapshot(engine, conn, exported=exported, connections=connections)


@asynccontextmanager
async def read_snapshot(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One read-only transaction on one connection: every query sees the same data."""
    async with open_snapshot(engine) as snapshot:
        yield snapshot.conn


async def _read_only(conn: AsyncConnection) -> AsyncConnection:
    if conn.dialect.name == "postgresql":
        return await conn.execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        )
    return conn


async def _export_snapshot(conn: AsyncConnection) -> str:
    exported = (await conn.execute(sa.select(sa.func.pg_export_snapshot()))).scalar()
    if not isinstance(exported, str) or not _SNAPSHOT_ID.fullmatch(exported):
        raise DatabaseError(
            Diagnostic(
                "database.failed",
                f"{describe(conn.engine.url)} exported a snapshot id of an "
                f"unknown form: {exported!r}",
            )
        )
    return exported


def _pool_size(engine: AsyncEngine) -> int:
    size = getattr(engine.pool, "size", None)
    return int(size()) if callable(size) else 1


def keys_in(
    column: sa.ColumnElement[Any], keys: Collection[Any], *, dialect: str
) -> sa.ColumnElement[bool]:
    """`column IN keys` with one bound parameter, however many keys there are.

    asyncpg refuses more than 32,767 parameters in one statement and SQLite
    has a limit of its own, so the keys travel as one JSON document, a plain
    text parameter, unpacked by the database. (An array parameter would cost
    asyncpg a type look-up on each new connection; text costs none.)

    A key no database text can hold (one with a NUL character, or a lone
    surrogate that has no UTF-8 form) cannot name a row either: it is left
    out, so that it is reported as unknown like any other missing key,
    instead of failing in the driver.
    """
    values = sorted(key for key in keys if is_storable(key))
    document = sa.bindparam(None, json.dumps(values, default=str), type_=sa.Text)
    if dialect == "postgresql":
        elements = sa.func.jsonb_array_elements_text(
            sa.cast(document, postgresql.JSONB)
        ).table_valued("value")
        return column.in_(sa.select(sa.cast(elements.c.value, column.type)))
    table = sa.func.json_each(document).table_valued("value")
    return column.in_(sa.select(table.c.value))


def is_storable(key: object) -> bool:
    """Whether a key can be sent to the database as text (or is no text at all)."""
    if not isinstance(key, str):
        return True
    if "\x00" in key:
        return False
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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
        if _is_driver_error(_root(exc)):
            raise DatabaseError(_diagnose(url, exc)) from exc
        raise


def _is_driver_error(exc: BaseException) -> bool:
    module = type(exc).__module__
    return module.startswith(("asyncpg", "sqlite3", "aiosqlite"))


def _root(exc: BaseException) -> BaseException:
    """The driver's own exception behind SQLAlchemy's wrappers."""
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        inner = getattr(exc, "orig", None) or exc.__cause__
        if not isinstance(inner, BaseException) or _is_driver_error(exc):
            break
        exc = inner
    return exc


def _reason(exc: BaseException) -> str:
    """The first line of an exception's message, without SQLAlchemy's prefixes."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return re.sub(r"^<class '[\w.]+'>: ", "", first)


def _diagnose(url: sa.URL, exc: BaseException) -> Diagnostic:
    where = describe(url)
    root = _root(exc)
    name = type(root).__name__
    reason = _scrub(_reason(root), url) or name
    sqlstate = getattr(root, "sqlstate", None) or ""
    if isinstance(exc, sa.exc.TimeoutError):
        return Diagnostic(
            "database.pool-exhausted",
            f"no connection to {where} came free in time: every connection of "
            "the pool stayed in use",
            hint="raise --max-connections (DATABASE_CONNECTION_LIMIT), or find "
            "what holds the connections",
        )
    if sqlstate == "42P01" or "no such table" in reason:
        return Diagnostic(
            "database.no-schema",
            f"{where} has no reference schema ({reason})",
            hint="create it with `seedcompile refdata init --db URL`, or check "
            "that the URL names the reference database",
        )
    if url.get_backend_name() == "sqlite" and "unable to open database" in reason:
        return Diagnostic(
            "database.not-found",
            f"{where} does not exist or cannot be opened",
            hint="check the path (sqlite:///relative/path.db, or four slashes "
            "for an absolute one); `seedcompile refdata init` creates one",
        )
    if sqlstate == "3D000":
        return Diagnostic(
            "database.not-found",
            f"{where} does not exist ({reason})",
            hint="check the database name in the URL (or DATABASE_URL)",
        )
    if sqlstate.startswith("28"):
        return Diagnostic(
            "database.auth",
            f"{where} refused the login ({reason})",
            hint="check the user and password in the URL (or DATABASE_URL)",
        )
    if sqlstate == "57014" or sqlstate == "55P03":
        return Diagnostic(
            "database.timeout",
            f"a query to {where} was cancelled: it ran longer than the statement "
            f"timeout ({reason})",
            hint="raise --statement-timeout (DATABASE_STATEMENT_TIMEOUT), or find "
            "what locks the reference tables",
        )
    if sqlstate in _LOST_SQLSTATES or _is_lost_connection(root):
        return Diagnostic(
            "database.connection-lost",
            f"the connection to {where} was lost in the middle of the compile "
            f"({reason}); nothing was written",
            hint="run the compile again once the server is back",
        )
    if isinstance(root, TimeoutError | sa.exc.TimeoutError):
        return Diagnostic(
            "database.unreachable",
            f"could not connect to {where}: no answer in time ({reason})",
            hint="check that the server runs and that the host and port are right",
        )
    if isinstance(root, OSError) or sqlstate in _TRANSIENT_SQLSTATES:
        if isinstance(root, ConnectionRefusedError):
            reason = f"the connection was refused ({reason})"
        elif isinstance(root, socket.gaierror):
            reason = f"the host name does not resolve ({reason})"
        return Diagnostic(
            "database.unreachable",
            f"could not connect to {where}: {reason}",
            hint="check that the server runs and that the host and port in the "
            "URL (or DATABASE_URL) are right",
        )
    if sqlstate == "25006":
        return Diagnostic(
            "database.read-only",
            f"seedcompile tried to write to {where}, which it only ever reads "
            f"({reason})",
            hint="this is a bug in seedcompile; please report it with --debug output",
        )
    return Diagnostic("database.failed", f"{where} failed: {reason}")


def _is_lost_connection(exc: BaseException) -> bool:
    if "invalid snapshot identifier" in str(exc):
        # The exporting transaction stays open until every connection has
        # adopted its snapshot; it only ends early when its connection dies.
        return True
    name = type(exc).__name__
    if name in ("ConnectionDoesNotExistError", "ConnectionFailureError"):
        return True
    if isinstance(exc, ConnectionResetError | BrokenPipeError | EOFError):
        return True
    return "connection is closed" in str(exc) or "connection was closed" in str(exc)


def _scrub(text: str, url: sa.URL) -> str:
    """Remove the password from a driver's message, should one ever echo it."""
    if url.password:
        text = text.replace(str(url.password), "***")
    return text
