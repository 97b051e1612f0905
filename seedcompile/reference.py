"""Stage 2: prefetch every reference row a spec needs, in a fixed number of queries.

Whatever the size of the spec, the prefetch sends the same eight queries, each
binding its keys as one parameter (`database.keys_in`), all inside one
read-only snapshot. The rows come back as plain frozen records, keyed for
constant-time lookups by the later stages.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from seedcompile import refschema as t
from seedcompile.database import keys_in
from seedcompile.spec import Line, Spec

log = logging.getLogger("seedcompile.reference")


@dataclass(frozen=True, slots=True)
class Location:
    code: str
    region: str
    active: bool
    is_primary: bool


@dataclass(frozen=True, slots=True)
class Customer:
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

    def table(name: str, rows: Iterable[tuple[object, ...]]) -> None:
        digest.update(f"\x1e{name}\x1e".encode())
        # Every table's leading fields are unique, so tuples compare without
        # ever reaching a None or a bool.
        for row in sorted(rows):
            digest.update("\x1f".join(map(str, row)).encode() + b"\x1d")

    table("region", ((code,) for code in ref.regions))
    table(
        "location",
        ((x.code, x.region, x.active, x.is_primary) for x in ref.locations.values()),
    )
    table(
        "carrier",
        (
            (x.code, x.active, x.max_orders_per_prep, *sorted(x.regions))
            for x in ref.carriers.values()
        ),
    )
    table(
        "customer",
        ((x.code, x.region, x.home_location, x.active) for x in ref.customers.values()),
    )
    table("variant", ((x.sku, x.active) for x in ref.variants.values()))
    table(
        "variant_part",
        (
            (sku, part, units)
            for sku, parts in ref.bill_of_materials.items()
            for part, units in parts
        ),
    )
    table("inventory", ((*key, units) for key, units in ref.available.items()))
    table(
        "collection_prep",
        ((*key, number) for key, number in ref.highest_prep_number.items()),
    )
    return "sha256:" + digest.hexdigest()


class _Fetcher:
    """Runs the prefetch queries on one connection and counts what they read."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name
        self.queries = 0
        self.rows_fetched = 0

    async def rows(self, name: str, stmt: sa.Select[Any]) -> Sequence[sa.Row[Any]]:
        result = await self.conn.execute(stmt)
        rows: Sequence[sa.Row[Any]] = result.all()
        self.queries += 1
        self.rows_fetched += len(rows)
        log.debug("fetched %d %s rows", len(rows), name)
        return rows

    def keys_in(self, column: sa.ColumnElement[Any], keys: Iterable[Any]) -> Any:
        return keys_in(column, set(keys), dialect=self.dialect)


async def prefetch(conn: AsyncConnection, request: ReferenceRequest) -> ReferenceData:
    """Load the reference rows for `request`: eight queries, whatever its size."""
    f = _Fetcher(conn)

    regions = {
        row.code
        for row in await f.rows(
            "region", sa.select(t.region.c.code).order_by(t.region.c.code)
        )
    }
    locations = {
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
    carriers = await _carriers(f)
    customers = await _customers(f, request)
    variants = {
        row.sku: Variant(row.sku, row.active)
        for row in await f.rows(
            "variant",
            sa.select(t.variant.c.sku, t.variant.c.active)
            .where(f.keys_in(t.variant.c.sku, request.skus))
            .order_by(t.variant.c.sku),
        )
    }
    bill: dict[str, list[tuple[str, int]]] = defaultdict(list)
    vp = t.variant_part
    for row in await f.rows(
        "variant_part",
        sa.select(vp.c.sku, vp.c.part_number, vp.c.quantity)
        .where(f.keys_in(vp.c.sku, request.skus))
        .order_by(vp.c.sku, vp.c.part_number),
    ):
        bill[row.sku].append((row.part_number, row.quantity))

    scope = _location_scope(request, customers, locations)
    parts = {part for entries in bill.values() for part, _ in entries}
    available = {
        (row.location_code, row.part_number): row.on_hand - row.reserved
        for row in await f.rows(
            "inventory",
            sa.select(
                t.inventory.c.location_code,
                t.inventory.c.part_number,
                t.inventory.c.on_hand,
                t.inventory.c.reserved,
            )
            .where(f.keys_in(t.inventory.c.location_code, scope))
            .where(f.keys_in(t.inventory.c.part_number, parts))
            .order_by(t.inventory.c.location_code, t.inventory.c.part_number),
        )
    }
    highest = await _highest_prep_numbers(f, scope, request.prep_dates)

    log.info(
        "prefetched %d customers, %d SKUs, %d stock rows in %d queries",
        len(customers),
        len(variants),
        len(available),
        f.queries,
    )
    reference = ReferenceData(
        regions=regions,
        locations=locations,
        carriers=carriers,
        customers=customers,
        variants=variants,
        bill_of_materials=dict(bill),
        available=available,
        highest_prep_number=highest,
        queries=f.queries,
        rows_fetched=f.rows_fetched,
    )
    reference.digest = digest_reference(reference)
    return reference


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
    # Plain tuples: attribute access on 200,000 rows costs a visible fraction
    # of a large compile.
    records = cast(Sequence[tuple[str, str, str | None, bool]], rows)
    return {
        code: Customer(code, region, home, active)
        for code, region, home, active in records
    }


def _location_scope(
    request: ReferenceRequest,
    customers: dict[str, Customer],
    locations: dict[str, Location],
) -> set[str]:
    """Every location an order or prep of this spec can be at."""
    primary = _primaries(locations)
    scope = set(request.prep_locations)
    for customer in customers.values():
        home = customer.home_location or primary.get(customer.region)
        if home is not None:
            scope.add(home)
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
