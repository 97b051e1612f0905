"""Hostile input: strings that look like SQL, limits, paths that try to escape.

Every string from a spec reaches SQL as a bound parameter: codes full of
quotes, semicolons, backslashes, NUL characters and long Unicode come back
as "unknown customer" style errors at their line, and the reference tables
are intact afterwards. Fuzzing (hypothesis) feeds random YAML and random
spec-shaped data through the loader and the compiler and finds only clean
errors, never a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seedcompile.checks import load_spec
from seedcompile.database import (
    DatabaseSettings,
    create_engine,
    is_storable,
    read_snapshot,
)
from seedcompile.errors import (
    EXIT_INVALID,
    EXIT_USAGE,
    SeedcompileError,
    SpecError,
    UsageError,
)
from seedcompile.load import MAX_SPEC_BYTES
from seedcompile.reference import ReferenceRequest, prefetch
from seedcompile.refschema import metadata
from tests.support import SPECS, compile_loaded, loaded_from_text

HOSTILE = [
    "C-1'; DROP TABLE customer; --",
    "x' OR '1'='1",
    'C"2"; DELETE FROM region',
    "C\\3\\",
    "C-4\x00; DROP TABLE variant",
    "\x00",
    "%s %(code)s :code $1 ?",
    "E'\\x41'",
    "$$; TRUNCATE inventory; $$",
    "C\u00e9\u0301\u202e\ufeff",
    "\U0001d518" * 64,  # 64 characters, 256 bytes
    "\u4e2d" * 64,
]
TABLES = sorted(metadata.tables)


def table_counts(url: str) -> dict[str, int]:
    """Rows per reference table, read outside seedcompile."""
    if url.startswith("sqlite"):
        import sqlite3

        connection = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            return {
                t: connection.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in TABLES
            }
        finally:
            connection.close()

    async def count() -> dict[str, int]:
        connection = await asyncpg.connect(url)
        try:
            return {
                t: int(await connection.fetchval(f"SELECT count(*) FROM {t}"))
                for t in TABLES
            }
        finally:
            await connection.close()

    return anyio.run(count)


def spec_naming(code: str) -> str:
    """A spec that names `code` as a customer, a SKU, a region and a location."""
    spec = {
        "version": 1,
        "inventory": "check",
        "orders": [
            {
                "name": "named",
                "count": 3,
                "customers": [code, "C-000001"],
                "lines": [{"sku": code}, {"sku": "MUG-WHITE"}],
            },
            {
                "name": "by-region",
                "count": 2,
                "customers": {"region": code},
                "lines": [{"sku": "MUG-WHITE"}],
            },
        ],
        "collection_preps": [
            {
                "name": "preps",
                "count": 1,
                "location": code,
                "carrier": code,
                "date": "2026-12-10",
            }
        ],
    }
    # JSON is YAML; without ASCII escapes, so that YAML reads the characters
    # themselves (a "\ud835\udd18" escape would be two lone surrogates).
    return json.dumps(spec, ensure_ascii=False, indent=2)


@pytest.mark.parametrize("code", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_codes_are_unknown_references_and_harm_nothing(
    demo_url: str, code: str
) -> None:
    before = table_counts(demo_url)
    loaded = loaded_from_text(spec_naming(code))

    with pytest.raises(SeedcompileError) as caught:
        compile_loaded(loaded, demo_url)

    error = caught.value
    assert error.exit_code == EXIT_INVALID
    # Each of the five places that names the code says it is unknown.
    assert sorted((d.code, d.position.path) for d in error.diagnostics) == [
        ("reference.unknown-carrier", "collection_preps[0].carrier"),
        ("reference.unknown-customer", "orders[0].customers[0]"),
        ("reference.unknown-location", "collection_preps[0].location"),
        ("reference.unknown-region", "orders[1].customers.region"),
        ("reference.unknown-sku", "orders[0].lines[0].sku"),
    ]
    for problem in error.diagnostics:
        assert problem.position.line is not None, problem
    assert table_counts(demo_url) == before


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_keys_no_database_text_can_hold_match_nothing(
    backend: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("sqlite_demo" if backend == "sqlite" else "pg_demo")
    # Past the spec's own checks: a lone surrogate has no UTF-8 form at all.
    keys = {*HOSTILE, "\ud800", "C-\udfff", "C-000001"}
    assert not is_storable("\ud800")
    assert not is_storable("a\x00")

    async def fetch() -> Any:
        engine = create_engine(DatabaseSettings(url=url))
        try:
            async with read_snapshot(engine) as conn:
                return await prefetch(
                    conn,
                    ReferenceRequest(
                        customer_codes=keys,
                        customer_regions=keys,
                        skus=keys,
                        prep_locations=keys,
                        prep_dates={dt.date(2026, 12, 10)},
                    ),
                )
        finally:
            await engine.dispose()

    reference = anyio.run(fetch)
    assert set(reference.customers) == {"C-000001"}
    assert reference.variants == {}


def test_codes_longer_than_64_characters_are_refused_by_the_spec() -> None:
    with pytest.raises(SpecError) as caught:
        loaded_from_text(spec_naming("\U0001d518" * 65))
    assert [(d.code, d.position.path) for d in caught.value.diagnostics] == [
        ("spec.too-long", "orders[0].customers[0]"),
        ("spec.too-long", "orders[0].lines[0].sku"),
        ("spec.too-long", "orders[1].customers.region"),
        ("spec.too-long", "collection_preps[0].location"),
        ("spec.too-long", "collection_preps[0].carrier"),
    ]
    assert all(d.position.line for d in caught.value.diagnostics)


# --- limits ---------------------------------------------------------------------


def test_a_spec_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:
        handle.write(b"version: 1\n# ")
        handle.write(b"x" * MAX_SPEC_BYTES)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    [problem] = caught.value.diagnostics
    assert problem.code == "spec.too-large"


def test_runaway_aliases_are_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    with pytest.raises(SpecError) as caught:
        parse_and_check("version: 1\n" + "\n".join(lines))
    assert "yaml.too-many-values" in {d.code for d in caught.value.diagnostics}


@pytest.mark.parametrize(
    ("orders", "expected"),
    [
        (
            [
                {
                    "name": "a",
                    "count": 10_000_001,
                    "lines": [{"sku": "S"}],
                    "customers": "all",
                }
            ],
            (
                "spec.too-large",
                "orders[0].count",
                "orders[0].count: 10000001 is above the limit of 10,000,000",
            ),
        ),
        (
            [
                {"name": f"g{i}", "count": 4_000_000, "lines": [{"sku": "S"}]}
                | {"customers": "all"}
                for i in range(3)
            ],
            (
                "spec.too-many-orders",
                "orders",
                "the spec asks for 12,000,000 orders; the limit is 10,000,000",
            ),
        ),
    ],
    ids=["one-group", "all-groups"],
)
def test_order_counts_over_the_limit_are_refused_before_expansion(
    orders: list[dict[str, Any]], expected: tuple[str, str, str]
) -> None:
    with pytest.raises(SpecError) as caught:
        loaded_from_text(json.dumps({"version": 1, "orders": orders}))
    found = caught.value.diagnostics
    assert [(d.code, d.position.path, d.message) for d in found] == [expected]
    assert found[0].position.line is not None


# --- paths ----------------------------------------------------------------------


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    return subprocess.run(
        [sys.executable, "-c", "from seedcompile.cli import main; main()", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
    )


@pytest.mark.parametrize("pattern", ["../specs/*.yaml", "{specs}/*.yaml"])
def test_outputs_stay_inside_the_output_folder(
    tmp_path: Path, sqlite_demo: str, pattern: str
) -> None:
    # Specs named by a pattern that climbs out of the working folder, or by
    # an absolute one, still mirror into the output folder.
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "a.yaml").write_text((SPECS / "eu-west-launch.yaml").read_text())
    work = tmp_path / "work"
    work.mkdir()
    pattern = pattern.format(specs=specs)

    result = run_cli(work, "compile", pattern, "--db", sqlite_demo, "-o", "out")

    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in specs.iterdir()) == ["a.yaml"]
    assert [p.relative_to(work).as_posix() for p in work.rglob("*.json")] == [
        "out/a.json"
    ]


@pytest.mark.parametrize("name", ["../a.json", "../../etc/a.json", "/tmp/a.json"])
def test_a_target_outside_the_output_folder_is_refused(
    tmp_path: Path, name: str
) -> None:
    from seedcompile.emit import ensure_inside

    out = tmp_path / "out"
    with pytest.raises(UsageError) as caught:
        ensure_inside(out, out / name)
    assert caught.value.diagnostics[0].code == "usage.output-outside"
    assert ensure_inside(out, out / "a" / "b.json") == out / "a" / "b.json"


# --- fuzzing --------------------------------------------------------------------


def parse_and_check(text: str) -> Any:
    return loaded_from_text(text, file="fuzz.yaml")


YAML_PIECES = st.sampled_from(
    [
        "version: 1\n",
        "orders:\n",
        "  - name: g\n",
        "    count: 3\n",
        "    customers: all\n",
        "    lines: [{sku: MUG-WHITE}]\n",
        "collection_preps: []\n",
        "&a [*a]\n",
        "<<: *b\n",
        "!!python/object:os.system\n",
        "? [x]\n: y\n",
        "{",
        "]",
        "'",
        '"\\x00\\ud800"',
        "\t",
        "- ",
        ": ",
        "%YAML 1.1\n---\n",
        "...\n",
        "0x1F",
        "1e400",
        "9" * 30,
        "\ufeff",
        "\x85",
        "\u2028",
    ]
)
random_yaml = st.one_of(
    st.text(max_size=400),
    st.lists(YAML_PIECES | st.text(max_size=8), max_size=30).map("".join),
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(text=random_yaml)
def test_random_yaml_gives_only_clean_errors(text: str) -> None:
    error = None
    try:
        parse_and_check(text)
    except SeedcompileError as exc:
        error = exc
    if error is not None:
        assert_clean(error)


def assert_clean(error: SeedcompileError) -> None:
    """A user-facing error: diagnostics with messages, and the exit code of one."""
    assert error.diagnostics
    assert error.exit_code in (EXIT_INVALID, EXIT_USAGE), error.diagnostics
    for problem in error.diagnostics:
        assert problem.message
        assert not problem.code.startswith("internal."), problem


CODES = [
    "C-000001",
    "C-000004",
    "C-000017",
    "EU-WEST",
    "APAC",
    "LON1",
    "DUB1",
    "FRA1",
    "DHL",
    "UPS",
    "PONYEXP",
    "TSHIRT-BLUE-M",
    "TSHIRT-GREEN-M",
    "MUG-WHITE",
    "CAP-NAVY",
]
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 60),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.lists(st.integers(0, 3), max_size=2),
)
code = st.one_of(st.sampled_from(CODES), st.sampled_from(HOSTILE), st.text(max_size=8))
count = st.one_of(
    st.integers(0, 40), st.sampled_from([-1, 10_000_001, 10**15, 2**64]), junk
)
quantity = st.one_of(
    st.integers(-1, 5),
    st.fixed_dictionaries({"min": st.integers(-1, 5), "max": st.integers(-1, 5)}),
    junk,
)
line = st.fixed_dictionaries(
    {"sku": code}, optional={"quantity": quantity, "colour": junk}
)
lines = st.one_of(st.lists(line, max_size=3), junk)
customers = st.one_of(
    st.lists(code, max_size=3),
    st.fixed_dictionaries({"codes": st.lists(code, max_size=3)}),
    st.fixed_dictionaries({"region": code}),
    st.fixed_dictionaries({"regions": st.lists(code, max_size=2)}),
    st.just("all"),
    st.fixed_dictionaries({"region": code, "codes": st.lists(code, max_size=1)}),
    junk,
)
status = st.one_of(
    st.sampled_from(["pending", "confirmed", "packed", "shipped", "cancelled", "lost"]),
    junk,
)
name = st.one_of(
    st.sampled_from(["a", "b", "g-1", "x y", "", "a"]), st.text(max_size=5)
)
index = st.one_of(st.integers(-1, 45), st.text(max_size=2))
order_group = st.fixed_dictionaries(
    {"name": name, "count": count},
    optional={
        "template": st.one_of(st.sampled_from(["t", "missing"]), junk),
        "lines": lines,
        "status": status,
        "customers": customers,
        "pick": st.sampled_from(["round_robin", "random", "other"]),
        "duplicate": st.fixed_dictionaries(
            {"customer": code}, optional={"status": status, "lines": lines}
        ),
        "overrides": st.dictionaries(
            index,
            st.fixed_dictionaries(
                {}, optional={"status": status, "customer": code, "lines": lines}
            ),
            max_size=2,
        ),
        "exclude": st.one_of(st.lists(st.integers(-1, 45), max_size=3), junk),
    },
)
carrier = st.one_of(
    code,
    st.lists(code, max_size=3),
    st.fixed_dictionaries({"fixed": code}),
    st.fixed_dictionaries({"rotate": st.lists(code, max_size=3)}),
    st.fixed_dictionaries({"by_region": st.dictionaries(code, code, max_size=2)}),
    st.just("any"),
    junk,
)
date = st.one_of(
    st.sampled_from(["2026-12-10", "2026-12-11", "2026-02-30", "tomorrow"]),
    st.dates().map(str),
    junk,
)
allocate = st.one_of(
    st.sampled_from(["round_robin", "fill", "nope"]),
    st.fixed_dictionaries(
        {"explicit": st.lists(st.lists(st.integers(-1, 45), max_size=4), max_size=3)}
    ),
    junk,
)
prep_group = st.fixed_dictionaries(
    {"name": name, "count": count, "carrier": carrier, "date": date},
    optional={
        "orders": st.lists(name, max_size=2),
        "location": code,
        "allocate": allocate,
        "overrides": st.dictionaries(
            index,
            st.fixed_dictionaries({}, optional={"carrier": code, "date": date}),
            max_size=2,
        ),
    },
)
spec_shaped = st.fixed_dictionaries(
    {
        "version": st.sampled_from([1, 1, 1, 2, "1"]),
        "orders": st.lists(order_group, max_size=3),
    },
    optional={
        "seed": st.one_of(st.integers(-5, 2**70), junk),
        "inventory": st.sampled_from(["check", "ensure", "ignore", "maybe"]),
        "templates": st.dictionaries(
            name,
            st.fixed_dictionaries({"lines": lines}, optional={"status": status}),
            max_size=2,
        ),
        "collection_preps": st.lists(prep_group, max_size=2),
        "description": st.text(max_size=20),
        "extends": st.sampled_from(["../../etc/passwd", "/etc/passwd", "_base.yaml"]),
        "surprise": junk,
    },
)


def render(data: Any) -> str:
    def clean(value: Any) -> Any:
        if isinstance(value, float) and math.isnan(value):
            return float("nan")
        return value

    return yaml.safe_dump(clean(data), allow_unicode=True, sort_keys=False)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=spec_shaped)
def test_random_specs_give_only_clean_errors_or_a_valid_fixture(
    sqlite_demo: str, data: dict[str, Any]
) -> None:
    compile_or_fail_cleanly(sqlite_demo, data)


def compile_or_fail_cleanly(url: str, data: dict[str, Any]) -> None:
    text = render(data)
    error = None
    try:
        loaded = parse_and_check(text)
        result, _ = compile_loaded(loaded, url)
    except SeedcompileError as exc:
        error = exc
    if error is not None:
        assert_clean(error)
        return
    config = json.loads(result.document)
    assert len(config["orders"]) == result.orders


# Specs that are mostly right, so that the fuzzing reaches the database and
# every later stage; then, often, one value somewhere replaced or removed.
REGIONS = ["EU-WEST", "EU-CENTRAL", "US-EAST", "APAC"]
LOCATIONS = ["LON1", "MAN1", "FRA1", "WAW1", "NYC1", "ATL1", "SIN1", "DUB1"]
CARRIERS = ["DHL", "UPS", "FEDEX", "ROYALMAIL", "DPD", "PONYEXP"]
SKUS = ["TSHIRT-BLUE-M", "TSHIRT-RED-L", "MUG-WHITE", "CAP-NAVY", "HOODIE-GREY-L"]
mostly = st.sampled_from
customer_code = st.integers(1, 260).map(lambda n: f"C-{n:06d}")
good_line = st.fixed_dictionaries(
    {"sku": mostly([*SKUS, "TSHIRT-GREEN-M"])},
    optional={
        "quantity": st.one_of(
            st.integers(1, 4),
            st.tuples(st.integers(1, 3), st.integers(3, 6)).map(
                lambda r: {"min": r[0], "max": r[1]}
            ),
        )
    },
)
good_lines = st.lists(good_line, min_size=1, max_size=3)
good_customers = st.one_of(
    st.lists(customer_code, min_size=1, max_size=4),
    st.builds(lambda r: {"region": r}, mostly(REGIONS)),
    st.builds(lambda r: {"regions": r}, st.lists(mostly(REGIONS), min_size=1)),
    st.just("all"),
)


@st.composite
def near_valid_spec(draw: st.DrawFn) -> dict[str, Any]:
    groups = draw(st.integers(1, 3))
    orders: list[dict[str, Any]] = []
    for g in range(groups):
        group: dict[str, Any] = {"name": f"g{g}", "count": draw(st.integers(1, 30))}
        form = draw(st.sampled_from(["template", "lines", "duplicate"]))
        if form == "duplicate":
            group["duplicate"] = {"customer": draw(customer_code)}
            group["duplicate"]["lines"] = draw(good_lines)
        else:
            if form == "template":
                group["template"] = "t"
            else:
                group["lines"] = draw(good_lines)
            group["customers"] = draw(good_customers)
            group["pick"] = draw(mostly(["round_robin", "random"]))
        if draw(st.booleans()):
            group["overrides"] = {
                draw(st.integers(0, 5)): {"status": "confirmed"},
            }
        if draw(st.booleans()):
            group["exclude"] = draw(st.lists(st.integers(0, 30), max_size=3))
        orders.append(group)
    preps = [
        {
            "name": f"p{p}",
            "count": draw(st.integers(1, 6)),
            "carrier": draw(
                st.one_of(
                    st.just("any"),
                    mostly(CARRIERS),
                    st.lists(mostly(CARRIERS), min_size=1, max_size=3),
                    st.builds(
                        lambda m: {"by_region": m},
                        st.dictionaries(mostly(REGIONS), mostly(CARRIERS)),
                    ),
                )
            ),
            "date": draw(mostly(["2026-12-10", "2026-12-11"])),
            "allocate": draw(mostly(["round_robin", "fill"])),
        }
        | ({"location": draw(mostly(LOCATIONS))} if draw(st.booleans()) else {})
        for p in range(draw(st.integers(0, 2)))
    ]
    spec: dict[str, Any] = {
        "version": 1,
        "seed": draw(st.integers(0, 2**32)),
        "inventory": draw(mostly(["ignore", "ensure", "check"])),
        "templates": {"t": {"lines": draw(good_lines)}},
        "orders": orders,
        "collection_preps": preps,
    }
    if draw(st.booleans()):
        mutate(spec, draw)
    return spec


def mutate(spec: dict[str, Any], draw: st.DrawFn) -> None:
    """Replace or remove one value somewhere in `spec`."""
    node: Any = spec
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            return
        key = draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, dict | list) and child and draw(st.booleans()):
            node = child
            continue
        if isinstance(node, dict) and draw(st.booleans()):
            del node[key]
        else:
            node[key] = draw(st.one_of(junk, code, count))
        return


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=near_valid_spec())
def test_near_valid_specs_give_only_clean_errors_or_a_valid_fixture(
    sqlite_demo: str, data: dict[str, Any]
) -> None:
    compile_or_fail_cleanly(sqlite_demo, data)
