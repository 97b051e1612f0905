"""Writing the output: stable bytes, written atomically.

A fixture is written to a temporary file beside its destination, flushed to
disk, then renamed over the destination in one step. A compile that fails or
is interrupted therefore leaves either the previous file, untouched, or the
new one, whole: never a half-written file that looks fresh.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import orjson


def render(document: dict[str, Any]) -> bytes:
    """The JSON bytes of a SeedConfig: two-space indent, one trailing newline."""
    return orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` in one step, or leave it as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        # KeyboardInterrupt and SystemExit (SIGTERM) included: the temporary
        # file must not outlive an interrupted write.
        temp.unlink(missing_ok=True)
        raise
