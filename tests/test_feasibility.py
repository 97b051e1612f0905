"""Feasibility: infeasible specs are refused, with numbers, before orders are built."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from seedcompile.errors import ReferenceDataError
from seedcompile.plan import Planner
from tests.support import build_demo, compile_text


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_demo(f"sqlite:///{tmp_path_factory.mktemp('feas') / 'demo.db'}")


@pytest.fixture
def no_expansion(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the planner starts building orders."""

    def refuse(self: Planner) -> object:
        raise AssertionError("orders were expanded before feasibility failed")

    monkeypatch.setattr(Planner, "expand_orders", refuse)


def problems(text: str, url: str) -> list[tuple[str, int | None, str]]:
    with pytest.raises(ReferenceDataError) as caught:
        compile_text(text, url)
    return [(d.code, d.position.line, d.message) for d in caught.value.diagnostics]


@pytest.mark.usefixtures("no_expansion")
def test_too_few_preps_for_five_million_orders(demo: str) -> None:
    text = """\
version: 1
inventory: ignore
orders:
  - name: flood
    count: 5000000
    customers: {region: APAC}
    lines: [{sku: MUG-WHITE}]
collection_preps:
  - name: p
    count: 100
    carrier: DHL
    date: 2026-12-10
"""
    assert problems(text, demo) == [
        (
            "allocation.over-capacity",
            10,
            "5000000 orders at SIN1 but the 100 preps of 'p' take at most 5000",
        )
    ]


@pytest.mark.usefixtures("no_expansion")
def test_prep_codes_that_would_pass_9999(demo: str) -> None:
    text = """\
version: 1
inventory: ignore
orders:
  - name: few
    count: 3
    customers: [C-000001]
    lines: [{sku: MUG-WHITE}]
collection_preps:
  - name: many
    count: 9997
    location: LON1
    carrier: DHL
    date: 2026-12-10
"""
    # LON1-DHL-20261210-0001 to 0003 exist already.
    assert problems(text, demo) == [
        (
            "feasibility.code-overflow",
            9,
            "9997 new preps for LON1-DHL-20261210 would number past 9999 "
            "(codes up to 0003 exist)",
        )
    ]


@pytest.mark.usefixtures("no_expansion")
def test_stock_that_cannot_cover_even_the_least_demand(demo: str) -> None:
    # The active EU-WEST customers in code order are C-000001, 5, 9, 13, 21,
    # 25, 29, 33, 37, 41, 45, 49, 53, 57, ...; 9, 21, 33, 45, 57 live at MAN1
    # (indices 2, 4, 7, 10, 13). Even at 1 each, the 10 hoodie orders there
    # need more than the 3 blanks available.
    text = """\
version: 1
orders:
  - name: hoodies
    count: 28
    customers: {region: EU-WEST}
    lines: [{sku: HOODIE-GREY-L, quantity: {min: 1, max: 4}}]
"""
    [(code, line, message)] = problems(text, demo)
    assert (code, line) == ("stock.shortage", 3)
    assert message == (
        "not enough BLANK-HOODIE-GREY-L at MAN1: the orders need at least 10, "
        "3 available; needed by hoodies-0002, hoodies-0004, hoodies-0007, "
        "hoodies-0010, hoodies-0013 and 5 more"
    )


def test_a_feasible_spec_is_planned_as_before(demo: str) -> None:
    text = """\
version: 1
orders:
  - name: mugs
    count: 10
    customers: {region: EU-WEST}
    lines: [{sku: MUG-WHITE}]
collection_preps:
  - name: p
    count: 1
    carrier: DHL
    date: 2026-12-10
"""
    config = compile_text(text, demo)
    assert [len(p["orders"]) for p in config["collection_preps"]] == [7, 3]


def test_distinct_customers_must_be_enough(demo: str) -> None:
    text = """\
version: 1
inventory: ignore
orders:
  - name: once-each
    count: 60
    customers: {region: EU-WEST}
    pick: distinct
    lines: [{sku: MUG-WHITE}]
"""
    # EU-WEST has 60 customers, 4 of them inactive.
    assert problems(text, demo) == [
        (
            "feasibility.distinct-customers",
            7,
            "60 orders for distinct customers, but the selection has only 56 "
            "active customers",
        )
    ]
    config = compile_text(text.replace("count: 60", "count: 56"), demo)
    customers = [order["customer"] for order in config["orders"]]
    assert len(set(customers)) == 56


def test_an_override_naming_an_unknown_customer_is_a_reference_error(
    demo: str,
) -> None:
    # Found by differential testing: the feasibility count looked the
    # customer up without asking whether it exists, and crashed (exit 4).
    text = """\
version: 1
orders:
  - name: g
    count: 2
    customers: {region: EU-WEST}
    lines: [{sku: MUG-WHITE}]
    overrides:
      1: {customer: C-999999}
"""
    assert problems(text, demo) == [
        (
            "reference.unknown-customer",
            8,
            "no customer 'C-999999' in the reference data",
        )
    ]


def test_a_shortage_is_reported_at_the_group_whose_orders_need_it(
    demo: str,
) -> None:
    # `first` has one order, at LON1; only `vip`'s five orders are at MAN1.
    # The count once listed every customer of a round-robin pool, ordered
    # or not, and the shortage at MAN1 pointed at `first`.
    text = """\
version: 1
inventory: check
orders:
  - name: first
    count: 1
    customers: {region: EU-WEST}
    lines: [{sku: HOODIE-GREY-L}]
  - name: vip
    count: 5
    duplicate:
      customer: C-000009
      lines: [{sku: HOODIE-GREY-L}]
"""
    assert problems(text, demo) == [
        (
            "stock.shortage",
            8,
            "not enough BLANK-HOODIE-GREY-L at MAN1: the orders need 5, 3 "
            "available; needed by vip-0000, vip-0001, vip-0002, vip-0003, vip-0004",
        )
    ]


@pytest.mark.parametrize(
    ("group", "orders"),
    [
        # one order, for the pool's first customer, at FRA1
        ("count: 1", [("mugs-0000", "C-000002", "FRA1")]),
        # the second order would be at WAW1; its override moves it to FRA1
        (
            "count: 2\n    overrides: {1: {customer: C-000010}}",
            [("mugs-0000", "C-000002", "FRA1"), ("mugs-0001", "C-000010", "FRA1")],
        ),
    ],
)
def test_overbooked_stock_where_no_order_lands_is_no_shortage(
    tmp_path: Path, group: str, orders: list[tuple[str, str, str]]
) -> None:
    # WAW1 has reserved more BOX-SMALL than it holds, but no order lands
    # there. A location the pool could reach, with no order there, once
    # counted as demand of 0 against -3 available and failed the compile
    # with "needed by " and nobody named.
    path = tmp_path / "demo.db"
    url = build_demo(f"sqlite:///{path}")
    with sqlite3.connect(path) as db:
        changed = db.execute(
            "UPDATE inventory SET reserved = on_hand + 3 "
            "WHERE location_code = 'WAW1' AND part_number = 'BOX-SMALL'"
        ).rowcount
    assert changed == 1
    text = f"""\
version: 1
inventory: check
orders:
  - name: mugs
    {group}
    customers: {{region: EU-CENTRAL}}
    lines: [{{sku: MUG-WHITE}}]
"""
    config = compile_text(text, url)
    assert [(o["ref"], o["customer"], o["location"]) for o in config["orders"]] == (
        orders
    )
