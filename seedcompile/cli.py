"""The `seedcompile` command line: a thin layer over the compiler.

Only this module prints, sets up logging or exits. It imports the compiler's
modules inside each command, so that `seedcompile validate` does not pay for
SQLAlchemy and the database drivers it never uses. `main`, the process entry
point, turns the cyclic garbage collector off, treats SIGTERM like Ctrl-C and
ends through `os._exit` once the output is flushed.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console

from seedcompile import __version__
from seedcompile.errors import (
    EXIT_INTERNAL,
    EXIT_INVALID,
    EXIT_OK,
    Diagnostic,
    SeedcompileError,
    SourcePosition,
)
from seedcompile.report import ErrorFormat, report

if TYPE_CHECKING:
    from rich.table import Table

    from seedcompile.batch import SpecRun
    from seedcompile.checks import LoadedSpec
    from seedcompile.compiler import CompileResult
    from seedcompile.database import DatabaseSettings
    from seedcompile.timing import StageTiming
    from seedcompile.tree import SpecFile

EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)
EXIT_TERMINATED = 143  # SIGTERM (128 + SIGTERM)

app = typer.Typer(
    name="seedcompile",
    help="Compile declarative YAML specs into validated SeedConfig fixtures.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
refdata_app = typer.Typer(
    help="Manage the reference database (demo data).", no_args_is_help=True
)
app.add_typer(refdata_app, name="refdata")

T = TypeVar("T")


class _State:
    debug = False
    quiet = False
    error_format = ErrorFormat.human
    console = Console(stderr=True)


state = _State()

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL (postgresql://... or sqlite:///file.db); "
        "default: $DATABASE_URL.",
        show_default=False,
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Change one value of the spec for this run: PATH=VALUE, "
        "e.g. orders[0].count=50 (repeatable).",
        show_default=False,
    ),
]
ErrorFormatOption = Annotated[
    ErrorFormat,
    typer.Option(
        "--error-format", help="How errors are printed.", case_sensitive=False
    ),
]
DebugOption = Annotated[
    bool,
    typer.Option("--debug", help="Log everything; tracebacks on errors."),
]


def _version(value: bool) -> None:
    if value:
        print(f"seedcompile {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log each stage.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print errors only.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Log everything; tracebacks on errors.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version."
        ),
    ] = False,
) -> None:
    """Compile declarative YAML specs into validated SeedConfig fixtures."""
    state.debug = debug
    state.quiet = quiet
    _configure_logging(verbose=verbose, debug=debug)


def _configure_logging(*, verbose: bool, debug: bool) -> None:
    """Set the log level and handler."""
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    if verbose or debug:
        from rich.logging import RichHandler

        handler = RichHandler(console=state.console, show_path=False)
        logging.basicConfig(
            level=level, handlers=[handler], format="%(message)s", force=True
        )
    logging.getLogger("seedcompile").setLevel(level)


def _print_traceback(exc: BaseException) -> None:
    """With `--debug`, the traceback of an error that is otherwise only reported."""
    if state.debug:
        from rich.traceback import Traceback

        state.console.print(Traceback.from_exception(type(exc), exc, exc.__traceback__))


def _guarded(action: Callable[[], T]) -> T:
    """Run a command; turn every failure into a message and an exit code."""
    try:
        return action()
    except SeedcompileError as exc:
        _print_traceback(exc)
        _report(exc.diagnostics)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        raise _interrupted() from None
    except (typer.Exit, typer.Abort):
        raise
    except BaseExceptionGroup as group:
        raise _report_group(group) from None
    except Exception as exc:
        _print_traceback(exc)
        _report([_crash(exc)])
        raise typer.Exit(EXIT_INTERNAL) from None


def _interrupted() -> typer.Exit:
    """Report an interruption; the exit code of the signal that caused it."""
    name = "SIGTERM" if _signals.terminated else "Ctrl-C"
    state.console.print(
        f"[bold red]interrupted[/] ({name}): no file was left half-written; "
        "an output not yet replaced keeps its previous contents",
        highlight=False,
        soft_wrap=True,
    )
    return typer.Exit(EXIT_TERMINATED if _signals.terminated else EXIT_INTERRUPTED)


def _report_group(group: BaseExceptionGroup[Any]) -> typer.Exit:
    """Report every failure of a group of concurrent tasks, not the group itself."""
    leaves: list[BaseException] = []

    def collect(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                collect(inner)
        else:
            leaves.append(exc)

    collect(group)
    if any(isinstance(leaf, KeyboardInterrupt) for leaf in leaves):
        return _interrupted()
    diagnostics: list[Diagnostic] = []
    exit_code = EXIT_OK
    for leaf in leaves:
        _print_traceback(leaf)
        if isinstance(leaf, SeedcompileError):
            diagnostics.extend(leaf.diagnostics)
            exit_code = max(exit_code, leaf.exit_code)
        else:
            diagnostics.append(_crash(leaf))
            exit_code = max(exit_code, EXIT_INTERNAL)
    _report(diagnostics)
    return typer.Exit(exit_code or EXIT_INTERNAL)


def _crash(exc: BaseException) -> Diagnostic:
    return Diagnostic(
        "internal.crash",
        f"internal error: {type(exc).__name__}: {exc}",
        SourcePosition(),
        hint="this is a bug in seedcompile; run again with --debug "
        "for the traceback and please report it",
    )


class _Signals:
    terminated = False


_signals = _Signals()


def _stop_on_sigterm() -> None:
    """Treat SIGTERM like Ctrl-C: stop cleanly and leave no partial output.

    The handler hands the signal to whatever handles SIGINT at that moment:
    inside a compile that is the event loop's, which cancels the running
    compile so that connections close and a write in progress is abandoned;
    elsewhere it raises KeyboardInterrupt.
    """

    def on_sigterm(_signum: int, frame: Any) -> None:
        _signals.terminated = True
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler):
            handler(signal.SIGINT, frame)
        else:
            raise KeyboardInterrupt

    with contextlib.suppress(ValueError):  # only the main thread may set handlers
        signal.signal(signal.SIGTERM, on_sigterm)


def _counted(n: int, noun: str) -> str:
    """`1 order`, `2 orders`."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _report(diagnostics: Sequence[Diagnostic]) -> None:
    """Print diagnostics in the chosen error format."""
    report(
        diagnostics, fmt=state.error_format, console=state.console, stdout=sys.stdout
    )


