"""End-to-end compiles of the example specs, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support import compile_file, compile_loaded, loaded_from_text


def preps_by_code(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {prep["code"]: prep for prep in config["collection_preps"]}


def test_eu_west_launch(demo_url: str) -> None:
    result = compile_file("eu-west-launch.yaml", demo_url)
    config = json.loads(result.document)
    orders = config["orders"]

    assert len(orders) == 499  # 500 less the excluded order 499
    assert orders[0] == {
        "ref": "eu-west-0000",
        "customer": "C-000001",
        "location": "LON1",
        "status": "confirmed",
        "lines": [
            {"sku": "TSHIRT-BLUE-M", "quantity": 1},
            {"sku": "MUG-WHITE", "quantity": 2},
        ],
    }
    # Round robin over the active EU-WEST customers, in code order; C-000009
    # has a home location (9 is a multiple of 3) and ships from MAN1.
    assert [o["customer"] for o in orders[1:4]] == ["C-000005", "C-000009", "C-000013"]
    assert orders[2]["location"] == "MAN1"
    assert "C-000017" not in {o["customer"] for o in orders}  # inactive
    assert orders[-1]["ref"] == "eu-west-0498"

    preps = preps_by_code(config)
    assert len(preps) == 20
    # LON1 already has DHL preps 0001-0003 and UPS 0001 on that date.
    lon1 = [c for c in preps if c.startswith("LON1-")]
    assert sorted(lon1)[:3] == [
        "LON1-DHL-20261210-0004",
        "LON1-DHL-20261210-0005",
        "LON1-DHL-20261210-0006",
    ]
    assert "LON1-UPS-20261210-0002" in preps
    assert "LON1-DHL-20261210-0001" not in preps
    assert "MAN1-DHL-20261210-0001" in preps
    first = preps["LON1-DHL-20261210-0004"]
    assert first["orders"][:3] == ["eu-west-0000", "eu-west-0015", "eu-west-0031"]
    assert all(len(p["orders"]) <= 40 for p in preps.values())
    assert config["stock_adjustments"] == []
    assert result.queries == 9


def test_multi_region_mix(demo_url: str) -> None:
    config = json.loads(compile_file("multi-region-mix.yaml", demo_url).document)
    orders = {o["ref"]: o for o in config["orders"]}
    preps = preps_by_code(config)

    assert len(orders) == 125
    assert orders["us-caps-0005"]["status"] == "cancelled"
    assert orders["us-caps-0000"]["customer"] == "C-000003"
    assert orders["us-caps-0000"]["location"] == "ATL1"  # C-000003's home
    assert orders["vip-repeat-0004"]["customer"] == "C-000004"
    assert orders["hoodies-eu-0000"]["status"] == "confirmed"  # from the template

    # by_region: ROYALMAIL in EU-WEST, DPD in EU-CENTRAL; prep 1 moved a day.
    assert preps["MAN1-ROYALMAIL-20261210-0013"]["location"] == "MAN1"
    assert preps["FRA1-DPD-20261211-0001"]["date"] == "2026-12-11"
    # fill: NYC1's FEDEX prep is full (30) before UPS takes the rest.
    assert len(preps["NYC1-FEDEX-20261210-0008"]["orders"]) == 30
    assert len(preps["NYC1-UPS-20261210-0001"]["orders"]) == 23
    # explicit allocation; `any` rotates the active carriers serving APAC.
    assert preps["SIN1-DHL-20261210-0001"]["orders"] == [
        "vip-repeat-0000",
        "vip-repeat-0001",
        "vip-repeat-0002",
    ]
    assert preps["SIN1-FEDEX-20261210-0001"]["orders"] == [
        "vip-repeat-0003",
        "vip-repeat-0004",
    ]
    # ensure: MAN1 has 3 grey hoodie L blanks available, SIN1 no cap blanks.
    assert config["stock_adjustments"] == [
        {"location": "MAN1", "part": "BLANK-HOODIE-GREY-L", "quantity": 10},
        {"location": "SIN1", "part": "BLANK-CAP-NAVY", "quantity": 5},
    ]


@pytest.mark.parametrize("spec", ["eu-west-launch.yaml", "multi-region-mix.yaml"])
def test_compiles_are_byte_identical(spec: str, demo_url: str) -> None:
    first = compile_file(spec, demo_url).document
    second = compile_file(spec, demo_url).document
    assert first == second


@pytest.mark.parametrize("spec", ["eu-west-launch.yaml", "multi-region-mix.yaml"])
def test_sqlite_and_postgresql_give_the_same_bytes(
    spec: str, sqlite_demo: str, pg_demo: str
) -> None:
    assert (
        compile_file(spec, sqlite_demo).document == compile_file(spec, pg_demo).document
    )


QUERY_SPEC = """
version: 1
inventory: ignore
orders:
  - name: bulk
    count: {count}
    customers: all
    pick: random
    lines: [{{sku: TSHIRT-RED-M, quantity: {{min: 1, max: 4}}}}]
collection_preps:
  - name: preps
    count: {preps}
    carrier: any
    date: 2026-12-10
    allocate: fill
"""


def test_query_count_does_not_grow_with_the_spec(demo_url: str) -> None:
    small = loaded_from_text(QUERY_SPEC.format(count=10, preps=1))
    large = loaded_from_text(QUERY_SPEC.format(count=10_000, preps=100))

    small_result, small_queries = compile_loaded(small, demo_url)
    large_result, large_queries = compile_loaded(large, demo_url)

    assert small_result.orders == 10
    assert large_result.orders == 10_000
    assert large_result.preps > small_result.preps
    assert small_queries == large_queries
    assert small_result.queries == large_result.queries == 9


def test_a_write_replaces_the_old_file_and_leaves_no_temporary(
    tmp_path: Path, sqlite_demo: str
) -> None:
    # Interrupted writes, the atomic part, are proved in test_interrupt.py.
    from seedcompile.emit import write_atomic

    target = tmp_path / "fixture.json"
    target.write_bytes(b"old")
    write_atomic(target, compile_file("eu-west-launch.yaml", sqlite_demo).document)
    assert json.loads(target.read_bytes())["meta"]["spec"] == "eu-west-launch.yaml"
    assert [p.name for p in tmp_path.iterdir()] == ["fixture.json"]
