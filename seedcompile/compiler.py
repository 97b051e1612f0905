"""The compile, stage by stage: specs in, SeedConfig bytes out.

    load and check (no database)  ->  prefetch (one snapshot)  ->  plan
    ->  prep codes  ->  stock  ->  assemble, validate, render

This module only sequences the stages and times them; each stage lives in a
module of its own. A tree of specs shares one prefetch: the union of what
every spec asks for, read in the same fixed number of queries from one
snapshot, after which each spec is planned against its own subset of the
rows. The command line is a thin layer over `compile_specs`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from seedcompile import __version__
from seedcompile.checks import LoadedSpec
from seedcompile.codes import assign_codes
from seedcompile.database import database_errors, open_snapshot, read_snapshot
from seedcompile.emit import check_output_size, render
from seedcompile.errors import (
    Diagnostic,
    InternalError,
    SeedcompileError,
    SourcePosition,
)
from seedcompile.plan import Plan, plan
from seedcompile.provenance import rules_table
from seedcompile.reference import (
    ReferenceData,
    ReferenceRequest,
    find_taken_codes,
    prefetch,
    request_for,
)
from seedcompile.seedconfig import assemble, check_rules, validate_document
from seedcompile.stock import StockAdjustment, settle_stock
from seedcompile.suggestions import add_suggestions
from seedcompile.timing import StageTiming

log = logging.getLogger("seedcompile.compiler")


@dataclass(slots=True)
class CompileResult:
    """A compiled fixture and what it took."""

    # Large fields stay out of repr(): Python 3.11's asyncio runner formats the
    # finished task's result into an error message it then discards, which
    # cost 0.3 s for a 100,000-order fixture and 2 s for a million.
    document: bytes = field(repr=False)
    orders: int
    preps: int
    adjustments: int
    queries: int
    timings: list[StageTiming] = field(default_factory=list)
    # What the fixture was built from: the reference rows it relies on, and
    # the plan itself when kept for a preview (`keep_plan`).
    plan: Plan | None = field(default=None, repr=False)
    reference: ReferenceData | None = field(default=None, repr=False)
    stock: list[StockAdjustment] = field(default_factory=list, repr=False)


class _Stopwatch:
    def __init__(self) -> None:
        self.timings: list[StageTiming] = []

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage, the one that fails included."""
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            self.timings.append(StageTiming(name, elapsed))
            log.debug("stage %s took %.3f s", name, elapsed)

    def count_queries(self, queries: int, rows: int) -> None:
        """Record the queries the last stage sent and the rows they fetched."""
        last = self.timings[-1]
        self.timings[-1] = StageTiming(last.stage, last.seconds, queries, rows)


@dataclass(frozen=True, slots=True)
class Unchanged:
    """The fixture on disk came from the same spec, rows and compiler: skipped."""

    reference_digest: str


Outcome = CompileResult | Unchanged | SeedcompileError


@dataclass(slots=True)
class _Job:
    loaded: LoadedSpec
    request: ReferenceRequest
    # The meta block of the fixture on disk, when an unchanged one may be skipped
    previous: dict[str, Any] | None = None
    watch: _Stopwatch = field(default_factory=_Stopwatch)
    reference: ReferenceData | None = field(default=None, repr=False)
    plan: Plan | None = field(default=None, repr=False)
    outcome: Outcome | None = None


async def compile_spec(
    loaded: LoadedSpec,
    engine: AsyncEngine,
    *,
    max_connections: int,
    prefetch_connections: int = 1,
    keep_plan: bool = False,
) -> CompileResult:
    """Compile one checked spec against the reference database; raise its error."""
    [outcome] = await compile_specs(
        [loaded],
        engine,
        max_connections=max_connections,
        prefetch_connections=prefetch_connections,
        keep_plan=keep_plan,
    )
    if isinstance(outcome, SeedcompileError):
        raise outcome
    assert isinstance(outcome, CompileResult)
    return outcome


