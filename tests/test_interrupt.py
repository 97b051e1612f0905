"""Nothing lost, nothing half-written; concurrency that cannot duplicate or leak.

An interrupted compile (Ctrl-C, SIGTERM, SIGKILL, a failed stage) leaves the
previous output byte for byte and no temporary file behind. The signals are
real: a compile of 200,000 orders (a 60 MB SeedConfig) runs in a subprocess
and is signalled while it writes. To hit the write every time, most of these
runs go through a shim that makes `fsync` of the temporary file slow, as a
loaded disk would; one run signals with no help at all, as soon as the
temporary file appears.

The concurrent stages are then cancelled and failed on purpose: prep codes
under a capacity limit far below the number of groups, a failing group, a
cancelled numbering, a compile cancelled while its prefetch waits on the
server, and one prefetch connection failing while the others read.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import anyio
import anyio.from_thread
import asyncpg
import pytest
import sqlalchemy as sa
import typer

from seedcompile import cli
from seedcompile.codes import assign_codes
from seedcompile.compiler import compile_spec
from seedcompile.database import DatabaseSettings, create_engine
from seedcompile.errors import (
    EXIT_INTERNAL,
    EXIT_INVALID,
    EXIT_USAGE,
    DatabaseError,
    Diagnostic,
    ReferenceDataError,
    SpecError,
)
from seedcompile.plan import PlannedPrep
from tests.support import SPECS, loaded_from_text

OLD_OUTPUT = b'{"previous": "fixture, to be left alone"}\n'
LARGE_SPEC = """
version: 1
inventory: ignore
orders:
  - name: bulk
    count: 200000
    customers: all
    lines: [{sku: TSHIRT-BLUE-M, quantity: {min: 1, max: 3}}, {sku: MUG-WHITE}]
"""
# Runs the real entry point with `fsync` of the temporary file slowed down;
# the shim touches the marker file once the write has reached it.
SLOW_DISK = """
import os, pathlib, sys, time
marker = pathlib.Path(sys.argv.pop(1))
pause = float(sys.argv.pop(1))
real_fsync = os.fsync
def slow_fsync(fd):
    if os.readlink(f"/proc/self/fd/{fd}").endswith(".tmp"):
        marker.write_text("writing")
        time.sleep(pause)
    real_fsync(fd)
