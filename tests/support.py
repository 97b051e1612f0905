"""Helpers shared by the test modules: demo databases and one-call compiles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import sqlalchemy as sa

from seedcompile.checks import LoadedSpec, check_document, load_spec
from seedcompile.compiler import CompileResult, compile_spec
from seedcompile.database import DatabaseSettings, create_engine
from seedcompile.load import parse_yaml
from seedcompile.refdata import init_reference_data

REPO = Path(__file__).resolve().parent.parent
SPECS = REPO / "specs"


def build_demo(url: str, *, scale: int = 1) -> str:
    """Load the demo reference data into `url`; return the URL."""
    anyio.run(_init, url, scale)
    return url


async def _init(url: str, scale: int) -> None:
    await init_reference_data(DatabaseSettings(url=url), scale=scale, force=True)


def loaded_from_text(text: str, *, file: str = "spec.yaml") -> LoadedSpec:
    """A checked spec from YAML text."""
    return check_document(parse_yaml(text, file=file))


def compile_loaded(
    loaded: LoadedSpec, url: str, *, max_connections: int = 4
) -> tuple[CompileResult, int]:
    """Compile; return the result and the number of SELECT statements sent."""
    return anyio.run(_compile, loaded, url, max_connections)


async def _compile(
    loaded: LoadedSpec, url: str, max_connections: int
) -> tuple[CompileResult, int]:
    engine = create_engine(DatabaseSettings(url=url, max_connections=max_connections))
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    sa.event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        result = await compile_spec(loaded, engine, max_connections=max_connections)
    finally:
        await engine.dispose()
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    return result, len(reads)


def compile_text(text: str, url: str) -> dict[str, Any]:
    """Compile spec text against `url`; return the SeedConfig as data."""
    result, _ = compile_loaded(loaded_from_text(text), url)
    data: dict[str, Any] = json.loads(result.document)
    return data


def compile_file(name: str, url: str) -> CompileResult:
    """Compile one of the example specs in specs/."""
    result, _ = compile_loaded(load_spec(SPECS / name), url)
    return result
