"""Lock files: offline compiles give the online bytes; --check reports drift."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import SPECS, build_demo

SEEDCOMPILE = str(Path(sys.executable).with_name("seedcompile"))


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SEEDCOMPILE, *args], cwd=cwd, capture_output=True, text=True, check=False
    )


def run_ok(*args: str, cwd: Path) -> None:
    """A set-up step that must succeed."""
    done = run(*args, cwd=cwd)
    assert done.returncode == 0, done.stderr


@pytest.fixture
def specs(tmp_path: Path) -> Path:
    folder = tmp_path / "specs"
    folder.mkdir()
    for spec in SPECS.glob("*.yaml"):
        shutil.copy(spec, folder / spec.name)
    return folder


@pytest.fixture(params=["sqlite", "postgresql"])
def demo(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return build_demo(f"sqlite:///{tmp_path / 'demo.db'}")
    return build_demo(request.getfixturevalue("pg_database"))


def test_offline_compile_gives_the_online_bytes(specs: Path, demo: str) -> None:
    cwd = specs.parent
    assert run("lock", "specs", "--db", demo, cwd=cwd).returncode == 0
    online = run("compile", "specs", "-o", "online", "--db", demo, cwd=cwd)
    offline = run("compile", "specs", "-o", "offline", "--offline", cwd=cwd)
    assert online.returncode == 0, online.stderr
    assert offline.returncode == 0, offline.stderr

    for name in ("eu-west-launch.json", "multi-region-mix.json"):
        assert (cwd / "offline" / name).read_bytes() == (
            cwd / "online" / name
        ).read_bytes()
    assert re.search(r"\b0 queries", offline.stderr)


def test_a_lock_holds_only_the_rows_the_spec_relies_on(
    specs: Path, tmp_path: Path
) -> None:
    demo = build_demo(f"sqlite:///{tmp_path / 'demo.db'}")
    run_ok("lock", "specs/multi-region-mix.yaml", "--db", demo, cwd=specs.parent)
    lock_text = (specs / "multi-region-mix.lock.json").read_text()
    lock = json.loads(lock_text)

    rows = lock["tables"]["customer"]["rows"]
    named = {"C-000003", "C-000004", "C-000007", "C-000011"}
    assert named <= {row[0] for row in rows}
    # Besides those named, only the active customers of the two regions.
    assert all(
        row[0] in named or (row[1] in {"EU-WEST", "EU-CENTRAL"} and row[3])
        for row in rows
    )
    assert len(rows) == 4 + 120 - 8  # 120 in the regions, 8 of them inactive
    assert [row[0] for row in lock["tables"]["variant"]["rows"]] == [
        "CAP-NAVY",
        "HOODIE-GREY-L",
        "MUG-BLACK",
    ]
    assert lock["tables"]["variant"]["digest"].startswith("sha256:")
    # One row a line, so that a lock diff shows the rows that changed.
    assert '        ["CAP-NAVY",true],\n' in lock_text


def test_offline_without_a_lock_says_how_to_make_one(specs: Path) -> None:
    done = run("compile", "specs/eu-west-launch.yaml", "--offline", cwd=specs.parent)
    assert done.returncode == 1
    assert "no lock file specs/eu-west-launch.lock.json" in done.stderr
    assert "seedcompile lock specs/eu-west-launch.yaml --db URL" in done.stderr


def test_check_reports_drift_at_the_line_that_relies_on_it(
    specs: Path, tmp_path: Path
) -> None:
    path = tmp_path / "demo.db"
    demo = build_demo(f"sqlite:///{path}")
    cwd = specs.parent
    run_ok("lock", "specs/eu-west-launch.yaml", "--db", demo, cwd=cwd)
    run_ok(
        "compile", "specs/eu-west-launch.yaml", "-o", "out.json", "--db", demo, cwd=cwd
    )

    with sqlite3.connect(path) as db:
        db.execute("UPDATE variant SET active = 0 WHERE sku = 'MUG-WHITE'")
        db.execute(
            "INSERT INTO collection_prep VALUES "
            "('LON1-DHL-20261210-0009', 'LON1', 'DHL', '2026-12-10')"
        )
    done = run(
        "compile",
        "specs/eu-west-launch.yaml",
        "-o",
        "out.json",
        "--check",
        "--db",
        demo,
        "--error-format",
        "json",
        cwd=cwd,
    )
    assert done.returncode == 1
    errors = [json.loads(line) for line in done.stderr.splitlines()]
    drift = [
        (e["line"], e["path"], e["message"])
        for e in errors
        if e["code"] == "lock.drift"
    ]
    assert drift == [
        (
            15,
            "templates.tee-and-mug.lines[1].sku",
            "variant MUG-WHITE changed since the lock: active true -> false",
        ),
        (
            32,
            "collection_preps[0].date",
            "collection_prep LON1/DHL/2026-12-10 changed since the lock: "
            "highest_number 3 -> 9",
        ),
    ]


def test_an_offline_compile_refuses_a_lock_of_another_spec_version(
    specs: Path, tmp_path: Path
) -> None:
    demo = build_demo(f"sqlite:///{tmp_path / 'demo.db'}")
    cwd = specs.parent
    run_ok("lock", "specs/eu-west-launch.yaml", "--db", demo, cwd=cwd)
    spec = specs / "eu-west-launch.yaml"
    spec.write_text(spec.read_text().replace("2026-12-10", "2026-12-11"))

    done = run(
        "compile", "specs/eu-west-launch.yaml", "--offline", "-o", "x.json", cwd=cwd
    )
    assert done.returncode == 1
    assert "[lock.stale]" in done.stderr
    assert "seedcompile lock specs/eu-west-launch.yaml --db URL" in done.stderr
    assert not (cwd / "x.json").exists()
