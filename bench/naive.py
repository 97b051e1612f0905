"""The naive reference: the predecessor's way, one query per lookup, in sequence.

    python bench/naive.py SPEC --db URL -o OUT

It compiles a spec with the same meaning as seedcompile (the same customers,
draws, allocation and prep numbering, so that its fixture can be compared
with seedcompile's), but reads the reference data the way the interactive
predecessor did before its batching work, every query awaited before the next
is sent, on one asyncpg connection:

- per order group: one query for the pool of each region it draws from;
- per order: one query for its customer, one for its fulfilment location
  (the home location's row, or the primary location of the region);
- per order line: one query for the SKU, one for its parts (bill of materials);
- per collection prep: one query for its location, one for its carrier (or
  the carriers serving the region, under `any`), one `SELECT max(code)` for
  its prep code;
- at the end (the predecessor deferred its stock check to the end too): one
  query per location and part that the orders consume.

It is generous to the predecessor: asyncpg with its statement cache (one round
trip per query, no ORM), no schema validation of the output and no check of
the finished fixture. The spec is read with seedcompile's own loader, the
draws come from `seedcompile.randomness` and the fixture is written by
`seedcompile.emit`: the point is the query pattern, not a second parser.
Explicit allocations are not supported (the bench specs use none).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from seedcompile.checks import load_spec
from seedcompile.emit import write_atomic
from seedcompile.randomness import Draws, RuleRandom
from seedcompile.spec import Line, OrderGroup, PrepGroup, Spec


class NaiveError(Exception):
    """The spec does not fit the reference data (exit code 1)."""


class Counter:
    """One asyncpg connection that counts the queries it sends."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.queries = 0

    async def row(self, query: str, *args: Any) -> asyncpg.Record | None:
        self.queries += 1
        return await self.conn.fetchrow(query, *args)

    async def rows(self, query: str, *args: Any) -> list[asyncpg.Record]:
        self.queries += 1
        return list(await self.conn.fetch(query, *args))


class Order:
    __slots__ = ("customer", "group", "lines", "location", "ref", "status")

    def __init__(
        self,
        ref: str,
        customer: str,
        location: str,
        status: str,
        lines: tuple[tuple[str, int], ...],
        group: int,
    ) -> None:
        self.ref = ref
        self.customer = customer
        self.location = location
        self.status = status
        self.lines = lines
        self.group = group


