"""Database faults, provoked for real: each is one clean message and exit code 3.

Every fault runs the real command line in a subprocess, in each error format,
and checks what the user sees: one paragraph naming the host and the database
(never the password), exit code 3, no traceback, and the output file as it
was before. The faults are real: a host that does not resolve, a port nobody
listens on, a wrong password, a database without the reference schema, a
table locked by another session past the statement timeout, a backend killed
with pg_terminate_backend, a server stopped in the middle of a compile, and a
pool of one connection that another holder keeps.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import anyio.from_thread
import asyncpg
import pytest
import sqlalchemy as sa
from rich.console import Console

from seedcompile.compiler import compile_spec
from seedcompile.database import DatabaseSettings, create_engine
from seedcompile.errors import EXIT_DATABASE, EXIT_USAGE, DatabaseError, UsageError
from seedcompile.report import ErrorFormat, report
from tests.support import REPO, SPECS, build_demo, loaded_from_text

ENTRY = "from seedcompile.cli import main; main()"
PG_CLUSTER = REPO / "scripts" / "pg-cluster"
OLD_OUTPUT = b'{"previous": "fixture, to be left alone"}\n'
FORMATS = ["human", "json", "github"]
SECRET = "Sup3r-Secret-Pa55word"


@dataclass(frozen=True)
class Target:
    """A database URL and the parts of it a message may and may not show."""

    url: str

    @property
    def parts(self) -> Any:
        return urlsplit(self.url)

    @property
    def place(self) -> str:
        parts = self.parts
        port = f":{parts.port}" if parts.port else ""
        return f"PostgreSQL database {parts.path.lstrip('/')} on {parts.hostname}{port}"

    @property
    def password(self) -> str:
        return self.parts.password or ""


def with_parts(
    url: str, *, password: str | None = None, path: str | None = None
) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc
    if password is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{password}@{hostport}"
    return urlunsplit(parts._replace(netloc=netloc, path=path or parts.path))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "spec.yaml").write_text((SPECS / "eu-west-launch.yaml").read_text())
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "fixture.json").write_bytes(OLD_OUTPUT)
    return tmp_path


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "PG"))}
    env["COLUMNS"] = "300"
    return env


def compile_args(workspace: Path, url: str, fmt: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-c",
        ENTRY,
        "compile",
        str(workspace / "spec.yaml"),
        "-o",
        str(workspace / "out" / "fixture.json"),
        "--db",
        url,
        "--error-format",
        fmt,
        *extra,
    ]


def run_compile(
    workspace: Path, url: str, fmt: str, *extra: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        compile_args(workspace, url, fmt, *extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(),
        check=False,
    )


def assert_clean_fault(
    result: subprocess.CompletedProcess[str],
    *,
    fmt: str,
    code: str,
    target: Target,
    workspace: Path,
    secrets: tuple[str, ...] = (),
) -> str:
    """Check one fault as the user sees it; return its message."""
    seen = result.stdout + result.stderr
    for secret in (target.password, *secrets):
        assert secret
        assert secret not in seen
    assert "Traceback" not in seen
    assert result.returncode == EXIT_DATABASE, seen
    out = workspace / "out"
    assert (out / "fixture.json").read_bytes() == OLD_OUTPUT
    assert sorted(p.name for p in out.iterdir()) == ["fixture.json"]

    if fmt == "human":
        lines = result.stderr.rstrip("\n").split("\n")
        assert len(lines) == 2, result.stderr  # the message and its hint
        assert lines[0].startswith(f"seedcompile: error [{code}] ")
        assert lines[1].startswith("  hint: ")
        message = lines[0]
    elif fmt == "json":
        [line] = result.stderr.splitlines()
        problem = json.loads(line)
        assert problem["code"] == code
        assert problem["hint"]
        message = problem["message"]
    else:
        [line] = result.stdout.splitlines()
        assert line.startswith(f"::error title={code}::")
        message = line
    assert target.place in message
    return message


@contextmanager
def portal() -> Iterator[anyio.from_thread.BlockingPortal]:
    with anyio.from_thread.start_blocking_portal() as blocking:
        yield blocking


@contextmanager
def table_locked(url: str, table: str) -> Iterator[tuple[Any, Any]]:
    """Hold an ACCESS EXCLUSIVE lock on `table` from another session."""
    with portal() as blocking:
        holder = blocking.call(asyncpg.connect, url)
        blocking.call(holder.execute, "BEGIN")
        blocking.call(holder.execute, f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        try:
            yield blocking, holder
        finally:
            if not holder.is_closed():
                try:
                    blocking.call(holder.close)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    holder.terminate()


def wait_for_lock_waiter(blocking: Any, holder: Any, database: str) -> int:
    """The PID of the compile's backend once it waits for the lock."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        # Activity statistics are a snapshot taken once per transaction, and
        # the holder sits in one: clear it to see the compile arrive.
        blocking.call(holder.execute, "SELECT pg_stat_clear_snapshot()")
        pid = blocking.call(
            holder.fetchval,
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 "
            "AND application_name = 'seedcompile' AND wait_event_type = 'Lock'",
            database,
        )
        if pid is not None:
            return int(pid)
        time.sleep(0.05)
    raise AssertionError("the compile never waited for the lock")


