"""Stage 6: the SeedConfig document, its schema, and the rules it must obey.

`assemble` builds the document from the plan; `check_rules` re-derives every
rule of a valid SeedConfig from the finished document alone, independently of
the planner, so a planner bug surfaces as an internal error instead of a
plausible-looking wrong fixture.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, TypeAdapter, with_config
from typing_extensions import TypedDict

from seedcompile import __version__, stock
from seedcompile.plan import Plan
from seedcompile.reference import ReferenceData
from seedcompile.spec import InventoryPolicy, OrderStatus

SCHEMA_VERSION = 1


_STRICT = ConfigDict(extra="forbid")


@with_config(_STRICT)
class Meta(TypedDict):
    """Where the fixture came from: enough to tell why it is stale."""

    compiler: str
    spec: Annotated[str, Field(description="the spec's file name")]
    spec_digest: str
    reference_digest: str
    seed: int
    inventory: InventoryPolicy


@with_config(_STRICT)
class OrderLine(TypedDict):
    sku: str
    quantity: Annotated[int, Field(ge=1)]


@with_config(_STRICT)
class Rule(TypedDict):
    """A group of the spec that made orders or preps: where it is, what it does."""

    path: str
    line: int | None
    rule: str


@with_config(_STRICT)
class Rules(TypedDict):
    """The spec's groups by name: an order's ref and a prep's `rule` name one."""

    orders: dict[str, Rule]
    collection_preps: dict[str, Rule]


@with_config(_STRICT)
class Order(TypedDict):
    ref: str
    customer: str
    location: str
    status: OrderStatus
    lines: Annotated[list[OrderLine], Field(min_length=1)]


@with_config(_STRICT)
class CollectionPrep(TypedDict):
    code: str
    location: str
    carrier: str
    date: dt.date
    orders: list[str]
    rule: Annotated[
        str, Field(description="`GROUP#INDEX`: the prep group and the prep's index")
    ]


@with_config(_STRICT)
class StockAdjustment(TypedDict):
    location: str
    part: str
    quantity: Annotated[int, Field(ge=1, description="units to add to what is on hand")]


@with_config(_STRICT)
class SeedConfig(TypedDict):
    """A fully expanded fixture for the order-fulfilment database."""

    schema_version: Literal[1]
    meta: Meta
    rules: Rules
    orders: list[Order]
    collection_preps: list[CollectionPrep]
    stock_adjustments: list[StockAdjustment]


# Validating TypedDicts builds plain dicts, not model instances: several
# times faster and smaller for fixtures of a million orders.
SEEDCONFIG: TypeAdapter[SeedConfig] = TypeAdapter(SeedConfig)


def validate_document(data: dict[str, Any]) -> SeedConfig:
    """Validate an assembled SeedConfig against the schema, strictly.

    Strict: a value of the wrong type is an error, never converted (a date
    must be a `date`, a quantity an `int`). The validated copy is what gets
    rendered and written, so the bytes are exactly what passed.
    """
    return SEEDCONFIG.validate_python(data, strict=True)


def assemble(
    plan: Plan,
    adjustments: Iterable[stock.StockAdjustment],
    *,
    spec_name: str,
    spec_digest: str,
    reference_digest: str,
    seed: int,
    inventory: InventoryPolicy,
    rules: dict[str, Any],
    prep_groups: list[str],
) -> dict[str, Any]:
    """The SeedConfig as plain data, in its stable order."""
    refs = [order.ref for order in plan.orders]
    # Orders built from the same lines share one list: far fewer objects for
    # fixtures where most orders come from a few templates.
    lines: dict[tuple[tuple[str, int], ...], list[dict[str, Any]]] = {}
    return {
        "schema_version": SCHEMA_VERSION,
        "meta": {
            "compiler": f"seedcompile {__version__}",
            "spec": spec_name,
            "spec_digest": spec_digest,
            "reference_digest": reference_digest,
            "seed": seed,
            "inventory": inventory,
        },
        "rules": rules,
        "orders": [
            {
                "ref": order.ref,
                "customer": order.customer,
                "location": order.location,
                "status": order.status,
                "lines": lines.get(order.lines)
                or lines.setdefault(
                    order.lines,
                    [{"sku": sku, "quantity": qty} for sku, qty in order.lines],
                ),
            }
            for order in plan.orders
        ],
        "collection_preps": [
            {
                "code": prep.code,
                "location": prep.location,
                "carrier": prep.carrier,
                "date": prep.date,
                "orders": [refs[i] for i in prep.orders],
                "rule": f"{prep_groups[prep.group]}#{prep.index}",
            }
            for prep in plan.preps
        ],
        "stock_adjustments": [
            {"location": a.location, "part": a.part, "quantity": a.quantity}
            for a in adjustments
        ],
    }


