"""The demo reference dataset: small, fixed, and built to exercise every rule.

`demo_rows(scale)` gives the rows of every reference table, in the column order
of `seedcompile.refschema`, computed from indices alone: the same scale always
gives the same rows. At scale 1 the dataset holds

- 4 regions, 8 locations (one primary per region; DUB1 in EU-WEST is
  inactive and holds no stock), 240 customers, 6 carriers serving 13
  carrier-region pairs, 16 variants, 23 parts, 63 variant parts,
  160 inventory rows and 7 existing collection preps.

What it exercises:

- inactive rows: every 17th customer, TSHIRT-GREEN-M and POSTER-A2 (which
  still have a bill of materials), the carrier PONYEXP and the location DUB1;
- carriers that do not serve every region: only DHL serves all four, FEDEX
  serves US-EAST and APAC, ROYALMAIL only EU-WEST, and no active carrier but
  DHL and FEDEX serves APAC;
- carrier capacities from 20 (DPD) to 50 (DHL) orders per prep;
- customers with a home location (every third: the region's secondary
  location, or SIN1 in APAC, which has only its primary) and without one
  (fulfilled at the region's primary location);
- parts shared by several variants: INK-CMYK, BOX-SMALL, BOX-LARGE and
  LABEL-SHIP, consumed in different quantities per variant;
- stock short in places: 5 on hand and 2 reserved of BLANK-HOODIE-GREY-L at
  MAN1, none of BLANK-MUG-BLACK at WAW1, 30 and 10 of BOX-LARGE at ATL1,
  120 and 20 of BLANK-TEE-RED-M at LON1, and no inventory row at all (so
  nothing available) for BLANK-CAP-NAVY at SIN1;
- existing collection preps, so that new prep codes must number on from
  them: three DHL preps and one UPS prep at LON1 on 2026-12-10, a lone
  NYC1-FEDEX-20261210-0007, one at FRA1 on 2026-12-11, and MAN1's
  ROYALMAIL prep numbered 0012.

A larger scale multiplies the customers (240 per unit of scale) and the
stock on hand, never anything else; the stock shortages above stay exactly as
they are. Customers are generated lazily, so a scale of 1000 (240,000
customers) costs no more memory than scale 1.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from seedcompile.errors import UsageError

CUSTOMERS_PER_SCALE = 240


class RegionRow(NamedTuple):
    code: str
    name: str


class LocationRow(NamedTuple):
    code: str
    region_code: str
    active: bool
    is_primary: bool


class CustomerRow(NamedTuple):
    code: str
    region_code: str
    home_location_code: str | None
    active: bool


class CarrierRow(NamedTuple):
    code: str
    name: str
    active: bool
    max_orders_per_prep: int


class CarrierRegionRow(NamedTuple):
    carrier_code: str
    region_code: str


class VariantRow(NamedTuple):
    sku: str
    name: str
    active: bool


class PartRow(NamedTuple):
    part_number: str
    description: str


class VariantPartRow(NamedTuple):
    sku: str
    part_number: str
    quantity: int


class InventoryRow(NamedTuple):
    location_code: str
    part_number: str
    on_hand: int
    reserved: int


class CollectionPrepRow(NamedTuple):
    code: str
    location_code: str
    carrier_code: str
    prep_date: dt.date


REGIONS = (
    RegionRow("EU-WEST", "Europe West"),
    RegionRow("EU-CENTRAL", "Europe Central"),
    RegionRow("US-EAST", "US East"),
    RegionRow("APAC", "Asia Pacific"),
)

LOCATIONS = (
    LocationRow("LON1", "EU-WEST", active=True, is_primary=True),
    LocationRow("MAN1", "EU-WEST", active=True, is_primary=False),
    LocationRow("DUB1", "EU-WEST", active=False, is_primary=False),
    LocationRow("FRA1", "EU-CENTRAL", active=True, is_primary=True),
    LocationRow("WAW1", "EU-CENTRAL", active=True, is_primary=False),
    LocationRow("NYC1", "US-EAST", active=True, is_primary=True),
    LocationRow("ATL1", "US-EAST", active=True, is_primary=False),
    LocationRow("SIN1", "APAC", active=True, is_primary=True),
)

# Where every third customer of a region lives: an active location other than
# the primary where the region has one (APAC has only SIN1).
_HOME_LOCATIONS = {
    "EU-WEST": "MAN1",
    "EU-CENTRAL": "WAW1",
    "US-EAST": "ATL1",
    "APAC": "SIN1",
}

CARRIERS = (
    CarrierRow("DHL", "DHL Express", active=True, max_orders_per_prep=50),
    CarrierRow("UPS", "UPS", active=True, max_orders_per_prep=40),
    CarrierRow("FEDEX", "FedEx", active=True, max_orders_per_prep=30),
    CarrierRow("ROYALMAIL", "Royal Mail", active=True, max_orders_per_prep=25),
    CarrierRow("DPD", "DPD", active=True, max_orders_per_prep=20),
    CarrierRow("PONYEXP", "Pony Express", active=False, max_orders_per_prep=100),
)

_SERVED_REGIONS = {
    "DHL": ("EU-WEST", "EU-CENTRAL", "US-EAST", "APAC"),
    "UPS": ("EU-WEST", "EU-CENTRAL", "US-EAST"),
    "FEDEX": ("US-EAST", "APAC"),
    "ROYALMAIL": ("EU-WEST",),
    "DPD": ("EU-WEST", "EU-CENTRAL"),
    "PONYEXP": ("US-EAST",),
}

CARRIER_REGIONS = tuple(
    CarrierRegionRow(carrier, region)
    for carrier, regions in _SERVED_REGIONS.items()
    for region in regions
)

_TEE_COLOURS = ("RED", "BLUE", "BLACK", "GREEN")
_SIZES = ("S", "M", "L")


def _tee_variants() -> Iterator[VariantRow]:
    for colour in _TEE_COLOURS[:3]:
        for size in _SIZES:
            yield VariantRow(f"TSHIRT-{colour}-{size}", _tee_name(colour, size), True)
    yield VariantRow("TSHIRT-GREEN-M", _tee_name("GREEN", "M"), False)


def _tee_name(colour: str, size: str) -> str:
    return f"T-shirt {colour.lower()} {size}"


VARIANTS = (
    *_tee_variants(),
    VariantRow("HOODIE-GREY-M", "Hoodie grey M", active=True),
    VariantRow("HOODIE-GREY-L", "Hoodie grey L", active=True),
    VariantRow("MUG-WHITE", "Mug white", active=True),
    VariantRow("MUG-BLACK", "Mug black", active=True),
    VariantRow("CAP-NAVY", "Cap navy", active=True),
    VariantRow("POSTER-A2", "Poster A2", active=False),
)

PARTS = (
    *(
        PartRow(f"BLANK-TEE-{colour}-{size}", f"Blank T-shirt {colour.lower()} {size}")
        for colour in _TEE_COLOURS
        for size in _SIZES
    ),
    PartRow("BLANK-HOODIE-GREY-M", "Blank hoodie grey M"),
    PartRow("BLANK-HOODIE-GREY-L", "Blank hoodie grey L"),
    PartRow("BLANK-MUG-WHITE", "Blank mug white"),
    PartRow("BLANK-MUG-BLACK", "Blank mug black"),
    PartRow("BLANK-CAP-NAVY", "Blank cap navy"),
    PartRow("PAPER-A2", "Poster paper A2"),
    PartRow("TUBE-POSTER", "Poster tube"),
    PartRow("INK-CMYK", "Printing ink CMYK"),
    PartRow("BOX-SMALL", "Small shipping box"),
    PartRow("BOX-LARGE", "Large shipping box"),
    PartRow("LABEL-SHIP", "Shipping label"),
)


# What one unit of each product family consumes besides its main part.
_SHARED_PARTS = {
    "TSHIRT": (("INK-CMYK", 2), ("BOX-SMALL", 1), ("LABEL-SHIP", 1)),
    "HOODIE": (("INK-CMYK", 3), ("BOX-LARGE", 1), ("LABEL-SHIP", 1)),
    "MUG": (("INK-CMYK", 1), ("BOX-SMALL", 1), ("LABEL-SHIP", 1)),
    "CAP": (("BOX-SMALL", 1), ("LABEL-SHIP", 1)),
    "POSTER": (("TUBE-POSTER", 1), ("INK-CMYK", 1), ("LABEL-SHIP", 1)),
}


def _bill_of_materials(sku: str) -> tuple[tuple[str, int], ...]:
    """The parts one unit of a demo variant consumes, with their quantities."""
    family, _, rest = sku.partition("-")
    if family == "TSHIRT":
        main_part = f"BLANK-TEE-{rest}"
    elif family == "POSTER":
        main_part = f"PAPER-{rest}"
    else:
        main_part = f"BLANK-{sku}"
    return ((main_part, 1), *_SHARED_PARTS[family])


VARIANT_PARTS = tuple(
    VariantPartRow(variant.sku, part_number, quantity)
    for variant in VARIANTS
    for part_number, quantity in _bill_of_materials(variant.sku)
)

# Units on hand per unit of scale; every BLANK-* part not listed has 2000.
_ON_HAND_PER_SCALE = {
    "INK-CMYK": 50_000,
    "LABEL-SHIP": 20_000,
    "BOX-SMALL": 10_000,
    "BOX-LARGE": 4_000,
    "PAPER-A2": 500,
    "TUBE-POSTER": 500,
}
_BLANK_ON_HAND_PER_SCALE = 2_000

# The shortages, exactly as given at every scale: (on hand, reserved).
_STOCK_OVERRIDES = {
    ("MAN1", "BLANK-HOODIE-GREY-L"): (5, 2),
    ("WAW1", "BLANK-MUG-BLACK"): (0, 0),
    ("ATL1", "BOX-LARGE"): (30, 10),
    ("LON1", "BLANK-TEE-RED-M"): (120, 20),
}

# No inventory row at all: nothing of the part is available there.
_NO_STOCK = frozenset({("SIN1", "BLANK-CAP-NAVY")})

_EXISTING_PREP_CODES = (
    "LON1-DHL-20261210-0001",
    "LON1-DHL-20261210-0002",
    "LON1-DHL-20261210-0003",
    "LON1-UPS-20261210-0001",
    "NYC1-FEDEX-20261210-0007",
    "FRA1-DHL-20261211-0001",
    "MAN1-ROYALMAIL-20261210-0012",
)


def _prep_row(code: str) -> CollectionPrepRow:
    """The row of an existing prep, its columns read from its code."""
    location_code, carrier_code, day, _number = code.split("-")
    prep_date = dt.datetime.strptime(day, "%Y%m%d").date()
    return CollectionPrepRow(code, location_code, carrier_code, prep_date)


COLLECTION_PREPS = tuple(_prep_row(code) for code in _EXISTING_PREP_CODES)


def customer_row(index: int) -> CustomerRow:
    """The demo customer with this 1-based index, the same at every scale."""
    region_code = REGIONS[(index - 1) % len(REGIONS)].code
    home = _HOME_LOCATIONS[region_code] if index % 3 == 0 else None
    return CustomerRow(f"C-{index:06d}", region_code, home, index % 17 != 0)


@dataclass(frozen=True, slots=True)
class CustomerRows:
    """The demo customers at one scale, generated afresh on each iteration."""

    scale: int

    def __len__(self) -> int:
        return CUSTOMERS_PER_SCALE * self.scale

    def __iter__(self) -> Iterator[CustomerRow]:
        return map(customer_row, range(1, len(self) + 1))


def _on_hand(part_number: str, scale: int) -> int:
    if part_number.startswith("BLANK-"):
        return _BLANK_ON_HAND_PER_SCALE * scale
    return _ON_HAND_PER_SCALE[part_number] * scale


def _inventory(scale: int) -> Iterator[InventoryRow]:
    for location in LOCATIONS:
        if not location.active:
            continue
        for part in PARTS:
            key = (location.code, part.part_number)
            if key in _NO_STOCK:
                continue
            on_hand = _on_hand(part.part_number, scale)
            on_hand, reserved = _STOCK_OVERRIDES.get(key, (on_hand, on_hand // 10))
            yield InventoryRow(location.code, part.part_number, on_hand, reserved)


@dataclass(frozen=True, slots=True)
class DemoData:
    """The rows of every reference table, one attribute per table."""

    region: tuple[RegionRow, ...]
    location: tuple[LocationRow, ...]
    customer: CustomerRows
    carrier: tuple[CarrierRow, ...]
    carrier_region: tuple[CarrierRegionRow, ...]
    variant: tuple[VariantRow, ...]
    part: tuple[PartRow, ...]
    variant_part: tuple[VariantPartRow, ...]
    inventory: tuple[InventoryRow, ...]
    collection_prep: tuple[CollectionPrepRow, ...]

    def tables(self) -> dict[str, Iterable[tuple[Any, ...]]]:
        """Rows by table name, parents before the tables that refer to them."""
        return {
            "region": self.region,
            "location": self.location,
            "customer": self.customer,
            "carrier": self.carrier,
            "carrier_region": self.carrier_region,
            "variant": self.variant,
            "part": self.part,
            "variant_part": self.variant_part,
            "inventory": self.inventory,
            "collection_prep": self.collection_prep,
        }


def demo_rows(scale: int = 1) -> DemoData:
    """The demo dataset at a scale: the same rows on every call."""
    if scale < 1:
        raise UsageError.single(
            "usage.demo-scale", f"the demo scale must be at least 1, not {scale}"
        )
    return DemoData(
        region=REGIONS,
        location=LOCATIONS,
        customer=CustomerRows(scale),
        carrier=CARRIERS,
        carrier_region=CARRIER_REGIONS,
        variant=VARIANTS,
        part=PARTS,
        variant_part=VARIANT_PARTS,
        inventory=tuple(_inventory(scale)),
        collection_prep=COLLECTION_PREPS,
    )
