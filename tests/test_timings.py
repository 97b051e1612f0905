"""Stage timings through the real command line, for compiles that pass and fail."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support import SPECS

SEEDCOMPILE = str(Path(sys.executable).with_name("seedcompile"))


def compile_timed(
    spec: Path, db: str, cwd: Path
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """`seedcompile compile` with both kinds of timings; the run and the JSON."""
    record = cwd / "timings.json"
    done = subprocess.run(
        [SEEDCOMPILE, "compile", str(spec), "--db", db, "-o", "out.json",
         "--timings", "--timings-json", str(record)],
        capture_output=True, text=True, cwd=cwd, check=False,
    )  # fmt: skip
    return done, record


def test_timings_of_a_compile(tmp_path: Path, pg_demo: str) -> None:
    done, record = compile_timed(SPECS / "eu-west-launch.yaml", pg_demo, tmp_path)
    assert done.returncode == 0, done.stderr
    timings = json.loads(record.read_text())
    stages = {s["stage"]: s for s in timings["stages"]}
    assert list(stages) == ["prefetch", "plan", "codes", "stock", "assemble"]
    assert stages["prefetch"]["queries"] == 8
    assert stages["prefetch"]["rows"] > 0
    assert stages["codes"]["queries"] == 1
    assert timings["orders"] == 499  # 500, one excluded
    assert timings["queries"] == 9
    assert "failed" not in timings
    table = done.stderr
    assert "stages" in table
    for name in stages:
        assert f"│ {name} " in table  # a row of the table, not a word anywhere


def test_timings_of_a_compile_that_fails(tmp_path: Path, pg_demo: str) -> None:
    # The SKU exists nowhere: the plan stage fails, and the timings still
    # show what ran up to it.
    text = (SPECS / "eu-west-launch.yaml").read_text()
    spec = tmp_path / "broken.yaml"
    spec.write_text(text.replace("sku: TSHIRT-BLUE-M", "sku: TSHIRT-PLAID-M", 1))
    done, record = compile_timed(spec, pg_demo, tmp_path)
    assert done.returncode == 1
    assert "reference.unknown-sku" in done.stderr
    assert "stages, up to the failure" in done.stderr
    timings = json.loads(record.read_text())
    assert timings["failed"] is True
    # codes: the batch's one query for taken codes, shared by every spec,
    # runs after planning whichever spec failed.
    assert [s["stage"] for s in timings["stages"]] == ["prefetch", "plan", "codes"]
    assert timings["stages"][0]["queries"] == 8
    assert not (tmp_path / "out.json").exists()