def _say(message: str) -> None:
    # With --error-format json, stderr carries JSON lines only.
    if not state.quiet and state.error_format is not ErrorFormat.json:
        state.console.print(message, highlight=False, soft_wrap=True)


@app.command("validate")
def validate_command(
    specs: Annotated[
        list[Path], typer.Argument(help="Spec files to check.", show_default=False)
    ],
    overrides: SetOption = None,
    error_format: ErrorFormatOption = ErrorFormat.human,
    debug: DebugOption = False,
) -> None:
    """Check spec files on their own, without a database."""
    state.error_format = error_format
    if debug:  # also accepted after the command
        state.debug = True
        _configure_logging(verbose=False, debug=True)

    def run() -> None:
        from seedcompile.checks import load_spec

        problems: list[Diagnostic] = []
        # The exit code is the worst of all the files': a missing file (2)
        # outranks a wrong spec (1).
        worst: type[SeedcompileError] = SeedcompileError
        for path in specs:
            try:
                loaded = load_spec(path, overrides=overrides or ())
            except SeedcompileError as exc:
                _print_traceback(exc)
                problems.extend(exc.diagnostics)
                if exc.exit_code > worst.exit_code:
                    worst = type(exc)
                continue
            spec = loaded.spec
            orders = sum(g.count - len(set(g.exclude)) for g in spec.orders)
            _say(
                f"[green]ok[/] {path}: "
                f"{_counted(len(spec.orders), 'order group')}, "
                f"{_counted(orders, 'order')}, "
                f"{_counted(len(spec.collection_preps), 'collection-prep group')}"
            )
        if problems:
            raise worst(problems)

    _guarded(run)


