"""Stage 1a: read a spec file as YAML, keeping the position of every value.

PyYAML's own loaders lose positions and carry YAML 1.1's traps: `no` and `on`
read as booleans, `012` as an octal number, `1:30` as a base-60 number, dates
as date objects, a repeated key silently replacing the first. This loader
composes the node tree with PyYAML and builds the Python values itself, by
YAML 1.2 core rules: only `true`/`false` are booleans, only plain decimal
(or `0x`) digits are integers, everything else stays the string it looks like.

Repeated keys, merge keys and custom tags are refused with a position; the
rest of the document is still read, so that `seedcompile.checks` can report
them together with every other problem. Aliases that refer to their own
anchor, nesting deeper than any spec needs, and aliases that expand to more
values than any spec needs are refused while the tree is composed, before
memory is spent on them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from seedcompile.errors import Diagnostic, SourcePosition, SpecError, UsageError
from seedcompile.limits import (
    MAX_SPEC_BYTES_VARIABLE,
    MAX_YAML_VALUES_VARIABLE,
    limit,
)

MAX_SPEC_BYTES = 10 * 1024 * 1024
# Aliases let a few lines of YAML expand to billions of values; no spec needs
# more values than this, aliases included.
MAX_VALUES = 1_000_000
# No spec nests deeper than a dozen levels; the limit keeps recursion (ours and
# PyYAML's) far from Python's stack limit, aliases included.
MAX_DEPTH = 64
# int64 has 19 digits; a longer number is a mistake, and Python refuses to
# convert one of more than 4,300 digits with a bare ValueError.
MAX_DIGITS = 20

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
_SPECIAL_FLOATS = {".inf": "inf", "+.inf": "inf", "-.inf": "-inf", ".nan": "nan"}

_CORE = "tag:yaml.org,2002:"
_PLAIN_TAG = "!plain"
_SAFE_TAGS = {f"{_CORE}{name}" for name in ("str", "seq", "map")}
_SAFE_TAGS |= {f"{_CORE}{name}" for name in ("int", "float", "bool", "null")}
_SAFE_TAGS |= {"!", _PLAIN_TAG}


@dataclass(frozen=True, slots=True)
class Span:
    """Where a value, and the key that holds it, stand in the file (1-based)."""

    line: int
    column: int
    key_line: int | None = None
    key_column: int | None = None
    # The file the value comes from, when not the map's own (`extends`)
    file: str | None = None


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
        text = format_path(path) or None  # None: the spec as a whole
        if span is None:
            return SourcePosition(self.file, None, None, text)
        file = span.file or self.file
        if at_key and probe == tuple(path) and span.key_line is not None:
            return SourcePosition(file, span.key_line, span.key_column, text)
        return SourcePosition(file, span.line, span.column, text)


@dataclass(frozen=True, slots=True)
class Document:
    """A spec file read as plain Python values, with the position of each.

    `problems` holds what the YAML reader refused but could read past (a
    repeated key, a custom tag, ...). The value at a path in `tainted` was
    dropped or replaced, and a mapping in `incomplete` lost a key: what later
    stages find there is a consequence of a problem already reported.
    """

    data: dict[str, Any]
    source: SourceMap
    text: str
    problems: tuple[Diagnostic, ...] = ()
    tainted: frozenset[SpecPath] = frozenset()
    incomplete: frozenset[SpecPath] = frozenset()

    def is_reported(self, path: SpecPath) -> bool:
        """Is what is wrong at `path` a consequence of one of `problems`?"""
        if path in self.incomplete:
            return True
        return any(path[:n] in self.tainted for n in range(len(path) + 1))


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
    raw = _read_bytes(path, name)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(_encoding_diagnostic(raw, exc, name)) from None
    return parse_yaml(text, file=name)


def _read_bytes(path: Path, name: str) -> bytes:
    # A spec that is not there, or not a file, is a wrong command line (exit 2),
    # not a wrong spec.
    try:
        if path.is_dir():
            raise UsageError.single(
                "usage.spec-unreadable",
                f"{name} is a directory, not a spec file",
                position=SourcePosition(name),
                hint="name the spec files themselves, e.g. `specs/*.yaml`",
            )
        size = path.stat().st_size
        most = limit(MAX_SPEC_BYTES_VARIABLE, MAX_SPEC_BYTES)
        if size > most:
            raise SpecError.single(
                "spec.too-large",
                f"spec file {name} is {size:,} bytes; the limit is {most:,}",
                position=SourcePosition(name),
                hint="a spec describes a fixture, it does not list it: use counts "
                f"and templates (or raise {MAX_SPEC_BYTES_VARIABLE})",
            )
        return path.read_bytes()
    except FileNotFoundError:
        raise UsageError.single(
            "usage.spec-not-found",
            f"spec file {name} does not exist",
            position=SourcePosition(name),
            hint="check the path; it is relative to the current directory",
        ) from None
    except OSError as exc:
        raise UsageError.single(
            "usage.spec-unreadable",
            f"cannot read spec file {name}: {exc.strerror}",
            position=SourcePosition(name),
        ) from None


def _encoding_diagnostic(raw: bytes, exc: UnicodeDecodeError, file: str) -> Diagnostic:
    line_start = raw.rfind(b"\n", 0, exc.start) + 1
    before = raw[line_start : exc.start].decode("utf-8", errors="replace")
    return Diagnostic(
        "yaml.encoding",
        f"the spec is not valid UTF-8: byte 0x{raw[exc.start]:02X} cannot start "
        "a character here",
        SourcePosition(file, raw.count(b"\n", 0, exc.start) + 1, len(before) + 1),
        "save the file as UTF-8",
    )


def parse_yaml(text: str, *, file: str) -> Document:
    """Parse spec text; the document must be a mapping.

    Raises `SpecError` when the text cannot be read as one YAML mapping at all;
    problems it can read past are returned in `Document.problems`.
    """
    loader: _SpecLoader | None = None
    try:
        # The reader refuses control characters as soon as it is created.
        loader = _SpecLoader(text, file)
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise SpecError(_syntax_diagnostic(exc, file)) from None
    except yaml.reader.ReaderError as exc:
        raise SpecError(_reader_diagnostic(exc, text, file)) from None
    except yaml.YAMLError as exc:
        raise SpecError.single(
            "yaml.syntax", f"not valid YAML: {exc}", position=SourcePosition(file)
        ) from None
    finally:
        if loader is not None:
            loader.dispose()
    source = SourceMap(file)
    builder = _Builder(source)
    data = builder.build(node, ()) if node is not None else None
    if builder.errors and not isinstance(data, dict):
        raise SpecError(builder.errors)  # a refused tag on the whole document
    if data is None:
        raise SpecError.single(
            "spec.empty",
            "the spec file is empty",
            position=SourcePosition(file, 1, 1),
            hint="start with `version: 1`",
        )
    if not isinstance(data, dict):
        raise SpecError.single(
            "spec.not-mapping",
            f"a spec must be a mapping of keys such as `version:` and `orders:`, "
            f"not {_kind(data)}",
            position=source.position(()),
            hint="start with `version: 1`, then `orders:`",
        )
    return Document(
        data=data,
        source=source,
        text=text,
        problems=tuple(builder.errors),
        tainted=frozenset(builder.tainted),
        incomplete=frozenset(builder.incomplete),
    )


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the text {value!r}"
    return "a single value"


class _SpecLoader(yaml.SafeLoader):
    """Composes nodes only, every plain scalar tagged `!plain`, within bounds.

    While composing it measures each node as it would be once aliases are
    expanded (how many values, how deep), and refuses it as soon as either
    passes its limit: the tree itself shares aliased nodes, so it stays small.
    """

    def __init__(self, stream: str, file: str) -> None:
        super().__init__(stream)
        self.file = file
        self.path: list[str | int] = []
        self.depth = 0
        self.open_anchors: set[str] = set()
        # Values and depth of every composed node once expanded, by id: the
        # nodes stay alive in the tree, so their ids are not reused.
        self.sizes: dict[int, tuple[int, int]] = {}
        self.max_values = limit(MAX_YAML_VALUES_VARIABLE, MAX_VALUES)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) and event.anchor in self.open_anchors:
            raise self._refuse(
                "yaml.recursive-alias",
                f"the alias `*{event.anchor}` refers to the anchor it is inside",
                event.start_mark,
                hint="an anchored value cannot contain itself",
            )
        ancestors = self.depth
        self._descend(index, event)
        try:
            node = super().compose_node(parent, index)
            if node is not None:
                self._measure(node, ancestors, event.start_mark)
                if isinstance(event, yaml.ScalarEvent) and event.tag == "!":
                    # `! 12` is the text "12" (YAML 1.2); PyYAML resolves it
                    # like a plain scalar.
                    node.tag = f"{_CORE}str"
        finally:
            self._ascend(event)
        return node

    def _descend(self, index: Any, event: yaml.Event) -> None:
        if isinstance(index, yaml.ScalarNode):
            key = index.value
            self.path.append(int(key) if _INT.fullmatch(key) else key)
        elif isinstance(index, int):
            self.path.append(index)
        else:
            self.path.append("")  # the root, or a key: not part of a spec path
        if isinstance(event, yaml.CollectionStartEvent):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self._refuse(
                    "yaml.too-deep",
                    f"the spec nests lists and mappings more than {MAX_DEPTH} "
                    "levels deep",
                    event.start_mark,
                    hint="a spec needs only a few levels; look for a runaway "
                    "`[` or `{`",
                )
        anchor = _anchor_defined(event)
        if anchor is not None:
            self.open_anchors.add(anchor)

    def _ascend(self, event: yaml.Event) -> None:
        self.path.pop()
        if isinstance(event, yaml.CollectionStartEvent):
            self.depth -= 1
        anchor = _anchor_defined(event)
        if anchor is not None:
            self.open_anchors.discard(anchor)

    def _measure(self, node: yaml.Node, ancestors: int, mark: Any) -> None:
        """Refuse `node` if, aliases expanded, it is too large or too deep.

        `mark` is where the node stands here: for an alias, the alias itself,
        not the anchored node it shares.
        """
        if id(node) not in self.sizes:
            children: list[yaml.Node] = []
            if isinstance(node, yaml.MappingNode):
                children = [part for pair in node.value for part in pair]
            elif isinstance(node, yaml.SequenceNode):
                children = node.value
            values, depth = 1, 0
            for child in children:
                child_values, child_depth = self.sizes[id(child)]
                values += child_values
                depth = max(depth, child_depth)
            if isinstance(node, yaml.CollectionNode):
                depth += 1
            self.sizes[id(node)] = (values, depth)
        values, depth = self.sizes[id(node)]
        if values > self.max_values:
            raise self._refuse(
                "yaml.too-many-values",
                f"this value expands to {values:,} values; "
                f"the limit is {self.max_values:,}",
                mark,
                hint="aliases (`*name`) to large anchors multiply; use counts "
                f"and templates instead (or raise {MAX_YAML_VALUES_VARIABLE})",
            )
        if ancestors + depth > MAX_DEPTH:
            raise self._refuse(
                "yaml.too-deep",
                f"with its aliases expanded, this value nests more than "
                f"{MAX_DEPTH} levels deep",
                mark,
                hint="an alias inside an alias inside an alias adds up; "
                "flatten the anchors",
            )

    def _refuse(self, code: str, message: str, mark: Any, *, hint: str) -> SpecError:
        path = format_path(tuple(part for part in self.path if part != ""))
        position = SourcePosition(self.file, mark.line + 1, mark.column + 1, path)
        return SpecError(Diagnostic(code, message, position, hint))


def _anchor_defined(event: yaml.Event) -> str | None:
    """The anchor `event` defines (`&name`), if any; an alias defines none."""
    if isinstance(event, yaml.NodeEvent) and not isinstance(event, yaml.AliasEvent):
        anchor: str | None = event.anchor
        return anchor
    return None


# Drop YAML 1.1's implicit resolvers: every plain scalar is tagged `!plain`
# and the builder types it by YAML 1.2 core rules.
_SpecLoader.yaml_implicit_resolvers = {}
_SpecLoader.add_implicit_resolver(_PLAIN_TAG, re.compile(r".*", re.DOTALL), None)


def _syntax_diagnostic(exc: yaml.MarkedYAMLError, file: str) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or "syntax error"
    context = exc.context or ""
    code, hint = "yaml.syntax", None
    message = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
    if "found character '\\t'" in problem:
        message = "YAML syntax error: a tab character, where YAML allows only spaces"
        hint = "indent with spaces, not tabs"
    elif "expected <block end>" in problem:
        message = "YAML syntax error: this line is indented differently from the "
        message += "entries around it"
        hint = "line it up with the other keys (or `- ` items) of its mapping or list"
    elif "mapping values are not allowed" in problem:
        hint = "a value that contains ': ' must be quoted"
    elif "could not find expected ':'" in problem:
        hint = "each entry of a mapping is `key: value`"
    elif "that cannot start any token" in problem:
        hint = "`@`, `` ` `` and `%` cannot start a plain value; quote it"
    elif "unknown escape character" in problem:
        hint = "inside double quotes `\\` starts an escape: use single quotes"
    elif "found unexpected end of stream" in problem and "quoted" in context:
        hint = "close the quote"
    elif "flow sequence" in context or "flow mapping" in context:
        opened = "list" if "sequence" in context else "mapping"
        if exc.context_mark is not None:
            opened += f" opened on line {exc.context_mark.line + 1}"
        message = f"YAML syntax error: {problem}, in the {opened}"
        hint = "close every `[` with `]` and every `{` with `}`"
    elif "found undefined alias" in problem:
        code = "yaml.undefined-alias"
        name = problem.rsplit(" ", 1)[-1].strip("'")
        message = f"the alias `*{name}` refers to no anchor"
        hint = f"define the anchor first, as `&{name}` before a value"
    elif "found duplicate anchor" in context and exc.context_mark:
        code = "yaml.duplicate-anchor"
        name = context.split("'")[1]
        message = (
            f"the anchor `&{name}` is defined twice, on lines "
            f"{exc.context_mark.line + 1} and {mark.line + 1 if mark else '?'}"
        )
        hint = "give each anchor its own name"
    elif "expected a single document" in context:
        code = "yaml.multiple-documents"
        message = "a spec file holds one YAML document, but a second one starts here"
        hint = "remove the `---` line, or split the file into two specs"
    position = SourcePosition(
        file,
        mark.line + 1 if mark else None,
        mark.column + 1 if mark else None,
    )
    return Diagnostic(code, message, position, hint)


def _reader_diagnostic(
    exc: yaml.reader.ReaderError, text: str, file: str
) -> Diagnostic:
    index = min(exc.position, len(text))
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    code = exc.character if isinstance(exc.character, int) else 0
    return Diagnostic(
        "yaml.control-character",
        f"the spec contains the control character U+{code:04X}, which YAML "
        "does not allow",
        SourcePosition(file, line, column),
        f'remove it; inside double quotes it can be written "\\u{code:04X}"',
    )


class _Builder:
    """Turns a composed node tree into Python values and a source map."""

    def __init__(self, source: SourceMap) -> None:
        self.source = source
        self.errors: list[Diagnostic] = []
        self.tainted: set[SpecPath] = set()
        self.incomplete: set[SpecPath] = set()

    def build(self, node: yaml.Node, path: SpecPath) -> Any:
        self._record(node, path)
        if node.tag not in _SAFE_TAGS:
            self._error(
                "yaml.tag",
                f"the YAML tag {_show_tag(node.tag)} is not allowed in a spec",
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
            key = self._key(key_node, path)
            if key is None:
                continue
            if key in first_seen:
                self._duplicate(key, first_seen[key], key_node, path)
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

    def _key(self, key_node: yaml.Node, path: SpecPath) -> Any:
        """The key as a str or int; None (reported) when it cannot be one."""
        if isinstance(key_node, yaml.ScalarNode) and (
            key_node.value == "<<" and key_node.style is None
        ):
            self._error(
                "yaml.merge-key",
                "merge keys (`<<:`) are not supported in a spec",
                key_node,
                path,
                hint="write the keys out, or move the shared part into a template",
                lost_key=True,
            )
            return None
        if not isinstance(key_node, yaml.ScalarNode):
            self._error(
                "yaml.complex-key",
                "a key must be a plain value, not a list or mapping",
                key_node,
                path,
                hint="a `?` or a `[`/`{` before the colon makes a complex key",
                lost_key=True,
            )
            return None
        if key_node.tag not in _SAFE_TAGS:
            self._error(
                "yaml.tag",
                f"the YAML tag {_show_tag(key_node.tag)} is not allowed in a spec",
                key_node,
                path,
                hint="remove the tag; specs use plain YAML values only",
                lost_key=True,
            )
            return None
        key = self._scalar(key_node, path)
        if isinstance(key, bool) or key is None or isinstance(key, float):
            return key_node.value
        return key

    def _duplicate(
        self, key: Any, first: yaml.Node, again: yaml.Node, path: SpecPath
    ) -> None:
        first_line, line = first.start_mark.line + 1, again.start_mark.line + 1
        if first_line == line:
            where = f"on line {line}, columns {first.start_mark.column + 1} and "
            where += f"{again.start_mark.column + 1}"
        else:
            where = f"on lines {first_line} and {line}"
        self._error(
            "yaml.duplicate-key",
            f"the key `{key}` appears twice in one mapping, {where}",
            again,
            (*path, key),
            hint="most YAML readers would silently keep only the last one; "
            "remove or rename one of them",
        )

    def _scalar(self, node: yaml.ScalarNode, path: SpecPath) -> Any:
        if node.tag == _PLAIN_TAG:
            return self._resolve(node, path)
        if node.tag in ("!", f"{_CORE}str"):
            return node.value  # quoted, a block scalar, `!` or `!!str`: text
        return self._check_explicit_tag(node, path, self._resolve(node, path))

    def _resolve(self, node: yaml.ScalarNode, path: SpecPath) -> Any:
        """A scalar typed by YAML 1.2 core rules."""
        value: str = node.value
        if value in _NULL:
            return None
        if value in _BOOL:
            return _BOOL[value]
        if _INT.fullmatch(value) or _HEX.fullmatch(value):
            digits = value.lstrip("+-").removeprefix("0x").replace("_", "")
            if len(digits) > MAX_DIGITS:
                self._error(
                    "yaml.number-too-long",
                    f"the number {value[:12]}… has {len(digits):,} digits; no "
                    f"number in a spec needs more than {MAX_DIGITS}",
                    node,
                    path,
                    hint="quote it if it is text",
                )
                return None
            if _HEX.fullmatch(value):
                return int(digits, 16)
            return int(value.replace("_", ""))
        if _FLOAT.fullmatch(value):
            return float(value.replace("_", ""))
        if value in _SPECIAL_FLOATS:
            return float(_SPECIAL_FLOATS[value])
        return value

    def _check_explicit_tag(
        self, node: yaml.ScalarNode, path: SpecPath, result: Any
    ) -> Any:
        """`!!int 12` is 12; `!!int twelve` is an error, not the text."""
        kind = node.tag.removeprefix(_CORE)
        fits = {
            "int": isinstance(result, int) and not isinstance(result, bool),
            "float": isinstance(result, int | float) and not isinstance(result, bool),
            "bool": isinstance(result, bool),
            "null": result is None,
        }
        if fits.get(kind, False):
            return float(result) if kind == "float" else result
        if path in self.tainted:
            return None  # already reported: a number too long
        self._error(
            "yaml.tag",
            f"the value {node.value!r} is tagged `!!{kind}` but is not one",
            node,
            path,
            hint="remove the tag, or correct the value",
        )
        self.tainted.add(path)
        return None

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
        lost_key: bool = False,
    ) -> None:
        # The value at `path` is dropped or replaced (or, with `lost_key`, the
        # mapping at `path` lost a key): what later stages would say about it
        # is a consequence of this problem, not a new one.
        (self.incomplete if lost_key else self.tainted).add(path)
        self.errors.append(Diagnostic(code, message, self._at(node, path), hint))


def _show_tag(tag: str) -> str:
    if tag.startswith(_CORE):
        return f"`!!{tag.removeprefix(_CORE)}`"
    return f"`{tag}`"


def iter_paths(source: SourceMap) -> Iterator[SpecPath]:
    """Every path the source map knows, in file order."""
    return iter(sorted(source.spans, key=lambda p: (source.spans[p].line, len(p))))
