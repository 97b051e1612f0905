"""Lock files: the reference rows a spec resolved, for offline compiles and drift.

`seedcompile lock SPEC` writes `SPEC.lock.json` beside the spec: only the rows
the spec relies on, one compact table each with a digest of its own.
`seedcompile compile --offline` compiles from it with no database and gives
the bytes an online compile gives against the same rows; `--check` with a
database compares the lock with the live rows and names each change (drift)
with the spec line that relies on it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from seedcompile.checks import LoadedSpec
from seedcompile.errors import Diagnostic, SourcePosition, SpecError
from seedcompile.load import SpecPath
from seedcompile.reference import (
    Carrier,
    Customer,
    Location,
    ReferenceData,
    Variant,
    digest_reference,
)

LOCK_VERSION = 1
LOCK_SUFFIX = ".lock.json"

Row = tuple[Any, ...]
_COLUMNS: dict[str, tuple[str, ...]] = {
    "region": ("code",),
    "location": ("code", "region", "active", "is_primary"),
    "carrier": ("code", "active", "max_orders_per_prep", "regions"),
    "customer": ("code", "region", "home_location", "active"),
    "variant": ("sku", "active"),
    "variant_part": ("sku", "part", "quantity"),
    "inventory": ("location", "part", "available"),
    "collection_prep": ("location", "carrier", "date", "highest_number"),
}
# How many leading columns identify a row of each table (`ReferenceData.tables`
# gives the rows).
_KEY_WIDTH = {
    "region": 1,
    "location": 1,
    "carrier": 1,
    "customer": 1,
    "variant": 1,
    "variant_part": 2,
    "inventory": 2,
    "collection_prep": 3,
}


def lock_path_for(spec: Path) -> Path:
    """`specs/x.yaml` -> `specs/x.lock.json`."""
    return spec.with_name(spec.stem + LOCK_SUFFIX)


def render_lock(loaded: LoadedSpec, ref: ReferenceData) -> bytes:
    """The lock file's bytes for `loaded` resolved against `ref`."""
    tables = ref.tables()
    head = {
        "lock_version": LOCK_VERSION,
        "spec": Path(loaded.file).name,
        "spec_digest": loaded.digest,
        "reference_digest": ref.digest,
    }
    # Compact, with one row a line, so that a lock diff in review shows
    # exactly the rows that changed.
    out = [b"{"]
    out += [
        b"  " + orjson.dumps(k) + b": " + orjson.dumps(v) + b","
        for k, v in head.items()
    ]
    out.append(b'  "tables": {')
    names = list(tables)
    for i, name in enumerate(names):
        rows = tables[name]
        out.append(b"    " + orjson.dumps(name) + b": {")
        out.append(b'      "columns": ' + orjson.dumps(list(_COLUMNS[name])) + b",")
        out.append(b'      "digest": ' + orjson.dumps(_table_digest(rows)) + b",")
        out.append(b'      "rows": [')
        out += [
            b"        " + orjson.dumps(row) + (b"," if j < len(rows) - 1 else b"")
            for j, row in enumerate(rows)
        ]
        out.append(b"      ]")
        out.append(b"    }" + (b"," if i < len(names) - 1 else b""))
    out += [b"  }", b"}", b""]
    return b"\n".join(out)


def read_lock(
    path: Path, *, spec_file: str, spec_digest: str | None = None
) -> ReferenceData:
    """The reference data recorded in a lock file.

    With `spec_digest`, the lock must have been written for exactly that
    spec: a lock of an earlier version may lack rows the spec now needs, or
    hold prep-code maxima for other dates, and compiling from it would give
    a plausible fixture that is wrong.
    """
    try:
        document = orjson.loads(path.read_bytes())
        tables = {name: document["tables"][name]["rows"] for name in _COLUMNS}
        if document.get("lock_version") != LOCK_VERSION:
            raise ValueError(f"lock version {document.get('lock_version')!r}")
        locked_for = document["spec_digest"]
    except FileNotFoundError:
        raise SpecError.single(
            "lock.missing",
            f"no lock file {path} for an offline compile",
            position=SourcePosition(spec_file),
            hint=f"write it with `seedcompile lock {spec_file} --db URL`",
        ) from None
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise SpecError.single(
            "lock.invalid",
            f"lock file {path} is not a valid seedcompile lock ({exc})",
            position=SourcePosition(str(path)),
            hint="write it again with `seedcompile lock`",
        ) from None
    if spec_digest is not None and locked_for != spec_digest:
        raise SpecError.single(
            "lock.stale",
            f"lock file {path} was written for another version of {spec_file} "
            "(or of a spec it extends)",
            position=SourcePosition(spec_file),
            hint=f"lock it again: `seedcompile lock {spec_file} --db URL`",
        )
    return _reference_from(tables)


