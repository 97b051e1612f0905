"""Stage 4: give every new collection prep its code, group by group, in parallel.

A code reads `LOCATION-CARRIER-YYYYMMDD-NNNN` and numbers on from the highest
code that exists for that location, carrier and date. The predecessor read the
current maximum once per prep and added one, the race that hands two preps
the same number. Here the maxima come from one prefetch query, and each group
of preps (one location, carrier and date) is numbered by one task that owns
its counter outright: no two tasks ever touch the same group, so no two preps
can share a code, and no code at or below an existing one is ever produced.

The tasks run under an `anyio.CapacityLimiter` sized from the connection
limit, the same bound the connection pool has, so that a future per-group
lookup can never open more connections than the pool allows.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import TYPE_CHECKING

import anyio

from seedcompile.errors import Diagnostic, ReferenceDataError, SourcePosition
from seedcompile.reference import PrepGroupKey

if TYPE_CHECKING:
    from seedcompile.plan import PlannedPrep

log = logging.getLogger("seedcompile.codes")

MAX_PREP_NUMBER = 9999


def format_code(key: PrepGroupKey, number: int) -> str:
    """`LON1-DHL-20261210-0007` for location LON1, DHL, 10 December 2026, 7."""
    location, carrier, date = key
    return f"{location}-{carrier}-{date:%Y%m%d}-{number:04d}"


async def assign_codes(
    preps: list[PlannedPrep],
    highest: dict[PrepGroupKey, int],
    *,
    limit: int,
    file: str | None = None,
) -> None:
    """Set `code` on every prep; raise if a group would run past NNNN = 9999."""
    groups: dict[PrepGroupKey, list[PlannedPrep]] = defaultdict(list)
    for prep in preps:
        groups[(prep.location, prep.carrier, prep.date)].append(prep)

    limiter = anyio.CapacityLimiter(limit)
    overflows: list[Diagnostic] = []

    async def number_group(key: PrepGroupKey, members: list[PlannedPrep]) -> None:
        async with limiter:
            start = highest.get(key, 0)
            if start + len(members) > MAX_PREP_NUMBER:
                overflows.append(_overflow(key, start, len(members), file))
                return
            for offset, prep in enumerate(members, start=1):
                prep.code = format_code(key, start + offset)

    # Each task writes only to the preps of its own group, and `overflows` is
    # appended to from the one event-loop thread: nothing here needs a lock.
    async with anyio.create_task_group() as tg:
        for key in sorted(groups):
            tg.start_soon(number_group, key, groups[key])

    if overflows:
        raise ReferenceDataError(overflows)
    log.info("assigned %d prep codes in %d groups", len(preps), len(groups))


def _overflow(
    key: PrepGroupKey, start: int, wanted: int, file: str | None
) -> Diagnostic:
    prefix = format_code(key, 0)[:-5]
    return Diagnostic(
        "codes.overflow",
        f"{wanted} new preps for {prefix} would number past {MAX_PREP_NUMBER} "
        f"(codes up to {start:04d} exist)",
        SourcePosition(file, None, None, "collection_preps"),
        hint="spread the preps over more dates or carriers",
    )
