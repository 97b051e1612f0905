"""Provenance: which rule of which spec made each order and prep, and why.

An order's ref is the name of the order group that made it and its index in
the group (`eu-west-0042`); a prep's `rule` is its group's name and index
(`eu-west-preps#3`). The document's `rules` table gives, for each group name,
the spec path, line and what the group does. Orders carry no extra bytes, and
moving a group down the spec changes one line of the table, not every order.
`seedcompile explain` reads it back into a chain a person can follow.
"""

from __future__ import annotations

from typing import Any

from seedcompile.checks import LoadedSpec
from seedcompile.load import format_path
from seedcompile.seedconfig import Rule, Rules
from seedcompile.spec import CarrierRule, OrderGroup, PrepGroup


def rules_table(loaded: LoadedSpec) -> Rules:
    """Each order group and collection-prep group by name."""
    spec = loaded.spec
    return {
        "orders": {
            group.name: _entry(loaded, ("orders", g), _describe_orders(group))
            for g, group in enumerate(spec.orders)
        },
        "collection_preps": {
            group.name: _entry(loaded, ("collection_preps", p), _describe_preps(group))
            for p, group in enumerate(spec.collection_preps)
        },
    }


def _entry(loaded: LoadedSpec, path: tuple[str, int], rule: str) -> Rule:
    position = loaded.source.position(path)
    return {"path": format_path(path), "line": position.line, "rule": rule}


def _describe_orders(group: OrderGroup) -> str:
    if group.duplicate is not None:
        return f"{group.count} copies of one order for {group.duplicate.customer}"
    made = f"template {group.template}" if group.template else "inline lines"
    selection = group.customers
    if selection is None:
        who = "?"
    elif selection.codes is not None:
        who = f"{len(selection.codes)} listed customers"
    elif selection.region is not None:
        who = f"the active customers of {selection.region}"
    elif selection.regions is not None:
        who = "the active customers of " + ", ".join(selection.regions)
    else:
        who = "every active customer"
    pick = {
        "round_robin": "in turn",
        "random": "at random (seeded)",
        "distinct": "each once",
    }[group.pick]
    return f"{group.count} orders from {made}, for {who}, picked {pick}"


def _describe_preps(group: PrepGroup) -> str:
    where = f"at {group.location}" if group.location else "per location"
    count = (
        group.count if group.count is not None else len(group.allocate.explicit or [])
    )
    allocation = {
        "round_robin": "orders dealt round robin",
        "fill": "each prep filled to its carrier's capacity in turn",
        "explicit": "orders listed explicitly",
    }[group.allocate.kind]
    return (
        f"{count} preps {where}, carrier {_describe_carrier(group.carrier)}, "
        f"{allocation}"
    )


def _describe_carrier(rule: CarrierRule) -> str:
    if rule.fixed is not None:
        return rule.fixed
    if rule.rotate is not None:
        return "rotating " + ", ".join(rule.rotate)
    if rule.by_region is not None:
        return (
            "by region ("
            + ", ".join(
                f"{region}: {carrier}" for region, carrier in rule.by_region.items()
            )
            + ")"
        )
    return "any active carrier serving the region, in turn"


def explain(document: dict[str, Any], ref: str) -> list[str]:
    """The chain from spec rule to rows for one order or prep of a SeedConfig."""
    spec = document["meta"]["spec"]
    rules = document["rules"]
    order = next((o for o in document["orders"] if o["ref"] == ref), None)
    if order is not None:
        return _explain_order(document, order, rules, spec)
    prep = next((p for p in document["collection_preps"] if p["code"] == ref), None)
    if prep is not None:
        return _explain_prep(prep, rules, spec)
    return []


def _made_by(
    section: str, name: str, index: str, rules: dict[str, Any], spec: str
) -> str:
    rule = rules[section].get(name)
    if rule is None:
        return f"made by {section} group {name!r} (not in the rules table)"
    return (
        f"made by {rule['path']} {name!r} at {spec}:{rule['line']}, "
        f"index {int(index)}: {rule['rule']}"
    )


def _explain_order(
    document: dict[str, Any],
    order: dict[str, Any],
    rules: dict[str, Any],
    spec: str,
) -> list[str]:
    group, index = order["ref"].rsplit("-", 1)
    lines = [
        f"order {order['ref']} ({order['status']})",
        "  " + _made_by("orders", group, index, rules, spec),
        f"  customer {order['customer']}, fulfilled at {order['location']}",
        "  lines "
        + ", ".join(f"{line['sku']} x {line['quantity']}" for line in order["lines"]),
    ]
    for prep in document["collection_preps"]:
        if order["ref"] in prep["orders"]:
            position = prep["orders"].index(order["ref"])
            lines.append(
                f"  in prep {prep['code']} ({prep['carrier']}, {prep['date']}), "
                f"order {position + 1} of {len(prep['orders'])}"
            )
            lines.append("    " + _made_by_prep(prep, rules, spec))
            break
    else:
        lines.append("  in no collection prep")
    return lines


def _made_by_prep(prep: dict[str, Any], rules: dict[str, Any], spec: str) -> str:
    group, index = prep["rule"].rsplit("#", 1)
    return _made_by("collection_preps", group, index, rules, spec)


def _explain_prep(prep: dict[str, Any], rules: dict[str, Any], spec: str) -> list[str]:
    orders = prep["orders"]
    return [
        f"prep {prep['code']}: {prep['carrier']} at {prep['location']} "
        f"on {prep['date']}",
        "  " + _made_by_prep(prep, rules, spec),
        f"  {len(orders)} orders: "
        + ", ".join(orders[:10])
        + (" ..." if len(orders) > 10 else ""),
    ]
