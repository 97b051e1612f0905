"""Stage 1c: load a spec and check it on its own, with no database.

`load_spec` is the whole first stage: YAML with positions, the pydantic shape,
then the rules that relate one part of the spec to another. Every problem
found is reported at once, in file order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from seedcompile.compose import read_composed
from seedcompile.diagnose import diagnose_validation, suggest
from seedcompile.errors import Diagnostic, SpecError
from seedcompile.limits import MAX_ORDERS_VARIABLE, limit
from seedcompile.load import Document, SourceMap, SpecPath
from seedcompile.spec import Spec

# The most orders one spec may expand to, all groups together.
MAX_ORDERS = 10_000_000


@dataclass(frozen=True, slots=True)
class LoadedSpec:
    """A spec that passed every check that needs no database."""

    spec: Spec
    source: SourceMap
    digest: str

    @property
    def file(self) -> str:
        return self.source.file


def load_spec(
    path: Path, *, display_name: str | None = None, overrides: Sequence[str] = ()
) -> LoadedSpec:
    """Read, compose (`extends`, `--set`), parse and check one spec file."""
    document = read_composed(path, display_name=display_name, overrides=overrides)
    return check_document(document)


def check_document(document: Document) -> LoadedSpec:
    """Validate a parsed document as a spec; raise listing every problem."""
    problems = list(document.problems)
    try:
        spec = Spec.model_validate(document.data)
    except ValidationError as exc:
        problems += diagnose_validation(
            exc,
            data=document.data,
            source=document.source,
            root=Spec,
            is_reported=document.is_reported,
        )
        raise SpecError(problems) from None
    problems += _SpecChecker(spec, document.source, document.is_reported).run()
    if problems:
        raise SpecError(problems)
    digest = hashlib.sha256(document.text.encode("utf-8")).hexdigest()
    return LoadedSpec(spec=spec, source=document.source, digest=f"sha256:{digest}")


class _SpecChecker:
    """Cross-references inside one spec."""

    def __init__(
        self,
        spec: Spec,
        source: SourceMap,
        is_reported: Callable[[SpecPath], bool] = lambda _path: False,
    ) -> None:
        self.spec = spec
        self.source = source
        self.is_reported = is_reported
        self.problems: list[Diagnostic] = []

    def run(self) -> list[Diagnostic]:
        self._check_names()
        for i in range(len(self.spec.orders)):
            self._check_order_group(i)
        for i in range(len(self.spec.collection_preps)):
            self._check_prep_group(i)
        total = sum(group.count for group in self.spec.orders)
        most = limit(MAX_ORDERS_VARIABLE, MAX_ORDERS)
        if total > most:
            self._error(
                ("orders",),
                "spec.too-many-orders",
                f"the spec asks for {total:,} orders; the limit is {most:,}",
                hint=f"split it into several specs, or raise {MAX_ORDERS_VARIABLE}",
            )
        return self.problems

    def _error(
        self,
        path: SpecPath,
        code: str,
        message: str,
        *,
        hint: str | None = None,
        at_key: bool = False,
        about: SpecPath | None = None,
    ) -> None:
        # `about`: the value the problem is about, when `path` only places it
        # (a missing key is placed at its mapping).
        if self.is_reported(about or path):
            return  # a consequence of a problem the YAML reader reported
        position = self.source.position(path, at_key=at_key)
        self.problems.append(Diagnostic(code, message, position, hint))

    def _check_names(self) -> None:
        for section, names in (
            ("orders", [group.name for group in self.spec.orders]),
            ("collection_preps", [group.name for group in self.spec.collection_preps]),
        ):
            first: dict[str, int] = {}
            for i, name in enumerate(names):
                if name in first:
                    line = self.source.position((section, first[name], "name"))
                    self._error(
                        (section, i, "name"),
                        "spec.duplicate-name",
                        f"two groups in {section} are named {name!r} "
                        f"(the first on line {line.line})",
                        hint="give each group its own name",
                    )
                else:
                    first[name] = i

    def _check_order_group(self, i: int) -> None:
        group = self.spec.orders[i]
        here = ("orders", i)
        sources = [
            key
            for key in ("template", "lines", "duplicate")
            if getattr(group, key) is not None
        ]
        if len(sources) != 1:
            found = ", ".join(f"`{key}`" for key in sources) or "none"
            self._error(
                here,
                "spec.order-source",
                f"order group {group.name!r} needs exactly one of `template`, "
                f"`lines` or `duplicate` (found {found})",
            )
        if group.template is not None and group.template not in self.spec.templates:
            near = suggest(group.template, self.spec.templates)
            self._error(
                (*here, "template"),
                "spec.unknown-template",
                f"no template named {group.template!r}",
                hint=f"did you mean `{near}`?" if near else _known(self.spec.templates),
            )
        if group.duplicate is None and group.customers is None:
            self._error(
                here,
                "spec.missing-key",
                f"orders[{i}] lacks the required key `customers`",
                hint="say which customers: a list of codes, `{region: CODE}` or `all`",
                at_key=True,
                about=(*here, "customers"),
            )
        if group.duplicate is not None and group.customers is not None:
            self._error(
                (*here, "customers"),
                "spec.duplicate-customers",
                "a `duplicate` order names its own customer; remove `customers`",
                at_key=True,
            )
        for index in group.overrides:
            if index >= group.count:
                self._error(
                    (*here, "overrides", index),
                    "spec.index-out-of-range",
                    f"override for order {index}, but the group has "
                    f"{_plural(group.count, 'order')} (0 to {group.count - 1})",
                    at_key=True,
                )
        for n, index in enumerate(group.exclude):
            if index >= group.count:
                self._error(
                    (*here, "exclude", n),
                    "spec.index-out-of-range",
                    f"exclusion of order {index}, but the group has "
                    f"{_plural(group.count, 'order')} (0 to {group.count - 1})",
                )
            elif index in group.overrides:
                self._error(
                    (*here, "exclude", n),
                    "spec.override-excluded",
                    f"order {index} is both overridden and excluded",
                    hint="drop one of the two",
                )

    def _check_prep_group(self, i: int) -> None:
        group = self.spec.collection_preps[i]
        here = ("collection_preps", i)
        order_groups = [g.name for g in self.spec.orders]
        for n, name in enumerate(group.orders or []):
            if name not in order_groups:
                near = suggest(name, order_groups)
                self._error(
                    (*here, "orders", n),
                    "spec.unknown-order-group",
                    f"no order group named {name!r}",
                    hint=f"did you mean `{near}`?" if near else _known(order_groups),
                )
        explicit = group.allocate.explicit
        if explicit is None and group.count is None:
            self._error(
                here,
                "spec.missing-key",
                f"collection_preps[{i}] lacks the required key `count`",
                at_key=True,
                about=(*here, "count"),
            )
        if explicit is not None and group.count not in (None, len(explicit)):
            self._error(
                (*here, "count"),
                "spec.count-mismatch",
                f"count is {group.count} but the explicit allocation lists "
                f"{len(explicit)} preps",
                hint="drop `count`: an explicit allocation sets it",
            )
        count = group.count if group.count is not None else len(explicit or [])
        for index in group.overrides:
            if index >= count:
                self._error(
                    (*here, "overrides", index),
                    "spec.index-out-of-range",
                    f"override for prep {index}, but the group has "
                    f"{_plural(count, 'prep')} per location (0 to {count - 1})",
                    at_key=True,
                )


def _known(names: Iterable[str]) -> str:
    listed = sorted(names)
    if not listed:
        return "none are defined"
    return "defined: " + ", ".join(f"`{name}`" for name in listed[:10])


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")
