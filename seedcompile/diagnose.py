"""Translate pydantic's validation errors into diagnostics that point at the spec.

pydantic reports a location as a tuple of field names and indices, mixed with
the names of validators and union members. Walking that tuple through the
parsed data gives the spec path, and the source map gives its line and column.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Iterable
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from seedcompile.errors import Diagnostic
from seedcompile.load import SourceMap, SpecPath, format_path

_LEADING_ZERO = re.compile(r"[-+]?0[0-9_]+")


def suggest(word: str, choices: Iterable[str]) -> str | None:
    """The choice closest to `word`, if one is close enough to be a likely typo."""
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def diagnose_validation(
    error: ValidationError, *, data: Any, source: SourceMap, root: type[BaseModel]
) -> list[Diagnostic]:
    """One diagnostic per pydantic error, placed at the key or value it concerns."""
    seen: set[tuple[SpecPath, str]] = set()
    diagnostics = []
    for detail in error.errors(include_url=False):
        path, rest = _data_path(detail["loc"], data)
        key = (path, detail["type"])
        if key in seen:
            continue  # one mistake, one message
        seen.add(key)
        diagnostics.append(_diagnose(detail, path, rest, source, root))
    return diagnostics


def _data_path(loc: tuple[int | str, ...], data: Any) -> tuple[SpecPath, list[Any]]:
    """Follow `loc` through the data; also return what did not match (a key)."""
    path: list[str | int] = []
    node = data
    unmatched: list[Any] = []
    for part in loc:
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and _int_key(part, node):
            path.append(int(part))
            node = node[int(part)]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            path.append(part)
            node = node[part]
        else:
            unmatched.append(part)
    return tuple(path), unmatched


def _int_key(part: str, node: dict[Any, Any]) -> bool:
    return part.lstrip("-").isdigit() and int(part) in node


def _diagnose(
    detail: ErrorDetails,
    path: SpecPath,
    unmatched: list[Any],
    source: SourceMap,
    root: type[BaseModel],
) -> Diagnostic:
    kind = detail["type"]
    value = detail.get("input")
    where = format_path(path) or "the spec"
    hint: str | None = None

    if kind == "extra_forbidden":
        name = str(path[-1]) if path else "?"
        allowed = _allowed_keys(detail["loc"][:-1], root)
        near = suggest(name, allowed)
        if near:
            hint = f"did you mean `{near}`?"
        elif allowed:
            hint = "allowed keys: " + ", ".join(f"`{k}`" for k in allowed)
        parent = format_path(path[:-1]) or "the spec"
        return Diagnostic(
            "spec.unknown-key",
            f"unknown key `{name}` in {parent}",
            source.position(path, at_key=True),
            hint,
        )
    if kind == "missing":
        missing = next((p for p in reversed(unmatched) if isinstance(p, str)), "?")
        return Diagnostic(
            "spec.missing-key",
            f"{where} lacks the required key `{missing}`",
            source.position(path, at_key=True),
        )

    message, hint = _describe(kind, detail["msg"], value, detail.get("ctx") or {})
    return Diagnostic(
        f"spec.{kind.replace('_', '-')}",
        f"{where}: {message}",
        source.position(path),
        hint,
    )


def _describe(
    kind: str, msg: str, value: Any, ctx: dict[str, Any]
) -> tuple[str, str | None]:
    shown = _show(value)
    if kind in ("int_type", "int_parsing", "int_from_float"):
        hint = None
        if isinstance(value, str) and _LEADING_ZERO.fullmatch(value):
            hint = f"a leading zero is ambiguous in YAML; write {int(value)}"
        elif isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            hint = f"remove the quotes: {value.strip()}"
        return f"expected a whole number, got {shown}", hint
    if kind in ("string_type",):
        hint = None
        if isinstance(value, bool | int | float):
            hint = (
                f'quote it: "{value}"'
                if not isinstance(value, bool)
                else ('quote it: "true"' if value else 'quote it: "false"')
            )
        return f"expected text, got {shown}", hint
    if kind == "string_pattern_mismatch":
        return (
            f"{shown} is not a valid name",
            "names use letters, digits, `-`, `_` and `.`, "
            "and start with a letter or digit",
        )
    if kind == "literal_error":
        expected = ctx.get("expected", "")
        choices = re.findall(r"'([^']*)'", str(expected))
        near = suggest(str(value), choices) if isinstance(value, str) else None
        return (
            f"expected {expected}, got {shown}",
            f"did you mean `{near}`?" if near else None,
        )
    if kind in ("greater_than_equal", "greater_than"):
        least = ctx.get("ge", ctx.get("gt"))
        return f"{shown} is too small: must be at least {least}", None
    if kind in ("less_than_equal", "less_than"):
        limit = ctx.get("le", ctx.get("lt"))
        return (
            f"{shown} is above the limit of {limit:,}",
            "split the group, or see the README's limits",
        )
    if kind == "too_short":
        return "must not be empty", None
    if kind == "too_long":
        return f"has more than {ctx.get('max_length')} entries", None
    if kind in ("list_type", "tuple_type"):
        return f"expected a list, got {shown}", None
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping, got {shown}", None
    if kind == "bool_type":
        return f"expected true or false, got {shown}", None
    if kind in ("date_type", "date_parsing", "date_from_datetime_parsing"):
        return f"expected a date written YYYY-MM-DD, got {shown}", None
    return msg[0].lower() + msg[1:] if msg else kind, None


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if value is None:
        return "nothing (null)"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _allowed_keys(loc: tuple[int | str, ...], root: type[BaseModel]) -> list[str]:
    """The field names of the model that validates the mapping at `loc`."""
    tp: Any = root
    for part in loc:
        tp = _strip(tp)
        origin = get_origin(tp)
        if origin in (list, tuple):
            tp = get_args(tp)[0]
        elif origin is dict:
            tp = get_args(tp)[1]
        elif isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(part))
            if field is not None:
                tp = field.annotation
    tp = _strip(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [name for name in tp.model_fields if name != "kind"]
    return []


def _strip(tp: Any) -> Any:
    """Remove `Annotated` and `| None` around a type."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            options = [arg for arg in get_args(tp) if arg is not type(None)]
            if len(options) != 1:
                return tp
            tp = options[0]
        else:
            return tp
