"""Composing a spec: `extends` chains and command-line `--set` overrides.

A spec may start from another: `extends: base.yaml`, a path relative to the
spec, itself allowed to extend another. The merge rule is the simplest that
reads predictably: **mappings merge key by key, the extending spec winning;
anything else (a list, a number, text) is replaced whole**. So a spec that
extends a base and gives `orders:` replaces the base's order groups, while
one that gives `templates: {tee: ...}` adds or replaces just that template.

Every value keeps the file and line it came from, so an error in a base
points at the base. A chain may not loop, and may not leave the repository
(the nearest folder above the spec that holds `.git`, else the spec's own
folder).

`--set PATH=VALUE` then changes one value, for a one-off run: the path is
written as errors print it (`orders[0].count`), the value is YAML.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seedcompile.errors import SpecError, UsageError
from seedcompile.load import (
    Document,
    SourceMap,
    Span,
    SpecPath,
    parse_yaml,
    read_spec_file,
)

EXTENDS = "extends"
_PATH_PART = re.compile(r"\.?([A-Za-z_][\w-]*)|\[(\d+)\]")


def read_composed(
    path: Path, *, display_name: str | None = None, overrides: Sequence[str] = ()
) -> Document:
    """Read a spec, follow its `extends` chain and apply `--set` overrides."""
    name = display_name or str(path)
    root = _repository_root(path)
    document = _read_chain(path, name, root, [])
    for override in overrides:
        document = _apply_override(document, override)
    return document


def _repository_root(path: Path) -> Path:
    start = path.resolve().parent
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return start


def _read_chain(path: Path, name: str, root: Path, chain: list[Path]) -> Document:
    document = read_spec_file(path, display_name=name)
    target = document.data.get(EXTENDS)
    if target is None:
        return document
    where = document.source.position((EXTENDS,))
    if not isinstance(target, str) or not target.strip():
        raise SpecError.single(
            "spec.extends",
            "`extends` takes the path of another spec file, relative to this one",
            position=where,
        )
    base_path = path.parent / target
    resolved = base_path.resolve()
    here = path.resolve()
    if not resolved.is_relative_to(root):
        raise SpecError.single(
            "spec.extends-outside",
            f"`extends: {target}` leaves the repository ({root})",
            position=where,
            hint="extend a spec inside the repository",
        )
    if resolved in (*chain, here):
        loop = " -> ".join(p.name for p in (*chain, here, resolved))
        raise SpecError.single(
            "spec.extends-cycle",
            f"`extends` loops back on itself: {loop}",
            position=where,
            hint="remove one `extends` of the loop",
        )
    if not resolved.is_file():
        raise SpecError.single(
            "spec.extends-missing",
            f"`extends: {target}`: no such file",
            position=where,
        )
    base_name = os.path.normpath(os.path.join(os.path.dirname(name), target))
    base = _read_chain(base_path, base_name, root, [*chain, here])
    return _merge_documents(base, document)


def _merge_documents(base: Document, child: Document) -> Document:
    data = _merge(base.data, child.data)
    data.pop(EXTENDS, None)
    replaced = {
        p for p in child.source.spans if not isinstance(_at(child.data, p), dict)
    }
    spans: dict[SpecPath, Span] = {}
    for p, span in base.source.spans.items():
        if p and p[0] == EXTENDS:
            continue
        if not any(p[:n] in replaced for n in range(1, len(p) + 1)):
            spans[p] = dataclasses.replace(span, file=span.file or base.source.file)
    for p, span in child.source.spans.items():
        if not (p and p[0] == EXTENDS):
            spans[p] = span
    return Document(
        data=data,
        source=SourceMap(child.source.file, spans),
        # The digest covers every file of the chain: a changed base makes
        # the fixture stale.
        text=child.text + "\x00" + base.text,
        problems=base.problems + child.problems,
        tainted=base.tainted | child.tainted,
        incomplete=base.incomplete | child.incomplete,
    )


def _merge(base: Any, child: Any) -> Any:
    if isinstance(base, dict) and isinstance(child, dict):
        merged = dict(base)
        for key, value in child.items():
            merged[key] = _merge(base[key], value) if key in base else value
        return merged
    return child


def _at(data: Any, path: SpecPath) -> Any:
    for part in path:
        data = data[part]
    return data


def _apply_override(document: Document, override: str) -> Document:
    where, sep, value_text = override.partition("=")
    if not sep or not where.strip():
        raise UsageError.single(
            "usage.set",
            f"--set takes PATH=VALUE, such as orders[0].count=50, not {override!r}",
        )
    path = parse_path(where.strip())
    origin = f"--set {override}"
    value = parse_yaml(f"value: {value_text}\n", file=origin).data.get("value")
    data = _assign(document.data, path, value, override)
    spans = {
        p: span for p, span in document.source.spans.items() if p[: len(path)] != path
    }
    spans[path] = Span(1, len(where) + 2, file=origin)
    return dataclasses.replace(
        document,
        data=data,
        source=SourceMap(document.source.file, spans),
        text=document.text + "\x00" + override,
    )


def parse_path(text: str) -> SpecPath:
    """`orders[0].count` as ("orders", 0, "count")."""
    parts: list[str | int] = []
    position = 0
    while position < len(text):
        match = _PATH_PART.match(text, position)
        if match is None or (position == 0 and text.startswith(".")):
            raise UsageError.single(
                "usage.set",
                f"--set: {text!r} is not a spec path",
                hint="write paths as errors print them: orders[0].count",
            )
        key, index = match.groups()
        parts.append(key if key is not None else int(index))
        position = match.end()
    return tuple(parts)


def _assign(data: Any, path: SpecPath, value: Any, override: str) -> dict[str, Any]:
    root: dict[str, Any] = _copy(data)
    node: Any = root
    for depth, part in enumerate(path):
        last = depth == len(path) - 1
        if isinstance(node, dict):
            key: Any = part
            if isinstance(part, int) and part not in node and str(part) in node:
                key = str(part)
            if last:
                node[key] = value
            else:
                node = node.setdefault(key, {})
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            if last:
                node[part] = value
            else:
                node = node[part]
        else:
            raise UsageError.single(
                "usage.set",
                f"--set {override}: the spec has nothing at "
                f"{''.join(_show(p) for p in path[: depth + 1]).lstrip('.')}",
            )
    return root


def _show(part: str | int) -> str:
    return f"[{part}]" if isinstance(part, int) else f".{part}"


def _copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_copy(v) for v in data]
    return data