@app.command("compile")
def compile_command(
    specs: Annotated[
        list[str],
        typer.Argument(
            help="Spec files, folders of specs, or glob patterns.",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Where the SeedConfig goes: a file for one spec (default: "
            "stdout), a folder that mirrors the specs' layout for several.",
            show_default=False,
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Write nothing; exit 1 if a fixture on disk is stale or missing.",
        ),
    ] = False,
    diff: Annotated[
        bool,
        typer.Option("--diff", help="With --check: print what would change."),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Compile every spec, also those whose fixture is up to date.",
        ),
    ] = False,
    overrides: SetOption = None,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline",
            help="Compile from each spec's lock file (SPEC.lock.json), "
            "with no database.",
        ),
    ] = False,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            help="Compile only part K of N of the specs (by path), e.g. 2/4.",
            show_default=False,
        ),
    ] = None,
    db: DbOption = None,
    max_connections: Annotated[
        int | None,
        typer.Option(
            "--max-connections",
            min=1,
            help="Connection pool size and prep-code concurrency; "
            "default: $DATABASE_CONNECTION_LIMIT or 10.",
            show_default=False,
        ),
    ] = None,
    connect_retries: Annotated[
        int | None,
        typer.Option(
            "--connect-retries",
            min=0,
            help="Connect again this many times after a transient failure, "
            "waiting 0.25 s, 0.5 s, 1 s, ... (5 s in all at most); "
            "default: $DATABASE_CONNECT_RETRIES or 3.",
            show_default=False,
        ),
    ] = None,
    statement_timeout: Annotated[
        float | None,
        typer.Option(
            "--statement-timeout",
            min=0,
            help="Seconds one query may run before the server cancels it "
            "(0: no limit); default: $DATABASE_STATEMENT_TIMEOUT or 60.",
            show_default=False,
        ),
    ] = None,
    prefetch_connections: Annotated[
        int | None,
        typer.Option(
            "--prefetch-connections",
            min=1,
            max=3,
            help="Connections the prefetch spreads over, sharing one snapshot "
            "(PostgreSQL); default: $DATABASE_PREFETCH_CONNECTIONS or 1.",
            show_default=False,
        ),
    ] = None,
    timings: Annotated[
        bool,
        typer.Option(
            "--timings",
            help="Print the time, queries and rows of each stage (of a failed "
            "compile: the stages up to the failure).",
        ),
    ] = False,
    timings_json: Annotated[
        Path | None,
        typer.Option(
            "--timings-json",
            help="Write stage timings, queries and rows as JSON to this file.",
            show_default=False,
        ),
    ] = None,
    error_format: ErrorFormatOption = ErrorFormat.human,
    debug: DebugOption = False,
) -> None:
    """Compile specs into SeedConfig JSON documents."""
    state.error_format = error_format
    if debug:  # also accepted after the command
        state.debug = True
        _configure_logging(verbose=False, debug=True)

    def run() -> int:
        import glob

        import anyio

        from seedcompile.batch import run_batch
        from seedcompile.database import DatabaseSettings
        from seedcompile.emit import ensure_inside
        from seedcompile.errors import UsageError
        from seedcompile.tree import in_shard, parse_shard

        started = time.perf_counter()
        files = _discover(specs)
        many = len(specs) > 1 or any(
            Path(arg).is_dir() or glob.has_magic(arg) for arg in specs
        )
        if many and output is not None and output.suffix == ".json":
            raise UsageError.single(
                "usage.output-folder",
                f"several specs compile into a folder, not into {output}",
                hint="give a folder with -o, e.g. -o fixtures/",
            )
        if shard is not None:
            k, n = parse_shard(shard)
            files = [spec for spec in files if in_shard(spec, k, n)]
        if many and output is None:
            raise UsageError.single(
                "usage.no-output",
                "compiling several specs needs an output folder: -o FOLDER",
            )
        if (check or diff) and output is None:
            raise UsageError.single(
                "usage.no-output",
                "--check compares with the fixture on disk: give it with -o",
            )
        if many:
            assert output is not None
            targets: list[Path | None] = [
                ensure_inside(output, spec.output_in(output)) for spec in files
            ]
        else:
            targets = [output]
        settings = (
            None
            if offline
            else DatabaseSettings.from_env(
                db,
                max_connections=max_connections,
                connect_retries=connect_retries,
                statement_timeout=statement_timeout,
                prefetch_connections=prefetch_connections,
            )
        )
        with _progress(len(files)) as advance:
            runs = anyio.run(
                lambda: run_batch(
                    files,
                    settings=settings,
                    targets=targets,
                    check=check or diff,
                    force=force,
                    overrides=overrides or (),
                    advance=advance,
                )
            )
        elapsed = time.perf_counter() - started
        return _summarise(
            runs,
            elapsed,
            check=check or diff,
            diff=diff,
            timings=timings,
            timings_json=timings_json,
        )

    code = _guarded(run)
    if code:
        raise typer.Exit(code)