# --- connecting -----------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_host_that_does_not_resolve(workspace: Path, fmt: str) -> None:
    target = Target(f"postgresql://reader:{SECRET}@db.nonexistent.invalid:5432/refdata")
    result = run_compile(workspace, target.url, fmt, "--connect-retries", "0")
    message = assert_clean_fault(
        result, fmt=fmt, code="database.unreachable", target=target, workspace=workspace
    )
    assert "does not resolve" in message


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_refused_connection(workspace: Path, fmt: str) -> None:
    target = Target(f"postgresql://reader:{SECRET}@127.0.0.1:{free_port()}/refdata")
    result = run_compile(workspace, target.url, fmt, "--connect-retries", "0")
    message = assert_clean_fault(
        result, fmt=fmt, code="database.unreachable", target=target, workspace=workspace
    )
    assert "refused" in message


def test_connect_retries_is_an_option_of_the_command_line(workspace: Path) -> None:
    url = f"postgresql://reader:{SECRET}@127.0.0.1:{free_port()}/refdata"
    result = subprocess.run(
        [
            *compile_args(workspace, url, "human", "--connect-retries", "2")[:3],
            "--verbose",
            *compile_args(workspace, url, "human", "--connect-retries", "2")[3:],
        ],
        capture_output=True,
        text=True,
        env=cli_env(),
        check=False,
    )
    assert result.returncode == EXIT_DATABASE
    assert SECRET not in result.stdout + result.stderr
    retries = [line for line in result.stderr.splitlines() if "trying again" in line]
    assert [line.split("trying again in ")[1].split()[0] for line in retries] == [
        "0.25",
        "0.50",
    ]


@pytest.mark.parametrize(
    ("retries", "waits"),
    [(0, []), (2, [0.25, 0.5]), (50, [0.25, 0.5, 1.0, 2.0])],
)
def test_connecting_retries_with_a_bounded_backoff(
    caplog: pytest.LogCaptureFixture, retries: int, waits: list[float]
) -> None:
    url = f"postgresql://reader:{SECRET}@127.0.0.1:{free_port()}/refdata"

    async def run() -> float:
        engine = create_engine(DatabaseSettings(url=url, connect_retries=retries))
        started = time.monotonic()
        try:
            with pytest.raises(DatabaseError) as caught:
                await compile_spec(
                    loaded_from_text((SPECS / "eu-west-launch.yaml").read_text()),
                    engine,
                    max_connections=1,
                )
        finally:
            await engine.dispose()
        assert caught.value.diagnostics[0].code == "database.unreachable"
        return time.monotonic() - started

    caplog.set_level("INFO", logger="seedcompile.database")
    took = anyio.run(run)
    announced = [r.getMessage() for r in caplog.records if "trying again" in r.message]
    assert [float(m.rsplit(" in ", 1)[1].split()[0]) for m in announced] == waits
    assert all(SECRET not in m for m in announced)
    # Waits never add up to more than 5 s, however many retries are allowed.
    assert sum(waits) <= took < sum(waits) + 2


