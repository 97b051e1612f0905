"""Feasibility: infeasible specs are refused, with numbers, before orders are built."""

from __future__ import annotations

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
