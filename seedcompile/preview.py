"""What a spec expands to, summarised for `seedcompile plan`.

The preview is computed from a full compile kept in memory, so it shows
exactly what `compile` would write: orders per group and customer region,
preps per location and carrier with their capacity use, and the stock the
fixture would adjust or lacks.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from seedcompile.checks import LoadedSpec
from seedcompile.compiler import CompileResult


def summarise(loaded: LoadedSpec, result: CompileResult) -> dict[str, Any]:
    """The preview as plain data (what `--format json` prints)."""
    planned, reference = result.plan, result.reference
    assert planned is not None
    assert reference is not None
    spec = loaded.spec

    orders: Counter[tuple[str, str, str]] = Counter()
    for order in planned.orders:
        group = spec.orders[order.group]
        source = group.template or ("duplicate" if group.duplicate else "inline lines")
        region = reference.customers[order.customer].region
        orders[(group.name, source, region)] += 1

    preps: dict[tuple[str, str], list[int]] = defaultdict(list)
    for prep in planned.preps:
        preps[(prep.location, prep.carrier)].append(len(prep.orders))

    capacity = {code: c.max_orders_per_prep for code, c in reference.carriers.items()}
    policy = spec.inventory
    return {
        "spec": loaded.file,
        "orders": [
            {"group": g, "source": source, "region": region, "orders": count}
            for (g, source, region), count in sorted(orders.items())
        ],
        "collection_preps": [
            {
                "location": location,
                "carrier": carrier,
                "preps": len(sizes),
                "orders": sum(sizes),
                "capacity": len(sizes) * capacity[carrier],
            }
            for (location, carrier), sizes in sorted(preps.items())
        ],
        "stock": {
            "policy": policy,
            "adjustments" if policy == "ensure" else "shortages": [
                {
                    "location": item.location,
                    "part": item.part,
                    "demand": item.demand,
                    "available": item.available,
                    "missing": item.quantity,
                }
                for item in result.stock
            ],
        },
        "totals": {
            "orders": result.orders,
            "collection_preps": result.preps,
            "queries": result.queries,
        },
    }