def test_connecting_again_reaches_a_server_that_comes_up(pg_demo: str) -> None:
    port = free_port()
    real = urlsplit(pg_demo)
    late = urlunsplit(
        real._replace(netloc=real.netloc.replace(str(real.port), str(port)))
    )

    async def forward(reader: Any, writer: Any) -> None:
        up_reader, up_writer = await asyncio.open_connection(real.hostname, real.port)

        async def pump(source: Any, sink: Any) -> None:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
            sink.close()

        await asyncio.gather(
            pump(reader, up_writer), pump(up_reader, writer), return_exceptions=True
        )

    async def run() -> float:
        async def open_late() -> Any:
            await anyio.sleep(0.6)  # the first two attempts find nobody
            return await asyncio.start_server(forward, "127.0.0.1", port)

        opening = asyncio.ensure_future(open_late())
        engine = create_engine(DatabaseSettings(url=late, connect_retries=5))
        started = time.monotonic()
        try:
            result = await compile_spec(
                loaded_from_text((SPECS / "eu-west-launch.yaml").read_text()),
                engine,
                max_connections=1,
            )
            assert result.orders == 499
            return time.monotonic() - started
        finally:
            await engine.dispose()
            server = await opening
            server.close()

    assert anyio.run(run) >= 0.6


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_wrong_password(workspace: Path, pg_demo: str, fmt: str) -> None:
    target = Target(with_parts(pg_demo, password=SECRET))
    result = run_compile(workspace, target.url, fmt)
    message = assert_clean_fault(
        result,
        fmt=fmt,
        code="database.auth",
        target=target,
        workspace=workspace,
        secrets=(urlsplit(pg_demo).password or "",),
    )
    assert "password authentication failed" in message


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_database_that_does_not_exist(workspace: Path, pg_url: str, fmt: str) -> None:
    target = Target(with_parts(pg_url, path="/no_such_reference_database"))
    result = run_compile(workspace, target.url, fmt)
    message = assert_clean_fault(
        result, fmt=fmt, code="database.not-found", target=target, workspace=workspace
    )
    assert "PostgreSQL database no_such_reference_database on" in message
    assert "does not exist" in message


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_database_without_the_reference_schema(
    workspace: Path, pg_database: str, fmt: str
) -> None:
    target = Target(pg_database)
    result = run_compile(workspace, target.url, fmt)
    message = assert_clean_fault(
        result, fmt=fmt, code="database.no-schema", target=target, workspace=workspace
    )
    assert "refdata init" in result.stdout + result.stderr
    assert "does not exist" in message


# --- in the middle of a compile -----------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_query_past_the_statement_timeout(
    workspace: Path, pg_demo: str, fmt: str
) -> None:
    target = Target(pg_demo)
    with table_locked(pg_demo, "customer"):
        started = time.monotonic()
        result = run_compile(workspace, target.url, fmt, "--statement-timeout", "0.3")
        took = time.monotonic() - started
    message = assert_clean_fault(
        result, fmt=fmt, code="database.timeout", target=target, workspace=workspace
    )
    assert "statement timeout" in message
    assert took < 20


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_server_ending_the_connection_mid_compile(
    workspace: Path, pg_demo: str, fmt: str
) -> None:
    target = Target(pg_demo)
    database = urlsplit(pg_demo).path.lstrip("/")
    with (
        table_locked(pg_demo, "customer") as (blocking, holder),
        subprocess.Popen(
            compile_args(workspace, target.url, fmt),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(),
        ) as compile_,
    ):
        try:
            pid = wait_for_lock_waiter(blocking, holder, database)
            assert blocking.call(
                holder.fetchval, "SELECT pg_terminate_backend($1)", pid
            )
            stdout, stderr = compile_.communicate(timeout=60)
        finally:
            compile_.kill()
    result = subprocess.CompletedProcess(
        compile_.args, compile_.returncode, stdout, stderr
    )
    message = assert_clean_fault(
        result,
        fmt=fmt,
        code="database.connection-lost",
        target=target,
        workspace=workspace,
    )
    assert "nothing was written" in message


