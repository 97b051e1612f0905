"""Translate pydantic's validation errors into diagnostics that point at the spec.

pydantic reports a location as a tuple of field names and indices, mixed with
the names of validators and union members. Walking that tuple through the
parsed data gives the spec path, and the source map gives its line and column.

pydantic's error types are its own vocabulary; each is given a code of ours
(`spec.expected-integer`, not `int_type`), so that the codes users see and
match on stay the same when pydantic changes.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from seedcompile.errors import Diagnostic
from seedcompile.load import SourceMap, SpecPath, format_path

_LEADING_ZERO = re.compile(r"[-+]?0[0-9_]+")
_BASE_60 = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+")
# What YAML 1.1 reads as a boolean, and a spec reads as text.
_BOOL_WORDS = {
    word: meaning
    for words, meaning in (
        (("yes", "y", "on"), True),
        (("no", "n", "off"), False),
    )
    for spelled in words
    for word in (spelled, spelled.capitalize(), spelled.upper())
}

# Our code for each pydantic error type that a spec can cause.
_CODES = {
    "int_type": "expected-integer",
    "int_parsing": "expected-integer",
    "int_from_float": "expected-integer",
    "string_type": "expected-text",
    "bool_type": "expected-boolean",
    "list_type": "expected-list",
    "tuple_type": "expected-list",
    "dict_type": "expected-mapping",
    "model_type": "expected-mapping",
    "model_attributes_type": "expected-mapping",
    "literal_error": "invalid-choice",
    "greater_than_equal": "too-small",
    "greater_than": "too-small",
    "less_than_equal": "too-large",
    "less_than": "too-large",
    "too_short": "empty",
    "string_too_short": "empty",
    "too_long": "too-long",
    "string_too_long": "too-long",
    "string_pattern_mismatch": "invalid-name",
    "date_type": "invalid-date",
    "date_parsing": "invalid-date",
    "date_from_datetime_parsing": "invalid-date",
    "date_form": "invalid-date",
    "carrier_form": "carrier-form",
    "customers_form": "customers-form",
    "allocation_form": "allocation-form",
    "quantity_form": "quantity-form",
    "quantity_range": "quantity-range",
}
# Errors about the shape of a list's items: the same one on several items of
# one list is one mistake (`explicit: [1, 2]` for `explicit: [[1, 2]]`).
_SHAPE_CODES = {"spec.expected-list", "spec.expected-mapping"}

# The words a rule of several forms accepts, to suggest from.
_FORM_WORDS: dict[str, tuple[str, ...]] = {
    "allocation_form": ("round_robin", "fill"),
    "customers_form": ("all",),
    "carrier_form": ("any",),
    "quantity_form": (),
}

_MISSING_HINTS = {
    "version": "start the spec with `version: 1`",
    "orders": "add `orders:`, a list of order groups",
    "count": "say how many, e.g. `count: 10`",
    "date": "give the prep date, e.g. `date: 2026-12-10`",
    "carrier": "say which carrier collects, e.g. `carrier: DHL` or `carrier: any`",
    "lines": "give at least one line, e.g. `lines: [{sku: TSHIRT-RED-M}]`",
}


def suggest(word: str, choices: Iterable[str]) -> str | None:
    """The choice closest to `word`, if one is close enough to be a likely typo."""
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


@dataclass(frozen=True, slots=True)
class _Found:
    """One pydantic error, followed through the data to its spec path."""

    detail: ErrorDetails
    path: SpecPath
    unmatched: tuple[Any, ...]

    @property
    def kind(self) -> str:
        return self.detail["type"]

    @property
    def is_key(self) -> bool:
        return "[key]" in self.unmatched

    @property
    def missing_key(self) -> str:
        return next((p for p in reversed(self.unmatched) if isinstance(p, str)), "?")


def diagnose_validation(
    error: ValidationError,
    *,
    data: Any,
    source: SourceMap,
    root: type[BaseModel],
    is_reported: Callable[[SpecPath], bool] | None = None,
) -> list[Diagnostic]:
    """One diagnostic per mistake, placed at the key or value it concerns.

    `is_reported` tells which paths hold a problem the YAML reader already
    reported; what pydantic says about them is left out.
    """
    found: list[_Found] = []
    seen: set[tuple[SpecPath, str]] = set()
    for detail in error.errors(include_url=False):
        path, unmatched = _data_path(detail["loc"], data)
        if is_reported is not None and is_reported(path):
            continue
        # A quantity of 0 fails as its range's min and its max: one message.
        # Missing keys differ only in the key they lack.
        missing = str(unmatched) if detail["type"] == "missing" else ""
        key = (path, detail["type"] + missing)
        if key in seen:
            continue
        seen.add(key)
        found.append(_Found(detail, path, tuple(unmatched)))

    typos = _typos(found, data)
    diagnostics = []
    for item in found:
        if item.kind == "missing" and (item.path, item.missing_key) in typos:
            continue  # reported as the unknown key that misspells it
        diagnostics.append(_diagnose(item, source, root, data))
    return _merge_siblings(diagnostics)


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


def _typos(found: list[_Found], data: Any) -> set[tuple[SpecPath, str]]:
    """(mapping, missing key) pairs where an unknown key of the mapping is a typo.

    `cout: 3` is one mistake: it is reported as the unknown key `cout` with the
    hint `count`, not also as a mapping that lacks `count`.
    """
    missing: dict[SpecPath, list[str]] = {}
    for item in found:
        if item.kind == "missing":
            missing.setdefault(item.path, []).append(item.missing_key)
    pairs = set()
    for item in found:
        if item.kind != "extra_forbidden" or not item.path:
            continue
        parent, name = item.path[:-1], str(item.path[-1])
        near = suggest(name, missing.get(parent, []))
        if near is not None:
            pairs.add((parent, near))
    return pairs


def _diagnose(
    item: _Found, source: SourceMap, root: type[BaseModel], data: Any
) -> Diagnostic:
    kind, path, detail = item.kind, item.path, item.detail
    where = format_path(path) or "the spec"

    if kind == "extra_forbidden":
        return _unknown_key(item, source, root, data)
    if kind == "missing":
        missing = item.missing_key
        return Diagnostic(
            "spec.missing-key",
            f"{where} lacks the required key `{missing}`",
            source.position(path, at_key=True),
            _MISSING_HINTS.get(missing),
        )
    if path == ("version",) and kind == "literal_error":
        return _wrong_version(detail.get("input"), source)

    message, hint = _describe(
        kind, detail["msg"], detail.get("input"), detail.get("ctx") or {}
    )
    code = "spec." + _CODES.get(kind, kind.replace("_", "-"))
    if item.is_key:
        parent = format_path(path[:-1]) or "the spec"
        return Diagnostic(
            code,
            f"{parent}: invalid key: {message}",
            source.position(path, at_key=True),
            hint,
        )
    return Diagnostic(code, f"{where}: {message}", source.position(path), hint)


def _unknown_key(
    item: _Found, source: SourceMap, root: type[BaseModel], data: Any
) -> Diagnostic:
    path = item.path
    name = str(path[-1]) if path else "?"
    allowed = _allowed_keys(item.detail["loc"][:-1], root)
    # Prefer a key the mapping does not have yet: `stauts` beside `status` is
    # more likely a second status than a typo of the first.
    present = _keys_at(data, path[:-1])
    near = suggest(name, [k for k in allowed if k not in present])
    near = near or suggest(name, allowed)
    hint = None
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


def _keys_at(data: Any, path: SpecPath) -> set[str]:
    node = data
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return set()
    return {str(key) for key in node} if isinstance(node, dict) else set()


def _wrong_version(value: Any, source: SourceMap) -> Diagnostic:
    if isinstance(value, int) and not isinstance(value, bool):
        message = f"spec version {value} is not supported; this seedcompile reads 1"
        hint = "write `version: 1`"
    else:
        message = f"version: expected the number 1, got {_show(value)}"
        hint = "write `version: 1`, without quotes"
    return Diagnostic(
        "spec.unsupported-version", message, source.position(("version",)), hint
    )


def _merge_siblings(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """Fold the same shape error on several items of one list into one."""
    groups: dict[tuple[str, str], list[Diagnostic]] = {}
    for diagnostic in diagnostics:
        path = diagnostic.position.path or ""
        parent, bracket, _ = path.rpartition("[")
        if diagnostic.code in _SHAPE_CODES and bracket and path.endswith("]"):
            groups.setdefault((parent, diagnostic.code), []).append(diagnostic)
    merged = []
    for diagnostic in diagnostics:
        path = diagnostic.position.path or ""
        group = groups.get((path.rpartition("[")[0], diagnostic.code), [])
        if len(group) < 2:
            merged.append(diagnostic)
        elif diagnostic is group[0]:
            more = len(group) - 1
            items = "item" if more == 1 else "items"
            message = f"{diagnostic.message} (and the same in {more} more {items})"
            merged.append(replace(diagnostic, message=message))
    return merged


def _describe(
    kind: str, msg: str, value: Any, ctx: dict[str, Any]
) -> tuple[str, str | None]:
    shown = _show(value)
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected a whole number, got {shown}", _number_hint(value)
    if kind == "string_type":
        hint = None
        if isinstance(value, bool):
            hint = f'quote it: "{str(value).lower()}"'
        elif isinstance(value, int | float):
            hint = f'quote it: "{value}"'
        return f"expected text, got {shown}", hint
    if kind == "string_pattern_mismatch":
        return (
            f"{shown} is not a valid name",
            "names use letters, digits, `-`, `_` and `.`, "
            "and start with a letter or digit",
        )
    if kind == "literal_error":
        return _describe_choice(value, ctx)
    if kind in ("greater_than_equal", "greater_than"):
        least = ctx.get("ge", ctx.get("gt"))
        return f"{shown} is too small: it must be at least {least}", None
    if kind in ("less_than_equal", "less_than"):
        limit = ctx.get("le", ctx.get("lt"))
        return (
            f"{shown} is above the limit of {limit:,}",
            "split it into several groups or specs",
        )
    if kind in ("too_short", "string_too_short"):
        return "must not be empty", None
    if kind in ("too_long", "string_too_long"):
        unit = "characters" if kind == "string_too_long" else "entries"
        return f"has more than {ctx.get('max_length'):,} {unit}", None
    if kind in ("list_type", "tuple_type"):
        return f"expected a list, got {shown}", None
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping, got {shown}", None
    if kind == "bool_type":
        return f"expected `true` or `false`, got {shown}", _bool_hint(value)
    if kind in ("date_type", "date_parsing", "date_from_datetime_parsing"):
        return f"expected a date written YYYY-MM-DD, got {shown}", None
    if kind in _FORM_WORDS:
        return _describe_form(kind, msg, value)
    return msg[0].lower() + msg[1:] if msg else kind, None


def _describe_form(kind: str, msg: str, value: Any) -> tuple[str, str | None]:
    """A rule that takes one of several forms was given none of them."""
    if msg.startswith("give exactly one"):
        return msg, None  # it names the keys it found
    if isinstance(value, dict):
        keys = ", ".join(f"`{key}`" for key in value) or "no keys"
        got = f"a mapping with {keys}"
    else:
        got = _show(value)
    near = suggest(value, _FORM_WORDS[kind]) if isinstance(value, str) else None
    hint = f"did you mean `{near}`?" if near else _number_hint(value)
    return f"{msg}; got {got}", hint


def _describe_choice(value: Any, ctx: dict[str, Any]) -> tuple[str, str | None]:
    choices = re.findall(r"'([^']*)'|\b(True|False|\d+)\b", str(ctx.get("expected")))
    names = [quoted or bare for quoted, bare in choices]
    if names == ["True"]:
        return f"expected `true`, got {_show(value)}", _bool_hint(value)
    listed = ", ".join(f"`{name}`" for name in names[:-1])
    listed = f"{listed} or `{names[-1]}`" if listed else f"`{names[-1]}`"
    near = suggest(value, names) if isinstance(value, str) else None
    return (
        f"expected {listed}, got {_show(value)}",
        f"did you mean `{near}`?" if near else None,
    )


def _number_hint(value: Any) -> str | None:
    """Why a value that looks like a number is not one in a spec."""
    if isinstance(value, float) and value.is_integer():
        return f"write {int(value)}"
    if not isinstance(value, str):
        return None
    text = value.strip()
    if _LEADING_ZERO.fullmatch(text):
        return (
            f"YAML 1.1 would read `{text}` as an octal number; "
            f"write {int(text.replace('_', ''))}"
        )
    if _BASE_60.fullmatch(text):
        return f"YAML 1.1 would read `{text}` as a base-60 number; write a whole number"
    if text in _BOOL_WORDS:
        return f"YAML 1.1 would read `{text}` as a boolean; write a whole number"
    if text.lstrip("+-").replace("_", "").isdigit():
        return f"remove the quotes: {text}"
    return None


def _bool_hint(value: Any) -> str | None:
    if isinstance(value, str) and value.strip() in _BOOL_WORDS:
        meant = "true" if _BOOL_WORDS[value.strip()] else "false"
        return f"a spec reads only `true` and `false` as booleans: write `{meant}`"
    return None


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
