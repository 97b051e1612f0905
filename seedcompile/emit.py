"""Writing the output: stable bytes, written atomically.

A fixture is written to a temporary file beside its destination, flushed to
disk, then renamed over the destination in one step. A compile that fails or
is interrupted therefore leaves either the previous file, untouched, or the
new one, whole: never a half-written file that looks fresh.

Interruptions are honoured up to the rename: Ctrl-C or SIGTERM while the
bytes are written (the CLI turns both into a cancellation of the running
compile) removes the temporary file and leaves the previous output as it was.
A process killed outright (SIGKILL, a power cut) cannot clean up after
itself; its temporary file names its process id, and the next write to the
same destination removes it once that process is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

import orjson

from seedcompile.errors import Diagnostic, SourcePosition, SpecError, UsageError
from seedcompile.limits import MAX_OUTPUT_BYTES_VARIABLE, limit

# The largest SeedConfig a compile writes. A spec within every other limit
# can still multiply out to more than a loader will want; raise it with
# SEEDCOMPILE_MAX_OUTPUT_BYTES.
DEFAULT_MAX_OUTPUT_BYTES = 2 * 1024**3
MAX_OUTPUT_VARIABLE = MAX_OUTPUT_BYTES_VARIABLE
# Written in pieces of this size, so that an interruption is noticed soon.
CHUNK_BYTES = 8 * 1024 * 1024

_swept: set[Path] = set()


def render(document: Mapping[str, object]) -> bytes:
    """The JSON bytes of a SeedConfig: two-space indent, one trailing newline."""
    return orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"


def max_output_bytes(environ: dict[str, str] | None = None) -> int:
    """The output size limit: SEEDCOMPILE_MAX_OUTPUT_BYTES, else 2 GiB."""
    return limit(MAX_OUTPUT_VARIABLE, DEFAULT_MAX_OUTPUT_BYTES, environ)


def check_output_size(document: bytes, *, file: str | None = None) -> None:
    """Refuse a SeedConfig larger than the output size limit."""
    limit = max_output_bytes()
    if len(document) > limit:
        raise SpecError.single(
            "spec.output-too-large",
            f"the SeedConfig would be {len(document):,} bytes; the limit is {limit:,}",
            position=SourcePosition(file),
            hint=f"compile fewer orders, or raise the limit with "
            f"{MAX_OUTPUT_VARIABLE}=BYTES",
        )


def ensure_inside(folder: Path, target: Path) -> Path:
    """`target`, checked to lie inside `folder` once `..` and links are resolved."""
    base = folder.resolve()
    resolved = target.resolve()
    if resolved != base and base not in resolved.parents:
        raise UsageError.single(
            "usage.output-outside",
            f"the output {target} would be written outside the output folder {folder}",
            hint="name the specs by a path under the current folder, or give "
            "them one at a time with -o FILE",
        )
    return target


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` in one step, or leave it as it was."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _sweep_orphans(path)
        fd, temp_name = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp"
        )
    except OSError as exc:
        raise _unwritable(path, exc) from None
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            view = memoryview(data)
            for start in range(0, len(view), CHUNK_BYTES):
                _stop_if_cancelled()
                handle.write(view[start : start + CHUNK_BYTES])
            handle.flush()
            os.fsync(handle.fileno())
        # The last moment to honour an interruption: after the rename the new
        # file is the output.
        _stop_if_cancelled()
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException as exc:
        # KeyboardInterrupt and cancellation included: the temporary file must
        # not outlive an interrupted write.
        temp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _unwritable(path, exc) from None
        raise
    _fsync_directory(path.parent)


def _stop_if_cancelled() -> None:
    """Raise if the compile running this write has been cancelled.

    The CLI turns Ctrl-C and SIGTERM into a cancellation of its main task,
    which only takes effect at the next `await`; a write runs synchronously
    inside that task, so it asks whether a cancellation is pending.
    """
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no event loop: a signal raises where it lands
        return
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _sweep_orphans(path: Path) -> None:
    """Remove temporary files that killed writers left beside `path`."""
    if path in _swept:
        return
    _swept.add(path)
    pattern = re.compile(re.escape(f".{path.name}.") + r"(\d+)\..*\.tmp")
    try:
        siblings = list(path.parent.iterdir())
    except OSError:
        return
    for sibling in siblings:
        match = pattern.fullmatch(sibling.name)
        if match and not _is_alive(int(match[1])):
            with contextlib.suppress(OSError):
                sibling.unlink()


def _is_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process, or no permission to ask
        return True
    return True


def _fsync_directory(folder: Path) -> None:
    """Make the rename itself durable (where the platform allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _unwritable(path: Path, exc: OSError) -> UsageError:
    reason = exc.strerror or type(exc).__name__
    return UsageError(
        Diagnostic(
            "usage.output-unwritable",
            f"cannot write {path}: {reason}; the previous file, if any, was left "
            "as it was",
            hint="check that the folder exists, is writable and has space",
        )
    )