os.fsync = slow_fsync
from seedcompile.cli import main
main()
"""
ENTRY = "from seedcompile.cli import main; main()"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "large.yaml").write_text(LARGE_SPEC)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "fixture.json").write_bytes(OLD_OUTPUT)
    return tmp_path


def leftovers(workspace: Path) -> list[str]:
    return sorted(p.name for p in (workspace / "out").iterdir())


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}


def compile_command(workspace: Path, url: str, spec: str = "large.yaml") -> list[str]:
    return [
        "compile",
        str(workspace / spec),
        "--db",
        url,
        "-o",
        str(workspace / "out" / "fixture.json"),
    ]


def wait_for(path: Path, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


def slow_disk_compile(
    workspace: Path,
    url: str,
    *,
    pause: float,
    options: tuple[str, ...] = (),
    extra_env: dict[str, str] | None = None,
) -> subprocess.Popen[str]:
    """A compile whose writes go through the slow-disk shim.

    The shim creates `workspace / "writing"` when the write starts and holds
    the flush `pause` seconds; with 0 the marker only tells that it began.
    """
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            SLOW_DISK,
            str(workspace / "writing"),
            str(pause),
            *options,
            *compile_command(workspace, url),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**env(), **(extra_env or {})},
    )


def interrupt_mid_write(
    workspace: Path, url: str, signum: int, *, pause: float = 1.5
) -> tuple[int, str]:
    """Signal a compile once it writes; its exit code and stderr."""
    marker = workspace / "writing"
    with slow_disk_compile(workspace, url, pause=pause) as process:
        try:
            wait_for(marker, process)
            # The temporary file is whole and being flushed: the worst moment.
            temps = [n for n in leftovers(workspace) if n.endswith(".tmp")]
            assert len(temps) == 1
            assert (workspace / "out" / temps[0]).stat().st_size > 50_000_000
            process.send_signal(signum)
            _, stderr = process.communicate(timeout=60)
        finally:
            process.kill()
    return process.returncode, stderr


@pytest.mark.parametrize(
    ("signum", "exit_code", "name"),
    [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM")],
)
def test_a_signal_mid_write_leaves_the_previous_output(
    workspace: Path, sqlite_demo: str, signum: int, exit_code: int, name: str
) -> None:
    returncode, stderr = interrupt_mid_write(workspace, sqlite_demo, signum)

    assert returncode == exit_code, stderr
    assert f"interrupted ({name})" in stderr
    assert "Traceback" not in stderr
    assert (workspace / "out" / "fixture.json").read_bytes() == OLD_OUTPUT
    assert leftovers(workspace) == ["fixture.json"]


def test_a_killed_writer_leaves_the_previous_output_and_the_next_write_cleans_up(
    workspace: Path, sqlite_demo: str
) -> None:
    returncode, _ = interrupt_mid_write(
        workspace, sqlite_demo, signal.SIGKILL, pause=30
    )

    assert returncode == -signal.SIGKILL
    assert (workspace / "out" / "fixture.json").read_bytes() == OLD_OUTPUT
    [orphan] = [n for n in leftovers(workspace) if n.endswith(".tmp")]

    # The orphan names a process that is gone: the next write removes it.
    result = subprocess.run(
        [sys.executable, "-c", ENTRY, *compile_command(workspace, sqlite_demo)],
        capture_output=True,
        text=True,
        env=env(),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert orphan not in leftovers(workspace)
    assert leftovers(workspace) == ["fixture.json"]
    assert len(
        json.loads((workspace / "out" / "fixture.json").read_bytes())["orders"]
    ) == (200_000)


def test_a_signal_as_the_write_starts_leaves_an_old_or_a_whole_file(
    workspace: Path, sqlite_demo: str
) -> None:
    # No shim: SIGTERM as soon as the temporary file shows. Whichever wins,
    # the output is the previous bytes or the whole new fixture. The write
    # takes a few dozen milliseconds; should the poll miss it, try again.
    for _attempt in range(3):
        (workspace / "out" / "fixture.json").write_bytes(OLD_OUTPUT)
        caught = signal_when_the_write_starts(workspace, sqlite_demo)
        if caught is not None:
            break
    else:
        pytest.fail("three compiles wrote their output before a poll saw it")
    returncode, stderr = caught

    assert "Traceback" not in stderr
    assert returncode in (0, 143), stderr
    assert leftovers(workspace) == ["fixture.json"]
    written = (workspace / "out" / "fixture.json").read_bytes()
    if written != OLD_OUTPUT:
        assert len(json.loads(written)["orders"]) == 200_000


def signal_when_the_write_starts(workspace: Path, url: str) -> tuple[int, str] | None:
    with subprocess.Popen(
        [sys.executable, "-c", ENTRY, *compile_command(workspace, url)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
    ) as process:
        try:
            while not any(n.endswith(".tmp") for n in leftovers(workspace)):
                if process.poll() is not None:
                    process.communicate()
                    return None
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=60)
        finally:
            process.kill()
    return process.returncode, stderr


def test_a_signal_while_compiling_writes_nothing(
    workspace: Path, sqlite_demo: str
) -> None:
    marker = workspace / "writing"
    with slow_disk_compile(
        workspace,
        sqlite_demo,
        pause=0,
        options=("--verbose",),
        extra_env={"COLUMNS": "300"},
    ) as process:
        try:
            assert process.stderr is not None
            # The prefetch is logged; planning 200,000 orders follows.
            for line in process.stderr:
                if "prefetched" in line:
                    break
            else:
                pytest.fail("the compile never logged its prefetch")
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=60)
        finally:
            process.kill()

    assert process.returncode == 130, stderr
    assert "interrupted (Ctrl-C)" in stderr
    assert "Traceback" not in stderr
    assert not marker.exists()
    assert (workspace / "out" / "fixture.json").read_bytes() == OLD_OUTPUT
    assert leftovers(workspace) == ["fixture.json"]


def run_cli(*args: str, extra_env: dict[str, str] | None = None) -> Any:
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *args],
        capture_output=True,
        text=True,
        env={**env(), **(extra_env or {})},
        check=False,
    )


def test_a_failed_stage_leaves_the_previous_output(
    workspace: Path, sqlite_demo: str
) -> None:
    spec = (SPECS / "eu-west-launch.yaml").read_text()
    (workspace / "broken.yaml").write_text(
        spec.replace("customers: {region: EU-WEST}", "customers: [C-NOBODY]")
    )
    result = run_cli(*compile_command(workspace, sqlite_demo, "broken.yaml"))

    assert result.returncode == EXIT_INVALID
    assert "C-NOBODY" in result.stderr
    assert (workspace / "out" / "fixture.json").read_bytes() == OLD_OUTPUT
    assert leftovers(workspace) == ["fixture.json"]


def test_an_output_over_the_size_limit_is_refused_before_it_is_written(
    workspace: Path, sqlite_demo: str
) -> None:
    (workspace / "spec.yaml").write_text((SPECS / "eu-west-launch.yaml").read_text())
    args = compile_command(workspace, sqlite_demo, "spec.yaml")

    refused = run_cli(*args, extra_env={"SEEDCOMPILE_MAX_OUTPUT_BYTES": "10000"})
    assert refused.returncode == EXIT_INVALID
    assert "[spec.output-too-large]" in refused.stderr
    assert "the limit is 10,000" in refused.stderr
    assert "SEEDCOMPILE_MAX_OUTPUT_BYTES" in refused.stderr
    assert (workspace / "out" / "fixture.json").read_bytes() == OLD_OUTPUT

    wrong = run_cli(*args, extra_env={"SEEDCOMPILE_MAX_OUTPUT_BYTES": "lots"})
    assert wrong.returncode == EXIT_USAGE
    assert "SEEDCOMPILE_MAX_OUTPUT_BYTES must be" in wrong.stderr
    assert (workspace / "out" / "fixture.json").read_bytes() == OLD_OUTPUT

    raised = run_cli(*args, extra_env={"SEEDCOMPILE_MAX_OUTPUT_BYTES": "10_000_000"})
    assert raised.returncode == 0, raised.stderr
    fixture = json.loads((workspace / "out" / "fixture.json").read_bytes())
    assert len(fixture["orders"]) == 499


def test_an_output_that_cannot_be_written_is_a_clean_error(
    workspace: Path, sqlite_demo: str
) -> None:
    (workspace / "spec.yaml").write_text((SPECS / "eu-west-launch.yaml").read_text())
    spec = str(workspace / "spec.yaml")
    (workspace / "a-file").write_text("not a folder")
    (workspace / "a-folder.json").mkdir()

    for target in (workspace / "a-file" / "out.json", workspace / "a-folder.json"):
        result = run_cli("compile", spec, "--db", sqlite_demo, "-o", str(target))
        assert result.returncode == EXIT_USAGE, result.stderr
        assert "[usage.output-unwritable]" in result.stderr
        assert "Traceback" not in result.stderr
    assert sorted(p.name for p in workspace.iterdir()) == [
        "a-file",
        "a-folder.json",
        "large.yaml",
        "out",
        "spec.yaml",
    ]
    assert list((workspace / "a-folder.json").iterdir()) == []


# --- prep codes: a capacity limit, failures, cancellation ----------------------

DAY = dt.date(2026, 12, 10)


RealLimiter = anyio.CapacityLimiter


class TrackingLimiter:
    """A capacity limiter that records how many holders it had at once."""

    instances: ClassVar[list[TrackingLimiter]] = []
    # Events set when the limiter has been acquired that many times.
    milestones: ClassVar[dict[int, anyio.Event]] = {}

    def __init__(self, total: int) -> None:
        self.inner = RealLimiter(total)
        self.holding = 0
        self.most = 0
        self.acquired = 0
        TrackingLimiter.instances.append(self)

    async def __aenter__(self) -> None:
        await self.inner.acquire()
        self.acquired += 1
        if self.acquired in self.milestones:
            self.milestones[self.acquired].set()
        self.holding += 1
        self.most = max(self.most, self.holding)
        try:
            # Hold the token across a checkpoint, as a group that queries
            # the database would.
            await anyio.sleep(0.001)
        except BaseException:
            await self.__aexit__()
            raise

    async def __aexit__(self, *_: object) -> None:
        self.holding -= 1
        self.inner.release()


@pytest.fixture
def tracking(monkeypatch: pytest.MonkeyPatch) -> list[TrackingLimiter]:
    TrackingLimiter.instances = []
    TrackingLimiter.milestones = {}
    monkeypatch.setattr(anyio, "CapacityLimiter", TrackingLimiter)
    return TrackingLimiter.instances


def many_groups(groups: int, per_group: int = 3) -> list[PlannedPrep]:
    preps = []
    for g in range(groups):
        location, carrier = f"L{g % 20:02d}", f"C{g // 20:02d}"
        for _ in range(per_group):
            preps.append(PlannedPrep(0, 0, location, carrier, DAY, []))
    return preps


def test_codes_stay_unique_with_far_fewer_slots_than_groups(
    tracking: list[TrackingLimiter],
) -> None:
    preps = many_groups(300)
    highest = {("L00", "C00", DAY): 41, ("L07", "C03", DAY): 9998 - 3}
    anyio.run(lambda: assign_codes(preps, highest, limit=3))

    [limiter] = tracking
    assert limiter.most == 3
    assert limiter.holding == 0
    assert limiter.inner.borrowed_tokens == 0
    codes = [p.code for p in preps]
    assert len(set(codes)) == len(codes) == 900
    numbers: dict[tuple[str, str], list[int]] = defaultdict(list)
    for p in preps:
        numbers[(p.location, p.carrier)].append(int(p.code[-4:]))
    assert numbers[("L00", "C00")] == [42, 43, 44]
    assert numbers[("L07", "C03")] == [9996, 9997, 9998]
    assert all(n == [1, 2, 3] for k, n in numbers.items() if k[0] not in ("L00", "L07"))


def test_every_group_past_9999_is_reported_in_one_error(
    tracking: list[TrackingLimiter],
) -> None:
    preps = many_groups(40)
    highest = {("L03", "C00", DAY): 9998, ("L11", "C01", DAY): 9999}
    with pytest.raises(ReferenceDataError) as caught:
        anyio.run(lambda: assign_codes(preps, highest, limit=2))
    assert sorted(d.message for d in caught.value.diagnostics) == [
        "3 new preps for L03-C00-20261210 would number past 9999 "
        "(codes up to 9998 exist)",
        "3 new preps for L11-C01-20261210 would number past 9999 "
        "(codes up to 9999 exist)",
    ]
    assert tracking[0].inner.borrowed_tokens == 0


def test_cancelled_code_generation_returns_every_token(
    tracking: list[TrackingLimiter],
) -> None:
    preps = many_groups(200)

    async def run() -> None:
        # Cancel part way: once twenty groups have had their turn.
        twentieth = TrackingLimiter.milestones[20] = anyio.Event()
        async with anyio.create_task_group() as tg:
            tg.start_soon(partial(assign_codes, preps, {}, limit=4))
            await twentieth.wait()
            tg.cancel_scope.cancel()

    anyio.run(run)
    [limiter] = tracking
    assert limiter.most == 4
    assert limiter.holding == 0
    assert limiter.inner.borrowed_tokens == 0
    done = [p.code for p in preps if p.code]
    assert 0 < len(done) < len(preps)  # cancelled part way
    assert len(set(done)) == len(done)


def test_failures_of_concurrent_tasks_are_each_reported_not_as_a_group(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def fail() -> None:
        raise ExceptionGroup(
            "unhandled errors in a TaskGroup",
            [
                ReferenceDataError(Diagnostic("codes.overflow", "group one overflows")),
                ExceptionGroup("inner", [SpecError(Diagnostic("spec.x", "two"))]),
                RuntimeError("a bug in group three"),
            ],
        )

    with pytest.raises(typer.Exit) as caught:
        cli._guarded(fail)
    assert caught.value.exit_code == EXIT_INTERNAL
    shown = capsys.readouterr()
    text = shown.out + shown.err
    assert "error [codes.overflow] group one overflows" in text
    assert "error [spec.x] two" in text
    assert "internal error: RuntimeError: a bug in group three" in text
    assert text.count("error [") == 3
    assert "ExceptionGroup" not in text
    assert "Traceback" not in text


def test_a_failing_group_is_reported_cleanly_and_writes_nothing(
    monkeypatch: pytest.MonkeyPatch, workspace: Path, sqlite_demo: str
) -> None:
    from typer.testing import CliRunner

    import seedcompile.codes

    real = seedcompile.codes.format_code

    def broken(key: Any, number: int) -> str:
        if key[0] == "LON1":
            raise RuntimeError(f"cannot number {key[0]}")
        return real(key, number)

    monkeypatch.setattr(seedcompile.codes, "format_code", broken)
    (workspace / "spec.yaml").write_text((SPECS / "eu-west-launch.yaml").read_text())
    result = CliRunner().invoke(
        cli.app, compile_command(workspace, sqlite_demo, "spec.yaml")
    )

    assert result.exit_code == EXIT_INTERNAL, result.output
    assert "internal error: RuntimeError: cannot number LON1" in result.output
    assert "ExceptionGroup" not in result.output
    assert (workspace / "out" / "fixture.json").read_bytes() == OLD_OUTPUT


# --- the prefetch: cancellation and a failing connection -----------------------


def backends(url: str) -> list[tuple[str, str]]:
    async def query() -> list[tuple[str, str]]:
        connection = await asyncpg.connect(url)
        try:
            rows = await connection.fetch(
                "SELECT state, coalesce(wait_event_type, '') FROM pg_stat_activity "
                "WHERE datname = current_database() "
                "AND application_name = 'seedcompile'"
            )
            return [(row[0], row[1]) for row in rows]
        finally:
            await connection.close()

    return anyio.run(query)


def lock_and_run(
    url: str, table: str, scenario: Any, *, statement_timeout: float
) -> Any:
    """Run `scenario(engine)` while another session locks `table`."""

    async def run() -> Any:
        holder = await asyncpg.connect(url)
        await holder.execute("BEGIN")
        await holder.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        engine = create_engine(
            DatabaseSettings(
                url=url, max_connections=4, statement_timeout=statement_timeout
            )
        )
        try:
            outcome = await scenario(engine)
            checked_out = engine.sync_engine.pool.checkedout()  # type: ignore[attr-defined]
            return outcome, checked_out
        finally:
            await engine.dispose()
            await holder.close()

    return anyio.run(run)


def test_a_cancelled_compile_returns_every_connection(pg_demo: str) -> None:
    loaded = loaded_from_text((SPECS / "eu-west-launch.yaml").read_text())

    async def cancel_while_waiting(engine: Any) -> bool:
        with anyio.move_on_after(0.2) as scope:
            await compile_spec(
                loaded, engine, max_connections=4, prefetch_connections=3
            )
        return scope.cancelled_caught

    cancelled, checked_out = lock_and_run(
        pg_demo, "customer", cancel_while_waiting, statement_timeout=60
    )
    assert cancelled
    assert checked_out == 0
    deadline = time.monotonic() + 10
    while (left := backends(pg_demo)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert left == []


def test_one_failing_connection_stops_the_others_and_reports_one_error(
    pg_demo: str,
) -> None:
    loaded = loaded_from_text((SPECS / "eu-west-launch.yaml").read_text())

    async def fail(engine: Any) -> DatabaseError:
        with pytest.raises(DatabaseError) as caught:
            await compile_spec(
                loaded, engine, max_connections=4, prefetch_connections=3
            )
        return caught.value

    # Only the variants' connection waits, and times out; the customers'
    # connection is cancelled instead of finishing its query.
    error, checked_out = lock_and_run(pg_demo, "variant", fail, statement_timeout=0.5)
    [problem] = error.diagnostics
    assert problem.code == "database.timeout"
    assert checked_out == 0
    assert not isinstance(error.__cause__, BaseExceptionGroup)


def test_sqlite_compiles_still_read_on_one_connection(sqlite_demo: str) -> None:
    statements: list[str] = []

    async def run() -> int:
        engine = create_engine(DatabaseSettings(url=sqlite_demo, max_connections=8))
        sa.event.listen(
            engine.sync_engine,
            "before_cursor_execute",
            lambda _c, _k, s, *_: statements.append(s),
        )
        try:
            result = await compile_spec(
                loaded_from_text((SPECS / "eu-west-launch.yaml").read_text()),
                engine,
                max_connections=8,
            )
            return result.queries
        finally:
            await engine.dispose()

    assert anyio.run(run) == 9
    assert statements.count("BEGIN") == 1
    assert not any("SNAPSHOT" in s for s in statements)


def test_write_atomic_outside_an_event_loop_still_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from seedcompile.emit import write_atomic

    target = tmp_path / "fixture.json"
    target.write_bytes(OLD_OUTPUT)

    def interrupted_fsync(_fd: object) -> None:
        raise KeyboardInterrupt  # Ctrl-C lands while the bytes are flushed

    monkeypatch.setattr(os, "fsync", interrupted_fsync)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, b"new bytes")
    assert target.read_bytes() == OLD_OUTPUT
    assert [p.name for p in tmp_path.iterdir()] == ["fixture.json"]