class NaiveCompiler:
    def __init__(self, spec: Spec, db: Counter) -> None:
        self.spec = spec
        self.db = db
        # (location, part) -> units: filled as order lines are looked up
        self.demand: dict[tuple[str, str], int] = defaultdict(int)

    # -- orders ---------------------------------------------------------------

    async def orders(self) -> list[Order]:
        orders: list[Order] = []
        for g, group in enumerate(self.spec.orders):
            orders.extend(await self._group(g, group))
        return orders

    async def _group(self, g: int, group: OrderGroup) -> list[Order]:
        pool = await self._pool(group)
        base = self._base_lines(group)
        status = self._status(group)
        width = max(4, len(str(group.count - 1)))
        rng = RuleRandom(self.spec.seed, "orders", group.name)
        excluded = set(group.exclude)
        made = []
        for index in range(group.count):
            if index in excluded:
                continue
            override = group.overrides.get(index)
            draws = rng.stream(index)
            customer = pool[index % len(pool)]
            if group.pick == "random":
                customer = pool[draws.draw(len(pool))]
            lines = _draw_lines(base, draws)
            order_status = status
            if override is not None:
                customer = override.customer or customer
                if override.lines is not None:
                    lines = _draw_lines(override.lines, rng.stream(index, 1))
                order_status = override.status or order_status
            location = await self._fulfilment_location(customer)
            for sku, quantity in lines:
                await self._line(location, sku, quantity)
            ref = f"{group.name}-{index:0{width}d}"
            made.append(Order(ref, customer, location, order_status, lines, g))
        return made

    async def _pool(self, group: OrderGroup) -> list[str]:
        if group.duplicate is not None:
            return [group.duplicate.customer]
        selection = group.customers
        assert selection is not None
        if selection.codes is not None:
            return list(selection.codes)
        if selection.all:
            regions = [
                row["code"]
                for row in await self.db.rows("SELECT code FROM region ORDER BY code")
            ]
        else:
            regions = [selection.region] if selection.region else []
            regions += selection.regions or []
        pool: list[str] = []
        for region in regions:
            pool += [
                row["code"]
                for row in await self.db.rows(
                    "SELECT code FROM customer WHERE region_code = $1 AND active "
                    "ORDER BY code",
                    region,
                )
            ]
        return sorted(pool)

    def _base_lines(self, group: OrderGroup) -> Sequence[Line]:
        if group.duplicate is not None:
            return group.duplicate.lines
        if group.lines is not None:
            return group.lines
        assert group.template is not None
        return self.spec.templates[group.template].lines

    def _status(self, group: OrderGroup) -> str:
        if group.status is not None:
            return group.status
        if group.duplicate is not None:
            return group.duplicate.status
        if group.template is not None:
            return self.spec.templates[group.template].status
        return "pending"

    async def _fulfilment_location(self, code: str) -> str:
        customer = await self.db.row(
            "SELECT region_code, home_location_code, active FROM customer "
            "WHERE code = $1",
            code,
        )
        if customer is None or not customer["active"]:
            raise NaiveError(f"customer {code} does not exist or is not active")
        if customer["home_location_code"] is not None:
            location = await self.db.row(
                "SELECT code, active FROM location WHERE code = $1",
                customer["home_location_code"],
            )
        else:
            location = await self.db.row(
                "SELECT code, active FROM location WHERE region_code = $1 "
                "AND is_primary ORDER BY code LIMIT 1",
                customer["region_code"],
            )
        if location is None or not location["active"]:
            raise NaiveError(f"customer {code} has no active fulfilment location")
        result: str = location["code"]
        return result

    async def _line(self, location: str, sku: str, quantity: int) -> None:
        variant = await self.db.row("SELECT active FROM variant WHERE sku = $1", sku)
        if variant is None or not variant["active"]:
            raise NaiveError(f"SKU {sku} does not exist or is not active")
        for part in await self.db.rows(
            "SELECT part_number, quantity FROM variant_part WHERE sku = $1 "
            "ORDER BY part_number",
            sku,
        ):
            self.demand[(location, part["part_number"])] += quantity * part["quantity"]

    # -- collection preps -----------------------------------------------------

    async def preps(self, orders: list[Order]) -> list[dict[str, Any]]:
        allocated = [False] * len(orders)
        names = [group.name for group in self.spec.orders]
        numbered: dict[tuple[str, str, dt.date], int] = defaultdict(int)
        preps: list[dict[str, Any]] = []
        for group in self.spec.collection_preps:
            if group.allocate.explicit is not None:
                raise NaiveError("explicit allocations are not supported")
            wanted = set(group.orders or names)
            by_location: dict[str, list[int]] = defaultdict(list)
            for position, order in enumerate(orders):
                if allocated[position] or names[order.group] not in wanted:
                    continue
                if group.location is None or order.location == group.location:
                    by_location[order.location].append(position)
            for location in sorted(by_location):
                made = await self._preps_at(group, location, by_location[location])
                for prep_orders, carrier, date in made:
                    key = (location, carrier, date)
                    highest = await self._highest_number(key)
                    numbered[key] += 1
                    number = highest + numbered[key]
                    for position in prep_orders:
                        allocated[position] = True
                    preps.append(
                        {
                            "code": f"{location}-{carrier}-{date:%Y%m%d}-{number:04d}",
                            "location": location,
                            "carrier": carrier,
                            "date": date.isoformat(),
                            "orders": [orders[i].ref for i in prep_orders],
                        }
                    )
        return preps

    async def _preps_at(
        self, group: PrepGroup, location: str, candidates: list[int]
    ) -> list[tuple[list[int], str, dt.date]]:
        count = group.count or 0
        made: list[tuple[list[int], str, dt.date]] = []
        capacities = []
        for k in range(count):
            carrier, capacity = await self._carrier(group, location, k)
            override = group.overrides.get(k)
            date = override.date if override and override.date else group.date
            made.append(([], carrier, date))
            capacities.append(capacity)
        if group.allocate.kind == "fill":
            if len(candidates) > sum(capacities):
                raise NaiveError(f"{group.name}: not enough capacity at {location}")
            start = 0
            for (prep_orders, _, _), capacity in zip(made, capacities, strict=True):
                prep_orders.extend(candidates[start : start + capacity])
                start += capacity
        else:
            for k, (prep_orders, _, _) in enumerate(made):
                prep_orders.extend(candidates[k::count])
                if len(prep_orders) > capacities[k]:
                    raise NaiveError(f"{group.name}: prep {k} over capacity")
        return made

    async def _carrier(
        self, group: PrepGroup, location: str, k: int
    ) -> tuple[str, int]:
        place = await self.db.row(
            "SELECT region_code, active FROM location WHERE code = $1", location
        )
        if place is None or not place["active"]:
            raise NaiveError(f"location {location} does not exist or is not active")
        region = place["region_code"]
        rule = group.carrier
        override = group.overrides.get(k)
        if override is not None and override.carrier is not None:
            code = override.carrier
        elif rule.fixed is not None:
            code = rule.fixed
        elif rule.rotate is not None:
            code = rule.rotate[k % len(rule.rotate)]
        elif rule.by_region is not None:
            code = rule.by_region[region]
        else:
            serving = await self.db.rows(
                "SELECT c.code, c.max_orders_per_prep FROM carrier c "
                "JOIN carrier_region cr ON cr.carrier_code = c.code "
                "WHERE cr.region_code = $1 AND c.active ORDER BY c.code",
                region,
            )
            if not serving:
                raise NaiveError(f"no active carrier serves {region}")
            chosen = serving[k % len(serving)]
            return chosen["code"], chosen["max_orders_per_prep"]
        carrier = await self.db.row(
            "SELECT c.active, c.max_orders_per_prep, EXISTS (SELECT 1 FROM "
            "carrier_region cr WHERE cr.carrier_code = c.code AND cr.region_code = $2)"
            " AS serves FROM carrier c WHERE c.code = $1",
            code,
            region,
        )
        if carrier is None or not carrier["active"] or not carrier["serves"]:
            raise NaiveError(f"carrier {code} cannot collect at {location}")
        return code, carrier["max_orders_per_prep"]

    async def _highest_number(self, key: tuple[str, str, dt.date]) -> int:
        row = await self.db.row(
            "SELECT max(code) AS highest FROM collection_prep "
            "WHERE location_code = $1 AND carrier_code = $2 AND prep_date = $3",
            *key,
        )
        if row is None or row["highest"] is None:
            return 0
        number: str = row["highest"].rsplit("-", 1)[-1]
        return int(number) if number.isdigit() else 0

    # -- stock ----------------------------------------------------------------

    async def stock(self) -> list[dict[str, Any]]:
        adjustments = []
        shortages = []
        for (location, part), units in sorted(self.demand.items()):
            row = await self.db.row(
                "SELECT on_hand - reserved AS available FROM inventory "
                "WHERE location_code = $1 AND part_number = $2",
                location,
                part,
            )
            available = row["available"] if row is not None else 0
            if units > available:
                shortages.append(f"{part} at {location}")
                adjustments.append(
                    {
                        "location": location,
                        "part": part,
                        "quantity": units - max(available, 0),
                    }
                )
        if self.spec.inventory == "ignore":
            return []
        if self.spec.inventory == "check" and shortages:
            raise NaiveError("stock is short: " + ", ".join(shortages[:5]))
        return adjustments