def check_rules(
    config: SeedConfig,
    reference: ReferenceData,
    *,
    taken_codes: set[str],
    stock: bool = True,
) -> list[str]:
    """Every way `config` breaks a rule of a valid SeedConfig (none: valid).

    `stock=False` leaves out the stock rule, for previews that list shortages.
    """
    broken: list[str] = []
    broken += _check_orders(config, reference)
    broken += _check_preps(config, reference, taken_codes)
    if stock and config["meta"]["inventory"] == "check":
        broken += _check_stock(config, reference)
    return broken


def _check_orders(config: SeedConfig, ref: ReferenceData) -> list[str]:
    broken = []
    seen: set[str] = set()
    active_skus = {sku for sku, v in ref.variants.items() if v.active}
    active_locations = {code for code, x in ref.locations.items() if x.active}
    # Each customer's fulfilment location, or None when it is not active.
    home: dict[str, str | None] = {}
    for order in config["orders"]:
        name = order["ref"]
        if name in seen:
            broken.append(f"order ref {name} appears twice")
        seen.add(name)
        code = order["customer"]
        if code not in home:
            customer = ref.customers.get(code)
            home[code] = (
                ref.fulfilment_location(customer)
                if customer is not None and customer.active
                else None
            )
        if home[code] is None:
            broken.append(f"order {name}: customer {code} not active")
        elif home[code] != order["location"]:
            broken.append(f"order {name}: not at its customer's location")
        if order["location"] not in active_locations:
            broken.append(f"order {name}: location {order['location']} not active")
        for line in order["lines"]:
            if line["sku"] not in active_skus:
                broken.append(f"order {name}: SKU {line['sku']} not active")
    return broken


def _check_preps(
    config: SeedConfig, ref: ReferenceData, taken_codes: set[str]
) -> list[str]:
    broken = []
    location_of = {order["ref"]: order["location"] for order in config["orders"]}
    in_prep: set[str] = set()
    codes: set[str] = set()
    for prep in config["collection_preps"]:
        code = prep["code"]
        if code in codes:
            broken.append(f"prep code {code} appears twice")
        if code in taken_codes:
            broken.append(f"prep code {code} exists in the reference data")
        codes.add(code)
        carrier = ref.carriers.get(prep["carrier"])
        location = ref.locations.get(prep["location"])
        if carrier is None or not carrier.active:
            broken.append(f"prep {code}: carrier {prep['carrier']} not active")
        elif location is None or location.region not in carrier.regions:
            broken.append(f"prep {code}: carrier does not serve its region")
        elif len(prep["orders"]) > carrier.max_orders_per_prep:
            broken.append(f"prep {code}: over its carrier's capacity")
        for order_ref in prep["orders"]:
            if order_ref in in_prep:
                broken.append(f"order {order_ref} is in two preps")
            in_prep.add(order_ref)
            if location_of.get(order_ref) != prep["location"]:
                broken.append(f"prep {code}: order {order_ref} is elsewhere")
    return broken


def _check_stock(config: SeedConfig, ref: ReferenceData) -> list[str]:
    # Per location and SKU first: the bill of materials is applied once per
    # pair, not once per order line.
    by_sku: dict[tuple[str, str], int] = defaultdict(int)
    for order in config["orders"]:
        location = order["location"]
        for line in order["lines"]:
            by_sku[(location, line["sku"])] += line["quantity"]
    demand: dict[tuple[str, str], int] = defaultdict(int)
    for (location, sku), units in by_sku.items():
        for part, per_unit in ref.bill_of_materials.get(sku, ()):
            demand[(location, part)] += units * per_unit
    return [
        f"demand for {part} at {location} exceeds what is available"
        for (location, part), units in sorted(demand.items())
        if units > ref.available.get((location, part), 0)
    ]