def _discover(specs: list[str]) -> list[SpecFile]:
    """The spec files the arguments name; at least one, or a usage error."""
    from seedcompile.errors import UsageError
    from seedcompile.tree import discover

    files = discover(specs)
    if not files:
        raise UsageError.single(
            "usage.no-specs",
            "no spec files found in " + ", ".join(specs),
            hint="spec files end in .yaml or .yml; names starting with `_` "
            "are partials and are not compiled on their own",
        )
    return files


@contextlib.contextmanager
def _progress(total: int) -> Iterator[Callable[[str], None]]:
    """A transient progress bar on a terminal; nothing in a pipe.

    Steps: reading the specs, the prefetch, then planning and assembling
    each spec. Quick compiles finish before the bar is first drawn.
    """
    if state.quiet or not state.console.is_terminal:
        yield lambda _next: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=state.console,
        transient=True,
    ) as progress:
        task = progress.add_task("reading specs", total=2 + 2 * total)

        def advance(upcoming: str) -> None:
            progress.update(task, advance=1, description=upcoming)

        yield advance


def _summarise(
    runs: list[SpecRun],
    elapsed: float,
    *,
    check: bool,
    diff: bool,
    timings: bool,
    timings_json: Path | None,
) -> int:
    """Print what each spec gave; the exit code of the whole batch."""
    from seedcompile.tree import unified_diff

    failed = stale = skipped = 0
    exit_code = EXIT_OK
    for run in runs:
        name = str(run.spec.path)
        if run.drift:
            if run.error is None and run.stale is None:
                stale += 1  # counted once per spec, with its other staleness
            exit_code = max(exit_code, EXIT_INVALID)
            _report(run.drift)
        if run.error is not None:
            failed += 1
            exit_code = max(exit_code, run.error.exit_code)
            _print_traceback(run.error)
            _report(run.error.diagnostics)
            if timings and run.error.timings:
                _print_timings(run.error.timings, title="stages, up to the failure")
            if timings_json is not None and run.error.timings:
                _write_timings(timings_json, run.error.timings, elapsed, None)
            continue
        if run.unchanged:
            skipped += 1
            _say(
                f"[dim]unchanged[/] {run.target}: spec, reference rows and "
                "compiler as before (--force compiles it anyway)"
            )
            continue
        result = run.result
        assert result is not None
        if check:
            if run.stale is not None:
                stale += 1
                exit_code = max(exit_code, EXIT_INVALID)
                state.console.print(
                    f"[bold red]stale[/] {run.target}: {run.stale} ({name})",
                    highlight=False,
                    soft_wrap=True,
                )
                if diff:
                    sys.stdout.write(
                        unified_diff(run.on_disk, result.document, name=str(run.target))
                    )
            elif not run.drift:
                _say(f"[green]fresh[/] {run.target}")
            continue
        if run.target is None:
            sys.stdout.buffer.write(result.document)
            sys.stdout.flush()
        _say(
            f"compiled {name} → {run.target or 'stdout'}: {result.orders} orders, "
            f"{result.preps} collection preps, {result.adjustments} stock "
            f"adjustments, {result.queries} queries"
        )
        if timings:
            _print_timings(result.timings)
        if timings_json is not None:
            _write_timings(timings_json, result.timings, elapsed, result)

    if len(runs) != 1 or check:
        done = len(runs) - failed - skipped
        parts = [f"{done} checked" if check else f"{done} compiled"]
        if skipped:
            parts.append(f"{skipped} unchanged")
        if check:
            parts.append(f"{stale} stale")
        if failed:
            parts.append(f"{failed} failed")
        colour = "red" if exit_code else "green"
        _say(f"[bold {colour}]{', '.join(parts)}[/] in {elapsed:.2f} s")
    else:
        _say(f"done in {elapsed:.2f} s")
    return exit_code


def _write_timings(
    path: Path,
    timings: list[StageTiming],
    elapsed: float,
    result: CompileResult | None,
) -> None:
    """The stage timings as JSON; for a failed compile (no result), `failed`."""
    import json

    from seedcompile.emit import write_atomic

    record: dict[str, Any] = {"seconds": elapsed}
    if result is None:
        record["failed"] = True
    else:
        record.update(
            orders=result.orders,
            preps=result.preps,
            queries=result.queries,
            output_bytes=len(result.document),
        )
    record["stages"] = [
        {"stage": t.stage, "seconds": t.seconds, "queries": t.queries, "rows": t.rows}
        for t in timings
    ]
    write_atomic(path, json.dumps(record, indent=2).encode() + b"\n")


