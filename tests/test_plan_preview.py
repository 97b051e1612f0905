"""`seedcompile plan`: the preview, through the real command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import SPECS, build_demo

SEEDCOMPILE = str(Path(sys.executable).with_name("seedcompile"))


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_demo(f"sqlite:///{tmp_path_factory.mktemp('plan') / 'demo.db'}")


def plan(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SEEDCOMPILE, "plan", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
    )


def test_plan_json_counts_orders_preps_and_stock(demo_db: str) -> None:
    done = plan(
        str(SPECS / "multi-region-mix.yaml"), "--db", demo_db, "--format", "json"
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)

    assert {
        "group": "vip-repeat",
        "source": "duplicate",
        "region": "APAC",
        "orders": 5,
    } in summary["orders"]
    assert {
        "location": "NYC1",
        "carrier": "FEDEX",
        "preps": 1,
        "orders": 30,
        "capacity": 30,
    } in summary["collection_preps"]
    assert summary["stock"] == {
        "policy": "ensure",
        "adjustments": [
            {
                "location": "MAN1",
                "part": "BLANK-HOODIE-GREY-L",
                "demand": 13,
                "available": 3,
                "missing": 10,
            },
            {
                "location": "SIN1",
                "part": "BLANK-CAP-NAVY",
                "demand": 5,
                "available": 0,
                "missing": 5,
            },
        ],
    }
    assert summary["totals"] == {"orders": 125, "collection_preps": 14, "queries": 9}


def test_plan_lists_shortages_where_compile_would_fail(
    demo_db: str, tmp_path: Path
) -> None:
    spec = tmp_path / "short.yaml"
    spec.write_text(
        "version: 1\norders:\n  - name: hoodies\n    count: 8\n"
        "    customers: {region: EU-WEST}\n"
        "    lines: [{sku: HOODIE-GREY-L, quantity: 2}]\n"
    )
    done = plan(str(spec), "--db", demo_db)
    assert done.returncode == 0, done.stderr
    assert "stock shortages (inventory: check)" in done.stdout
    # location, part, demand, available, missing
    row = "│ MAN1     │ BLANK-HOODIE-GREY-L │      6 │         3 │       3 │"
    assert row in done.stdout


def test_plan_writes_nothing_and_shows_tables(demo_db: str, tmp_path: Path) -> None:
    done = plan(str(SPECS / "eu-west-launch.yaml"), "--db", demo_db, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.iterdir()) == []
    assert "collection preps" in done.stdout
    assert "499 orders, 20 collection preps, 9 queries" in done.stdout
