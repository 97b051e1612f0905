"""The `seedcompile` command line: a thin layer over the compiler.

Only this module prints, sets up logging or exits. It imports the compiler's
modules inside each command, so that `seedcompile validate` does not pay for
SQLAlchemy and the database drivers it never uses.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console

from seedcompile import __version__
from seedcompile.errors import (
    Diagnostic,
    SeedcompileError,
    SourcePosition,
)
from seedcompile.report import ErrorFormat, report

if TYPE_CHECKING:
    from seedcompile.checks import LoadedSpec
    from seedcompile.compiler import CompileResult
    from seedcompile.database import DatabaseSettings

EXIT_INTERNAL = 4
EXIT_INTERRUPTED = 130

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
ErrorFormatOption = Annotated[
    ErrorFormat,
    typer.Option(
        "--error-format", help="How errors are printed.", case_sensitive=False
    ),
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
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    if verbose or debug:
        from rich.logging import RichHandler

        handler = RichHandler(console=state.console, show_path=False)
        logging.basicConfig(level=level, handlers=[handler], format="%(message)s")
    logging.getLogger("seedcompile").setLevel(level)


def _guarded(action: Callable[[], T]) -> T:
    """Run a command; turn every failure into a message and an exit code."""
    try:
        return action()
    except SeedcompileError as exc:
        if state.debug:
            state.console.print_exception()
        report(
            exc.diagnostics,
            fmt=state.error_format,
            console=state.console,
            stdout=sys.stdout,
        )
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        state.console.print("[bold red]interrupted[/]: nothing was written")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:
        if state.debug:
            state.console.print_exception()
        report(
            [
                Diagnostic(
                    "internal.crash",
                    f"internal error: {type(exc).__name__}: {exc}",
                    SourcePosition(),
                    hint="this is a bug in seedcompile; run again with --debug "
                    "for the traceback and please report it",
                )
            ],
            fmt=state.error_format,
            console=state.console,
            stdout=sys.stdout,
        )
        raise typer.Exit(EXIT_INTERNAL) from None


def _say(message: str) -> None:
    if not state.quiet:
        state.console.print(message, highlight=False, soft_wrap=True)


@app.command("validate")
def validate_command(
    specs: Annotated[
        list[Path], typer.Argument(help="Spec files to check.", show_default=False)
    ],
    error_format: ErrorFormatOption = ErrorFormat.human,
) -> None:
    """Check spec files on their own, without a database."""
    state.error_format = error_format

    def run() -> None:
        from seedcompile.checks import load_spec

        problems: list[Diagnostic] = []
        for path in specs:
            try:
                loaded = load_spec(path)
            except SeedcompileError as exc:
                problems.extend(exc.diagnostics)
                continue
            spec = loaded.spec
            _say(
                f"[green]ok[/] {path}: {len(spec.orders)} order groups, "
                f"{sum(g.count for g in spec.orders)} orders, "
                f"{len(spec.collection_preps)} collection-prep groups"
            )
        if problems:
            from seedcompile.errors import SpecError

            raise SpecError(problems)

    _guarded(run)


@app.command("compile")
def compile_command(
    spec: Annotated[Path, typer.Argument(help="The spec file.", show_default=False)],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write the SeedConfig here (atomically); default: stdout.",
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
    timings: Annotated[
        bool, typer.Option("--timings", help="Print the time each stage took.")
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
) -> None:
    """Compile a spec into a SeedConfig JSON document."""
    state.error_format = error_format

    def run() -> None:
        import anyio

        from seedcompile.checks import load_spec
        from seedcompile.database import DatabaseSettings

        started = time.perf_counter()
        loaded = load_spec(spec)
        settings = DatabaseSettings.from_env(db, max_connections=max_connections)
        result = anyio.run(_compile, loaded, settings)
        if output is None:
            sys.stdout.buffer.write(result.document)
            sys.stdout.flush()
        else:
            from seedcompile.emit import write_atomic

            write_atomic(output, result.document)
        elapsed = time.perf_counter() - started
        target = str(output) if output else "stdout"
        _say(
            f"compiled {spec} → {target}: {result.orders} orders, "
            f"{result.preps} collection preps, {result.adjustments} stock "
            f"adjustments, {result.queries} queries ({elapsed:.2f} s)"
        )
        if timings:
            _print_timings(result)
        if timings_json is not None:
            _write_timings(timings_json, result, elapsed)

    _guarded(run)


async def _compile(loaded: LoadedSpec, settings: DatabaseSettings) -> CompileResult:
    from seedcompile.compiler import compile_spec
    from seedcompile.database import create_engine

    engine = create_engine(settings)
    try:
        return await compile_spec(
            loaded, engine, max_connections=settings.max_connections
        )
    finally:
        await engine.dispose()


def _write_timings(path: Path, result: CompileResult, elapsed: float) -> None:
    import json

    from seedcompile.emit import write_atomic

    record = {
        "seconds": elapsed,
        "orders": result.orders,
        "preps": result.preps,
        "queries": result.queries,
        "output_bytes": len(result.document),
        "stages": [
            {
                "stage": t.stage,
                "seconds": t.seconds,
                "queries": t.queries,
                "rows": t.rows,
            }
            for t in result.timings
        ],
    }
    write_atomic(path, json.dumps(record, indent=2).encode() + b"\n")


def _print_timings(result: CompileResult) -> None:
    from rich.table import Table

    table = Table(title="stages", title_justify="left")
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    table.add_column("queries", justify="right")
    table.add_column("rows", justify="right")
    for timing in result.timings:
        table.add_row(
            timing.stage,
            f"{timing.seconds:.3f}",
            str(timing.queries),
            str(timing.rows),
        )
    state.console.print(table)


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
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