async def compile_specs(
    specs: Sequence[LoadedSpec],
    engine: AsyncEngine,
    *,
    max_connections: int,
    keep_plan: bool = False,
    previous: Sequence[dict[str, Any] | None] | None = None,
    advance: Callable[[str], None] | None = None,
    prefetch_connections: int = 1,
) -> list[Outcome]:
    """Compile several specs from one snapshot; one outcome per spec, in order.

    A spec that does not fit the reference data gives its error as its
    outcome and the others go on; a database failure fails them all (raised).
    With `previous` (the meta blocks of the fixtures on disk), a spec whose
    spec, reference rows and compiler are all unchanged is not compiled again.
    `advance` is called once per step done (the prefetch, then the planning
    and the finishing of each spec) with what comes next, for a progress bar.
    """
    step = advance or (lambda _next: None)
    jobs = [_Job(loaded, request_for(loaded.spec)) for loaded in specs]
    for job, meta in zip(jobs, previous or [None] * len(jobs), strict=True):
        job.previous = meta
    union = ReferenceRequest.union(job.request for job in jobs)

    shared = _Stopwatch()
    with database_errors(engine.url):
        spread = min(prefetch_connections, max_connections)
        async with open_snapshot(engine, max_connections=spread) as snap:
            with shared.stage("prefetch"):
                reference = await prefetch(snap, union)
            shared.count_queries(reference.queries, reference.rows_fetched)
            step(f"planning {jobs[0].loaded.file}" if jobs else "done")
            for n, job in enumerate(jobs):
                await _plan_job(
                    job,
                    reference,
                    single=len(jobs) == 1,
                    limit=max_connections,
                    preview=keep_plan,
                )
                upcoming = jobs[n + 1].loaded.file if n + 1 < len(jobs) else None
                step(f"planning {upcoming}" if upcoming else "checking prep codes")
            with shared.stage("codes"):
                codes = [
                    prep.code for job in jobs if job.plan for prep in job.plan.preps
                ]
                taken = await find_taken_codes(snap.conn, codes)
            shared.count_queries(1, len(taken))
            failed = [
                job.outcome for job in jobs if isinstance(job.outcome, SeedcompileError)
            ]
            if failed:
                # Only on failure: look up the codes the user probably meant.
                await add_suggestions(snap.conn, failed)

    return _finish_all(jobs, taken, shared, keep_plan=keep_plan, step=step)


async def compile_offline(
    specs: Sequence[tuple[LoadedSpec, ReferenceData]],
    *,
    max_connections: int,
    previous: Sequence[dict[str, Any] | None] | None = None,
) -> list[Outcome]:
    """Compile specs against reference data read from their lock files.

    No database is touched: prep codes number on from the maxima the lock
    recorded, which is also all an online compile relies on.
    """
    jobs = [_Job(loaded, request_for(loaded.spec)) for loaded, _ in specs]
    for job, meta in zip(jobs, previous or [None] * len(jobs), strict=True):
        job.previous = meta
    for job, (_, reference) in zip(jobs, specs, strict=True):
        await _plan_job(job, reference, single=True, limit=max_connections)
    return _finish_all(jobs, set(), _Stopwatch(), keep_plan=False)


async def fetch_references(
    specs: Sequence[LoadedSpec], engine: AsyncEngine
) -> list[ReferenceData]:
    """The reference rows each spec relies on, from one snapshot."""
    requests = [request_for(loaded.spec) for loaded in specs]
    union = ReferenceRequest.union(requests)
    with database_errors(engine.url):
        async with read_snapshot(engine) as conn:
            reference = await prefetch(conn, union)
    if len(specs) == 1:
        return [reference]
    return [reference.subset(request) for request in requests]


