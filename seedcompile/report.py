"""Showing diagnostics to people and to machines.

Three formats: `human` (rich on a terminal, plain in a pipe, with the
offending line and a caret), `json` (one JSON object per line) and `github`
(workflow commands, so errors show on the pull request's lines).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.markup import escape

from seedcompile.errors import Diagnostic

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# More than this many problems are summarised as "and N more".
MAX_SHOWN = 50


class ErrorFormat(StrEnum):
    human = "human"
    json = "json"
    github = "github"


def report(
    diagnostics: Sequence[Diagnostic],
    *,
    fmt: ErrorFormat,
    console: Console,
    stdout: TextIO,
) -> None:
    """Print every diagnostic (up to `MAX_SHOWN`) in the chosen format.

    Human and JSON output go to the console (stderr), so that they never mix
    with a SeedConfig written to stdout; GitHub workflow commands go to
    stdout, where the runner reads them.
    """
    shown = diagnostics[:MAX_SHOWN]
    hidden = len(diagnostics) - len(shown)
    more = f"and {hidden} more error{'s' if hidden != 1 else ''} not shown"
    if fmt is ErrorFormat.json:
        for diagnostic in shown:
            console.file.write(json.dumps(as_json(diagnostic)) + "\n")
        if hidden:
            summary = Diagnostic("more", more, hint=_MORE_HINT)
            console.file.write(json.dumps(as_json(summary) | {"count": hidden}) + "\n")
        console.file.flush()
        return
    if fmt is ErrorFormat.github:
        for diagnostic in shown:
            stdout.write(as_github(diagnostic) + "\n")
        if hidden:
            stdout.write(f"::error title=more::{more} ({_MORE_HINT})\n")
        stdout.flush()
        return
    sources = _SourceCache()
    for diagnostic in shown:
        _print_human(diagnostic, console, sources)
    if hidden:
        console.print(
            f"[bold red]… {more}[/] ({_MORE_HINT})", highlight=False, emoji=False
        )


_MORE_HINT = "fix these and run again to see the rest"


def as_json(diagnostic: Diagnostic) -> dict[str, object]:
    pos = diagnostic.position
    return {
        "file": pos.file,
        "line": pos.line,
        "column": pos.column,
        "path": pos.path,
        "code": diagnostic.code,
        "message": diagnostic.message,
        "hint": diagnostic.hint,
    }


def as_github(diagnostic: Diagnostic) -> str:
    pos = diagnostic.position
    props = []
    if pos.file:
        props.append(f"file={_escape_property(pos.file)}")
    if pos.line:
        props.append(f"line={pos.line}")
    if pos.column:
        props.append(f"col={pos.column}")
    props.append(f"title={_escape_property(diagnostic.code)}")
    message = diagnostic.message
    if diagnostic.hint:
        message += f" (hint: {diagnostic.hint})"
    return f"::error {','.join(props)}::{_escape_data(message)}"


def location_text(diagnostic: Diagnostic) -> str:
    """`file:line:column` as far as it is known."""
    pos = diagnostic.position
    parts = [pos.file or "seedcompile"]
    if pos.line:
        parts.append(str(pos.line))
        if pos.column:
            parts.append(str(pos.column))
    return ":".join(parts)


def _print_human(
    diagnostic: Diagnostic, console: Console, sources: _SourceCache
) -> None:
    pos = diagnostic.position
    where = escape(location_text(diagnostic))
    console.print(
        f"[bold]{where}[/]: [bold red]error[/] [dim]\\[{diagnostic.code}][/] "
        f"{escape(diagnostic.message)}",
        highlight=False,
        emoji=False,
        soft_wrap=True,
    )
    line = sources.line(pos.file, pos.line) if pos.line else None
    if line is not None and pos.line:
        gutter = str(pos.line)
        console.print(
            f"  [dim]{gutter} |[/] {escape(line)}",
            highlight=False,
            emoji=False,
            soft_wrap=True,
        )
        caret = " " * ((pos.column or 1) - 1) + "^"
        console.print(
            f"  [dim]{' ' * len(gutter)} |[/] [bold red]{caret}[/]",
            highlight=False,
            emoji=False,
            soft_wrap=True,
        )
    if diagnostic.hint:
        console.print(
            f"  [cyan]hint:[/] {escape(diagnostic.hint)}",
            highlight=False,
            emoji=False,
            soft_wrap=True,
        )


class _SourceCache:
    """Lines of the spec files that diagnostics point into, read once each."""

    def __init__(self) -> None:
        self._files: dict[str, list[str] | None] = {}

    def line(self, file: str | None, number: int) -> str | None:
        if file is None:
            return None
        if file not in self._files:
            try:
                text = Path(file).read_text(encoding="utf-8-sig")
                self._files[file] = text.splitlines()
            except (OSError, UnicodeDecodeError):
                self._files[file] = None
        lines = self._files[file]
        if lines is None or not 1 <= number <= len(lines):
            return None
        return shown_line(lines[number - 1])


def shown_line(text: str) -> str:
    """A source line as the snippet shows it: one column per character.

    A tab becomes a space and a control character a replacement mark, so that
    the caret below still lines up.
    """
    return _CONTROL.sub("\ufffd", text.replace("\t", " "))


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
