"""The committed JSON Schemas: current, and true to what the compiler accepts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from seedcompile.load import read_spec_file
from seedcompile.schemas import render_schema, seedconfig_schema, spec_schema
from tests.support import REPO, SPECS

SEEDCOMPILE = str(Path(sys.executable).with_name("seedcompile"))
SCHEMAS = REPO / "schemas"


@pytest.mark.parametrize(
    ("name", "build"),
    [("spec", spec_schema), ("seedconfig", seedconfig_schema)],
)
def test_committed_schema_matches_the_models(name: str, build: object) -> None:
    committed = (SCHEMAS / f"{name}.schema.json").read_text()
    assert committed == render_schema(build()), (  # type: ignore[operator]
        f"schemas/{name}.schema.json is stale: run "
        f"`seedcompile schema {name} > schemas/{name}.schema.json`"
    )


def test_schema_command_prints_the_committed_schema() -> None:
    done = subprocess.run(
        [SEEDCOMPILE, "schema", "seedconfig"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout == (SCHEMAS / "seedconfig.schema.json").read_text()


@pytest.mark.parametrize("spec", sorted(p.name for p in SPECS.glob("*.yaml")))
def test_example_specs_validate_against_the_spec_schema(spec: str) -> None:
    schema = json.loads((SCHEMAS / "spec.schema.json").read_text())
    data = read_spec_file(SPECS / spec).data
    jsonschema.validate(_jsonable(data), schema)


@pytest.mark.parametrize("spec", sorted(p.name for p in SPECS.glob("*.yaml")))
def test_example_specs_point_editors_at_the_schema(spec: str) -> None:
    first = (SPECS / spec).read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../schemas/spec.schema.json"


def test_the_spec_schema_refuses_what_the_compiler_refuses() -> None:
    schema = json.loads((SCHEMAS / "spec.schema.json").read_text())
    bad = {"version": 1, "orders": [{"name": "x", "count": 1, "cout": 2}]}
    with pytest.raises(jsonschema.ValidationError, match="cout"):
        jsonschema.validate(bad, schema)


def test_compiled_fixtures_validate_against_the_seedconfig_schema(
    tmp_path: Path,
) -> None:
    from tests.support import build_demo, compile_file

    url = build_demo(f"sqlite:///{tmp_path / 'demo.db'}")
    schema = json.loads((SCHEMAS / "seedconfig.schema.json").read_text())
    document = json.loads(compile_file("multi-region-mix.yaml", url).document)
    jsonschema.validate(document, schema)


def _jsonable(value: object) -> object:
    """YAML data with integer mapping keys (order indices) as strings, as in JSON."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def test_the_spec_schema_accepts_a_spec_that_extends_another() -> None:
    schema = json.loads((SCHEMAS / "spec.schema.json").read_text())
    jsonschema.validate({"extends": "_base.yaml", "seed": 9}, schema)
    with pytest.raises(jsonschema.ValidationError, match="'version' is a required"):
        jsonschema.validate({"seed": 9, "orders": []}, schema)
