"""Compiling a batch of spec files: load each, compile all, write or compare.

One failing spec does not stop the others: its errors become its outcome.
Only a database failure, which would fail every spec alike, is raised.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from seedcompile.checks import LoadedSpec, load_spec
from seedcompile.compiler import (
    CompileResult,
    Outcome,
    Unchanged,
    compile_offline,
    compile_specs,
    fetch_references,
)
from seedcompile.database import DatabaseSettings, connected
from seedcompile.emit import write_atomic
from seedcompile.errors import Diagnostic, SeedcompileError
from seedcompile.lockfile import (
    drift_diagnostics,
    find_drift,
    lock_path_for,
    read_lock,
    render_lock,
)
from seedcompile.reference import ReferenceData
from seedcompile.tree import SpecFile, staleness

# A fixture's meta block comes first and is small: reading this much of a
# large fixture is enough to know what it was compiled from.
META_BYTES = 4096


@dataclass(slots=True)
class SpecRun:
    """What happened to one spec of a batch."""

    spec: SpecFile
    target: Path | None
    result: CompileResult | None = None
    error: SeedcompileError | None = None
    # --check: why the fixture on disk is stale (None: it is fresh)
    stale: str | None = None
    on_disk: bytes | None = field(default=None, repr=False)
    # --check with a lock file: rows the spec relies on that changed since
    drift: list[Diagnostic] = field(default_factory=list)
    # Skipped: the fixture on disk came from the same spec, rows and compiler
    unchanged: bool = False


async def run_batch(
    specs: list[SpecFile],
    *,
    settings: DatabaseSettings | None,
    targets: list[Path | None],
    check: bool,
    force: bool = False,
    overrides: Sequence[str] = (),
    advance: Callable[[str], None] | None = None,
) -> list[SpecRun]:
    """Compile `specs`; write each result to its target unless `check`.

    Without `settings` the compile is offline, from each spec's lock file.
    Unless `force` (or `check`), a spec whose fixture on disk came from the
    same spec, reference rows and compiler is skipped.
    """
    runs = [SpecRun(spec, target) for spec, target in zip(specs, targets, strict=True)]
    loaded: list[tuple[SpecRun, LoadedSpec]] = []
    for run in runs:
        try:
            loaded.append((run, load_spec(run.spec.path, overrides=overrides)))
        except SeedcompileError as exc:
            run.error = exc
    if advance is not None:
        advance("reading reference data")

    if loaded:
        previous = [
            None if check or force or run.target is None else read_meta(run.target)
            for run, _ in loaded
        ]
        outcomes = await _compile(loaded, settings, previous, advance)
        for (run, _), outcome in zip(loaded, outcomes, strict=True):
            if isinstance(outcome, SeedcompileError):
                run.error = outcome
            elif isinstance(outcome, Unchanged):
                run.unchanged = True
            else:
                run.result = outcome
        if check and settings is not None:
            await _find_drift(loaded, settings)

    for run in runs:
        if run.result is None or run.target is None:
            continue
        if check:
            run.on_disk = _read(run.target)
            run.stale = staleness(run.on_disk, run.result.document)
        else:
            write_atomic(run.target, run.result.document)
    return runs


async def _compile(
    loaded: list[tuple[SpecRun, LoadedSpec]],
    settings: DatabaseSettings | None,
    previous: list[dict[str, Any] | None],
    advance: Callable[[str], None] | None,
) -> list[Outcome]:
    if settings is None:
        offline: list[tuple[LoadedSpec, ReferenceData]] = []
        failed: dict[int, SeedcompileError] = {}
        for i, (run, spec) in enumerate(loaded):
            try:
                lock = lock_path_for(run.spec.path)
                locked = read_lock(lock, spec_file=spec.file, spec_digest=spec.digest)
                offline.append((spec, locked))
            except SeedcompileError as exc:
                failed[i] = exc
        kept = [meta for i, meta in enumerate(previous) if i not in failed]
        results = iter(await compile_offline(offline, max_connections=1, previous=kept))
        return [failed[i] if i in failed else next(results) for i in range(len(loaded))]
    async with connected(settings) as engine:
        return await compile_specs(
            [spec for _, spec in loaded],
            engine,
            max_connections=settings.max_connections,
            previous=previous,
            advance=advance,
            prefetch_connections=settings.prefetch_connections,
        )


async def _find_drift(
    loaded: list[tuple[SpecRun, LoadedSpec]], settings: DatabaseSettings
) -> None:
    """Compare each locked spec's rows with the live ones, failed compiles too.

    A spec that no longer compiles is where drift matters most, and its
    compile kept no rows: those are fetched again, in one more snapshot.
    """
    locked = [
        (run, spec) for run, spec in loaded if lock_path_for(run.spec.path).exists()
    ]
    refetch = [(run, spec) for run, spec in locked if run.result is None]
    fetched: list[ReferenceData] = []
    if refetch:
        async with connected(settings) as engine:
            fetched = await fetch_references([spec for _, spec in refetch], engine)
    live = {id(run): ref for (run, _), ref in zip(refetch, fetched, strict=True)}
    for run, spec in locked:
        current = run.result.reference if run.result else live.get(id(run))
        if current is None:
            continue
        before = read_lock(lock_path_for(run.spec.path), spec_file=spec.file)
        run.drift = drift_diagnostics(spec, find_drift(before, current))


async def write_locks(
    specs: list[SpecFile],
    *,
    settings: DatabaseSettings,
    overrides: Sequence[str] = (),
) -> list[tuple[SpecFile, Path | SeedcompileError]]:
    """Write the lock file of each spec; its path, or why it failed."""
    outcomes: list[tuple[SpecFile, Path | SeedcompileError]] = []
    loaded: list[tuple[SpecFile, LoadedSpec]] = []
    for spec in specs:
        try:
            loaded.append((spec, load_spec(spec.path, overrides=overrides)))
        except SeedcompileError as exc:
            outcomes.append((spec, exc))
    if not loaded:
        return outcomes
    async with connected(settings) as engine:
        references = await fetch_references([s for _, s in loaded], engine)
    for (spec, checked), reference in zip(loaded, references, strict=True):
        target = lock_path_for(spec.path)
        write_atomic(target, render_lock(checked, reference))
        outcomes.append((spec, target))
    return outcomes


def read_meta(path: Path) -> dict[str, Any] | None:
    """The meta block of a fixture on disk, read from its first bytes only."""
    try:
        with path.open("rb") as handle:
            head = handle.read(META_BYTES)
    except OSError:
        return None
    start = head.find(b'"meta": {')
    end = head.find(b"\n  }", start)
    if start < 0 or end < 0:
        return None
    try:
        meta = orjson.loads(head[start + len(b'"meta": ') : end + 4])
    except orjson.JSONDecodeError:
        return None
    return meta if isinstance(meta, dict) else None


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
