"""The benchmark's reference dataset: large, deterministic, loaded with COPY.

Every row is computed from its index by arithmetic alone (no `random`), so the
same version always gives the same rows. The dataset uses the tables and
columns of `seedcompile.refschema`:

- 20 regions, R01 to R20;
- 200 locations, ten per region (`R07L01` is region 7's primary location);
  site 10 of every fourth region is inactive;
- 30 carriers, `CAR01` to `CAR30`, taking 40 to 100 orders per prep; each
  serves about a third of the regions, CAR01, CAR11 and CAR21 serve every
  region, CAR15 and CAR30 are inactive; every region has at least nine active
  carriers;
- 200,000 customers, `C-000001` to `C-200000`, spread over the regions in
  turn; every 13th is inactive, every third has a home location (an active
  non-primary location of its region);
- 20,000 SKUs, `SKU-00001` to `SKU-20000`, every 97th inactive; 40,000 parts;
  every SKU consumes 2 to 4 parts: its own two (`P-0j` and `P-2j`) and up to
  two packaging parts shared by many SKUs (parts 1 to 50);
- 1,000,000 inventory rows: every location stocks the parts of the first 500
  SKUs (generously: the bench specs' `inventory: check` passes) and 4,000
  other parts in a window that moves with the location;
- 50,000 existing collection preps from 2026-11-01 to 2026-12-31 at every
  location, with carriers that serve it, numbered 0001 upwards per location,
  carrier and date, so that new prep codes must number on from them.

`ensure_loaded` creates the tables with `refschema.metadata.create_all`, loads
them with asyncpg's `copy_records_to_table` and runs ANALYZE; it skips all of
that when the database already holds this exact dataset (its fingerprint is
kept in the table `bench_dataset`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa

from seedcompile import refschema

log = logging.getLogger("bench.dataset")

# Raise when the rows change in a way the source digest would not show.
DATASET_VERSION = 1
FINGERPRINT_TABLE = "bench_dataset"


@dataclass(frozen=True, slots=True)
class Sizes:
    """How many rows of each kind the dataset holds."""

    regions: int = 20
    locations_per_region: int = 10
    carriers: int = 30
    customers: int = 200_000
    skus: int = 20_000
    parts: int = 40_000
    core_skus: int = 500  # SKUs whose parts every location stocks
    stocked_per_location: int = 5_000
    preps: int = 50_000


SIZES = Sizes()
PREP_FIRST_DATE = dt.date(2026, 11, 1)
PREP_DAYS = 61  # up to 2026-12-31
PACKAGING_PARTS = 50


# -- rows ---------------------------------------------------------------------


def region_code(r: int) -> str:
    return f"R{r:02d}"


def location_code(r: int, site: int) -> str:
    return f"R{r:02d}L{site:02d}"


def is_location_active(r: int, site: int) -> bool:
    return not (site == 10 and r % 4 == 0)


def carrier_code(k: int) -> str:
    return f"CAR{k:02d}"


def is_carrier_active(k: int) -> bool:
    return k % 15 != 0


def carrier_capacity(k: int) -> int:
    """Orders per prep, from 40 to 100."""
    return 40 + (k * 37) % 61


def carrier_serves(k: int, r: int) -> bool:
    return k % 10 == 1 or (r + k) % 3 == 0


def sku_code(j: int) -> str:
    return f"SKU-{j:05d}"


def is_sku_active(j: int) -> bool:
    return j % 97 != 0


def part_number(p: int) -> str:
    return f"P-{p:06d}"


def bill_of_materials(j: int, sizes: Sizes = SIZES) -> list[tuple[int, int]]:
    """(part index, units per unit of SKU j): 2 to 4 parts."""
    half = sizes.parts // 2
    parts = [(j, 1), (half + j, 1 + j % 2)]
    for extra in range(j % 3):
        packaging = 1 + (j * 7 + extra * 13) % PACKAGING_PARTS
        if packaging != j:
            parts.append((packaging, 1))
    return parts


def _home_sites(r: int, sizes: Sizes) -> list[int]:
    return [
        site
        for site in range(2, sizes.locations_per_region + 1)
        if is_location_active(r, site)
    ]


def customer_row(i: int, sizes: Sizes = SIZES) -> tuple[str, str, str | None, bool]:
    """The customer with 1-based index i."""
    r = (i - 1) % sizes.regions + 1
    home = None
    if i % 3 == 0:
        sites = _home_sites(r, sizes)
        # Consecutive home customers of a region are 3 * regions codes apart:
        # number them so that they take the region's sites in turn.
        home = location_code(r, sites[(i // (3 * sizes.regions)) % len(sites)])
    return (f"C-{i:06d}", region_code(r), home, i % 13 != 0)


def _regions(sizes: Sizes) -> Iterator[tuple[Any, ...]]:
    for r in range(1, sizes.regions + 1):
        yield (region_code(r), f"Region {r:02d}")


def _locations(sizes: Sizes) -> Iterator[tuple[Any, ...]]:
    for r in range(1, sizes.regions + 1):
        for site in range(1, sizes.locations_per_region + 1):
            yield (
                location_code(r, site),
                region_code(r),
                is_location_active(r, site),
                site == 1,
            )


def _customers(sizes: Sizes) -> Iterator[tuple[Any, ...]]:
    for i in range(1, sizes.customers + 1):
        yield customer_row(i, sizes)


def _carriers(sizes: Sizes) -> Iterator[tuple[Any, ...]]:
    for k in range(1, sizes.carriers + 1):
        yield (
            carrier_code(k),
            f"Carrier {k:02d}",
            is_carrier_active(k),
            carrier_capacity(k),
        )


def _carrier_regions(sizes: Sizes) -> Iterator[tuple[Any, ...]]:
    for k in range(1, sizes.carriers + 1):
        for r in range(1, sizes.regions + 1):
            if carrier_serves(k, r):
                yield (carrier_code(k), region_code(r))


def _variants(sizes: Sizes) -> Iterator[tuple[Any, ...]]:
    for j in range(1, sizes.skus + 1):
        yield (sku_code(j), f"Variant {j:05d}", is_sku_active(j))


def _parts(sizes: Sizes) -> Iterator[tuple[Any, ...]]:
    for p in range(1, sizes.parts + 1):
        kind = "packaging" if p <= PACKAGING_PARTS else "component"
        yield (part_number(p), f"{kind} {p:06d}")


def _variant_parts(sizes: Sizes) -> Iterator[tuple[Any, ...]]:
    for j in range(1, sizes.skus + 1):
        for p, quantity in bill_of_materials(j, sizes):
            yield (sku_code(j), part_number(p), quantity)


def _core_parts(sizes: Sizes) -> list[int]:
    parts = {
        p for j in range(1, sizes.core_skus + 1) for p, _ in bill_of_materials(j, sizes)
    }
    return sorted(parts)


def _inventory(sizes: Sizes) -> Iterator[tuple[Any, ...]]:
    core = _core_parts(sizes)
    core_set = set(core)
    rest = [p for p in range(1, sizes.parts + 1) if p not in core_set]
    window = sizes.stocked_per_location - len(core)
    li = 0
    for r in range(1, sizes.regions + 1):
        for site in range(1, sizes.locations_per_region + 1):
            code = location_code(r, site)
            for p in core:
                # Generous: the bench specs' demand never comes close.
                yield (
                    code,
                    part_number(p),
                    500_000 + (li * 31 + p) % 1000,
                    (li + p) % 100,
                )
            start = li * 1951
            for m in range(window):
                p = rest[(start + m) % len(rest)]
                yield (code, part_number(p), 100 + (li * p) % 900, (li + p) % 50)
            li += 1


def _collection_preps(sizes: Sizes) -> Iterator[tuple[Any, ...]]:
    locations = [
        (r, site)
        for r in range(1, sizes.regions + 1)
        for site in range(1, sizes.locations_per_region + 1)
    ]
    serving = {
        r: [
            carrier_code(k)
            for k in range(1, sizes.carriers + 1)
            if is_carrier_active(k) and carrier_serves(k, r)
        ]
        for r in range(1, sizes.regions + 1)
    }
    numbers: dict[tuple[str, str, int], int] = defaultdict(int)
    for n in range(sizes.preps):
        li = n % len(locations)
        slot = n // len(locations)
        r, site = locations[li]
        day = (slot * 17 + li) % PREP_DAYS
        carriers = serving[r]
        carrier = carriers[(slot + li) % len(carriers)]
        code = location_code(r, site)
        numbers[(code, carrier, day)] += 1
        date = PREP_FIRST_DATE + dt.timedelta(days=day)
        number = numbers[(code, carrier, day)]
        yield (f"{code}-{carrier}-{date:%Y%m%d}-{number:04d}", code, carrier, date)


def table_rows(sizes: Sizes = SIZES) -> dict[str, Iterable[tuple[Any, ...]]]:
    """Rows by table name, lazily; parents before the tables that refer to them."""
    return {
        "region": _regions(sizes),
        "location": _locations(sizes),
        "customer": _customers(sizes),
        "carrier": _carriers(sizes),
        "carrier_region": _carrier_regions(sizes),
        "variant": _variants(sizes),
        "part": _parts(sizes),
        "variant_part": _variant_parts(sizes),
        "inventory": _inventory(sizes),
        "collection_prep": _collection_preps(sizes),
    }


# -- loading ------------------------------------------------------------------


def fingerprint(sizes: Sizes = SIZES) -> str:
    """What identifies the dataset: its version, sizes and generator source."""
    source = Path(__file__).read_bytes()
    text = f"v{DATASET_VERSION} {sorted(asdict(sizes).items())} "
    return text + hashlib.sha256(source).hexdigest()[:16]


async def ensure_loaded(url: str, sizes: Sizes = SIZES) -> dict[str, Any]:
    """Load the dataset into `url` unless it is there already; what was done."""
    wanted = fingerprint(sizes)
    conn = await asyncpg.connect(url)
    try:
        found = await _stored_fingerprint(conn)
        if found == wanted:
            counts = await _counts(conn)
            log.info("reference dataset already loaded: %s", counts)
            return {"loaded": False, "seconds": 0.0, "rows": counts}
        started = time.perf_counter()
        counts = await _load(conn, url, sizes, wanted)
        seconds = time.perf_counter() - started
    finally:
        await conn.close()
    return {"loaded": True, "seconds": seconds, "rows": counts}


async def _stored_fingerprint(conn: asyncpg.Connection) -> str | None:
    exists = await conn.fetchval(
        "SELECT to_regclass($1) IS NOT NULL", FINGERPRINT_TABLE
    )
    if not exists:
        return None
    value: str | None = await conn.fetchval(
        f"SELECT fingerprint FROM {FINGERPRINT_TABLE}"
    )
    return value


async def _counts(conn: asyncpg.Connection) -> dict[str, int]:
    counts = {}
    for table in refschema.metadata.sorted_tables:
        counts[str(table.name)] = await conn.fetchval(
            f"SELECT count(*) FROM {table.name}"
        )
    return counts


async def _load(
    conn: asyncpg.Connection, url: str, sizes: Sizes, wanted: str
) -> dict[str, int]:
    log.info("building the reference dataset (%s)", wanted)
    await conn.execute(f"DROP TABLE IF EXISTS {FINGERPRINT_TABLE}")
    await _create_schema(url)
    counts: dict[str, int] = {}
    rows = table_rows(sizes)
    async with conn.transaction():
        # The rows are consistent by construction; skipping the foreign-key
        # triggers during COPY makes the load several times faster.
        await conn.execute("SET LOCAL session_replication_role = replica")
        for table in refschema.metadata.sorted_tables:
            started = time.perf_counter()
            status = await conn.copy_records_to_table(
                table.name, records=rows[table.name], columns=list(table.columns.keys())
            )
            name = str(table.name)  # a quoted_name, which orjson refuses as a key
            counts[name] = int(status.split()[-1])
            log.info(
                "  %-16s %9d rows in %.2f s",
                name,
                counts[name],
                time.perf_counter() - started,
            )
    # Statistics for the planner, and a visibility map for index-only scans.
    await conn.execute("VACUUM (ANALYZE)")
    # Last: an interrupted load leaves no fingerprint, so the next run reloads.
    await conn.execute(f"CREATE TABLE {FINGERPRINT_TABLE} (fingerprint text NOT NULL)")
    await conn.execute(f"INSERT INTO {FINGERPRINT_TABLE} VALUES ($1)", wanted)
    return counts


async def _create_schema(url: str) -> None:
    """Drop and create the reference tables with `refschema.metadata`."""
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(sa.make_url(url).set(drivername="postgresql+asyncpg"))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(refschema.metadata.drop_all)
            await conn.run_sync(refschema.metadata.create_all)
    finally:
        await engine.dispose()
