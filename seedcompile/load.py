"""Stage 1a: read a spec file as YAML, keeping the position of every value.

PyYAML's own loaders lose positions and carry YAML 1.1's traps: `no` and `on`
read as booleans, `012` as an octal number, `1:30` as a base-60 number, dates
as date objects, a repeated key silently replacing the first. This loader
composes the node tree with PyYAML and builds the Python values itself, by
YAML 1.2 core rules: only `true`/`false` are booleans, only plain decimal
(or `0x`) digits are integers, everything else stays the string it looks like.
Repeated keys, merge keys, custom tags and runaway aliases are refused with a
position.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from seedcompile.errors import Diagnostic, SourcePosition, SpecError

MAX_SPEC_BYTES = 10 * 1024 * 1024
# Aliases let a few lines of YAML expand to billions of values; no spec needs
# more values than this, aliases included.
MAX_VALUES = 1_000_000

SpecPath = tuple[str | int, ...]

_INT = re.compile(r"[-+]?(?:0|[1-9][0-9_]*)")
_HEX = re.compile(r"0x[0-9a-fA-F_]+")
_FLOAT = re.compile(
    r"[-+]?(?:(?:\.[0-9]+|(?:0|[1-9][0-9_]*)\.[0-9_]*)(?:[eE][-+]?[0-9]+)?"
    r"|(?:0|[1-9][0-9_]*)[eE][-+]?[0-9]+)"
)
_BOOL = {"true": True, "True": True, "TRUE": True}
_BOOL |= {"false": False, "False": False, "FALSE": False}
_NULL = {"", "~", "null", "Null", "NULL"}

_STR_TAG = "tag:yaml.org,2002:str"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MAP_TAG = "tag:yaml.org,2002:map"
_SAFE_TAGS = {
    _STR_TAG,
    _SEQ_TAG,
    _MAP_TAG,
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "!",
    "!plain",
}


@dataclass(frozen=True, slots=True)
class Span:
    """Where a value, and the key that holds it, stand in the file (1-based)."""

    line: int
    column: int
    key_line: int | None = None
    key_column: int | None = None


@dataclass(slots=True)
class SourceMap:
    """The position of every value of a document, by its path."""

    file: str
    spans: dict[SpecPath, Span] = field(default_factory=dict)

    def position(self, path: SpecPath, *, at_key: bool = False) -> SourcePosition:
        """The position of `path`, or of its nearest ancestor that has one."""
        probe = tuple(path)
        while probe not in self.spans and probe:
            probe = probe[:-1]
        span = self.spans.get(probe)
        text = format_path(path)
        if span is None:
            return SourcePosition(self.file, None, None, text)
        if at_key and probe == tuple(path) and span.key_line is not None:
            return SourcePosition(self.file, span.key_line, span.key_column, text)
        return SourcePosition(self.file, span.line, span.column, text)


@dataclass(frozen=True, slots=True)
class Document:
    """A spec file read as plain Python values, with the position of each."""

    data: dict[str, Any]
    source: SourceMap
    text: str


def format_path(path: SpecPath) -> str:
    """Render a path the way a user writes it: `collection_preps[2].carrier`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def read_spec_file(path: Path, *, display_name: str | None = None) -> Document:
    """Read and parse one spec file."""
    name = display_name or str(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise SpecError.single(
            "spec.not-found",
            f"spec file {name} does not exist",
            position=SourcePosition(name),
        ) from None
    except OSError as exc:
        raise SpecError.single(
            "spec.unreadable",
            f"cannot read spec file {name}: {exc.strerror}",
            position=SourcePosition(name),
        ) from None
    if size > MAX_SPEC_BYTES:
        raise SpecError.single(
            "spec.too-large",
            f"spec file {name} is {size:,} bytes; the limit is {MAX_SPEC_BYTES:,}",
            position=SourcePosition(name),
            hint="a spec describes a fixture, it does not list it: use counts "
            "and templates instead of long explicit lists",
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SpecError.single(
            "spec.unreadable",
            f"cannot read spec file {name}: {exc.strerror}",
            position=SourcePosition(name),
        ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError.single(
            "yaml.encoding",
            f"spec file is not valid UTF-8 (byte {exc.start})",
            position=SourcePosition(name, line, None),
            hint="save the file as UTF-8",
        ) from None
    return parse_yaml(text, file=name)


def parse_yaml(text: str, *, file: str) -> Document:
    """Parse spec text; the document must be a mapping."""
    try:
        node = yaml.compose(text, Loader=_SpecLoader)
    except yaml.MarkedYAMLError as exc:
        raise SpecError(_syntax_diagnostic(exc, file)) from None
    except yaml.YAMLError as exc:
        raise SpecError.single(
            "yaml.syntax", f"not valid YAML: {exc}", position=SourcePosition(file)
        ) from None
    source = SourceMap(file)
    if node is None:
        raise SpecError.single(
            "spec.empty",
            "the spec file is empty",
            position=SourcePosition(file, 1, 1),
            hint="start with `version: 1`",
        )
    builder = _Builder(source)
    data = builder.build(node, ())
    if builder.errors:
        raise SpecError(builder.errors)
    if not isinstance(data, dict):
        raise SpecError.single(
            "spec.not-mapping",
            "a spec must be a mapping of keys such as `version:` and `orders:`",
            position=source.position(()),
        )
    return Document(data=data, source=source, text=text)


_TYPED_TAGS = {
    _PLAIN_TAG := "!plain",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}


class _SpecLoader(yaml.SafeLoader):
    """Composes nodes only; every plain scalar resolves to str, typed later."""


# Drop YAML 1.1's implicit resolvers: every plain scalar is tagged `!plain`
# and the builder types it by YAML 1.2 core rules.
_SpecLoader.yaml_implicit_resolvers = {}
_SpecLoader.add_implicit_resolver(_PLAIN_TAG, re.compile(r".*", re.DOTALL), None)


def _syntax_diagnostic(exc: yaml.MarkedYAMLError, file: str) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or "syntax error"
    if exc.context:
        problem = f"{problem} ({exc.context})"
    hint = None
    if "found character '\\t'" in problem:
        hint = "indent with spaces, not tabs"
    elif "mapping values are not allowed" in problem:
        hint = "a value that contains ': ' must be quoted"
    elif "could not find expected ':'" in problem:
        hint = "each entry of a mapping is `key: value`"
    position = SourcePosition(
        file,
        mark.line + 1 if mark else None,
        mark.column + 1 if mark else None,
    )
    return Diagnostic("yaml.syntax", f"YAML syntax error: {problem}", position, hint)


class _Builder:
    """Turns a composed node tree into Python values and a source map."""

    def __init__(self, source: SourceMap) -> None:
        self.source = source
        self.errors: list[Diagnostic] = []
        self.values = 0

    def build(self, node: yaml.Node, path: SpecPath) -> Any:
        self.values += 1
        if self.values > MAX_VALUES:
            # Raised, not collected: expanding further is the danger itself.
            raise SpecError.single(
                "yaml.too-many-values",
                f"the spec expands to more than {MAX_VALUES:,} values",
                position=self._at(node, path),
                hint="aliases (`*name`) that refer to large anchors multiply; "
                "use counts and templates instead",
            )
        self._record(node, path)
        if node.tag not in _SAFE_TAGS:
            self._error(
                "yaml.tag",
                f"the YAML tag {node.tag!r} is not allowed in a spec",
                node,
                path,
                hint="remove the tag; specs use plain YAML values only",
            )
            return None
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        return self._scalar(node, path)

    def _mapping(self, node: yaml.MappingNode, path: SpecPath) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        first_seen: dict[Any, yaml.Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or (
                isinstance(key_node, yaml.ScalarNode)
                and key_node.value == "<<"
                and key_node.style is None
            ):
                self._error(
                    "yaml.merge-key",
                    "merge keys (`<<:`) are not supported in a spec",
                    key_node,
                    path,
                    hint="use a template, or `extends:` another spec",
                )
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self._error(
                    "yaml.complex-key",
                    "a key must be a plain value, not a list or mapping",
                    key_node,
                    path,
                )
                continue
            key = self._scalar(key_node, path)
            if isinstance(key, bool) or key is None or isinstance(key, float):
                key = key_node.value
            if key in first_seen:
                earlier = first_seen[key].start_mark.line + 1
                self._error(
                    "yaml.duplicate-key",
                    f"the key {key!r} appears twice in one mapping "
                    f"(first on line {earlier})",
                    key_node,
                    (*path, key),
                    hint="YAML keeps only one of them; remove or rename one",
                )
                continue
            first_seen[key] = key_node
            child = (*path, key)
            result[key] = self.build(value_node, child)
            self.source.spans[child] = Span(
                value_node.start_mark.line + 1,
                value_node.start_mark.column + 1,
                key_node.start_mark.line + 1,
                key_node.start_mark.column + 1,
            )
        return result

    def _scalar(self, node: yaml.ScalarNode, path: SpecPath) -> Any:
        value: str = node.value
        if node.tag not in _TYPED_TAGS:
            return value  # quoted, a block scalar or `!!str`: always a string
        if value in _NULL:
            return None
        if value in _BOOL:
            return _BOOL[value]
        if _INT.fullmatch(value):
            return int(value.replace("_", ""))
        if _HEX.fullmatch(value):
            return int(value.replace("_", ""), 16)
        if _FLOAT.fullmatch(value):
            return float(value.replace("_", ""))
        if value in (".inf", "+.inf", "-.inf", ".nan"):
            return float(value.replace(".", ""))
        return value

    def _record(self, node: yaml.Node, path: SpecPath) -> None:
        if path not in self.source.spans:
            self.source.spans[path] = Span(
                node.start_mark.line + 1, node.start_mark.column + 1
            )

    def _at(self, node: yaml.Node, path: SpecPath) -> SourcePosition:
        return SourcePosition(
            self.source.file,
            node.start_mark.line + 1,
            node.start_mark.column + 1,
            format_path(path),
        )

    def _error(
        self,
        code: str,
        message: str,
        node: yaml.Node,
        path: SpecPath,
        *,
        hint: str | None = None,
    ) -> None:
        self.errors.append(Diagnostic(code, message, self._at(node, path), hint))


def iter_paths(source: SourceMap) -> Iterator[SpecPath]:
    """Every path the source map knows, in file order."""
    return iter(sorted(source.spans, key=lambda p: (source.spans[p].line, len(p))))
