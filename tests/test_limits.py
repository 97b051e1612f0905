"""Every input limit refuses with a clear error and is raised by its variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from seedcompile.checks import load_spec
from seedcompile.errors import SpecError, UsageError

SEEDCOMPILE = str(Path(sys.executable).with_name("seedcompile"))

SPEC = """\
version: 1
orders:
  - name: a
    count: 600
    customers: all
    lines: &lines [{sku: MUG-WHITE}, {sku: CAP-NAVY}]
  - name: b
    count: 500
    customers: all
    lines: *lines
"""


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC)
    return path


@pytest.mark.parametrize(
    ("variable", "value", "code", "words"),
    [
        ("SEEDCOMPILE_MAX_SPEC_BYTES", "100", "spec.too-large", "the limit is 100"),
        (
            "SEEDCOMPILE_MAX_YAML_VALUES",
            "20",
            "yaml.too-many-values",
            "the limit is 20",
        ),
        ("SEEDCOMPILE_MAX_ORDERS", "1000", "spec.too-many-orders", "1,100 orders"),
    ],
)
def test_a_limit_refuses_and_its_variable_raises_it(
    spec: Path,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    code: str,
    words: str,
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SpecError) as caught:
        load_spec(spec)
    problem = caught.value.diagnostics[0]
    assert problem.code == code
    assert words in problem.message
    assert variable in (problem.hint or "")

    monkeypatch.setenv(variable, "100_000_000")
    assert len(load_spec(spec).spec.orders) == 2


def test_a_limit_that_is_not_a_number_is_a_usage_error(
    spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEEDCOMPILE_MAX_ORDERS", "lots")
    with pytest.raises(
        UsageError, match="SEEDCOMPILE_MAX_ORDERS must be a whole number"
    ):
        load_spec(spec)


def test_the_command_line_exits_2_for_a_bad_limit(spec: Path) -> None:
    done = subprocess.run(
        [SEEDCOMPILE, "validate", str(spec)],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "SEEDCOMPILE_MAX_SPEC_BYTES": "-5"},
    )
    assert done.returncode == 2
    assert "SEEDCOMPILE_MAX_SPEC_BYTES must be a whole number above 0" in done.stderr