def _print_timings(timings: list[StageTiming], *, title: str = "stages") -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    table.add_column("queries", justify="right")
    table.add_column("rows", justify="right")
    for timing in timings:
        table.add_row(
            timing.stage,
            f"{timing.seconds:.3f}",
            str(timing.queries),
            str(timing.rows),
        )
    state.console.print(table)


@app.command("lock")
def lock_command(
    specs: Annotated[
        list[str],
        typer.Argument(
            help="Spec files, folders of specs, or glob patterns.",
            show_default=False,
        ),
    ],
    db: DbOption = None,
    overrides: SetOption = None,
    error_format: ErrorFormatOption = ErrorFormat.human,
) -> None:
    """Record the reference rows each spec relies on in SPEC.lock.json."""
    state.error_format = error_format

    def run() -> int:
        import anyio

        from seedcompile.batch import write_locks
        from seedcompile.database import DatabaseSettings

        settings = DatabaseSettings.from_env(db)
        files = _discover(specs)
        outcomes = anyio.run(
            lambda: write_locks(files, settings=settings, overrides=overrides or ())
        )
        code = EXIT_OK
        for spec, outcome in outcomes:
            if isinstance(outcome, SeedcompileError):
                code = max(code, outcome.exit_code)
                _report(outcome.diagnostics)
            else:
                _say(f"locked {spec.path} → {outcome}")
        return code

    code = _guarded(run)
    if code:
        raise typer.Exit(code)


@app.command("explain")
def explain_command(
    fixture: Annotated[
        Path, typer.Argument(help="A compiled SeedConfig file.", show_default=False)
    ],
    ref: Annotated[
        str,
        typer.Argument(help="An order ref or a prep code.", show_default=False),
    ],
) -> None:
    """Show which spec rule made an order or prep, and where it landed."""

    def run() -> None:
        import orjson

        from seedcompile.errors import UsageError
        from seedcompile.provenance import explain

        try:
            document = orjson.loads(fixture.read_bytes())
            lines = explain(document, ref)
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise UsageError.single(
                "usage.fixture",
                f"{fixture} is not a readable SeedConfig ({exc})",
                hint="give a file written by `seedcompile compile`",
            ) from None
        if not lines:
            raise UsageError.single(
                "usage.unknown-ref",
                f"{fixture} has no order or prep {ref!r}",
                hint="orders are named like `eu-west-0042`, preps by their code",
            )
        print("\n".join(lines))

    _guarded(run)


class PlanFormat(StrEnum):
    table = "table"
    json = "json"


@app.command("plan")
def plan_command(
    spec: Annotated[Path, typer.Argument(help="The spec file.", show_default=False)],
    db: DbOption = None,
    fmt: Annotated[
        PlanFormat,
        typer.Option(
            "--format", help="Tables for people, or JSON.", case_sensitive=False
        ),
    ] = PlanFormat.table,
    overrides: SetOption = None,
    error_format: ErrorFormatOption = ErrorFormat.human,
) -> None:
    """Preview what a spec expands to, without writing anything."""
    state.error_format = error_format

    def run() -> None:
        import anyio

        from seedcompile.checks import load_spec
        from seedcompile.database import DatabaseSettings
        from seedcompile.preview import summarise

        loaded = load_spec(spec, overrides=overrides or ())
        settings = DatabaseSettings.from_env(db)
        result = anyio.run(_compile_for_preview, loaded, settings)
        summary = summarise(loaded, result)
        if fmt is PlanFormat.json:
            import json

            sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        else:
            _print_plan(summary)

    _guarded(run)


async def _compile_for_preview(
    loaded: LoadedSpec, settings: DatabaseSettings
) -> CompileResult:
    from seedcompile.compiler import compile_spec
    from seedcompile.database import connected

    async with connected(settings) as engine:
        return await compile_spec(
            loaded, engine, max_connections=settings.max_connections, keep_plan=True
        )


