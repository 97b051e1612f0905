"""The `seedcompile` process: it ends at once, and loses nothing on the way.

The entry point skips the interpreter's teardown (`os._exit`) once the
command is done, so it must flush what it wrote first, pass the exit code
on, and stand aside for a profiler that writes its report at exit.
"""

from __future__ import annotations

import json
import pstats
import subprocess
import sys
from pathlib import Path

from seedcompile.schemas import seedconfig_schema

REPO = Path(__file__).resolve().parent.parent
ENTRY = "from seedcompile.cli import main; main()"


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, cwd=cwd, check=False
    )


def test_a_large_output_to_a_pipe_arrives_whole() -> None:
    # A pipe is block-buffered: without a flush before the exit, the end of
    # the schema would be lost.
    done = run("-c", ENTRY, "schema", "seedconfig")
    assert done.returncode == 0
    assert json.loads(done.stdout) == seedconfig_schema()


def test_the_exit_code_and_the_message_survive_the_fast_exit(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("version: 1\norders: []\nseed: -1\n")
    done = run("-c", ENTRY, "validate", str(spec))
    assert done.returncode == 1
    assert b"bad.yaml:3:7" in done.stderr


def test_a_profiler_still_writes_its_report(tmp_path: Path) -> None:
    profile = tmp_path / "validate.prof"
    spec = REPO / "specs" / "eu-west-launch.yaml"
    done = run(
        "-m", "cProfile", "-o", str(profile), "-m", "seedcompile", "validate", str(spec)
    )
    assert done.returncode == 0, done.stderr
    stats = pstats.Stats(str(profile))
    assert any(name == "load_spec" for _, _, name in stats.stats)  # type: ignore[attr-defined]


def test_validate_imports_no_database_layer() -> None:
    # `validate` runs in CI once per spec: its start-up is its cost. It must
    # not pay for SQLAlchemy or a driver it never uses.
    spec = REPO / "specs" / "eu-west-launch.yaml"
    probe = (
        "import sys\n"
        "from seedcompile.cli import app\n"
        f"sys.argv = ['seedcompile', 'validate', {str(spec)!r}]\n"
        "try:\n"
        "    app()\n"
        "except SystemExit as done:\n"
        "    assert done.code == 0, done.code\n"
        "heavy = ('sqlalchemy', 'asyncpg', 'aiosqlite')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))\n"
    )
    done = run("-c", probe)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().splitlines()[-1] == "[]"
