"""Trees of specs: finding them, sharding them, and where their fixtures go.

`seedcompile compile specs/ -o fixtures/` compiles every spec under `specs/`
into the same layout under `fixtures/`. Files whose name starts with `_` are
partials, meant to be `extends`-ed, and are not compiled on their own.
"""

from __future__ import annotations

import difflib
import glob
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from seedcompile.errors import UsageError

SPEC_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class SpecFile:
    """One spec to compile, and its path relative to the tree it came from."""

    path: Path
    relative: PurePosixPath

    def output_in(self, folder: Path) -> Path:
        """Where its fixture goes in a mirrored output folder."""
        return folder / Path(*self.relative.with_suffix(".json").parts)


def discover(arguments: list[str]) -> list[SpecFile]:
    """Spec files named by files, folders and glob patterns, each once, sorted."""
    found: dict[Path, SpecFile] = {}
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            for candidate in sorted(path.rglob("*")):
                if _is_spec(candidate):
                    relative = PurePosixPath(candidate.relative_to(path).as_posix())
                    found.setdefault(candidate.resolve(), SpecFile(candidate, relative))
        elif glob.has_magic(argument):
            matches = sorted(glob.glob(argument, recursive=True))
            # Mirror from the folder before the first wildcard: with
            # `../specs/**/*.yaml`, `../specs/a/b.yaml` becomes `a/b.yaml`.
            base = _fixed_prefix(argument)
            for match in matches:
                candidate = Path(match)
                if _is_spec(candidate):
                    inside = Path(os.path.relpath(candidate, base)).as_posix()
                    spec = SpecFile(candidate, PurePosixPath(inside))
                    found.setdefault(candidate.resolve(), spec)
            if not matches:
                raise UsageError.single(
                    "usage.no-specs", f"no spec file matches {argument!r}"
                )
        else:
            # A plain file is compiled even when it does not exist: loading it
            # reports the missing file with the other spec errors.
            found.setdefault(path.resolve(), SpecFile(path, PurePosixPath(path.name)))
    return sorted(found.values(), key=lambda spec: spec.relative)


def _fixed_prefix(pattern: str) -> str:
    """The folder part of a glob pattern before its first wildcard."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return str(Path(*fixed)) if fixed else "."


def _is_spec(path: Path) -> bool:
    return (
        path.is_file()
        and path.suffix in SPEC_SUFFIXES
        and not path.name.startswith("_")
        and not path.name.endswith(".lock.yaml")
    )


def parse_shard(text: str) -> tuple[int, int]:
    """`K/N` as (K, N), 1 <= K <= N."""
    try:
        k_text, n_text = text.split("/")
        k, n = int(k_text), int(n_text)
    except ValueError:
        k = n = 0
    if not 1 <= k <= n:
        raise UsageError.single(
            "usage.shard",
            f"--shard takes K/N with 1 <= K <= N, such as 2/4, not {text!r}",
        )
    return k, n


def in_shard(spec: SpecFile, k: int, n: int) -> bool:
    """Whether `spec` belongs to shard K of N: by its path, never its position."""
    digest = hashlib.sha256(spec.relative.as_posix().encode()).digest()
    return int.from_bytes(digest[:8], "big") % n == k - 1


def staleness(old: bytes | None, new: bytes) -> str | None:
    """Why the fixture on disk differs from a fresh compile, or None if it does not."""
    if old is None:
        return "missing"
    if old == new:
        return None
    import orjson

    try:
        before = orjson.loads(old).get("meta", {})
    except (orjson.JSONDecodeError, AttributeError):
        return "not a SeedConfig"
    after = orjson.loads(new)["meta"]
    reasons = [
        text
        for key, text in (
            ("spec_digest", "the spec changed"),
            ("reference_digest", "the reference data changed"),
            ("compiler", "the compiler version changed"),
        )
        if before.get(key) != after[key]
    ]
    return ", ".join(reasons) or "the fixture was edited by hand"


def unified_diff(old: bytes | None, new: bytes, *, name: str) -> str:
    """A unified diff from the fixture on disk to a fresh compile."""
    before = (old or b"").decode("utf-8", "replace").splitlines(keepends=True)
    after = new.decode("utf-8").splitlines(keepends=True)
    return "".join(
        difflib.unified_diff(
            before, after, fromfile=f"{name} (on disk)", tofile=f"{name} (compiled)"
        )
    )
