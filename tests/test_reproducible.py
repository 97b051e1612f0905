"""The same spec and reference data give the same bytes in any environment."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import SPECS, build_demo

SEEDCOMPILE = str(Path(sys.executable).with_name("seedcompile"))

ENVIRONMENTS = [
    {"PYTHONHASHSEED": "0", "TZ": "UTC", "LC_ALL": "C"},
    {"PYTHONHASHSEED": "1", "TZ": "Pacific/Kiritimati", "LC_ALL": "C.UTF-8"},
    {"PYTHONHASHSEED": "4242", "TZ": "America/Los_Angeles", "LANG": "de_DE.UTF-8"},
    {"PYTHONHASHSEED": "random", "TZ": "Asia/Kolkata"},
]


@pytest.mark.parametrize("spec", ["eu-west-launch.yaml", "multi-region-mix.yaml"])
def test_bytes_do_not_depend_on_hash_seed_time_zone_or_locale(
    spec: str, tmp_path: Path
) -> None:
    demo = build_demo(f"sqlite:///{tmp_path / 'demo.db'}")
    digests = set()
    for n, extra in enumerate(ENVIRONMENTS):
        # A different working folder each time: no path may leak in either.
        cwd = tmp_path / f"run{n}"
        cwd.mkdir()
        out = cwd / "fixture.json"
        env = {**os.environ, **extra}
        subprocess.run(
            [SEEDCOMPILE, "compile", str(SPECS / spec), "--db", demo, "-o", str(out)],
            cwd=cwd,
            env=env,
            check=True,
            capture_output=True,
        )
        data = out.read_bytes()
        assert str(tmp_path).encode() not in data
        digests.add(hashlib.sha256(data).hexdigest())
    assert len(digests) == 1
