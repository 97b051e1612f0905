"""The demo dataset (`seedcompile.demo`) and loading it (`seedcompile.refdata`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from seedcompile import refdata, refschema
from seedcompile.database import DatabaseSettings, create_engine
from seedcompile.demo import DemoData, demo_rows
from seedcompile.errors import EXIT_USAGE, DatabaseError, UsageError
from seedcompile.refdata import init_reference_data

EXPECTED_COUNTS = {
    "region": 4,
    "location": 8,
    "customer": 240,
    "carrier": 6,
    "carrier_region": 13,
    "variant": 16,
    "part": 23,
    "variant_part": 63,
    "inventory": 160,
    "collection_prep": 7,
}

ACTIVE_LOCATIONS = ("LON1", "MAN1", "FRA1", "WAW1", "NYC1", "ATL1", "SIN1")


def materialize(data: DemoData) -> dict[str, list[tuple[Any, ...]]]:
    return {name: list(rows) for name, rows in data.tables().items()}


def by_key(rows: Iterable[tuple[Any, ...]], width: int = 1) -> dict[Any, Any]:
    """Rows keyed by their first `width` columns."""
    return {row[0] if width == 1 else tuple(row[:width]): row for row in rows}


# The dataset on its own


def test_same_rows_on_every_call() -> None:
    assert materialize(demo_rows(2)) == materialize(demo_rows(2))
    assert demo_rows() == demo_rows(1)


def test_row_counts_at_scale_1() -> None:
    counts = {name: len(rows) for name, rows in materialize(demo_rows()).items()}
    assert counts == EXPECTED_COUNTS


def test_rows_follow_the_column_order_of_refschema() -> None:
    tables = materialize(demo_rows())
    assert set(tables) == set(refschema.metadata.tables)
    for name, rows in tables.items():
        columns = tuple(refschema.metadata.tables[name].columns.keys())
        assert all(row._fields == columns for row in rows), name  # type: ignore[attr-defined]


def test_every_foreign_key_points_at_a_row() -> None:
    tables = materialize(demo_rows())
    for table in refschema.metadata.sorted_tables:
        columns = list(table.columns.keys())
        for fk in table.foreign_keys:
            parent = fk.column.table
            target = list(parent.columns.keys()).index(fk.column.name)
            keys = {row[target] for row in tables[parent.name]}
            index = columns.index(fk.parent.name)
            values = {row[index] for row in tables[table.name]} - {None}
            assert values <= keys, f"{table.name}.{fk.parent.name}"


def test_primary_keys_are_unique() -> None:
    for table in refschema.metadata.sorted_tables:
        columns = list(table.columns.keys())
        key = [columns.index(column.name) for column in table.primary_key]
        rows = list(demo_rows(2).tables()[table.name])
        assert len({tuple(row[i] for i in key) for row in rows}) == len(rows)


def test_regions_and_locations() -> None:
    data = demo_rows()
    assert [tuple(row) for row in data.region] == [
        ("EU-WEST", "Europe West"),
        ("EU-CENTRAL", "Europe Central"),
        ("US-EAST", "US East"),
        ("APAC", "Asia Pacific"),
    ]
    assert [tuple(row) for row in data.location] == [
        ("LON1", "EU-WEST", True, True),
        ("MAN1", "EU-WEST", True, False),
        ("DUB1", "EU-WEST", False, False),
        ("FRA1", "EU-CENTRAL", True, True),
        ("WAW1", "EU-CENTRAL", True, False),
        ("NYC1", "US-EAST", True, True),
        ("ATL1", "US-EAST", True, False),
        ("SIN1", "APAC", True, True),
    ]


def test_carriers_and_the_regions_they_serve() -> None:
    data = demo_rows()
    assert [tuple(row) for row in data.carrier] == [
        ("DHL", "DHL Express", True, 50),
        ("UPS", "UPS", True, 40),
        ("FEDEX", "FedEx", True, 30),
        ("ROYALMAIL", "Royal Mail", True, 25),
        ("DPD", "DPD", True, 20),
        ("PONYEXP", "Pony Express", False, 100),
    ]
    served: dict[str, set[str]] = {}
    for carrier_code, region_code in data.carrier_region:
        served.setdefault(carrier_code, set()).add(region_code)
    assert served == {
        "DHL": {"EU-WEST", "EU-CENTRAL", "US-EAST", "APAC"},
        "UPS": {"EU-WEST", "EU-CENTRAL", "US-EAST"},
        "FEDEX": {"US-EAST", "APAC"},
        "ROYALMAIL": {"EU-WEST"},
        "DPD": {"EU-WEST", "EU-CENTRAL"},
        "PONYEXP": {"US-EAST"},
    }


@pytest.mark.parametrize(
    ("code", "region", "home", "active"),
    [
        ("C-000001", "EU-WEST", None, True),
        ("C-000002", "EU-CENTRAL", None, True),
        ("C-000003", "US-EAST", "ATL1", True),
        ("C-000004", "APAC", None, True),
        ("C-000006", "EU-CENTRAL", "WAW1", True),
        ("C-000009", "EU-WEST", "MAN1", True),
        ("C-000012", "APAC", "SIN1", True),
        ("C-000017", "EU-WEST", None, False),
        ("C-000051", "US-EAST", "ATL1", False),
        ("C-000240", "APAC", "SIN1", True),
    ],
)
def test_customer(code: str, region: str, home: str | None, active: bool) -> None:
    customers = by_key(demo_rows().customer)
    assert tuple(customers[code]) == (code, region, home, active)


def test_customers_count_up_without_gaps() -> None:
    codes = [row.code for row in demo_rows().customer]
    assert codes == [f"C-{i:06d}" for i in range(1, 241)]
    inactive = [row.code for row in demo_rows().customer if not row.active]
    assert len(inactive) == 14


def test_home_locations_are_active_and_in_the_customers_region() -> None:
    data = demo_rows()
    locations = by_key(data.location)
    for customer in data.customer:
        if customer.home_location_code is not None:
            home = locations[customer.home_location_code]
            assert home.active
            assert home.region_code == customer.region_code


def test_variants() -> None:
    variants = by_key(demo_rows().variant)
    tees = {f"TSHIRT-{c}-{s}" for c in ("RED", "BLUE", "BLACK") for s in "SML"}
    others = {"HOODIE-GREY-M", "HOODIE-GREY-L", "MUG-WHITE", "MUG-BLACK", "CAP-NAVY"}
    assert {sku for sku, row in variants.items() if row.active} == tees | others
    assert {sku for sku, row in variants.items() if not row.active} == {
        "TSHIRT-GREEN-M",
        "POSTER-A2",
    }
    assert variants["TSHIRT-RED-M"].name == "T-shirt red M"


def test_parts() -> None:
    parts = {row.part_number for row in demo_rows().part}
    blanks = {
        f"BLANK-TEE-{c}-{s}" for c in ("RED", "BLUE", "BLACK", "GREEN") for s in "SML"
    }
    assert parts == blanks | {
        "BLANK-HOODIE-GREY-M",
        "BLANK-HOODIE-GREY-L",
        "BLANK-MUG-WHITE",
        "BLANK-MUG-BLACK",
        "BLANK-CAP-NAVY",
        "PAPER-A2",
        "TUBE-POSTER",
        "INK-CMYK",
        "BOX-SMALL",
        "BOX-LARGE",
        "LABEL-SHIP",
    }


@pytest.mark.parametrize(
    ("sku", "parts"),
    [
        (
            "TSHIRT-GREEN-M",
            {"BLANK-TEE-GREEN-M": 1, "INK-CMYK": 2, "BOX-SMALL": 1, "LABEL-SHIP": 1},
        ),
        (
            "TSHIRT-BLACK-S",
            {"BLANK-TEE-BLACK-S": 1, "INK-CMYK": 2, "BOX-SMALL": 1, "LABEL-SHIP": 1},
        ),
        (
            "HOODIE-GREY-L",
            {"BLANK-HOODIE-GREY-L": 1, "INK-CMYK": 3, "BOX-LARGE": 1, "LABEL-SHIP": 1},
        ),
        (
            "MUG-BLACK",
            {"BLANK-MUG-BLACK": 1, "INK-CMYK": 1, "BOX-SMALL": 1, "LABEL-SHIP": 1},
        ),
        ("CAP-NAVY", {"BLANK-CAP-NAVY": 1, "BOX-SMALL": 1, "LABEL-SHIP": 1}),
        (
            "POSTER-A2",
            {"PAPER-A2": 1, "TUBE-POSTER": 1, "INK-CMYK": 1, "LABEL-SHIP": 1},
        ),
    ],
)
def test_bill_of_materials(sku: str, parts: dict[str, int]) -> None:
    bill = {
        row.part_number: row.quantity
        for row in demo_rows().variant_part
        if row.sku == sku
    }
    assert bill == parts


def test_every_variant_has_a_bill_of_materials() -> None:
    data = demo_rows()
    assert {row.sku for row in data.variant_part} == {row.sku for row in data.variant}


def test_inventory_covers_every_active_location_but_one_gap() -> None:
    data = demo_rows()
    stocked = {(row.location_code, row.part_number) for row in data.inventory}
    expected = {
        (loc, part.part_number) for loc in ACTIVE_LOCATIONS for part in data.part
    }
    assert stocked == expected - {("SIN1", "BLANK-CAP-NAVY")}
    assert not any(row.location_code == "DUB1" for row in data.inventory)


@pytest.mark.parametrize("scale", [1, 3])
@pytest.mark.parametrize(
    ("location", "part", "on_hand", "reserved"),
    [
        ("MAN1", "BLANK-HOODIE-GREY-L", 5, 2),
        ("WAW1", "BLANK-MUG-BLACK", 0, 0),
        ("ATL1", "BOX-LARGE", 30, 10),
        ("LON1", "BLANK-TEE-RED-M", 120, 20),
    ],
)
def test_stock_shortages_do_not_scale(
    scale: int, location: str, part: str, on_hand: int, reserved: int
) -> None:
    inventory = by_key(demo_rows(scale).inventory, width=2)
    assert tuple(inventory[location, part]) == (location, part, on_hand, reserved)


@pytest.mark.parametrize(
    ("location", "part", "on_hand"),
    [
        ("LON1", "INK-CMYK", 50_000),
        ("SIN1", "LABEL-SHIP", 20_000),
        ("NYC1", "BOX-SMALL", 10_000),
        ("MAN1", "BOX-LARGE", 4_000),
        ("ATL1", "BLANK-TEE-GREEN-L", 2_000),
        ("FRA1", "BLANK-CAP-NAVY", 2_000),
        ("WAW1", "PAPER-A2", 500),
        ("LON1", "TUBE-POSTER", 500),
    ],
)
@pytest.mark.parametrize("scale", [1, 3])
def test_stock_on_hand_grows_with_scale(
    scale: int, location: str, part: str, on_hand: int
) -> None:
    inventory = by_key(demo_rows(scale).inventory, width=2)
    row = inventory[location, part]
    assert (row.on_hand, row.reserved) == (on_hand * scale, on_hand * scale // 10)


def test_existing_collection_preps() -> None:
    preps = [tuple(row) for row in demo_rows().collection_prep]
    december_10 = dt.date(2026, 12, 10)
    assert preps == [
        ("LON1-DHL-20261210-0001", "LON1", "DHL", december_10),
        ("LON1-DHL-20261210-0002", "LON1", "DHL", december_10),
        ("LON1-DHL-20261210-0003", "LON1", "DHL", december_10),
        ("LON1-UPS-20261210-0001", "LON1", "UPS", december_10),
        ("NYC1-FEDEX-20261210-0007", "NYC1", "FEDEX", december_10),
        ("FRA1-DHL-20261211-0001", "FRA1", "DHL", dt.date(2026, 12, 11)),
        ("MAN1-ROYALMAIL-20261210-0012", "MAN1", "ROYALMAIL", december_10),
    ]


def test_scale_grows_only_customers_and_stock() -> None:
    small, large = materialize(demo_rows(1)), materialize(demo_rows(3))
    assert len(large["customer"]) == 720
    assert large["customer"][:240] == small["customer"]
    assert large["customer"][-1].code == "C-000720"  # type: ignore[attr-defined]
    unchanged = set(small) - {"customer", "inventory"}
    assert {name: large[name] for name in unchanged} == {
        name: small[name] for name in unchanged
    }
    assert [row[:2] for row in large["inventory"]] == [
        row[:2] for row in small["inventory"]
    ]


def test_a_large_scale_is_generated_lazily_and_fast() -> None:
    started = time.perf_counter()
    customers = demo_rows(1000).customer
    assert len(customers) == 240_000
    last = None
    for last in customers:  # noqa: B007 - only the last row matters
        pass
    assert last is not None
    assert last.code == "C-240000"
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize("scale", [0, -1])
def test_scale_below_1_is_a_usage_error(scale: int) -> None:
    with pytest.raises(UsageError, match="at least 1"):
        demo_rows(scale)


# Loading the dataset into a database


async def count_rows(url: str) -> dict[str, int]:
    engine = create_engine(DatabaseSettings(url))
    try:
        async with engine.connect() as conn:
            return {
                table.name: (
                    await conn.execute(sa.select(sa.func.count()).select_from(table))
                ).scalar_one()
                for table in refschema.metadata.sorted_tables
            }
    finally:
        await engine.dispose()


async def fetch_rows(url: str, table: sa.Table) -> list[tuple[Any, ...]]:
    engine = create_engine(DatabaseSettings(url))
    try:
        async with engine.connect() as conn:
            result = await conn.execute(sa.select(table))
            return [tuple(row) for row in result]
    finally:
        await engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    # A folder that does not exist yet: init must create it.
    return f"sqlite:///{tmp_path / 'new' / 'folder' / 'reference.db'}"


@pytest.mark.anyio
async def test_init_loads_every_row_into_sqlite(sqlite_url: str) -> None:
    counts = await init_reference_data(DatabaseSettings(sqlite_url))

    assert counts == EXPECTED_COUNTS
    assert await count_rows(sqlite_url) == EXPECTED_COUNTS


@pytest.mark.anyio
async def test_loaded_rows_read_back_as_generated(sqlite_url: str) -> None:
    await init_reference_data(DatabaseSettings(sqlite_url))

    data = materialize(demo_rows())
    for table in refschema.metadata.sorted_tables:
        loaded = await fetch_rows(sqlite_url, table)
        assert sorted(loaded) == sorted(tuple(row) for row in data[table.name])


@pytest.mark.anyio
async def test_init_twice_without_force_is_a_usage_error(sqlite_url: str) -> None:
    settings = DatabaseSettings(sqlite_url)
    await init_reference_data(settings)

    with pytest.raises(UsageError) as caught:
        await init_reference_data(settings)
    assert caught.value.exit_code == EXIT_USAGE
    message = str(caught.value)
    assert "already has reference data" in message
    assert "--force" in message
    assert await count_rows(sqlite_url) == EXPECTED_COUNTS


@pytest.mark.anyio
async def test_init_with_force_rebuilds(sqlite_url: str) -> None:
    settings = DatabaseSettings(sqlite_url)
    await init_reference_data(settings)

    counts = await init_reference_data(settings, scale=2, force=True)

    assert counts["customer"] == 480
    assert (await count_rows(sqlite_url))["customer"] == 480


@pytest.fixture(params=["sqlite", "postgresql"])
def any_url(request: pytest.FixtureRequest) -> str:
    """An empty database of each backend."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_database"
    url: str = request.getfixturevalue(name)
    return url


