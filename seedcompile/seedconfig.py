"""Stage 6: the SeedConfig document, its schema, and the rules it must obey.

`assemble` builds the document from the plan; `validate_document` checks it
against the schema, strictly; `check_rules` re-derives every rule of a valid
SeedConfig from the finished document and the reference rows, independently
of the planner, so a planner bug surfaces as an internal error instead of a
plausible-looking wrong fixture.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from itertools import chain
from operator import itemgetter
from typing import Annotated, Literal

from pydantic import (
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    with_config,
)
from typing_extensions import TypedDict

from seedcompile import __version__, stock
from seedcompile.plan import Plan
from seedcompile.reference import ReferenceData
from seedcompile.spec import InventoryPolicy, OrderStatus

SCHEMA_VERSION: Literal[1] = 1


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


def _once_per_list(
    value: object, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
) -> object:
    """Validate each distinct list of lines once per document.

    Orders assembled from the same template and draws share one list object;
    validating it once instead of once per order is most of the schema
    check's time saved on a large fixture. The lists are only remembered
    when the caller passes a `shared` dict in the context: a document read
    from JSON shares nothing and goes through the plain validator.
    """
    shared = info.context.get("shared") if isinstance(info.context, dict) else None
    if shared is None:
        return handler(value)
    key = id(value)
    if shared.get(key) is not value:
        handler(value)
        shared[key] = value  # held, so the id cannot be reused meanwhile
    return value


@with_config(_STRICT)
class Order(TypedDict):
    ref: str
    customer: str
    location: str
    status: OrderStatus
    lines: Annotated[
        list[OrderLine], Field(min_length=1), WrapValidator(_once_per_list)
    ]


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


def validate_document(config: SeedConfig) -> None:
    """Check an assembled SeedConfig against its schema; raise if it breaks it.

    Strict: a value of the wrong type is an error, never converted (a date
    must be a `date`, a quantity an `int`), so what passed is exactly what
    gets rendered. The validated copy pydantic builds is not kept.
    """
    SEEDCONFIG.validate_python(config, strict=True, context={"shared": {}})


def assemble(
    plan: Plan,
    adjustments: Iterable[stock.StockAdjustment],
    *,
    spec_name: str,
    spec_digest: str,
    reference_digest: str,
    seed: int,
    inventory: InventoryPolicy,
    rules: Rules,
    prep_groups: list[str],
) -> SeedConfig:
    """The SeedConfig as plain data, in its stable order."""
    refs = [order.ref for order in plan.orders]
    # Orders built from the same lines share one list: far fewer objects for
    # fixtures where most orders come from a few templates.
    lines: dict[tuple[tuple[str, int], ...], list[OrderLine]] = {}
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
    orders = _OrderFacts(config, reference)
    broken = orders.broken
    broken += _check_preps(config, reference, taken_codes, orders.location_of)
    if stock and config["meta"]["inventory"] == "check":
        broken += _check_stock(orders.uses, orders.lines, reference)
    return broken


class _OrderFacts:
    """One look at the orders: what they break, and what later rules need.

    Orders often share one list of lines (assembled from the same template
    and draws); each distinct list is looked at once, by identity, while the
    document holding them is alive. Whether anything is wrong at all is
    found with whole-column set and dict operations; only then are the
    orders walked one by one to name each problem in order.
    """

    def __init__(self, config: SeedConfig, ref: ReferenceData) -> None:
        orders = config["orders"]
        refs = list(map(itemgetter("ref"), orders))
        customers = list(map(itemgetter("customer"), orders))
        locations = list(map(itemgetter("location"), orders))
        line_lists = list(map(itemgetter("lines"), orders))
        keys = list(map(id, line_lists))
        self.location_of = dict(zip(refs, locations, strict=True))
        self.lines = dict(zip(keys, line_lists, strict=True))
        # (location, id of a lines list) -> orders there with those lines
        self.uses = Counter(zip(locations, keys, strict=True))

        active_skus = {sku for sku, v in ref.variants.items() if v.active}
        active_locations = {code for code, x in ref.locations.items() if x.active}
        at = dict(zip(customers, locations, strict=True))
        clean = (
            len(self.location_of) == len(refs)
            and active_locations.issuperset(locations)
            and len(set(zip(customers, locations, strict=True))) == len(at)
            and at == _fulfilments(ref, at)
            and all(
                line["sku"] in active_skus
                for lines in self.lines.values()
                for line in lines
            )
        )
        self.broken = (
            [] if clean else _order_problems(orders, ref, active_skus, active_locations)
        )


def _fulfilments(ref: ReferenceData, codes: Iterable[str]) -> dict[str, str | None]:
    """Where each customer's orders are fulfilled; None for one not active."""
    found: dict[str, str | None] = {}
    for code in codes:
        customer = ref.customers.get(code)
        if customer is None or not customer.active:
            found[code] = None
        else:
            found[code] = ref.fulfilment_location(customer)
    return found


def _order_problems(
    orders: list[Order],
    ref: ReferenceData,
    active_skus: set[str],
    active_locations: set[str],
) -> list[str]:
    broken = []
    seen: set[str] = set()
    # Each customer's fulfilment location, or None when it is not active.
    home = _fulfilments(ref, {order["customer"] for order in orders})
    for order in orders:
        name = order["ref"]
        if name in seen:
            broken.append(f"order ref {name} appears twice")
        seen.add(name)
        code = order["customer"]
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
    config: SeedConfig,
    ref: ReferenceData,
    taken_codes: set[str],
    location_of: dict[str, str],
) -> list[str]:
    preps = config["collection_preps"]
    # Whether any order is in two preps or at another location than its prep,
    # by whole lists first; the orders are walked one by one only if so.
    placed = list(chain.from_iterable(map(itemgetter("orders"), preps)))
    orders_ok = len(set(placed)) == len(placed) and all(
        set(map(location_of.get, prep["orders"])) <= {prep["location"]}
        for prep in preps
    )
    broken = []
    in_prep: set[str] = set()
    codes: set[str] = set()
    for prep in preps:
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
        if orders_ok:
            continue
        for order_ref in prep["orders"]:
            if order_ref in in_prep:
                broken.append(f"order {order_ref} is in two preps")
            in_prep.add(order_ref)
            if location_of.get(order_ref) != prep["location"]:
                broken.append(f"prep {code}: order {order_ref} is elsewhere")
    return broken


def _check_stock(
    uses: Counter[tuple[str, int]],
    lines_by_id: dict[int, list[OrderLine]],
    ref: ReferenceData,
) -> list[str]:
    # Per location and SKU first: the bill of materials is applied once per
    # pair, not once per order line.
    by_sku: dict[tuple[str, str], int] = defaultdict(int)
    for (location, key), orders in uses.items():
        for line in lines_by_id[key]:
            by_sku[(location, line["sku"])] += orders * line["quantity"]
    demand: dict[tuple[str, str], int] = defaultdict(int)
    for (location, sku), units in by_sku.items():
        for part, per_unit in ref.bill_of_materials.get(sku, ()):
            demand[(location, part)] += units * per_unit
    return [
        f"demand for {part} at {location} exceeds what is available"
        for (location, part), units in sorted(demand.items())
        if units > ref.available.get((location, part), 0)
    ]
