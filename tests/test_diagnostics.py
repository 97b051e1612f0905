"""Broken specs through the real command line: every diagnostic, in every format.

`tests/diagnostics/` holds one small spec per kind of mistake. Its leading
comment lines say what the command must report:

    # <the mistake, in words>
    # command: validate            or `compile`, against the demo SQLite database
    # db: URL                      compile against this database instead
    # exit: N                      the exit code; 1 when not given
    # more: N                      the report is capped: the expect lines are the
                                   first of 50 shown, and N more are counted
    # xfail: REASON                a known gap: the case must fail (strict)
    # expect: CODE LINE:COL PATH "words" ... [hint "words" ... | hint none]

`LINE:COL` and `PATH` are `-` for an error that has none. Each quoted
fragment must appear in the message (after `hint`, in the hint); `hint none`
says there is no hint, and leaving `hint` out checks nothing about it. Line
numbers count the comment lines. Without `more`, the expect lines are every
diagnostic of the run, in order.

Each case runs once per format (`human`, `json`, `github`); a compile case
also checks that no output file, and no temporary file, is left behind, and
that an existing output file keeps its bytes.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from seedcompile.errors import Diagnostic, SourcePosition
from seedcompile.report import MAX_SHOWN, as_github, as_json, shown_line

CORPUS = Path(__file__).parent / "diagnostics"
FORMATS = ("human", "json", "github")
PASSWORD = "secretpw"
UNREACHABLE_DB = f"postgresql://u:{PASSWORD}@127.0.0.1:1/x"
OLD_OUTPUT = b'{"previous": "fixture"}\n'

_HUMAN_HEADER = re.compile(r"^(?P<where>\S+): error \[(?P<code>[^\]]+)\] (?P<msg>.*)$")
_GITHUB_LINE = re.compile(r"^::error (?P<props>[^:]*)::(?P<text>.*)$")


# The corpus


@dataclass(frozen=True)
class Expected:
    """One diagnostic a case must produce."""

    code: str
    line: int | None
    column: int | None
    path: str | None
    words: tuple[str, ...]
    hint_words: tuple[str, ...]
    no_hint: bool


@dataclass(frozen=True)
class Case:
    """One file of the corpus and what it must produce."""

    file: Path
    command: str
    expected: tuple[Expected, ...]
    db: str | None = None
    exit_code: int = 1
    more: int = 0
    xfail: str | None = None

    @property
    def name(self) -> str:
        return self.file.name

    def source_lines(self) -> list[str] | None:
        try:
            return self.file.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            return None


def parse_expect(text: str) -> Expected:
    """`CODE LINE:COL PATH "words"... [hint "words"... | hint none]`."""
    code, where, path, *rest = shlex.split(text)
    line = column = None
    if where != "-":
        line_text, column_text = where.split(":")
        line, column = int(line_text), int(column_text)
    words, hint_words, no_hint = rest, [], False
    if "hint" in rest:
        at = rest.index("hint")
        words, hint_words = rest[:at], rest[at + 1 :]
        no_hint = hint_words == ["none"]
        if no_hint:
            hint_words = []
    return Expected(
        code=code,
        line=line,
        column=column,
        path=None if path == "-" else path,
        words=tuple(words),
        hint_words=tuple(hint_words),
        no_hint=no_hint,
    )


def read_case(file: Path) -> Case:
    headers: dict[str, str] = {}
    expected = []
    for raw in file.read_bytes().split(b"\n"):
        if not raw.startswith(b"#"):
            break
        key, _, value = raw.decode("utf-8").lstrip("# ").partition(":")
        if key == "expect":
            expected.append(parse_expect(value.strip()))
        elif key in ("command", "db", "exit", "more", "xfail"):
            headers[key] = value.strip()
    assert headers.get("command") in ("validate", "compile"), file.name
    assert expected, f"{file.name} has no `# expect:` line"
    return Case(
        file=file,
        command=headers["command"],
        expected=tuple(expected),
        db=headers.get("db"),
        exit_code=int(headers.get("exit", "1")),
        more=int(headers.get("more", "0")),
        xfail=headers.get("xfail"),
    )


CASES = [read_case(file) for file in sorted(CORPUS.glob("*.yaml"))]


def case_params() -> Sequence[object]:
    params = []
    for case in CASES:
        marks = (
            [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
        )
        for fmt in FORMATS:
            params.append(
                pytest.param(case, fmt, id=f"{case.file.stem}-{fmt}", marks=marks)
            )
    return params


# Running the command line


def cli_env() -> dict[str, str]:
    """The environment of a user's pipe: no colour forced, no database set."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "FORCE_COLOR", "NO_COLOR", "COLUMNS")
    }
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def seedcompile(
    *args: str, cwd: Path = CORPUS, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "seedcompile", *args],
        cwd=cwd,
        capture_output=True,
        encoding="utf-8",
        env=cli_env(),
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The demo reference data in SQLite, built once through the command line."""
    url = f"sqlite:///{tmp_path_factory.mktemp('diagnostics') / 'demo.db'}"
    done = seedcompile("refdata", "init", "--db", url)
    assert done.returncode == 0, done.stderr
    return url


def run_case(
    case: Case, fmt: str, *, demo_db: str, output: Path
) -> subprocess.CompletedProcess[str]:
    args = [case.command, case.name, "--error-format", fmt]
    if case.command == "compile":
        args += ["--db", case.db or demo_db, "-o", str(output)]
    return seedcompile(*args)


# What a run printed, read back per format


@dataclass(frozen=True)
class Reported:
    """One diagnostic as a format printed it."""

    where: str  # `file:line:col`, as far as known
    code: str
    message: str
    hint: str | None
    path: str | None = None
    snippet: tuple[str, ...] = ()


def where_text(file: str | None, line: int | None, column: int | None) -> str:
    if file is None:
        return "seedcompile"
    return ":".join(str(part) for part in (file, line, column) if part is not None)


def read_human(stderr: str) -> tuple[list[Reported], list[str]]:
    """The diagnostics of human output, and the lines that are not part of one."""
    reported: list[Reported] = []
    other: list[str] = []
    lines = stderr.splitlines()
    i = 0
    while i < len(lines):
        header = _HUMAN_HEADER.match(lines[i])
        if header is None:
            other.append(lines[i])
            i += 1
            continue
        i += 1
        snippet: list[str] = []
        while i < len(lines) and re.match(r"^  [ 0-9]+ \| ", lines[i]):
            snippet.append(lines[i])
            i += 1
        hint = None
        if i < len(lines) and lines[i].startswith("  hint: "):
            hint = lines[i].removeprefix("  hint: ")
            i += 1
        reported.append(
            Reported(
                header["where"],
                header["code"],
                header["msg"],
                hint,
                None,
                tuple(snippet),
            )
        )
    return reported, other


def read_json(stderr: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stderr.splitlines() if line.strip()]


def read_github(stdout: str) -> list[tuple[dict[str, str], str]]:
    found = []
    for line in stdout.splitlines():
        match = _GITHUB_LINE.match(line)
        assert match is not None, f"not a workflow command: {line!r}"
        props = dict(prop.split("=", 1) for prop in match["props"].split(",") if prop)
        found.append((props, match["text"]))
    return found


# Checks


def check_words(text: str | None, words: Sequence[str], what: str) -> None:
    if words:
        assert text is not None, f"no {what}"
    for word in words:
        assert word in (text or ""), f"{what} lacks {word!r}: {text!r}"


def check_hint(hint: str | None, expected: Expected) -> None:
    if expected.no_hint:
        assert hint is None, f"expected no hint, got {hint!r}"
    check_words(hint, expected.hint_words, "hint")


def check_count(case: Case, shown: int) -> None:
    if case.more:
        assert shown == MAX_SHOWN
    else:
        assert shown == len(case.expected)


def check_human(case: Case, stderr: str) -> None:
    reported, other = read_human(stderr)
    check_count(case, len(reported))
    source = case.source_lines()
    for got, expected in zip(reported, case.expected, strict=False):
        file = case.name if expected.line is not None else None
        if expected.code.startswith("database."):
            file = None
        assert got.where == where_text(file, expected.line, expected.column)
        assert got.code == expected.code
        check_words(got.message, expected.words, "message")
        check_hint(got.hint, expected)
        if expected.line is not None and expected.column is not None and source:
            gutter = str(expected.line)
            text = shown_line(source[expected.line - 1])
            caret = " " * (expected.column - 1) + "^"
            assert got.snippet == (
                f"  {gutter} | {text}".rstrip(),
                f"  {' ' * len(gutter)} | {caret}",
            )
    if case.more:
        assert f"… and {case.more} more errors not shown" in stderr
    assert "\x1b[" not in stderr, "colour codes in a pipe"
    for line in other:
        assert not line.startswith(("  hint:", "error")), f"stray line {line!r}"


def check_json(case: Case, stderr: str) -> None:
    objects = read_json(stderr)
    if case.more:
        *objects, summary = objects
        assert summary["code"] == "more"
        assert summary["count"] == case.more
        assert summary["message"] == f"and {case.more} more errors not shown"
    check_count(case, len(objects))
    for got, expected in zip(objects, case.expected, strict=False):
        assert set(got) == {"file", "line", "column", "path", "code", "message", "hint"}
        file = case.name if not expected.code.startswith("database.") else None
        assert (got["file"], got["line"], got["column"]) == (
            file,
            expected.line,
            expected.column,
        )
        assert got["path"] == expected.path
        assert got["code"] == expected.code
        message, hint = got["message"], got["hint"]
        assert isinstance(message, str)
        assert hint is None or isinstance(hint, str)
        check_words(message, expected.words, "message")
        check_hint(hint, expected)


def check_github(case: Case, stdout: str) -> None:
    commands = read_github(stdout)
    if case.more:
        *commands, (props, text) = commands
        assert props == {"title": "more"}
        assert f"and {case.more} more errors not shown" in text
    check_count(case, len(commands))
    for (props, text), expected in zip(commands, case.expected, strict=False):
        want = {"title": expected.code}
        if not expected.code.startswith("database."):
            want["file"] = case.name
        if expected.line is not None:
            want |= {"line": str(expected.line), "col": str(expected.column)}
        assert props == want
        message, _, hint = text.partition(" (hint: ")
        check_words(message, expected.words, "message")
        check_hint(hint.removesuffix(")") if hint else None, expected)


def check_outputs(folder: Path, output: Path, *, existed: bool) -> None:
    """No fixture from a failed compile, no temporary file; an old one kept."""
    if existed:
        assert output.read_bytes() == OLD_OUTPUT
        assert sorted(p.name for p in folder.iterdir()) == [output.name]
    else:
        assert list(folder.iterdir()) == []


# The corpus, case by case


def test_the_corpus_covers_enough_mistakes() -> None:
    assert len(CASES) >= 30
    assert sum(case.command == "compile" for case in CASES) >= 10


@pytest.mark.parametrize(("case", "fmt"), case_params())
def test_case_gives_its_diagnostics(
    case: Case, fmt: str, demo_db: str, tmp_path: Path
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    output = folder / "fixture.json"
    # One format runs without an output file, the others over an old one.
    existed = case.command == "compile" and fmt != "human"
    if existed:
        output.write_bytes(OLD_OUTPUT)

    done = run_case(case, fmt, demo_db=demo_db, output=output)

    everything = done.stdout + done.stderr
    assert "Traceback" not in everything
    assert PASSWORD not in everything
    assert done.returncode == case.exit_code, everything
    if fmt == "human":
        check_human(case, done.stderr)
    elif fmt == "json":
        check_json(case, done.stderr)
    else:
        check_github(case, done.stdout)
    if case.command == "compile":
        check_outputs(folder, output, existed=existed)


# Exit codes and the command line around the corpus


def test_a_missing_spec_file_is_a_usage_error(demo_db: str, tmp_path: Path) -> None:
    for args in (
        ["validate", "no-such-spec.yaml"],
        ["compile", "no-such-spec.yaml", "--db", demo_db, "-o", str(tmp_path / "o")],
    ):
        done = seedcompile(*args, "--error-format", "json")
        assert done.returncode == 2
        [error] = read_json(done.stderr)
        assert error["code"] == "usage.spec-not-found"
        assert error["file"] == "no-such-spec.yaml"
        assert "does not exist" in str(error["message"])
    assert not (tmp_path / "o").exists()


def test_a_folder_given_to_validate_is_a_usage_error() -> None:
    done = seedcompile("validate", ".", "--error-format", "json")
    assert done.returncode == 2
    [error] = read_json(done.stderr)
    assert error["code"] == "usage.spec-unreadable"


def test_validate_reports_every_file_and_exits_with_the_worst_code() -> None:
    done = seedcompile(
        "validate", "count-zero.yaml", "missing.yaml", "wrong-version.yaml"
    )
    assert done.returncode == 2
    reported, _ = read_human(done.stderr)
    assert [r.code for r in reported] == [
        "spec.too-small",
        "usage.spec-not-found",
        "spec.unsupported-version",
    ]


@pytest.mark.parametrize(
    "args",
    [
        pytest.param([], id="no-command"),
        pytest.param(["compile"], id="no-spec"),
        pytest.param(["validate", "a.yaml", "--error-format", "xml"], id="bad-format"),
        pytest.param(["validate", "a.yaml", "--no-such-option"], id="bad-option"),
        pytest.param(["no-such-command"], id="bad-command"),
    ],
)
def test_wrong_usage_exits_2_without_a_traceback(args: list[str]) -> None:
    done = seedcompile(*args)
    assert done.returncode == 2
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback(where: str) -> None:
    args = ["validate", "count-zero.yaml"]
    args = ["--debug", *args] if where == "before" else [*args, "--debug"]
    done = seedcompile(*args)
    assert done.returncode == 1
    assert "Traceback" in done.stderr
    assert "[spec.too-small]" in done.stderr


def test_debug_traceback_of_a_database_error_hides_the_password(
    tmp_path: Path,
) -> None:
    spec = CORPUS / "database-unreachable.yaml"
    done = seedcompile(
        "compile", str(spec), "--db", UNREACHABLE_DB, "--debug", cwd=tmp_path
    )
    assert done.returncode == 3
    assert "Traceback" in done.stderr
    assert PASSWORD not in done.stdout + done.stderr


def test_a_valid_spec_validates_with_exit_0(tmp_path: Path) -> None:
    spec = tmp_path / "ok.yaml"
    spec.write_text(
        "version: 1\norders:\n  - name: tees\n    count: 4\n"
        "    lines: [{sku: TSHIRT-RED-M}]\n    customers: all\n"
    )
    done = seedcompile("validate", str(spec), "--error-format", "json")
    assert done.returncode == 0
    assert done.stderr == ""  # JSON mode: nothing on stderr but JSON


# The formats on their own


def test_github_annotations_escape_what_would_break_them() -> None:
    diagnostic = Diagnostic(
        "spec.x",
        "50% of a\nmessage",
        SourcePosition("dir,1/a:b.yaml", 3, 4, "orders[0]"),
        "a hint",
    )
    assert as_github(diagnostic) == (
        "::error file=dir%2C1/a%3Ab.yaml,line=3,col=4,title=spec.x"
        "::50%25 of a%0Amessage (hint: a hint)"
    )


def test_json_has_the_same_fields_with_or_without_a_position() -> None:
    assert as_json(Diagnostic("database.failed", "it failed")) == {
        "file": None,
        "line": None,
        "column": None,
        "path": None,
        "code": "database.failed",
        "message": "it failed",
        "hint": None,
    }
