"""The floor: the least any implementation must do to compile a spec.

    python bench/floor.py SPEC --db URL -o OUT --orders N --preps P \
        --allocated A --size BYTES

Run as a whole process, like seedcompile, it

1. reads the spec with libyaml and collects the keys it names (no validation);
2. fetches the reference rows seedcompile's prefetch reads, in one round:
   the eight queries are sent at once over four asyncpg connections opened
   together, none waiting for another's answer (the inventory and prep-code queries
   take their location and part sets from subqueries instead of from an
   earlier answer, so they need no second round; they read every location of
   the regions involved, a few rows more than seedcompile's exact scope);
3. builds a document of N orders and P preps holding A order references from
   the fetched rows (customers in turn, their fulfilment locations, the first
   template's lines), with no planning, allocation rules or checks;
4. renders it with orjson (the fastest JSON writer for Python), pads it to
   exactly BYTES (the size of seedcompile's output for the same spec) and
   writes it as seedcompile does: temporary file, fsync, rename.

It prints one JSON object on stdout: the seconds of each step, the queries
sent and the rows fetched.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import yaml


def collect_keys(spec: dict[str, Any]) -> dict[str, Any]:
    """Every key the spec names: regions, customer codes, SKUs, prep dates."""
    regions: set[str] = set()
    codes: set[str] = set()
    skus: set[str] = set()
    dates: set[dt.date] = set()
    every_customer = False

    def add_lines(lines: list[dict[str, Any]] | None) -> None:
        for line in lines or []:
            skus.add(line["sku"])

    for template in (spec.get("templates") or {}).values():
        add_lines(template["lines"])
    for group in spec["orders"]:
        add_lines(group.get("lines"))
        customers = group.get("customers")
        if customers == "all":
            every_customer = True
        elif isinstance(customers, list):
            codes.update(customers)
        elif isinstance(customers, dict):
            codes.update(customers.get("codes") or [])
            if "region" in customers:
                regions.add(customers["region"])
            regions.update(customers.get("regions") or [])
        if "duplicate" in group:
            codes.add(group["duplicate"]["customer"])
            add_lines(group["duplicate"]["lines"])
        for override in (group.get("overrides") or {}).values():
            if "customer" in override:
                codes.add(override["customer"])
            add_lines(override.get("lines"))
    for prep in spec.get("collection_preps") or []:
        dates.add(prep["date"])
        for override in (prep.get("overrides") or {}).values():
            if "date" in override:
                dates.add(override["date"])
    return {
        "regions": sorted(regions),
        "codes": sorted(codes),
        "skus": sorted(skus),
        "dates": sorted(dates),
        "all": every_customer,
    }


# The locations an order or prep of the spec can be at: every location of the
# regions its customers belong to.
_SCOPE = """
    SELECT code FROM location
    WHERE $4::boolean
       OR region_code = ANY($2::varchar[])
       OR region_code IN (SELECT region_code FROM customer WHERE code = ANY($1))