@pytest.mark.anyio
async def test_a_failed_rebuild_keeps_the_old_data(
    any_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = DatabaseSettings(any_url)
    await init_reference_data(settings)

    def broken_demo_rows(scale: int = 1) -> DemoData:
        data = demo_rows(scale)
        return dataclasses.replace(data, region=data.region + data.region[:1])

    monkeypatch.setattr(refdata, "demo_rows", broken_demo_rows)
    with pytest.raises(DatabaseError):
        await init_reference_data(settings, scale=2, force=True)
    assert await count_rows(any_url) == EXPECTED_COUNTS


@pytest.mark.anyio
async def test_init_refuses_a_bad_scale_before_touching_the_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "reference.db"
    with pytest.raises(UsageError):
        await init_reference_data(DatabaseSettings(f"sqlite:///{path}"), scale=0)
    assert not path.exists()


@pytest.mark.postgres
@pytest.mark.anyio
async def test_init_loads_postgresql(pg_database: str) -> None:
    settings = DatabaseSettings(pg_database)

    counts = await init_reference_data(settings, scale=2)
    with pytest.raises(UsageError, match="--force"):
        await init_reference_data(settings)
    rebuilt = await init_reference_data(settings, force=True)

    assert counts == {**EXPECTED_COUNTS, "customer": 480}
    assert rebuilt == EXPECTED_COUNTS
    assert await count_rows(pg_database) == EXPECTED_COUNTS
    preps = await fetch_rows(pg_database, refschema.collection_prep)
    assert sorted(preps) == sorted(tuple(row) for row in demo_rows().collection_prep)
    customers = by_key(await fetch_rows(pg_database, refschema.customer))
    assert customers["C-000003"] == ("C-000003", "US-EAST", "ATL1", True)
    assert customers["C-000017"] == ("C-000017", "EU-WEST", None, False)
