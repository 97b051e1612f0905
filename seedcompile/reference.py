"""Stage 2: prefetch every reference row a spec needs, in a fixed number of queries.

Whatever the size of the spec, the prefetch sends the same eight queries, each
key set bound as one parameter (`database.keys_in`), all inside one read-only
snapshot; asked to, PostgreSQL shares it between up to three connections so
that the independent queries run at once. The rows come back as plain frozen
records (customers, the most numerous, as tuples built straight from their
rows), keyed for constant-time lookups by the later stages.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from operator import itemgetter
from typing import Any, NamedTuple

import anyio
import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from seedcompile import refschema as t
from seedcompile.database import Snapshot, keys_in
from seedcompile.spec import Line, Spec

log = logging.getLogger("seedcompile.reference")


@dataclass(frozen=True, slots=True)
class Location:
    code: str
    region: str
    active: bool
    is_primary: bool


class Customer(NamedTuple):
    # A tuple, not a dataclass: a compile may read 200,000 of them, and a
    # tuple is built straight from its row.
    code: str
    region: str
    home_location: str | None
    active: bool


@dataclass(frozen=True, slots=True)
class Carrier:
    code: str
    active: bool
    max_orders_per_prep: int
    regions: frozenset[str]


@dataclass(frozen=True, slots=True)
class Variant:
    sku: str
    active: bool


PrepGroupKey = tuple[str, str, dt.date]  # location, carrier, date


@dataclass(slots=True)
class ReferenceRequest:
    """The keys a spec refers to: what the prefetch has to load."""

    customer_codes: set[str] = field(default_factory=set)
    customer_regions: set[str] = field(default_factory=set)
    all_customers: bool = False
    skus: set[str] = field(default_factory=set)
    prep_locations: set[str] = field(default_factory=set)
    prep_dates: set[dt.date] = field(default_factory=set)

    @classmethod
    def union(cls, requests: Iterable[ReferenceRequest]) -> ReferenceRequest:
        """Every key any of `requests` asks for: one prefetch for many specs."""
        union = cls()
        for request in requests:
            union.update(request)
        return union

    def update(self, other: ReferenceRequest) -> None:
        """Add every key `other` asks for."""
        self.customer_codes |= other.customer_codes
        self.customer_regions |= other.customer_regions
        self.all_customers |= other.all_customers
        self.skus |= other.skus
        self.prep_locations |= other.prep_locations
        self.prep_dates |= other.prep_dates


@dataclass(slots=True)
class ReferenceData:
    """The reference rows one compile reads, from one snapshot."""

    regions: set[str]
    locations: dict[str, Location]
    carriers: dict[str, Carrier]
    customers: dict[str, Customer]
    variants: dict[str, Variant]
    # sku -> [(part number, units of the part per unit of the variant)]
    bill_of_materials: dict[str, list[tuple[str, int]]]
    # (location, part) -> on hand minus reserved; a missing key means none
    available: dict[tuple[str, str], int]
    # (location, carrier, date) -> highest prep number that exists already
    highest_prep_number: dict[PrepGroupKey, int]
    digest: str = ""
    queries: int = 0
    rows_fetched: int = 0

    primary_locations: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.primary_locations = _primaries(self.locations)

    def fulfilment_location(self, customer: Customer) -> str | None:
        """A customer's home location, else its region's primary location."""
        if customer.home_location is not None:
            return customer.home_location
        return self.primary_locations.get(customer.region)

    def subset(self, request: ReferenceRequest) -> ReferenceData:
        """Only the rows `request` needs, with their own digest.

        A tree of specs is prefetched once, for all of them; each spec's
        fixture then records the digest of the rows it relies on alone, so an
        edit to one spec never makes another look stale.
        """
        customers = {
            code: customer
            for code, customer in self.customers.items()
            if code in request.customer_codes
            or (
                customer.active
                and (
                    request.all_customers or customer.region in request.customer_regions
                )
            )
        }
        skus = request.skus
        bill = {
            sku: parts for sku, parts in self.bill_of_materials.items() if sku in skus
        }
        scope = _location_scope(request, customers, self.locations)
        parts = {part for entries in bill.values() for part, _ in entries}
        part = ReferenceData(
            regions=self.regions,
            locations=self.locations,
            carriers=self.carriers,
            customers=customers,
            variants={k: v for k, v in self.variants.items() if k in skus},
            bill_of_materials=bill,
            available={
                key: units
                for key, units in self.available.items()
                if key[0] in scope and key[1] in parts
            },
            highest_prep_number={
                key: number
                for key, number in self.highest_prep_number.items()
                if key[0] in scope and key[2] in request.prep_dates
            },
            queries=self.queries,
            rows_fetched=self.rows_fetched,
        )
        part.digest = digest_reference(part)
        return part

    def tables(self) -> dict[str, list[tuple[Any, ...]]]:
        """The rows as plain JSON values, table by table, each sorted by its key.

        What a digest covers and a lock file records. Every table's leading
        fields are unique, so rows compare without reaching a None, a bool
        or a carrier's list of regions.
        """
        tables: dict[str, list[tuple[Any, ...]]] = {
            "region": [(code,) for code in self.regions],
            "location": [
                (x.code, x.region, x.active, x.is_primary)
                for x in self.locations.values()
            ],
            "carrier": [
                (x.code, x.active, x.max_orders_per_prep, sorted(x.regions))
                for x in self.carriers.values()
            ],
            "customer": list(map(tuple, self.customers.values())),
            "variant": [(x.sku, x.active) for x in self.variants.values()],
            "variant_part": [
                (sku, part, units)
                for sku, parts in self.bill_of_materials.items()
                for part, units in parts
            ],
            "inventory": [(*key, units) for key, units in self.available.items()],
            "collection_prep": [
                (location, carrier, day.isoformat(), number)
                for (location, carrier, day), number in self.highest_prep_number.items()
            ],
        }
        return {name: sorted(rows) for name, rows in tables.items()}

    def active_customers_in(self, regions: Iterable[str] | None) -> list[str]:
        """Codes of active customers of the regions (all regions for None), sorted."""
        wanted = None if regions is None else set(regions)
        return sorted(
            c.code
            for c in self.customers.values()
            if c.active and (wanted is None or c.region in wanted)
        )


def request_for(spec: Spec) -> ReferenceRequest:
    """Collect every key the spec names."""
    request = ReferenceRequest()

    def add_lines(lines: Sequence[Line] | None) -> None:
        for line in lines or ():
            request.skus.add(line.sku)

    for template in spec.templates.values():
        add_lines(template.lines)
    for group in spec.orders:
        add_lines(group.lines)
        selection = group.customers
        if selection is not None:
            request.customer_codes.update(selection.codes or ())
            if selection.region is not None:
                request.customer_regions.add(selection.region)
            request.customer_regions.update(selection.regions or ())
            request.all_customers |= bool(selection.all)
        if group.duplicate is not None:
            request.customer_codes.add(group.duplicate.customer)
            add_lines(group.duplicate.lines)
        for override in group.overrides.values():
            if override.customer is not None:
                request.customer_codes.add(override.customer)
            add_lines(override.lines)
    for prep in spec.collection_preps:
        if prep.location is not None:
            request.prep_locations.add(prep.location)
        request.prep_dates.add(prep.date)
        for prep_override in prep.overrides.values():
            if prep_override.date is not None:
                request.prep_dates.add(prep_override.date)
    return request


def digest_reference(ref: ReferenceData) -> str:
    """SHA-256 over every reference row `ref` holds, in a canonical order."""
    digest = hashlib.sha256()
    for name, rows in ref.tables().items():
        # One JSON array per table: typed (null, true, "1" and 1 differ) and
        # rendered in one call.
        digest.update(orjson.dumps([name, rows]))
    return "sha256:" + digest.hexdigest()


@dataclass(slots=True)
class _Tally:
    """Queries sent and rows read, over every connection of one prefetch."""

    queries: int = 0
    rows: int = 0


class _Fetcher:
    """Runs prefetch queries on one connection and counts what they read."""

    def __init__(self, conn: AsyncConnection, tally: _Tally | None = None) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name
        self.tally = _Tally() if tally is None else tally

    async def rows(self, name: str, stmt: sa.Select[Any]) -> Sequence[sa.Row[Any]]:
        result = await self.conn.execute(stmt)
        rows: Sequence[sa.Row[Any]] = result.all()
        self.tally.queries += 1
        self.tally.rows += len(rows)
        log.debug("fetched %d %s rows", len(rows), name)
        return rows

    def keys_in(self, column: sa.ColumnElement[Any], keys: Iterable[Any]) -> Any:
        return keys_in(column, set(keys), dialect=self.dialect)


@dataclass(slots=True)
class _Found:
    """What the six independent prefetch queries found."""

    regions: set[str] = field(default_factory=set)
    locations: dict[str, Location] = field(default_factory=dict)
    carriers: dict[str, Carrier] = field(default_factory=dict)
    customers: dict[str, Customer] = field(default_factory=dict)
    variants: dict[str, Variant] = field(default_factory=dict)
    bill: dict[str, list[tuple[str, int]]] = field(default_factory=dict)


_Query = Callable[[_Fetcher, ReferenceRequest, _Found], Awaitable[None]]


async def prefetch(
    source: AsyncConnection | Snapshot, request: ReferenceRequest
) -> ReferenceData:
    """Load the reference rows for `request`: eight queries, whatever its size.

    Given a connection, the queries run one after another on it. Given a
    `Snapshot` shared by several connections, the six queries that depend on
    nothing are spread over them and run at once, every connection seeing the
    same snapshot; stock and existing preps, which need the customers and the
    bill of materials, follow on the snapshot's first connection.
    """
    snapshot = source if isinstance(source, Snapshot) else Snapshot(None, source)
    tally = _Tally()
    found = _Found()

    async def read_lane(index: int, queries: Sequence[_Query]) -> None:
        if index == 0:
            await _read(_Fetcher(snapshot.conn, tally), queries, request, found)
            return
        async with snapshot.attach() as conn:
            await _read(_Fetcher(conn, tally), queries, request, found)

    lanes = _LANES[min(snapshot.connections, len(_LANES))]
    await _run_concurrently(
        [partial(read_lane, index, queries) for index, queries in enumerate(lanes)]
    )

    f = _Fetcher(snapshot.conn, tally)
    scope = _location_scope(request, found.customers, found.locations)
    parts = {part for entries in found.bill.values() for part, _ in entries}
    available = await _available(f, scope, parts)
    highest = await _highest_prep_numbers(f, scope, request.prep_dates)

    log.info(
        "prefetched %d customers, %d SKUs, %d stock rows in %d queries "
        "on %d connection(s)",
        len(found.customers),
        len(found.variants),
        len(available),
        tally.queries,
        len(lanes),
    )
    reference = ReferenceData(
        regions=found.regions,
        locations=found.locations,
        carriers=found.carriers,
        customers=found.customers,
        variants=found.variants,
        bill_of_materials=found.bill,
        available=available,
        highest_prep_number=highest,
        queries=tally.queries,
        rows_fetched=tally.rows,
    )
    reference.digest = digest_reference(reference)
    return reference


async def _read(
    f: _Fetcher,
    queries: Sequence[_Query],
    request: ReferenceRequest,
    found: _Found,
) -> None:
    for query in queries:
        await query(f, request, found)


async def _run_concurrently(jobs: Sequence[Callable[[], Awaitable[None]]]) -> None:
    """Run `jobs` at once; on the first failure cancel the others and raise it.

    The failure is raised alone, not wrapped in an exception group, so that
    the caller translates it like the same failure on one connection. What
    the cancelled jobs raise while they stop is the first failure's echo.
    """
    if len(jobs) == 1:
        await jobs[0]()
        return
    failures: list[Exception] = []
    async with anyio.create_task_group() as tg:

        async def run(job: Callable[[], Awaitable[None]]) -> None:
            try:
                await job()
            except Exception as exc:
                failures.append(exc)
                tg.cancel_scope.cancel()

        for job in jobs:
            tg.start_soon(run, job)
    if failures:
        raise failures[0]


async def _regions(f: _Fetcher, _request: ReferenceRequest, found: _Found) -> None:
    found.regions = {
        row.code
        for row in await f.rows(
            "region", sa.select(t.region.c.code).order_by(t.region.c.code)
        )
    }


async def _locations(f: _Fetcher, _request: ReferenceRequest, found: _Found) -> None:
    found.locations = {
        row.code: Location(row.code, row.region_code, row.active, row.is_primary)
        for row in await f.rows(
            "location",
            sa.select(
                t.location.c.code,
                t.location.c.region_code,
                t.location.c.active,
                t.location.c.is_primary,
            ).order_by(t.location.c.code),
        )
    }


async def _read_carriers(
    f: _Fetcher, _request: ReferenceRequest, found: _Found
) -> None:
    found.carriers = await _carriers(f)


async def _read_customers(
    f: _Fetcher, request: ReferenceRequest, found: _Found
) -> None:
    found.customers = await _customers(f, request)


async def _variants(f: _Fetcher, request: ReferenceRequest, found: _Found) -> None:
    found.variants = {
        row.sku: Variant(row.sku, row.active)
        for row in await f.rows(
            "variant",
            sa.select(t.variant.c.sku, t.variant.c.active)
            .where(f.keys_in(t.variant.c.sku, request.skus))
            .order_by(t.variant.c.sku),
        )
    }


async def _bill_of_materials(
    f: _Fetcher, request: ReferenceRequest, found: _Found
) -> None:
    bill: dict[str, list[tuple[str, int]]] = defaultdict(list)
    vp = t.variant_part
    for row in await f.rows(
        "variant_part",
        sa.select(vp.c.sku, vp.c.part_number, vp.c.quantity)
        .where(f.keys_in(vp.c.sku, request.skus))
        .order_by(vp.c.sku, vp.c.part_number),
    ):
        bill[row.sku].append((row.part_number, row.quantity))
    found.bill = dict(bill)


# The independent queries per connection, for one to three connections. The
# customers are by far the most rows, so they have the first connection (open
# already, no snapshot to adopt) to themselves as soon as there is a second.
_LANES: dict[int, list[list[_Query]]] = {
    1: [
        [
            _regions,
            _locations,
            _read_carriers,
            _read_customers,
            _variants,
            _bill_of_materials,
        ]
    ],
    2: [
        [_read_customers],
        [_regions, _locations, _read_carriers, _variants, _bill_of_materials],
    ],
    3: [
        [_read_customers],
        [_variants, _bill_of_materials],
        [_regions, _locations, _read_carriers],
    ],
}


async def _available(
    f: _Fetcher, scope: set[str], parts: set[str]
) -> dict[tuple[str, str], int]:
    inv = t.inventory
    return {
        (row.location_code, row.part_number): row.on_hand - row.reserved
        for row in await f.rows(
            "inventory",
            sa.select(
                inv.c.location_code, inv.c.part_number, inv.c.on_hand, inv.c.reserved
            )
            .where(f.keys_in(inv.c.location_code, scope))
            .where(f.keys_in(inv.c.part_number, parts))
            .order_by(inv.c.location_code, inv.c.part_number),
        )
    }


async def _carriers(f: _Fetcher) -> dict[str, Carrier]:
    c, cr = t.carrier, t.carrier_region
    rows = await f.rows(
        "carrier",
        sa.select(c.c.code, c.c.active, c.c.max_orders_per_prep, cr.c.region_code)
        .select_from(c.outerjoin(cr, cr.c.carrier_code == c.c.code))
        .order_by(c.c.code, cr.c.region_code),
    )
    served: dict[str, set[str]] = defaultdict(set)
    first: dict[str, Any] = {}
    for row in rows:
        first.setdefault(row.code, row)
        if row.region_code is not None:
            served[row.code].add(row.region_code)
    return {
        code: Carrier(code, row.active, row.max_orders_per_prep, frozenset(regions))
        for code, row in first.items()
        for regions in [served[code]]
    }


async def _customers(f: _Fetcher, request: ReferenceRequest) -> dict[str, Customer]:
    c = t.customer
    wanted: list[sa.ColumnElement[bool]] = [f.keys_in(c.c.code, request.customer_codes)]
    if request.all_customers:
        wanted.append(c.c.active)
    else:
        wanted.append(
            sa.and_(f.keys_in(c.c.region_code, request.customer_regions), c.c.active)
        )
    rows = await f.rows(
        "customer",
        sa.select(c.c.code, c.c.region_code, c.c.home_location_code, c.c.active)
        .where(sa.or_(*wanted))
        .order_by(c.c.code),
    )
    # Built in C from the rows: tuple.__new__ with the class, no Python call
    # per customer.
    made = list(map(partial(tuple.__new__, Customer), rows))
    return dict(zip(map(itemgetter(0), made), made, strict=True))


def _location_scope(
    request: ReferenceRequest,
    customers: dict[str, Customer],
    locations: dict[str, Location],
) -> set[str]:
    """Every location an order or prep of this spec can be at."""
    primary = _primaries(locations)
    scope = set(request.prep_locations)
    # Few distinct (region, home) pairs stand for many customers.
    regions = map(itemgetter(1), customers.values())
    homes = map(itemgetter(2), customers.values())
    for region, home in set(zip(regions, homes, strict=True)):
        location = home or primary.get(region)
        if location is not None:
            scope.add(location)
    return scope


def _primaries(locations: dict[str, Location]) -> dict[str, str]:
    """Each region's primary location (the first by code, should there be two)."""
    primary: dict[str, str] = {}
    for code in sorted(locations):
        if locations[code].is_primary:
            primary.setdefault(locations[code].region, code)
    return primary


