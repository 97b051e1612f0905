"""Running one measured process: its wall time and its own peak memory.

Peak memory is the child's `ru_maxrss`, read with `os.wait4` for exactly that
child. `getrusage(RUSAGE_CHILDREN)` would not do: it reports the largest
`ru_maxrss` of all the children waited for so far, so after an L compile every
smaller compile would seem to take as much. `/usr/bin/time -f %M` gives the
same number as `wait4` but adds a process and a dependency; polling with
psutil can miss a short peak.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ProcessRun:
    """What one process took."""

    argv: tuple[str, ...]
    seconds: float  # wall time, from just before fork to just after exit
    peak_rss: int  # bytes
    cpu_seconds: float  # user + system time of the process itself
    exit_code: int
    stdout: str
    stderr: str

    def check(self) -> ProcessRun:
        """Raise, showing its stderr, when the process failed."""
        if self.exit_code != 0:
            raise RuntimeError(
                f"{' '.join(self.argv)} exited with {self.exit_code}:\n"
                f"{self.stderr.strip()[-4000:]}"
            )
        return self


def run_process(argv: Sequence[str], *, cwd: Path | None = None) -> ProcessRun:
    """Run `argv` to completion and measure it."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=out, stderr=err, cwd=cwd)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        # Reaped here: tell Popen, so that it does not wait a second time.
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return ProcessRun(
            argv=tuple(argv),
            seconds=seconds,
            peak_rss=usage.ru_maxrss * 1024,  # Linux reports kibibytes
            cpu_seconds=usage.ru_utime + usage.ru_stime,
            exit_code=process.returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def load_average() -> float:
    """The machine's 1-minute load average (0 where it cannot be read)."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