def _reference_from(tables: dict[str, list[list[Any]]]) -> ReferenceData:
    bill: dict[str, list[tuple[str, int]]] = {}
    for sku, part, units in tables["variant_part"]:
        bill.setdefault(sku, []).append((part, units))
    ref = ReferenceData(
        regions={code for (code,) in tables["region"]},
        locations={row[0]: Location(*row) for row in tables["location"]},
        carriers={
            code: Carrier(code, active, capacity, frozenset(regions))
            for code, active, capacity, regions in tables["carrier"]
        },
        customers={row[0]: Customer(*row) for row in tables["customer"]},
        variants={row[0]: Variant(*row) for row in tables["variant"]},
        bill_of_materials=bill,
        available={(loc, part): units for loc, part, units in tables["inventory"]},
        highest_prep_number={
            (loc, carrier, dt.date.fromisoformat(day)): number
            for loc, carrier, day, number in tables["collection_prep"]
        },
    )
    ref.digest = digest_reference(ref)
    return ref


def _table_digest(rows: Iterable[Row]) -> str:
    return "sha256:" + hashlib.sha256(orjson.dumps(list(rows))).hexdigest()


# -- drift -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Drift:
    """One reference row the spec relies on that changed since the lock."""

    table: str
    key: tuple[Any, ...]
    change: str


_SELECTED = "among the rows the spec selects"


def find_drift(locked: ReferenceData, live: ReferenceData) -> list[Drift]:
    """Every row added, removed or changed between the lock and the live data."""
    before, after = locked.tables(), live.tables()
    drift = []
    for name, columns in _COLUMNS.items():
        width = _KEY_WIDTH[name]
        old = {tuple(row[:width]): row for row in before[name]}
        new = {tuple(row[:width]): row for row in after[name]}
        for key in sorted(old.keys() | new.keys()):
            if key not in new:
                drift.append(Drift(name, key, f"no longer {_SELECTED}"))
            elif key not in old:
                drift.append(Drift(name, key, f"newly {_SELECTED}"))
            elif old[key] != new[key]:
                changes = [
                    f"{column} {_show(old[key][i])} -> {_show(new[key][i])}"
                    for i, column in enumerate(columns)
                    if old[key][i] != new[key][i]
                ]
                drift.append(Drift(name, key, ", ".join(changes)))
    return drift


def _show(value: object) -> str:
    return orjson.dumps(value).decode()


def drift_diagnostics(loaded: LoadedSpec, drift: list[Drift]) -> list[Diagnostic]:
    """Each drifted row as a diagnostic at the spec line that relies on it."""
    where = _reliance(loaded)
    out = []
    for item in drift:
        path = where.get((item.table, item.key[0])) or where.get((item.table, None), ())
        label = "/".join(str(part) for part in item.key)
        out.append(
            Diagnostic(
                "lock.drift",
                f"{item.table} {label} changed since the lock: {item.change}",
                loaded.source.position(path),
                hint="compile and lock again if the change is intended",
            )
        )
    return sorted(out, key=Diagnostic.sort_key)


def _reliance(loaded: LoadedSpec) -> dict[tuple[str, Any], SpecPath]:
    """For a table and a row's first key, the spec path that relies on it."""
    spec = loaded.spec
    where: dict[tuple[str, Any], SpecPath] = {}

    def lines(path: SpecPath, items: Iterable[Any]) -> None:
        for n, line in enumerate(items):
            for table in ("variant", "variant_part"):
                where.setdefault((table, line.sku), (*path, n, "sku"))

    for name, template in spec.templates.items():
        lines(("templates", name, "lines"), template.lines)
    for g, group in enumerate(spec.orders):
        here: SpecPath = ("orders", g)
        lines((*here, "lines"), group.lines or ())
        if group.duplicate is not None:
            lines((*here, "duplicate", "lines"), group.duplicate.lines)
            where.setdefault(
                ("customer", group.duplicate.customer), (*here, "duplicate")
            )
        selection = group.customers
        if selection is not None:
            for code in selection.codes or ():
                where.setdefault(("customer", code), (*here, "customers"))
            if selection.codes is None:
                # Customers picked by region: the selection relies on them all.
                where.setdefault(("customer", None), (*here, "customers"))
        # Stock and locations are relied on by the orders that need them.
        for table in ("inventory", "location", "region"):
            where.setdefault((table, None), here)
    for p, prep in enumerate(spec.collection_preps):
        here = ("collection_preps", p)
        for code in prep.carrier.named_carriers():
            where.setdefault(("carrier", code), (*here, "carrier"))
        if prep.location is not None:
            where.setdefault(("location", prep.location), (*here, "location"))
            where.setdefault(("collection_prep", prep.location), (*here, "date"))
        # Existing codes at the date decide where new codes start; carriers
        # picked by `any` are relied on by the rule that picks them.
        where.setdefault(("collection_prep", None), (*here, "date"))
        where.setdefault(("carrier", None), (*here, "carrier"))
    return where