async def _plan_job(
    job: _Job,
    reference: ReferenceData,
    *,
    single: bool,
    limit: int,
    preview: bool = False,
) -> None:
    loaded = job.loaded
    try:
        with job.watch.stage("plan"):
            job.reference = reference if single else reference.subset(job.request)
            if _is_unchanged(job.previous, loaded, job.reference):
                job.outcome = Unchanged(job.reference.digest)
                return
            job.plan = plan(loaded, job.reference, preview=preview)
        with job.watch.stage("codes"):
            await assign_codes(
                job.plan.preps,
                job.reference.highest_prep_number,
                limit=limit,
                file=loaded.file,
            )
    except SeedcompileError as exc:
        job.outcome = exc
        job.plan = None


def _finish_all(
    jobs: list[_Job],
    taken: set[str],
    shared: _Stopwatch,
    *,
    keep_plan: bool,
    step: Callable[[str], None] = lambda _next: None,
) -> list[Outcome]:
    """Finish every planned job; one outcome per job, in order."""
    outcomes: list[Outcome] = []
    for job in jobs:
        step(f"assembling {job.loaded.file}")
        if job.outcome is None:
            try:
                job.outcome = _finish(job, taken, shared, keep_plan=keep_plan)
            except SeedcompileError as exc:
                job.outcome = exc
        assert job.outcome is not None
        if isinstance(job.outcome, SeedcompileError):
            # What ran before the failure, for `--timings`
            job.outcome.timings = _merge(shared.timings, job.watch.timings)
        outcomes.append(job.outcome)
    return outcomes


def _is_unchanged(
    meta: dict[str, Any] | None, loaded: LoadedSpec, reference: ReferenceData
) -> bool:
    return meta is not None and meta == {
        **meta,
        "compiler": f"seedcompile {__version__}",
        "spec_digest": loaded.digest,
        "reference_digest": reference.digest,
    }


def _finish(
    job: _Job, taken: set[str], shared: _Stopwatch, *, keep_plan: bool
) -> CompileResult:
    loaded, planned, reference = job.loaded, job.plan, job.reference
    assert planned is not None
    assert reference is not None
    spec = loaded.spec
    watch = job.watch
    with watch.stage("stock"):
        # A preview lists shortages instead of failing on them.
        policy = "ensure" if keep_plan and spec.inventory == "check" else spec.inventory
        adjustments = settle_stock(
            planned.orders, reference, policy=policy, source=loaded.source
        )
    with watch.stage("assemble"):
        config = assemble(
            planned,
            adjustments if policy == spec.inventory else [],
            spec_name=PurePath(loaded.file).name,
            spec_digest=loaded.digest,
            reference_digest=reference.digest,
            seed=spec.seed,
            inventory=spec.inventory,
            rules=rules_table(loaded),
            prep_groups=[group.name for group in spec.collection_preps],
        )
        validate_document(config)
        document = render(config)
        check_output_size(document, file=loaded.file)
        broken = check_rules(
            config, reference, taken_codes=taken, stock=policy == spec.inventory
        )
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
    timings = _merge(shared.timings, watch.timings)
    return CompileResult(
        document=document,
        orders=len(planned.orders),
        preps=len(planned.preps),
        adjustments=len(adjustments),
        queries=sum(t.queries for t in timings),
        timings=timings,
        plan=planned if keep_plan else None,
        reference=reference,
        stock=adjustments,
    )


def _merge(shared: list[StageTiming], own: list[StageTiming]) -> list[StageTiming]:
    """The stages in running order, shared database work folded in."""
    by_stage: dict[str, StageTiming] = {}
    for timing in [*shared[:1], *own, *shared[1:]]:
        seen = by_stage.get(timing.stage)
        if seen is None:
            by_stage[timing.stage] = timing
        else:
            by_stage[timing.stage] = StageTiming(
                timing.stage,
                seen.seconds + timing.seconds,
                seen.queries + timing.queries,
                seen.rows + timing.rows,
            )
    return list(by_stage.values())
