"""`extends` chains and `--set` overrides."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from seedcompile.checks import load_spec
from seedcompile.errors import SpecError, UsageError

SEEDCOMPILE = str(Path(sys.executable).with_name("seedcompile"))

BASE = """\
version: 1
seed: 5
inventory: ignore
templates:
  tee:
    lines: [{sku: TSHIRT-RED-M, quantity: 2}]
orders:
  - name: base-orders
    template: tee
    count: 3
    customers: {region: EU-WEST}
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "_base.yaml").write_text(BASE)
    return specs


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_mappings_merge_and_lists_replace(repo: Path) -> None:
    child = write(
        repo,
        "child.yaml",
        "extends: _base.yaml\nseed: 9\ntemplates:\n  mug:\n"
        "    lines: [{sku: MUG-WHITE}]\norders:\n  - name: mugs\n    template: mug\n"
        "    count: 4\n    customers: all\n",
    )
    spec = load_spec(child).spec
    assert spec.seed == 9  # replaced
    assert spec.inventory == "ignore"  # inherited
    assert sorted(spec.templates) == ["mug", "tee"]  # merged
    assert [group.name for group in spec.orders] == ["mugs"]  # replaced whole


def test_chains_follow_every_link(repo: Path) -> None:
    write(repo, "middle.yaml", "extends: _base.yaml\nseed: 7\n")
    leaf = write(repo, "deep/leaf.yaml", "extends: ../middle.yaml\ninventory: check\n")
    spec = load_spec(leaf).spec
    assert (spec.seed, spec.inventory, spec.orders[0].name) == (
        7,
        "check",
        "base-orders",
    )


def test_an_error_in_a_base_points_at_the_base(repo: Path) -> None:
    (repo / "_base.yaml").write_text(BASE.replace("count: 3", 'count: "3"'))
    child = write(repo, "child.yaml", "extends: _base.yaml\nseed: 2\n")
    with pytest.raises(SpecError) as caught:
        load_spec(child, display_name="specs/child.yaml")
    [problem] = caught.value.diagnostics
    assert problem.code == "spec.expected-integer"
    assert (problem.position.file, problem.position.line) == ("specs/_base.yaml", 10)


def test_cycles_are_refused(repo: Path) -> None:
    write(repo, "a.yaml", "extends: b.yaml\n")
    b = write(repo, "b.yaml", "extends: a.yaml\n")
    with pytest.raises(SpecError) as caught:
        load_spec(b)
    [problem] = caught.value.diagnostics
    assert problem.code == "spec.extends-cycle"
    assert (
        problem.message == "`extends` loops back on itself: b.yaml -> a.yaml -> b.yaml"
    )


def test_a_chain_cannot_leave_the_repository(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path.parent / "outside-spec.yaml"
    outside.write_text(BASE)
    child = write(repo, "child.yaml", f"extends: ../../{outside.name}\n")
    with pytest.raises(SpecError) as caught:
        load_spec(child)
    assert caught.value.diagnostics[0].code == "spec.extends-outside"


def test_a_missing_base_is_named(repo: Path) -> None:
    child = write(repo, "child.yaml", "extends: _nope.yaml\n")
    with pytest.raises(SpecError) as caught:
        load_spec(child)
    [problem] = caught.value.diagnostics
    assert (problem.code, problem.position.line) == ("spec.extends-missing", 1)


def test_a_changed_base_changes_the_digest(repo: Path) -> None:
    child = write(repo, "child.yaml", "extends: _base.yaml\n")
    before = load_spec(child).digest
    (repo / "_base.yaml").write_text(BASE.replace("seed: 5", "seed: 6"))
    assert load_spec(child).digest != before


def test_set_changes_one_value(repo: Path) -> None:
    child = write(repo, "child.yaml", "extends: _base.yaml\n")
    spec = load_spec(
        child, overrides=["orders[0].count=50", "orders[0].pick=random", "seed=1"]
    ).spec
    assert (spec.orders[0].count, spec.orders[0].pick, spec.seed) == (50, "random", 1)


def test_a_bad_set_value_points_at_the_option(repo: Path) -> None:
    child = write(repo, "child.yaml", "extends: _base.yaml\n")
    with pytest.raises(SpecError) as caught:
        load_spec(child, overrides=["orders[0].count=many"])
    [problem] = caught.value.diagnostics
    assert problem.position.file == "--set orders[0].count=many"
    assert (
        problem.message
        == "orders[0].count: expected a whole number, got the text 'many'"
    )


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("orders[0].count", "--set takes PATH=VALUE"),
        ("orders[5].count=1", "the spec has nothing at orders[5]"),
        ("orders..count=1", "is not a spec path"),
    ],
)
def test_bad_set_paths_are_usage_errors(repo: Path, override: str, words: str) -> None:
    child = write(repo, "child.yaml", "extends: _base.yaml\n")
    with pytest.raises(UsageError, match=words.replace("[", r"\[").replace("]", r"\]")):
        load_spec(child, overrides=[override])


def test_set_through_the_command_line(repo: Path) -> None:
    child = write(repo, "child.yaml", "extends: _base.yaml\n")
    done = subprocess.run(
        [SEEDCOMPILE, "validate", str(child), "--set", "orders[0].count=12"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "1 order group, 12 orders, 0 collection-prep groups" in done.stderr
