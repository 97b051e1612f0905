"""Every error seedcompile reports to its users, under one base.

    SeedcompileError            exit code 1 unless said otherwise
    ├── SpecError               the spec is wrong on its own (YAML, shape, values)
    ├── ReferenceDataError      the spec does not fit the reference data
    ├── UsageError              the command was called wrongly (exit 2)
    ├── DatabaseError           the database could not be reached or failed (exit 3)
    └── InternalError           seedcompile broke one of its own rules: a bug

A user-facing error carries one or more `Diagnostic`s, each with the place in
the spec it is about (file, line, column, path) when there is one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from seedcompile.timing import StageTiming

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_DATABASE = 3
EXIT_INTERNAL = 4


@dataclass(frozen=True, slots=True)
class SourcePosition:
    """A place in a spec file: 1-based line and column, and the spec path."""

    file: str | None = None
    line: int | None = None
    column: int | None = None
    path: str | None = None


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem, with where it is and how to fix it."""

    code: str
    message: str
    position: SourcePosition = SourcePosition()
    hint: str | None = None
    # The offending value, when a later step may add a suggestion for it
    subject: str | None = None

    def sort_key(self) -> tuple[str, int, int, str]:
        pos = self.position
        return (pos.file or "", pos.line or 0, pos.column or 0, self.code)


class SeedcompileError(Exception):
    """Base of every error that is reported to the user without a traceback."""

    exit_code = EXIT_INVALID

    def __init__(self, diagnostics: Diagnostic | Iterable[Diagnostic]) -> None:
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics: Sequence[Diagnostic] = sorted(
            diagnostics, key=Diagnostic.sort_key
        )
        # The stages a failed compile ran, the failing one last (if timed)
        self.timings: list[StageTiming] = []
        super().__init__(self.diagnostics[0].message if self.diagnostics else "")

    @classmethod
    def single(
        cls,
        code: str,
        message: str,
        *,
        position: SourcePosition | None = None,
        hint: str | None = None,
    ) -> SeedcompileError:
        return cls(Diagnostic(code, message, position or SourcePosition(), hint))


class SpecError(SeedcompileError):
    """The spec is wrong on its own: YAML syntax, shape or values."""


class ReferenceDataError(SeedcompileError):
    """The spec is well formed but does not fit the reference data."""


class UsageError(SeedcompileError):
    """The command line was used wrongly."""

    exit_code = EXIT_USAGE


class DatabaseError(SeedcompileError):
    """The database could not be reached, lacks the schema, or failed."""

    exit_code = EXIT_DATABASE


class InternalError(SeedcompileError):
    """seedcompile produced output that breaks its own rules: a bug to report."""

    exit_code = EXIT_INTERNAL
