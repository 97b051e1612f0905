"""Provenance in the output, `seedcompile explain`, and edit-stable randomness."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import SPECS, build_demo, compile_text

SEEDCOMPILE = str(Path(sys.executable).with_name("seedcompile"))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_demo(f"sqlite:///{tmp_path_factory.mktemp('prov') / 'demo.db'}")


def test_rules_table_points_at_the_spec_lines(demo: str) -> None:
    config = compile_text((SPECS / "multi-region-mix.yaml").read_text(), demo)
    assert config["rules"]["orders"]["us-caps"] == {
        "path": "orders[1]",
        "line": 24,
        "rule": "80 orders from inline lines, for 3 listed customers, picked in turn",
    }
    assert config["rules"]["collection_preps"]["vip"]["path"] == "collection_preps[2]"
    vip = [p for p in config["collection_preps"] if p["location"] == "SIN1"]
    assert [p["rule"] for p in vip] == ["vip#0", "vip#1"]


def test_explain_follows_an_order_to_its_prep(demo: str, tmp_path: Path) -> None:
    fixture = tmp_path / "mix.json"
    subprocess.run(
        [
            SEEDCOMPILE,
            "compile",
            str(SPECS / "multi-region-mix.yaml"),
            "--db",
            demo,
            "-o",
            str(fixture),
        ],
        check=True,
        capture_output=True,
    )
    done = subprocess.run(
        [SEEDCOMPILE, "explain", str(fixture), "vip-repeat-0003"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.splitlines() == [
        "order vip-repeat-0003 (pending)",
        "  made by orders[2] 'vip-repeat' at multi-region-mix.yaml:34, index 3: "
        "5 copies of one order for C-000004",
        "  customer C-000004, fulfilled at SIN1",
        "  lines CAP-NAVY x 1",
        "  in prep SIN1-FEDEX-20261210-0001 (FEDEX, 2026-12-10), order 1 of 2",
        "    made by collection_preps[2] 'vip' at multi-region-mix.yaml:60, index 1: "
        "2 preps per location, carrier any active carrier serving the region, "
        "in turn, orders listed explicitly",
    ]


HEAD = "version: 1\nseed: 3\ninventory: ignore\norders:\n"
TEES = """\
  - name: tees
    count: 30
    customers: all
    pick: random
    lines: [{sku: TSHIRT-RED-M, quantity: {min: 1, max: 9}}]
"""
MUGS = """\
  - name: mugs
    count: 20
    customers: {region: US-EAST}
    pick: random
    lines: [{sku: MUG-WHITE, quantity: {min: 1, max: 5}}]
"""
CAPS = """\
  - name: caps
    count: 7
    customers: all
    pick: random
    lines: [{sku: CAP-NAVY, quantity: {min: 1, max: 3}}]
"""


def by_ref(text: str, url: str) -> dict[str, Any]:
    return {order["ref"]: order for order in compile_text(text, url)["orders"]}


def test_adding_a_group_leaves_the_other_groups_as_they_were(demo: str) -> None:
    before = by_ref(HEAD + TEES + MUGS, demo)
    after = by_ref(HEAD + CAPS + TEES + MUGS, demo)

    assert set(after) - set(before) == {f"caps-{i:04d}" for i in range(7)}
    # Every order of the untouched groups keeps its customer and quantities,
    # although the new group comes first and draws from the same customers.
    assert {ref: after[ref] for ref in before} == before


def test_reordering_or_removing_a_group_changes_nothing_else(demo: str) -> None:
    both = by_ref(HEAD + TEES + MUGS, demo)

    assert by_ref(HEAD + MUGS + TEES, demo) == both
    assert by_ref(HEAD + MUGS, demo) == {
        ref: order for ref, order in both.items() if ref.startswith("mugs-")
    }


def test_renaming_a_group_draws_anew(demo: str) -> None:
    # The draws are seeded by the group's name: a rename is a new group.
    before = by_ref(HEAD + TEES, demo)
    after = by_ref(HEAD + TEES.replace("name: tees", "name: shirts"), demo)
    assert [o["customer"] for o in before.values()] != [
        o["customer"] for o in after.values()
    ]