async def _highest_prep_numbers(
    f: _Fetcher, locations: set[str], dates: set[dt.date]
) -> dict[PrepGroupKey, int]:
    p = t.collection_prep
    rows = await f.rows(
        "collection_prep",
        sa.select(
            p.c.location_code,
            p.c.carrier_code,
            p.c.prep_date,
            sa.func.max(p.c.code).label("highest"),
        )
        .where(f.keys_in(p.c.location_code, locations))
        .where(f.keys_in(p.c.prep_date, dates))
        .group_by(p.c.location_code, p.c.carrier_code, p.c.prep_date)
        .order_by(p.c.location_code, p.c.carrier_code, p.c.prep_date),
    )
    highest: dict[PrepGroupKey, int] = {}
    for row in rows:
        number = row.highest.rsplit("-", 1)[-1]
        if number.isdigit():
            highest[(row.location_code, row.carrier_code, row.prep_date)] = int(number)
    return highest


async def find_taken_codes(conn: AsyncConnection, codes: Iterable[str]) -> set[str]:
    """Which of `codes` name collection preps that exist already."""
    p = t.collection_prep
    result = await conn.execute(
        sa.select(p.c.code).where(
            keys_in(p.c.code, set(codes), dialect=conn.dialect.name)
        )
    )
    return {row.code for row in result}