def _table(title: str, text: list[str], numbers: list[str]) -> Table:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in text:
        table.add_column(column)
    for column in numbers:
        table.add_column(column, justify="right")
    return table


def _print_plan(summary: dict[str, Any]) -> None:
    from rich.console import Console

    out = Console()
    orders = _table("orders", ["group", "from", "customer region"], ["orders"])
    for row in summary["orders"]:
        orders.add_row(row["group"], row["source"], row["region"], str(row["orders"]))
    out.print(orders)

    preps = _table(
        "collection preps",
        ["location", "carrier"],
        ["preps", "orders", "capacity use"],
    )
    for row in summary["collection_preps"]:
        use = row["orders"] / row["capacity"] if row["capacity"] else 0.0
        preps.add_row(
            row["location"],
            row["carrier"],
            str(row["preps"]),
            str(row["orders"]),
            f"{row['orders']}/{row['capacity']} ({use:.0%})",
        )
    out.print(preps)

    stock = summary["stock"]
    label = "adjustments" if "adjustments" in stock else "shortages"
    items = stock[label]
    if stock["policy"] == "ignore":
        out.print("stock: not checked (inventory: ignore)")
    elif not items:
        out.print(f"stock: covers the demand (inventory: {stock['policy']})")
    else:
        table = _table(
            f"stock {label} (inventory: {stock['policy']})",
            ["location", "part"],
            ["demand", "available", "missing"],
        )
        for item in items:
            table.add_row(
                item["location"],
                item["part"],
                str(item["demand"]),
                str(item["available"]),
                str(item["missing"]),
            )
        out.print(table)
    totals = summary["totals"]
    out.print(
        f"{totals['orders']} orders, {totals['collection_preps']} collection preps, "
        f"{totals['queries']} queries"
    )


class SchemaName(StrEnum):
    spec = "spec"
    seedconfig = "seedconfig"


@app.command("schema")
def schema_command(
    name: Annotated[
        SchemaName,
        typer.Argument(help="Which schema: spec or seedconfig.", show_default=False),
    ],
) -> None:
    """Print the JSON Schema of a spec file or of a SeedConfig."""

    def run() -> None:
        from seedcompile.schemas import render_schema, seedconfig_schema, spec_schema

        schema = spec_schema() if name is SchemaName.spec else seedconfig_schema()
        sys.stdout.write(render_schema(schema))

    _guarded(run)


@refdata_app.command("init")
def refdata_init_command(
    db: DbOption = None,
    scale: Annotated[
        int,
        typer.Option(
            "--scale", min=1, help="Multiply the demo customers (240 per unit)."
        ),
    ] = 1,
    force: Annotated[
        bool, typer.Option("--force", help="Drop and rebuild existing reference data.")
    ] = False,
) -> None:
    """Create the reference schema and load the deterministic demo dataset."""

    def run() -> None:
        import anyio

        from seedcompile.database import DatabaseSettings, describe, parse_url

        settings = DatabaseSettings.from_env(db)
        counts = anyio.run(_init, settings, scale, force)
        where = describe(parse_url(settings.url, readonly=False))
        rows = ", ".join(f"{count} {table}" for table, count in counts.items())
        _say(f"loaded the demo reference data (scale {scale}) into {where}: {rows}")

    _guarded(run)


async def _init(settings: DatabaseSettings, scale: int, force: bool) -> dict[str, int]:
    from seedcompile.refdata import init_reference_data

    return await init_reference_data(settings, scale=scale, force=force)


def main() -> None:
    """Console-script entry point: one command, then the process ends.

    Two settings make a large compile markedly faster, and fit a process that
    runs one command and exits. The cyclic garbage collector is off: a
    compile allocates millions of small objects that hold no cycles, and the
    collector would walk them again and again to free nothing (a third of the
    time of a 100,000-order compile). And the process ends without tearing
    those objects down one by one, once every output is flushed and closed
    (unless a profiler or tracer runs, which writes its report at exit).
    """
    gc.disable()
    _stop_on_sigterm()
    try:
        app()
    except SystemExit as exit_:
        if sys.getprofile() is not None or sys.gettrace() is not None:
            raise
        _exit_now(exit_.code)


def _exit_now(code: object) -> NoReturn:
    """End the process at once, as `sys.exit(code)` would, minus the teardown."""
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)
        status = 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(status)


if __name__ == "__main__":  # pragma: no cover
    main()
