"""The compile, stage by stage: spec in, SeedConfig bytes out.

    load and check (no database)  ->  prefetch (one snapshot)  ->  plan
    ->  prep codes  ->  stock  ->  assemble, validate, render

This module only sequences the stages and times them; each stage lives in a
module of its own. The command line is a thin layer over `compile_spec`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import PurePath

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from seedcompile.checks import LoadedSpec
from seedcompile.codes import assign_codes
from seedcompile.database import database_errors, read_snapshot
from seedcompile.emit import render
from seedcompile.errors import Diagnostic, InternalError, SourcePosition
from seedcompile.plan import plan
from seedcompile.reference import find_taken_codes, prefetch, request_for
from seedcompile.seedconfig import assemble, check_rules, validate_document
from seedcompile.stock import settle_stock

log = logging.getLogger("seedcompile.compiler")


@dataclass(frozen=True, slots=True)
class StageTiming:
    stage: str
    seconds: float
    queries: int = 0
    rows: int = 0


@dataclass(slots=True)
class CompileResult:
    """A compiled fixture and what it took."""

    document: bytes
    orders: int
    preps: int
    adjustments: int
    queries: int
    timings: list[StageTiming] = field(default_factory=list)


class _Stopwatch:
    def __init__(self) -> None:
        self.timings: list[StageTiming] = []

    @contextmanager
    def stage(self, name: str, queries: int = 0, rows: int = 0) -> Iterator[None]:
        started = time.perf_counter()
        yield
        elapsed = time.perf_counter() - started
        self.timings.append(StageTiming(name, elapsed, queries, rows))
        log.debug("stage %s took %.3f s", name, elapsed)

    def count_queries(self, queries: int, rows: int) -> None:
        """Record the queries the last stage sent and the rows they fetched."""
        last = self.timings[-1]
        self.timings[-1] = StageTiming(last.stage, last.seconds, queries, rows)


async def compile_spec(
    loaded: LoadedSpec,
    engine: AsyncEngine,
    *,
    max_connections: int,
) -> CompileResult:
    """Compile one checked spec against the reference database."""
    spec = loaded.spec
    watch = _Stopwatch()
    url: sa.URL = engine.url

    with database_errors(url):
        async with read_snapshot(engine) as conn:
            with watch.stage("prefetch"):
                reference = await prefetch(conn, request_for(spec))
            watch.count_queries(reference.queries, reference.rows_fetched)
            with watch.stage("plan"):
                planned = plan(loaded, reference)
            with watch.stage("codes"):
                await assign_codes(
                    planned.preps,
                    reference.highest_prep_number,
                    limit=max_connections,
                    file=loaded.file,
                )
                taken = await find_taken_codes(
                    conn, (prep.code for prep in planned.preps)
                )
            watch.count_queries(1, len(taken))

    with watch.stage("stock"):
        adjustments = settle_stock(
            planned.orders, reference, policy=spec.inventory, source=loaded.source
        )
    with watch.stage("assemble"):
        data = assemble(
            planned,
            adjustments,
            spec_name=PurePath(loaded.file).name,
            spec_digest=loaded.digest,
            reference_digest=reference.digest,
            seed=spec.seed,
            inventory=spec.inventory,
        )
        document = render(data)
        del data  # the validated copy below is what is checked and written
        config = validate_document(document)
        broken = check_rules(config, reference, taken_codes=taken)
        if broken:
            raise InternalError(
                Diagnostic(
                    "internal.rule-broken",
                    f"internal error: the compiled SeedConfig breaks a rule: {rule}",
                    SourcePosition(loaded.file),
                    hint="this is a bug in seedcompile; please report it with the spec",
                )
                for rule in broken[:20]
            )

    return CompileResult(
        document=document,
        orders=len(planned.orders),
        preps=len(planned.preps),
        adjustments=len(adjustments),
        queries=reference.queries + 1,
        timings=watch.timings,
    )