"""

QUERIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "region": ("SELECT code FROM region ORDER BY code", ()),
    "location": (
        "SELECT code, region_code, active, is_primary FROM location ORDER BY code",
        (),
    ),
    "carrier": (
        "SELECT c.code, c.active, c.max_orders_per_prep, cr.region_code "
        "FROM carrier c LEFT JOIN carrier_region cr ON cr.carrier_code = c.code "
        "ORDER BY c.code, cr.region_code",
        (),
    ),
    "customer": (
        "SELECT code, region_code, home_location_code, active FROM customer "
        "WHERE code = ANY($1) OR (($3::boolean OR region_code = ANY($2)) AND active) "
        "ORDER BY code",
        ("codes", "regions", "all"),
    ),
    "variant": (
        "SELECT sku, active FROM variant WHERE sku = ANY($1) ORDER BY sku",
        ("skus",),
    ),
    "variant_part": (
        "SELECT sku, part_number, quantity FROM variant_part WHERE sku = ANY($1) "
        "ORDER BY sku, part_number",
        ("skus",),
    ),
    "inventory": (
        "SELECT location_code, part_number, on_hand, reserved FROM inventory "
        "WHERE part_number IN (SELECT part_number FROM variant_part "
        "WHERE sku = ANY($3)) AND location_code IN (" + _SCOPE + ") "
        "ORDER BY location_code, part_number",
        ("codes", "regions", "skus", "all"),
    ),
    "collection_prep": (
        "SELECT location_code, carrier_code, prep_date, max(code) AS highest "
        "FROM collection_prep WHERE prep_date = ANY($3::date[]) "
        "AND location_code IN (" + _SCOPE + ") "
        "GROUP BY location_code, carrier_code, prep_date "
        "ORDER BY location_code, carrier_code, prep_date",
        ("codes", "regions", "dates", "all"),
    ),
}


# Which queries share a connection: the large customer query has one to itself.
LANES = (
    ("customer",),
    ("inventory", "region"),
    ("collection_prep", "location"),
    ("variant_part", "variant", "carrier"),
)


async def fetch_all(url: str, keys: dict[str, Any]) -> dict[str, list[asyncpg.Record]]:
    """Send every query at once over a few connections; rows by table.

    asyncpg runs one query at a time per connection, so the queries of a lane
    follow each other on its connection; the lanes run side by side.
    """
    connections = await asyncio.gather(*(asyncpg.connect(url) for _ in LANES))
    rows: dict[str, list[asyncpg.Record]] = {}

    async def run_lane(conn: asyncpg.Connection, lane: tuple[str, ...]) -> None:
        for name in lane:
            query, params = QUERIES[name]
            rows[name] = list(await conn.fetch(query, *(keys[p] for p in params)))

    try:
        await asyncio.gather(
            *(
                run_lane(conn, lane)
                for conn, lane in zip(connections, LANES, strict=True)
            )
        )
    finally:
        await asyncio.gather(*(conn.close() for conn in connections))
    return rows


def build(
    spec: dict[str, Any],
    rows: dict[str, list[asyncpg.Record]],
    *,
    orders: int,
    preps: int,
    allocated: int,
) -> dict[str, Any]:
    """A SeedConfig-shaped document from the fetched rows, without any rules.

    Each order group gives its count of orders with its own lines (fixed
    quantities: the minimum), so that the document has the shape and nearly
    the size of seedcompile's; customers are taken in turn from every fetched
    active customer.
    """
    primary = {r["region_code"]: r["code"] for r in rows["location"] if r["is_primary"]}
    customers = [
        (r["code"], r["home_location_code"] or primary[r["region_code"]])
        for r in rows["customer"]
        if r["active"]
    ]
    templates = spec.get("templates") or {}
    order_list: list[dict[str, Any]] = []
    for group in spec["orders"]:
        if "duplicate" in group:
            source = group["duplicate"]["lines"]
        else:
            source = group.get("lines") or templates[group["template"]]["lines"]
        lines = [{"sku": line["sku"], "quantity": _least(line)} for line in source]
        width = max(4, len(str(group["count"] - 1)))
        name = group["name"]
        for index in range(group["count"]):
            code, location = customers[len(order_list) % len(customers)]
            order_list.append(
                {
                    "ref": f"{name}-{index:0{width}d}",
                    "customer": code,
                    "location": location,
                    "status": "pending",
                    "lines": lines,
                }
            )
    del order_list[orders:]
    carriers = [r["code"] for r in rows["carrier"]]
    per_prep, extra = divmod(allocated, max(preps, 1))
    prep_list = []
    start = 0
    for k in range(preps):
        size = per_prep + (k < extra)
        members = order_list[start : start + size]
        start += size
        location = members[0]["location"] if members else customers[0][1]
        carrier = carriers[k % len(carriers)]
        prep_list.append(
            {
                "code": f"{location}-{carrier}-20261207-{k + 1:04d}",
                "location": location,
                "carrier": carrier,
                "date": "2026-12-07",
                "orders": [order["ref"] for order in members],
            }
        )
    return {
        "schema_version": 1,
        "meta": {"compiler": "bench/floor.py"},
        "orders": order_list,
        "collection_preps": prep_list,
        "stock_adjustments": [],
    }


def _least(line: dict[str, Any]) -> int:
    quantity = line.get("quantity", 1)
    return int(quantity["min"]) if isinstance(quantity, dict) else int(quantity)


def render(document: dict[str, Any], size: int) -> tuple[bytes, int]:
    """The document's JSON, exactly `size` bytes: padded, or cut by whole orders.

    Also returns how many bytes of padding were added.
    """
    data = orjson.dumps(document, option=orjson.OPT_INDENT_2)
    if len(data) + 1 > size:
        orders = document["orders"]
        excess = len(data) + 1 - size
        drop = excess * len(orders) // len(data) + 1
        # Keep whole orders; the preps still name the dropped ones, which
        # nothing here checks.
        while len(data) + 1 > size:
            del orders[-drop:]
            data = orjson.dumps(document, option=orjson.OPT_INDENT_2)
            drop = max(1, drop // 2)
    # Trailing whitespace keeps the document valid JSON.
    padding = size - len(data) - 1
    return data + b" " * padding + b"\n", padding


def write_atomic(path: Path, data: bytes) -> None:
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)


def main() -> int:
    started = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path)
    parser.add_argument("--db", required=True)
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--orders", type=int, required=True)
    parser.add_argument("--preps", type=int, required=True)
    parser.add_argument("--allocated", type=int, required=True)
    parser.add_argument("--size", type=int, required=True)
    args = parser.parse_args()
    steps: dict[str, float] = {}

    def lap(step: str) -> None:
        nonlocal started
        now = time.perf_counter()
        steps[step] = now - started
        started = now

    spec = yaml.load(args.spec.read_text(), Loader=yaml.CSafeLoader)
    keys = collect_keys(spec)
    lap("read spec")
    rows = asyncio.run(fetch_all(args.db, keys))
    lap("fetch")
    document = build(
        spec, rows, orders=args.orders, preps=args.preps, allocated=args.allocated
    )
    lap("build")
    data, padding = render(document, args.size)
    del document
    lap("render")
    write_atomic(args.output, data)
    lap("write")
    print(
        orjson.dumps(
            {
                "steps": steps,
                "queries": len(QUERIES),
                "rows": {name: len(found) for name, found in rows.items()},
                "bytes": len(data),
                "padding": padding,
            }
        ).decode()
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
