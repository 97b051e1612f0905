"""One consistent, read-only snapshot: what a compile reads is one instant.

The tests commit changes to the reference data from another connection while
a compile is reading it (from an event hook between two of its statements)
and prove the compile saw none of them: its bytes are those of a compile
before the changes, and a compile after them differs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import anyio
import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.util import await_only

from seedcompile.compiler import CompileResult, compile_spec
from seedcompile.database import (
    DatabaseSettings,
    create_engine,
    database_errors,
    open_snapshot,
)
from seedcompile.errors import DatabaseError
from seedcompile.reference import ReferenceRequest, prefetch
from tests.support import SPECS, build_demo, loaded_from_text

SPEC = (SPECS / "eu-west-launch.yaml").read_text()

# Each changes what eu-west-launch.yaml compiles to: a customer of the round
# robin leaves, a prep code is taken (codes number on from it), stock and a
# bill of materials change (the reference digest).
CHANGES = [
    "UPDATE customer SET active = false WHERE code = 'C-000005'",
    "INSERT INTO collection_prep (code, location_code, carrier_code, prep_date) "
    "VALUES ('LON1-DHL-20261210-0042', 'LON1', 'DHL', '2026-12-10')",
    "UPDATE inventory SET on_hand = on_hand + 7 WHERE location_code = 'LON1'",
    "UPDATE variant_part SET quantity = quantity + 1 WHERE sku = 'MUG-WHITE'",
]


class Hook:
    """Commits CHANGES from a connection of its own after a chosen statement."""

    def __init__(self, url: str, after: str) -> None:
        self.url = url
        self.after = after
        self.statements: list[str] = []
        self.fired_at: int | None = None

    def attach(self, engine: Any) -> None:
        sa.event.listen(engine.sync_engine, "after_cursor_execute", self._after)

    def _after(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.statements.append(statement)
        if self.fired_at is None and self.after in statement:
            self.fired_at = len(self.statements)
            # Listeners run inside SQLAlchemy's greenlet: the compile's task
            # waits here while another connection commits.
            await_only(self._commit())

    async def _commit(self) -> None:
        other = await asyncpg.connect(self.url.replace("+asyncpg", ""))
        try:
            async with other.transaction():
                for change in CHANGES:
                    await other.execute(change)
        finally:
            await other.close()

    def statements_after(self) -> list[str]:
        assert self.fired_at is not None, f"no statement matched {self.after!r}"
        return self.statements[self.fired_at :]


def compile_with(
    url: str, *, max_connections: int, hook: Hook | None = None
) -> CompileResult:
    async def run() -> CompileResult:
        engine = create_engine(
            DatabaseSettings(url=url, max_connections=max_connections)
        )
        if hook is not None:
            hook.attach(engine)
        try:
            return await compile_spec(
                loaded_from_text(SPEC),
                engine,
                max_connections=max_connections,
                prefetch_connections=3,
            )
        finally:
            await engine.dispose()

    return anyio.run(run)


@pytest.mark.parametrize(
    ("max_connections", "after"),
    [
        # One connection: changes land between the customer query and the
        # queries that follow it.
        (1, "FROM customer"),
        # A shared snapshot: changes land after the export, before the other
        # connections adopt the snapshot and run their first query.
        (4, "pg_export_snapshot"),
        # ... and after the customer query, before stock and existing preps.
        (4, "FROM customer"),
    ],
)
def test_a_compile_sees_none_of_the_changes_committed_while_it_reads(
    pg_demo: str, max_connections: int, after: str
) -> None:
    before = compile_with(pg_demo, max_connections=max_connections)

    hook = Hook(pg_demo, after)
    during = compile_with(pg_demo, max_connections=max_connections, hook=hook)
    later = hook.statements_after()

    assert any("FROM inventory" in s for s in later)
    assert any("FROM collection_prep" in s for s in later)
    if after == "pg_export_snapshot":
        assert sum("SET TRANSACTION SNAPSHOT" in s for s in later) == 2
        assert any("FROM customer" in s for s in later)
    assert during.document == before.document

    after_changes = compile_with(pg_demo, max_connections=max_connections)
    assert after_changes.document != before.document
    assert b"LON1-DHL-20261210-0043" in after_changes.document
    assert b"LON1-DHL-20261210-0043" not in during.document


def test_every_connection_adopts_the_snapshot_the_first_one_exported(
    pg_demo: str,
) -> None:
    hook = Hook(pg_demo, after="no statement has this text")
    result = compile_with(pg_demo, max_connections=8, hook=hook)

    [export] = [s for s in hook.statements if "pg_export_snapshot" in s]
    adoptions = [s for s in hook.statements if "SET TRANSACTION SNAPSHOT" in s]
    assert hook.statements[0] == export
    assert len(adoptions) == 2  # three connections at most, whatever the pool
    assert len(set(adoptions)) == 1
    assert result.queries == 9  # the compile's own count: data queries only
    assert len(hook.statements) == 12  # with the export and the adoptions


def test_the_snapshot_and_every_session_refuse_to_write(pg_demo: str) -> None:
    async def attempt(write: Callable[[Any], Any]) -> DatabaseError:
        engine = create_engine(DatabaseSettings(url=pg_demo, max_connections=3))
        try:
            with pytest.raises(DatabaseError) as caught, database_errors(engine.url):
                await write(engine)
        finally:
            await engine.dispose()
        return caught.value

    insert = sa.text("INSERT INTO region (code, name) VALUES ('XX', 'nowhere')")

    async def in_snapshot(engine: Any) -> None:
        async with open_snapshot(engine, max_connections=3) as snapshot:
            await snapshot.conn.execute(insert)

    async def in_attached(engine: Any) -> None:
        async with (
            open_snapshot(engine, max_connections=3) as snapshot,
            snapshot.attach() as conn,
        ):
            await conn.execute(insert)

    async def outside_any_snapshot(engine: Any) -> None:
        async with engine.begin() as conn:
            await conn.execute(insert)

    async def regions() -> list[str]:
        connection = await asyncpg.connect(pg_demo)
        try:
            rows = await connection.fetch("SELECT code FROM region ORDER BY code")
            return [row["code"] for row in rows]
        finally:
            await connection.close()

    existing = anyio.run(regions)
    for write in (in_snapshot, in_attached, outside_any_snapshot):
        error = anyio.run(attempt, write)
        [problem] = error.diagnostics
        assert problem.code == "database.read-only", write.__name__
        assert "read-only transaction" in problem.message
    assert anyio.run(regions) == existing
    assert "XX" not in existing


def test_a_prefetch_given_a_bare_connection_runs_on_it_alone(pg_demo: str) -> None:
    async def run() -> int:
        engine = create_engine(DatabaseSettings(url=pg_demo, max_connections=4))
        try:
            async with open_snapshot(engine, max_connections=1) as snapshot:
                assert snapshot.connections == 1
                reference = await prefetch(
                    snapshot.conn, ReferenceRequest(all_customers=True)
                )
                return reference.queries
        finally:
            await engine.dispose()

    assert anyio.run(run) == 8


def test_sqlite_reads_in_one_transaction_that_a_writer_cannot_break_into(
    tmp_path: Any,
) -> None:
    path = tmp_path / "demo.db"
    url = build_demo(f"sqlite:///{path}")
    before = compile_with(url, max_connections=4)
    outcome: dict[str, str] = {}

    def write_between(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FROM customer" in statement and not outcome:
            writer = sqlite3.connect(path, timeout=0.2)
            try:
                with writer:
                    for change in CHANGES:
                        writer.execute(change)
                outcome["write"] = "committed"
            except sqlite3.OperationalError as exc:
                outcome["write"] = str(exc)
            finally:
                writer.close()

    async def run() -> CompileResult:
        engine = create_engine(DatabaseSettings(url=url))
        statements: list[str] = []
        sa.event.listen(
            engine.sync_engine,
            "before_cursor_execute",
            lambda _c, _k, s, *_: statements.append(s),
        )
        sa.event.listen(engine.sync_engine, "after_cursor_execute", write_between)
        try:
            result = await compile_spec(
                loaded_from_text(SPEC), engine, max_connections=4
            )
        finally:
            await engine.dispose()
        assert statements[0] == "BEGIN"
        return result

    during = anyio.run(run)
    assert during.document == before.document
    # The read transaction holds SQLite's shared lock: the writer must wait
    # for the compile to finish, and here gives up.
    assert outcome["write"] == "database is locked"
