"""Stage 5: check stock once, for the whole fixture.

Demand is summed per location and SKU over every order first, then turned
into parts through the bill of materials, so the work grows with the number
of distinct SKUs per location, not with the number of orders times parts.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING

from seedcompile.errors import Diagnostic, ReferenceDataError
from seedcompile.load import SourceMap
from seedcompile.reference import ReferenceData
from seedcompile.spec import InventoryPolicy

if TYPE_CHECKING:
    from seedcompile.plan import PlannedOrder

log = logging.getLogger("seedcompile.stock")

# How many of the orders behind a shortage its message names.
NAMED_ORDERS = 5


@dataclass(frozen=True, slots=True)
class StockAdjustment:
    """Units of a part to add at a location so that the fixture's demand is met."""

    location: str
    part: str
    quantity: int
    demand: int
    available: int


def part_demand(
    orders: Sequence[PlannedOrder], reference: ReferenceData
) -> dict[tuple[str, str], int]:
    """Units of each part needed at each location by all the orders."""
    # Orders share their tuples of lines, so few (location, lines) pairs
    # stand for many orders.
    pairs = Counter(
        zip(
            map(attrgetter("location"), orders),
            map(attrgetter("lines"), orders),
            strict=True,
        )
    )
    by_sku: dict[tuple[str, str], int] = defaultdict(int)
    for (location, lines), n in pairs.items():
        for sku, quantity in lines:
            by_sku[(location, sku)] += n * quantity
    demand: dict[tuple[str, str], int] = defaultdict(int)
    for (location, sku), quantity in by_sku.items():
        for part, per_unit in reference.bill_of_materials.get(sku, ()):
            demand[(location, part)] += quantity * per_unit
    return demand


def settle_stock(
    orders: Sequence[PlannedOrder],
    reference: ReferenceData,
    *,
    policy: InventoryPolicy,
    source: SourceMap,
) -> list[StockAdjustment]:
    """Apply the inventory policy; under `check`, raise listing every shortage."""
    if policy == "ignore":
        return []
    short = []
    for (location, part), demand in sorted(part_demand(orders, reference).items()):
        available = reference.available.get((location, part), 0)
        if demand > available:
            short.append(
                StockAdjustment(
                    location, part, demand - max(available, 0), demand, available
                )
            )
    log.info("stock: %d shortages under policy %s", len(short), policy)
    if policy == "ensure" or not short:
        return short
    raise ReferenceDataError(
        [_shortage(item, orders, reference, source) for item in short]
    )


def _shortage(
    item: StockAdjustment,
    orders: Sequence[PlannedOrder],
    reference: ReferenceData,
    source: SourceMap,
) -> Diagnostic:
    skus = {
        sku
        for sku, entries in reference.bill_of_materials.items()
        if any(part == item.part for part, _ in entries)
    }
    culprits = [
        order
        for order in orders
        if order.location == item.location
        and any(sku in skus for sku, _ in order.lines)
    ]
    causes = [order.ref for order in culprits]
    named = ", ".join(causes[:NAMED_ORDERS])
    more = (
        f" and {len(causes) - NAMED_ORDERS} more" if len(causes) > NAMED_ORDERS else ""
    )
    return Diagnostic(
        "stock.shortage",
        f"not enough {item.part} at {item.location}: the orders need "
        f"{item.demand}, {item.available} available; needed by {named}{more}",
        source.position(("orders", culprits[0].group)),
        hint="use `inventory: ensure` to emit the stock adjustments, or order less",
    )
