"""Reading spec YAML (`seedcompile.load`) and checking it (`seedcompile.checks`)."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seedcompile import load
from seedcompile.checks import check_document
from seedcompile.errors import EXIT_USAGE, SpecError, UsageError
from seedcompile.load import Document, SourceMap, Span, format_path, parse_yaml

VALID = """\
version: 1
orders:
  - name: tees
    count: 4
    lines: [{sku: TSHIRT-RED-M}]
    customers: all
"""


def parse(text: str) -> Document:
    return parse_yaml(text, file="spec.yaml")


def codes(error: pytest.ExceptionInfo[SpecError]) -> list[str]:
    return [d.code for d in error.value.diagnostics]


def refused(text: str) -> list[tuple[str, int | None, int | None]]:
    """(code, line, column) of every problem `text` has as a spec."""
    with pytest.raises(SpecError) as error:
        check_document(parse(text))
    return [
        (d.code, d.position.line, d.position.column) for d in error.value.diagnostics
    ]


# Scalars by YAML 1.2 core rules


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("no", "no"),
        ("NO", "NO"),
        ("off", "off"),
        ("on", "on"),
        ("yes", "yes"),
        ("y", "y"),
        ("012", "012"),
        ("1:30", "1:30"),
        ("2026-12-10", "2026-12-10"),
        ("2026-12-10T10:00:00Z", "2026-12-10T10:00:00Z"),
        ("0o17", "0o17"),
        ("0b101", "0b101"),
        ('"12"', "12"),
        ("'true'", "true"),
        ("!!str 12", "12"),
        ("! 12", "12"),
        ("12", 12),
        ("-3", -3),
        ("1_000", 1000),
        ("0x1F", 31),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        ("!!int '12'", 12),
        ("!!float 1", 1.0),
        ("true", True),
        ("False", False),
        ("~", None),
        ("null", None),
        ("", None),
    ],
)
def test_a_plain_value_reads_as_yaml_1_2_core(written: str, read: object) -> None:
    value = parse(f"value: {written}\n").data["value"]
    assert value == read
    assert type(value) is type(read)


def test_infinity_and_nan_are_floats() -> None:
    data = parse("a: .inf\nb: -.inf\nc: .nan\n").data
    assert data["a"] == math.inf
    assert data["b"] == -math.inf
    assert math.isnan(data["c"])


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    spec = tmp_path / "bom.yaml"
    spec.write_bytes(b"\xef\xbb\xbf" + VALID.encode())
    assert load.read_spec_file(spec).data["version"] == 1


# Positions


def test_every_value_and_key_has_its_position() -> None:
    source = parse(VALID).source
    assert source.spans[("orders", 0, "count")] == Span(4, 12, 4, 5)
    assert source.spans[("orders", 0, "lines", 0, "sku")] == Span(5, 19, 5, 14)
    assert source.position(("orders", 0, "count"), at_key=True).column == 5


def test_a_path_without_a_span_falls_back_to_its_nearest_ancestor() -> None:
    position = parse(VALID).source.position(("orders", 0, "customers", "codes", 3))
    assert (position.line, position.column) == (6, 16)
    assert position.path == "orders[0].customers.codes[3]"


def test_a_path_reads_the_way_a_user_writes_it() -> None:
    assert format_path(("collection_preps", 2, "carrier")) == (
        "collection_preps[2].carrier"
    )
    assert format_path(()) == ""
    assert SourceMap("f").position(()).path is None


# What the reader refuses


def test_a_repeated_key_names_both_lines() -> None:
    document = parse("a: 1\nb: 2\na: 3\n")
    [problem] = document.problems
    assert problem.code == "yaml.duplicate-key"
    assert "on lines 1 and 3" in problem.message
    assert (problem.position.line, problem.position.column) == (3, 1)
    assert document.data == {"a": 1, "b": 2}


def test_keys_that_differ_only_in_spelling_of_a_number_are_repeated() -> None:
    [problem] = parse("overrides:\n  10: {}\n  0xA: {}\n").problems
    assert problem.code == "yaml.duplicate-key"


def test_small_aliases_expand() -> None:
    data = parse("a: &x [1, 2]\nb: *x\n").data
    assert data == {"a": [1, 2], "b": [1, 2]}


def test_an_alias_bomb_is_refused_before_it_is_expanded() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for n in range(1, 12):  # 10**12 values once expanded
        refs = ", ".join([f"*a{n - 1}"] * 10)
        lines.append(f"a{n}: &a{n} [{refs}]")
    started = time.perf_counter()
    with pytest.raises(SpecError) as error:
        parse("\n".join(lines) + "\n")
    assert time.perf_counter() - started < 2
    [problem] = error.value.diagnostics
    assert problem.code == "yaml.too-many-values"
    assert problem.position.path == "a5"  # 1,111,111 values: the first too many


def test_an_alias_to_its_own_anchor_is_refused() -> None:
    with pytest.raises(SpecError) as error:
        parse("a: &x {b: *x}\n")
    [problem] = error.value.diagnostics
    assert problem.code == "yaml.recursive-alias"
    assert (problem.position.line, problem.position.column) == (1, 11)


def test_nesting_is_bounded_in_the_text() -> None:
    with pytest.raises(SpecError) as error:
        parse("a: " + "[" * 5000 + "]" * 5000 + "\n")
    assert codes(error) == ["yaml.too-deep"]


def test_nesting_is_bounded_through_aliases() -> None:
    deep = "[" * 40 + "]" * 40
    text = f"a: &a {deep}\nb: &b {'[' * 30}*a{']' * 30}\n"
    with pytest.raises(SpecError) as error:
        parse(text)
    [problem] = error.value.diagnostics
    assert problem.code == "yaml.too-deep"
    assert (problem.position.line, problem.position.column) == (2, 37)


@pytest.mark.parametrize(
    "value",
    [
        "!!python/object/apply:os.system ['true']",
        "!!binary aGVsbG8=",
        "!!timestamp 2026-12-10",
        "!!set {a, b}",
        "!custom x",
    ],
)
def test_tags_beyond_plain_values_are_refused(value: str) -> None:
    [problem] = parse(f"a: {value}\n").problems
    assert problem.code == "yaml.tag"
    assert (problem.position.line, problem.position.column) == (1, 4)


@pytest.mark.parametrize("value", ["!!int four", "!!bool yes", "!!null 0"])
def test_an_explicit_type_tag_must_fit_its_value(value: str) -> None:
    document = parse(f"a: {value}\n")
    assert [p.code for p in document.problems] == ["yaml.tag"]
    assert document.data["a"] is None


def test_a_merge_key_is_refused() -> None:
    document = parse("a: &x {b: 1}\nc:\n  <<: *x\n  d: 2\n")
    [problem] = document.problems
    assert problem.code == "yaml.merge-key"
    assert (problem.position.line, problem.position.column) == (3, 3)
    assert document.data["c"] == {"d": 2}


def test_a_complex_key_is_refused() -> None:
    [problem] = parse("? [a, b]\n: 1\n").problems
    assert problem.code == "yaml.complex-key"


def test_a_number_too_long_to_mean_anything_is_refused_without_a_crash() -> None:
    document = parse(f"seed: {'9' * 5000}\n")
    [problem] = document.problems
    assert problem.code == "yaml.number-too-long"
    assert "5,000 digits" in problem.message


@pytest.mark.parametrize(
    ("text", "code", "line", "column"),
    [
        ("a: [1, 2\n", "yaml.syntax", 2, 1),
        ("a:\n\t- b\n", "yaml.syntax", 2, 1),
        ("a: b: c\n", "yaml.syntax", 1, 5),
        ("a: *nowhere\n", "yaml.undefined-alias", 1, 4),
        ("a: &x 1\nb: &x 2\n", "yaml.duplicate-anchor", 2, 4),
        ("a: 1\n---\nb: 2\n", "yaml.multiple-documents", 2, 1),
        ("a: x\x07y\n", "yaml.control-character", 1, 5),
        ("a: '\x00'\n", "yaml.control-character", 1, 5),
    ],
)
def test_a_yaml_error_has_a_position(
    text: str, code: str, line: int, column: int
) -> None:
    with pytest.raises(SpecError) as error:
        parse(text)
    [problem] = error.value.diagnostics
    assert (problem.code, problem.position.line, problem.position.column) == (
        code,
        line,
        column,
    )
    assert problem.position.file == "spec.yaml"


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_an_empty_spec_is_refused(text: str) -> None:
    with pytest.raises(SpecError) as error:
        parse(text)
    assert codes(error) == ["spec.empty"]


@pytest.mark.parametrize("text", ["- a\n", "just text\n", "12\n"])
def test_a_spec_must_be_a_mapping(text: str) -> None:
    with pytest.raises(SpecError) as error:
        parse(text)
    assert codes(error) == ["spec.not-mapping"]


# Reading files


def test_a_file_that_is_not_utf8_is_refused_at_the_byte(tmp_path: Path) -> None:
    spec = tmp_path / "latin1.yaml"
    spec.write_bytes("version: 1\ndescription: Café\n".encode("latin-1"))
    with pytest.raises(SpecError) as error:
        load.read_spec_file(spec)
    [problem] = error.value.diagnostics
    assert problem.code == "yaml.encoding"
    assert (problem.position.line, problem.position.column) == (2, 17)


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as error:
        load.read_spec_file(tmp_path / "nope.yaml")
    assert error.value.exit_code == EXIT_USAGE
    assert error.value.diagnostics[0].code == "usage.spec-not-found"


def test_a_folder_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as error:
        load.read_spec_file(tmp_path)
    assert error.value.diagnostics[0].code == "usage.spec-unreadable"


def test_a_file_too_large_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(load, "MAX_SPEC_BYTES", 10)
    spec = tmp_path / "big.yaml"
    spec.write_text(VALID)
    with pytest.raises(SpecError) as error:
        load.read_spec_file(spec)
    assert error.value.diagnostics[0].code == "spec.too-large"


# Checking: every problem once, in file order


def test_a_valid_spec_passes() -> None:
    loaded = check_document(parse(VALID))
    assert loaded.spec.orders[0].count == 4
    assert loaded.digest.startswith("sha256:")


def test_reader_problems_and_schema_problems_are_reported_together() -> None:
    text = VALID.replace("customers: all", "customers: !!set {a}").replace(
        "count: 4", "count: 0"
    )
    # The refused tag is not also reported as missing customers.
    assert refused(text) == [("spec.too-small", 4, 12), ("yaml.tag", 6, 16)]


def test_a_merge_key_is_not_also_reported_as_the_keys_it_lacks() -> None:
    text = VALID + "  - <<: {count: 1}\n    name: more\n"
    assert refused(text) == [("yaml.merge-key", 7, 5)]


def test_a_duplicate_key_is_not_also_reported_for_its_value() -> None:
    text = VALID.replace("count: 4", "count: 0\n    count: 4")
    assert refused(text) == [("yaml.duplicate-key", 5, 5)]


def test_a_misspelt_key_is_one_problem_not_two() -> None:
    text = VALID.replace("count: 4", "cuont: 4")
    assert refused(text) == [("spec.unknown-key", 4, 5)]


def test_a_suggestion_prefers_a_key_the_mapping_lacks() -> None:
    text = VALID.replace("count: 4", "count: 4\n    statsu: packed")
    with pytest.raises(SpecError) as error:
        check_document(parse(text))
    [problem] = error.value.diagnostics
    assert problem.hint == "did you mean `status`?"


def test_a_quantity_of_zero_is_one_problem() -> None:
    text = VALID.replace("{sku: TSHIRT-RED-M}", "{sku: TSHIRT-RED-M, quantity: 0}")
    assert refused(text) == [("spec.too-small", 5, 43)]


def test_problems_come_in_file_order() -> None:
    text = VALID.replace("count: 4", "count: 0").replace("version: 1", "version: 3")
    text += "  - name: tees\n    count: 1\n    lines: [{sku: A}]\n    customers: all\n"
    assert refused(text) == [
        ("spec.unsupported-version", 1, 10),
        ("spec.too-small", 4, 12),
    ]
    text = text.replace("version: 3", "version: 1").replace("count: 0", "count: 2")
    assert refused(text) == [("spec.duplicate-name", 7, 11)]


# Any text at all


_YAML_BITS = st.sampled_from(
    [*" \n\t:-[]{},&*!|>'\"#%@`?~.0123456789ax", "<<", "---", "!!int ", "yes", "1:2"]
)


@settings(max_examples=300, deadline=None, database=None)
@given(
    st.lists(st.one_of(_YAML_BITS, st.sampled_from(VALID.splitlines(keepends=True))))
)
def test_any_text_is_a_spec_or_positioned_problems(bits: list[str]) -> None:
    try:
        check_document(parse("".join(bits)))
    except SpecError as error:
        for problem in error.diagnostics:
            assert problem.position.line is not None
            assert problem.position.column is not None
