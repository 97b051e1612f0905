"""Compiling a batch of spec files: load each, compile all, write or compare.

One failing spec does not stop the others: its errors become its outcome.
Only a database failure, which would fail every spec alike, is raised.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from seedcompile.checks import LoadedSpec, load_spec
from seedcompile.compiler import CompileResult, compile_specs
from seedcompile.database import DatabaseSettings, create_engine
from seedcompile.emit import write_atomic
from seedcompile.errors import SeedcompileError
from seedcompile.tree import SpecFile, staleness


@dataclass(slots=True)
class SpecRun:
    """What happened to one spec of a batch."""

    spec: SpecFile
    target: Path | None
    result: CompileResult | None = None
    error: SeedcompileError | None = None
    # --check: why the fixture on disk is stale (None: it is fresh)
    stale: str | None = None
    on_disk: bytes | None = None


async def run_batch(
    specs: list[SpecFile],
    *,
    settings: DatabaseSettings,
    targets: list[Path | None],
    check: bool,
    keep_plan: bool = False,
    on_loaded: Callable[[int], None] | None = None,
) -> list[SpecRun]:
    """Compile `specs`; write each result to its target unless `check`."""
    runs = [SpecRun(spec, target) for spec, target in zip(specs, targets, strict=True)]
    loaded: list[tuple[SpecRun, LoadedSpec]] = []
    for run in runs:
        try:
            loaded.append((run, load_spec(run.spec.path)))
        except SeedcompileError as exc:
            run.error = exc
    if on_loaded is not None:
        on_loaded(len(loaded))

    if loaded:
        engine = create_engine(settings)
        try:
            outcomes = await compile_specs(
                [spec for _, spec in loaded],
                engine,
                max_connections=settings.max_connections,
                keep_plan=keep_plan,
            )
        finally:
            await engine.dispose()
        for (run, _), outcome in zip(loaded, outcomes, strict=True):
            if isinstance(outcome, SeedcompileError):
                run.error = outcome
            else:
                run.result = outcome

    for run in runs:
        if run.result is None or run.target is None:
            continue
        if check:
            run.on_disk = _read(run.target)
            run.stale = staleness(run.on_disk, run.result.document)
        else:
            write_atomic(run.target, run.result.document)
    return runs


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