def _draw_lines(lines: Sequence[Line], draws: Draws) -> tuple[tuple[str, int], ...]:
    """As seedcompile draws them: nothing when every quantity is fixed, else one
    draw per line, in line order."""
    if all(line.quantity.is_fixed for line in lines):
        return tuple((line.sku, line.quantity.min) for line in lines)
    return tuple(
        (line.sku, draws.between(line.quantity.min, line.quantity.max))
        for line in lines
    )


async def compile_naively(spec_path: Path, url: str) -> tuple[bytes, int]:
    """The fixture's bytes and the number of queries sent."""
    loaded = load_spec(spec_path)
    conn = await asyncpg.connect(url)
    try:
        db = Counter(conn)
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            compiler = NaiveCompiler(loaded.spec, db)
            orders = await compiler.orders()
            preps = await compiler.preps(orders)
            adjustments = await compiler.stock()
    finally:
        await conn.close()
    document = {
        "schema_version": 1,
        "meta": {
            "compiler": "bench/naive.py",
            "spec": spec_path.name,
            "spec_digest": loaded.digest,
            "reference_digest": "",
            "seed": loaded.spec.seed,
            "inventory": loaded.spec.inventory,
        },
        "orders": [
            {
                "ref": o.ref,
                "customer": o.customer,
                "location": o.location,
                "status": o.status,
                "lines": [{"sku": sku, "quantity": q} for sku, q in o.lines],
            }
            for o in orders
        ],
        "collection_preps": preps,
        "stock_adjustments": adjustments,
    }
    return orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n", db.queries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path)
    parser.add_argument("--db", required=True)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    try:
        document, queries = asyncio.run(compile_naively(args.spec, args.db))
    except NaiveError as exc:
        print(f"naive: {exc}", file=sys.stderr)
        return 1
    write_atomic(args.output, document)
    print(f"naive: {queries} queries, {len(document)} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
