"""Compiling trees of specs through the real command line: layout, check, shard."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import SPECS, build_demo

SEEDCOMPILE = str(Path(sys.executable).with_name("seedcompile"))


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_demo(f"sqlite:///{tmp_path_factory.mktemp('tree') / 'demo.db'}")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """specs/ with the two example specs, one of them in a subfolder."""
    root = tmp_path / "specs"
    (root / "us").mkdir(parents=True)
    shutil.copy(SPECS / "eu-west-launch.yaml", root / "eu-west-launch.yaml")
    shutil.copy(SPECS / "multi-region-mix.yaml", root / "us" / "mix.yaml")
    (root / "_partial.yaml").write_text("not: a spec\n")  # partials are skipped
    return root


def seedcompile(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SEEDCOMPILE, *args], cwd=cwd, capture_output=True, text=True, check=False
    )


def test_a_tree_compiles_into_a_mirrored_layout(tree: Path, demo_db: str) -> None:
    done = seedcompile(
        "compile", "specs", "-o", "fixtures", "--db", demo_db, cwd=tree.parent
    )
    assert done.returncode == 0, done.stderr
    fixtures = tree.parent / "fixtures"
    assert sorted(p.relative_to(fixtures).as_posix() for p in fixtures.rglob("*")) == [
        "eu-west-launch.json",
        "us",
        "us/mix.json",
    ]
    mix = json.loads((fixtures / "us" / "mix.json").read_text())
    assert mix["meta"]["spec"] == "mix.yaml"
    assert "2 compiled in" in done.stderr


def test_check_passes_when_fresh_and_lists_stale_fixtures(
    tree: Path, demo_db: str
) -> None:
    cwd = tree.parent
    seedcompile("compile", "specs", "-o", "fixtures", "--db", demo_db, cwd=cwd)
    fresh = seedcompile(
        "compile", "specs", "-o", "fixtures", "--check", "--db", demo_db, cwd=cwd
    )
    assert fresh.returncode == 0, fresh.stderr
    assert "2 checked, 0 stale" in fresh.stderr

    spec = tree / "eu-west-launch.yaml"
    spec.write_text(spec.read_text().replace("exclude: [499]", "exclude: [498]"))
    (cwd / "fixtures" / "us" / "mix.json").unlink()
    before = (cwd / "fixtures" / "eu-west-launch.json").read_bytes()

    stale = seedcompile(
        "compile",
        "specs",
        "-o",
        "fixtures",
        "--check",
        "--diff",
        "--db",
        demo_db,
        cwd=cwd,
    )
    assert stale.returncode == 1
    assert "stale fixtures/eu-west-launch.json: the spec changed" in stale.stderr
    assert "stale fixtures/us/mix.json: missing" in stale.stderr
    assert '-      "ref": "eu-west-0498",' in stale.stdout
    # --check writes nothing.
    assert (cwd / "fixtures" / "eu-west-launch.json").read_bytes() == before
    assert not (cwd / "fixtures" / "us" / "mix.json").exists()


def test_one_failing_spec_does_not_stop_the_others(tree: Path, demo_db: str) -> None:
    (tree / "broken.yaml").write_text(
        "version: 1\norders:\n  - name: x\n    count: 2\n    customers: all\n"
        "    lines: [{sku: NO-SUCH-SKU}]\n"
    )
    done = seedcompile(
        "compile", "specs", "-o", "fixtures", "--db", demo_db, cwd=tree.parent
    )
    assert done.returncode == 1
    assert "specs/broken.yaml:6:" in done.stderr
    assert "reference.unknown-sku" in done.stderr
    assert "2 compiled, 1 failed" in done.stderr
    assert (tree.parent / "fixtures" / "us" / "mix.json").exists()
    assert not (tree.parent / "fixtures" / "broken.json").exists()


def test_shards_split_the_tree_by_path_and_cover_it(tree: Path, demo_db: str) -> None:
    for name in ("a", "b", "c", "d", "e"):
        shutil.copy(tree / "eu-west-launch.yaml", tree / f"{name}.yaml")
    compiled: list[str] = []
    for k in (1, 2, 3):
        out = tree.parent / f"shard{k}"
        done = seedcompile(
            "compile",
            "specs",
            "-o",
            str(out),
            "--shard",
            f"{k}/3",
            "--db",
            demo_db,
            cwd=tree.parent,
        )
        assert done.returncode == 0, done.stderr
        compiled += [p.relative_to(out).as_posix() for p in out.rglob("*.json")]
    assert sorted(compiled) == sorted(
        [
            "a.json",
            "b.json",
            "c.json",
            "d.json",
            "e.json",
            "eu-west-launch.json",
            "us/mix.json",
        ]
    )
    # The same shard always gets the same specs.
    again = tree.parent / "again"
    repeated = seedcompile(
        "compile",
        "specs",
        "-o",
        str(again),
        "--shard",
        "1/3",
        "--db",
        demo_db,
        cwd=tree.parent,
    )
    assert repeated.returncode == 0, repeated.stderr
    first = sorted(p.name for p in (tree.parent / "shard1").rglob("*.json"))
    assert first  # seven specs in three shards: the first is not empty
    assert sorted(p.name for p in again.rglob("*.json")) == first


def test_several_specs_need_an_output_folder(tree: Path, demo_db: str) -> None:
    done = seedcompile("compile", "specs", "--db", demo_db, cwd=tree.parent)
    assert done.returncode == 2
    assert "compiling several specs needs an output folder" in done.stderr


def test_no_database_is_a_usage_error(tree: Path) -> None:
    done = subprocess.run(
        [SEEDCOMPILE, "compile", "specs/eu-west-launch.yaml"],
        cwd=tree.parent,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert done.returncode == 2
    assert "no database given: pass --db URL or set DATABASE_URL" in done.stderr
    assert done.stdout == ""


def test_unchanged_specs_are_skipped_until_something_changes(
    tree: Path, tmp_path: Path
) -> None:
    import sqlite3

    db_path = tmp_path / "own.db"
    demo = build_demo(f"sqlite:///{db_path}")
    cwd = tree.parent
    fixture = cwd / "fixtures" / "eu-west-launch.json"

    def compile_tree(*extra: str) -> str:
        done = seedcompile(
            "compile", "specs", "-o", "fixtures", "--db", demo, *extra, cwd=cwd
        )
        assert done.returncode == 0, done.stderr
        return done.stderr

    compile_tree()
    written = fixture.stat().st_mtime_ns
    again = compile_tree()
    assert "0 compiled, 2 unchanged" in again
    assert "unchanged fixtures/eu-west-launch.json" in again
    assert fixture.stat().st_mtime_ns == written

    # Reference rows this spec relies on change: it is compiled again, the
    # other (which does not use MUG-WHITE) is not.
    with sqlite3.connect(db_path) as db:
        db.execute(
            "UPDATE inventory SET on_hand = on_hand + 1 "
            "WHERE part_number = 'BLANK-MUG-WHITE'"
        )
    after_data = compile_tree()
    assert "compiled specs/eu-west-launch.yaml" in after_data
    assert "unchanged fixtures/us/mix.json" in after_data

    assert "2 compiled in" in compile_tree("--force")


def test_a_glob_mirrors_from_the_folder_before_its_wildcard(
    tree: Path, demo_db: str
) -> None:
    work = tree.parent / "elsewhere"
    work.mkdir()
    done = seedcompile(
        "compile", "../specs/**/*.yaml", "-o", "out", "--db", demo_db, cwd=work
    )
    assert done.returncode == 0, done.stderr
    assert sorted(
        p.relative_to(work / "out").as_posix() for p in (work / "out").rglob("*.json")
    ) == [
        "eu-west-launch.json",
        "us/mix.json",
    ]


@pytest.mark.parametrize("command", [["compile", "-o", "out"], ["lock"]])
def test_a_folder_without_specs_is_a_usage_error(
    tmp_path: Path, demo_db: str, command: list[str]
) -> None:
    (tmp_path / "empty").mkdir()
    done = seedcompile(*command, "empty", "--db", demo_db, cwd=tmp_path)
    assert done.returncode == 2
    assert "error [usage.no-specs] no spec files found in empty" in done.stderr


def test_several_specs_into_one_json_file_is_a_usage_error(
    tree: Path, demo_db: str
) -> None:
    done = seedcompile(
        "compile", "specs", "-o", "all.json", "--db", demo_db, cwd=tree.parent
    )
    assert done.returncode == 2
    assert "several specs compile into a folder, not into all.json" in done.stderr
    assert not (tree.parent / "all.json").exists()