@pytest.fixture(scope="module")
def own_server(
    pg_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, dict[str, str], str]]:
    """A throwaway cluster of this module's own, free to be stopped."""
    del pg_url  # only for skipping (or failing on CI) like every server test
    directory = tmp_path_factory.mktemp("own-cluster") / "pg"
    env = {**os.environ, "SEEDCOMPILE_PG_PORT": str(free_port())}
    started = subprocess.run(
        [str(PG_CLUSTER), "start", str(directory)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if started.returncode != 0:
        pytest.fail(f"could not start a cluster of our own:\n{started.stderr}")
    try:
        yield directory, env, started.stdout.strip()
    finally:
        subprocess.run(
            [str(PG_CLUSTER), "destroy", str(directory)],
            capture_output=True,
            env=env,
            check=False,
        )


def test_the_server_stopping_mid_compile(
    workspace: Path, own_server: tuple[Path, dict[str, str], str]
) -> None:
    directory, env, url = own_server
    target = Target(build_demo(url))
    database = urlsplit(url).path.lstrip("/")
    with (
        table_locked(url, "customer") as (blocking, holder),
        subprocess.Popen(
            compile_args(workspace, target.url, "human", "--connect-retries", "0"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(),
        ) as compile_,
    ):
        try:
            wait_for_lock_waiter(blocking, holder, database)
            subprocess.run(
                [str(PG_CLUSTER), "stop", str(directory)],
                capture_output=True,
                env=env,
                check=True,
            )
            stdout, stderr = compile_.communicate(timeout=60)
        finally:
            compile_.kill()
    result = subprocess.CompletedProcess(
        compile_.args, compile_.returncode, stdout, stderr
    )
    assert_clean_fault(
        result,
        fmt="human",
        code="database.connection-lost",
        target=target,
        workspace=workspace,
    )

    # And with the server down, the next compile cannot connect at all.
    result = run_compile(workspace, target.url, "human", "--connect-retries", "1")
    assert_clean_fault(
        result,
        fmt="human",
        code="database.unreachable",
        target=target,
        workspace=workspace,
    )


@pytest.mark.parametrize("max_connections", [1, 2])
def test_a_pool_exhausted_past_its_timeout(pg_demo: str, max_connections: int) -> None:
    password = urlsplit(pg_demo).password or ""
    loaded = loaded_from_text((SPECS / "eu-west-launch.yaml").read_text())

    async def run() -> DatabaseError:
        settings = DatabaseSettings(
            url=pg_demo, max_connections=max_connections, pool_timeout=0.3
        )
        engine = create_engine(settings)
        try:
            # Another holder keeps one connection of the pool: with a pool of
            # one the snapshot never opens, with two its second connection
            # never comes.
            async with engine.connect() as held:
                await held.execute(sa.select(1))
                with pytest.raises(DatabaseError) as caught:
                    await compile_spec(
                        loaded,
                        engine,
                        max_connections=max_connections,
                        prefetch_connections=max_connections,
                    )
                return caught.value
        finally:
            await engine.dispose()

    error = anyio.run(run)
    assert error.exit_code == EXIT_DATABASE
    [problem] = error.diagnostics
    assert problem.code == "database.pool-exhausted"
    assert Target(pg_demo).place in problem.message
    for fmt in ErrorFormat:
        stderr, stdout = io.StringIO(), io.StringIO()
        report(
            error.diagnostics,
            fmt=fmt,
            console=Console(file=stderr, width=300),
            stdout=stdout,
        )
        shown = stderr.getvalue() + stdout.getvalue()
        assert password not in shown
        assert Target(pg_demo).place in shown


# --- settings -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "code"),
    [
        ("DATABASE_CONNECT_RETRIES", "many", "usage.environment"),
        ("DATABASE_CONNECT_RETRIES", "-1", "usage.connect-retries"),
        ("DATABASE_STATEMENT_TIMEOUT", "soon", "usage.environment"),
        ("DATABASE_STATEMENT_TIMEOUT", "-5", "usage.statement-timeout"),
        ("DATABASE_STATEMENT_TIMEOUT", "nan", "usage.statement-timeout"),
        ("DATABASE_PREFETCH_CONNECTIONS", "4", "usage.prefetch-connections"),
    ],
)
def test_a_wrong_setting_in_the_environment_is_a_usage_error(
    variable: str, value: str, code: str
) -> None:
    with pytest.raises(UsageError) as caught:
        DatabaseSettings.from_env(
            "postgresql://reader@localhost/refdata", environ={variable: value}
        )
    assert caught.value.exit_code == EXIT_USAGE
    [problem] = caught.value.diagnostics
    assert problem.code == code
    # The message names the variable the value came from, and the value.
    assert variable in problem.message
    assert value in problem.message


def test_settings_come_from_the_environment_unless_given() -> None:
    environ = {"DATABASE_CONNECT_RETRIES": "0", "DATABASE_STATEMENT_TIMEOUT": "2.5"}
    settings = DatabaseSettings.from_env("sqlite:///x.db", environ=environ)
    assert (settings.connect_retries, settings.statement_timeout) == (0, 2.5)
    settings = DatabaseSettings.from_env(
        "sqlite:///x.db", connect_retries=4, statement_timeout=0, environ=environ
    )
    assert (settings.connect_retries, settings.statement_timeout) == (4, 0)
