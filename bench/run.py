"""Benchmark seedcompile against a large reference database.

    python bench/run.py [--quick] [--keep] [--sizes S,M,L,XL] [--runs L=5,...]
                        [--network-rtt-ms 1.0]

1. starts a throwaway PostgreSQL server on loopback (`scripts/pg-cluster`, in
   bench/.data/pg, port 54339) and loads the dataset of `bench/dataset.py`
   into it with COPY, unless it holds that dataset already;
2. compiles the specs of bench/specs/ (S, M, L, XL), each run a whole
   `seedcompile compile` process, after one unmeasured warm-up run, and takes
   the median wall time of several runs, the peak memory of the process,
   the size of its output, and the time, queries and rows of each stage;
3. runs the two references on the same server: `naive.py` (the predecessor's
   query-per-lookup way) on S and M, `floor.py` (the least any compiler must do)
   on M and L, and times `seedcompile validate` on a small spec; naive M over
   floor M is the ceiling: the most times faster than naive any compiler can
   be on this machine;
4. unless --network-rtt-ms is 0, runs naive M once and seedcompile M three
   times (after a warm-up) again through `latency.py`, a proxy on loopback that
   holds every chunk of bytes for half the round-trip time in each direction:
   what a network would do to both (informative, not a target);
5. prints the tables, the ratios and a PASS or FAIL line per target, and
   writes bench/results/latest.json and bench/results/latest.md.

The server is stopped at the end unless --keep is given. Progress goes to
stderr, the report to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import dataset
import latency
import orjson
import report
import server
from measure import ProcessRun, load_average, median, run_process

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SPECS = BENCH / "specs"
OUT = BENCH / ".data" / "out"
RESULTS = BENCH / "results"
VALIDATE_SPEC = Path("specs") / "eu-west-launch.yaml"

SIZES = ("S", "M", "L", "XL")
RUNS = {"S": 5, "M": 5, "L": 5, "XL": 2}
QUICK_RUNS = {"S": 2, "M": 2, "L": 1, "XL": 1}
# What each spec must compile to: (orders, collection preps).
EXPECTED = {
    "S": (1_000, 20),
    "M": (10_000, 200),
    "L": (100_000, 2_000),
    "XL": (1_000_000, 20_000),
}
NAIVE_SIZES = ("S", "M")
FLOOR_SIZES = ("M", "L")
# Over the emulated network: the spec, seedcompile's measured runs (after one
# warm-up), naive's runs (about 80 s each at 1 ms), and the `SELECT 1` round
# trips timed to show what the proxy really adds.
NETWORK_SIZE = "M"
NETWORK_RUNS = 3
NETWORK_NAIVE_RUNS = 1
ROUND_TRIPS = 200


@dataclass(slots=True)
class Settings:
    sizes: tuple[str, ...]
    runs: dict[str, int]
    warmups: int
    naive_runs: int
    floor_runs: int
    validate_runs: int
    network_rtt_ms: float  # 0: no network emulation
    keep: bool
    quick: bool


@dataclass(frozen=True, slots=True)
class Route:
    """Where measured processes connect, and how their runs are named."""

    url: str
    prefix: str = ""  # of output file names
    note: str = ""  # after "compile M" in progress lines


@dataclass(slots=True)
class Measured:
    """The runs of one command, in the order they ran."""

    runs: list[dict[str, Any]] = field(default_factory=list)

    def median(self, key: str) -> float:
        return median([run[key] for run in self.runs])

    def highest(self, key: str) -> float:
        return float(max(run[key] for run in self.runs))


def main() -> int:
    settings = parse_args(sys.argv[1:])
    started = time.perf_counter()
    machine = describe_machine()
    # Before anything of ours runs: other work on the machine skews every time.
    machine["load_before"] = load_average()
    try:
        measured = measure_all(settings, machine)
    except RuntimeError as exc:
        say(f"error: {exc}")
        return 2
    machine["load_after"] = load_average()

    results: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "settings": asdict(settings),
        **measured,
        "seconds": time.perf_counter() - started,
    }
    results["ratios"] = report.ratios(results)
    results["targets"] = report.evaluate(results)
    write_results(results)
    print(report.render_text(results))
    return 0 if all(t["passed"] for t in results["targets"]) else 1


def measure_all(settings: Settings, machine: dict[str, Any]) -> dict[str, Any]:
    """Start the server, load the dataset, run everything; stop the server."""
    seedcompile = find_seedcompile()
    say(f"starting the benchmark server in {server.DEFAULT_DIR}")
    srv = server.start()
    try:
        say("checking the reference dataset")
        loaded = asyncio.run(dataset.ensure_loaded(srv.admin_url))
        how = f"loaded in {loaded['seconds']:.1f} s" if loaded["loaded"] else "reused"
        say(f"dataset {how}")
        server.grant_reads(srv)
        machine["postgresql"] = server.server_version(srv)
        OUT.mkdir(parents=True, exist_ok=True)
        loopback = Route(srv.client_url)
        compiles = {
            size: measure_compile(
                srv,
                seedcompile,
                size,
                runs=settings.runs[size],
                warmups=settings.warmups,
                route=loopback,
            )
            for size in settings.sizes
        }
        naive = {
            size: measure_naive(srv, size, runs=settings.naive_runs, route=loopback)
            for size in NAIVE_SIZES
            if size in compiles
        }
        floors = {
            size: measure_floor(srv, size, settings)
            for size in FLOOR_SIZES
            if size in compiles
        }
        validate = measure_validate(seedcompile, settings)
        network = None
        if settings.network_rtt_ms > 0 and NETWORK_SIZE in compiles:
            network = measure_network(srv, seedcompile, settings, compiles)
        elif settings.network_rtt_ms > 0:
            say(f"no network emulation: it needs {NETWORK_SIZE} among the sizes")
    finally:
        if settings.keep:
            say(f"leaving the server running: {srv.admin_url}")
        else:
            server.stop()
            shutil.rmtree(OUT, ignore_errors=True)
    return {
        "dataset": loaded,
        "compiles": {size: summarise_compile(m) for size, m in compiles.items()},
        "naive": naive,
        "floors": floors,
        # L's floor under its earlier key, for readers of earlier results.
        "floor": floors.get("L"),
        "validate": validate,
        "network": network,
    }


# -- settings and machine -----------------------------------------------------


def parse_args(argv: list[str]) -> Settings:
    parser = argparse.ArgumentParser(
        prog="bench/run.py", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="S, M and L only, fewer runs, no warm-up: a smoke test, not a result",
    )
    parser.add_argument(
        "--keep", action="store_true", help="leave the server running at the end"
    )
    parser.add_argument("--sizes", help="which specs to compile, e.g. S,M,L")
    parser.add_argument("--runs", help="measured runs per spec, e.g. L=5,XL=1")
    parser.add_argument("--naive-runs", type=int, help="runs of naive.py per spec")
    parser.add_argument("--floor-runs", type=int, help="runs of floor.py")
    parser.add_argument("--validate-runs", type=int, help="runs of validate")
    parser.add_argument(
        "--network-rtt-ms",
        type=float,
        help="round-trip time of the emulated network for naive M and "
        "seedcompile M (default 1; 0 skips it, the default with --quick)",
    )
    args = parser.parse_args(argv)

    quick = bool(args.quick)
    default_sizes = ("S", "M", "L") if quick else SIZES
    sizes = (
        tuple(s.strip().upper() for s in args.sizes.split(","))
        if args.sizes
        else default_sizes
    )
    rtt = args.network_rtt_ms
    if rtt is None:
        rtt = 0.0 if quick else 1.0
    if rtt < 0:
        parser.error("--network-rtt-ms takes a round-trip time of 0 or more")
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        parser.error(f"unknown size {unknown[0]!r}: choose from {', '.join(SIZES)}")
    runs = dict(QUICK_RUNS if quick else RUNS)
    for item in (args.runs or "").split(","):
        if item.strip():
            size, _, count = item.partition("=")
            if size.strip().upper() not in SIZES or not count.strip().isdigit():
                parser.error(f"--runs takes SIZE=N,...; not {item!r}")
            runs[size.strip().upper()] = max(1, int(count))
    return Settings(
        sizes=tuple(s for s in SIZES if s in sizes),
        runs=runs,
        warmups=0 if quick else 1,
        naive_runs=args.naive_runs or (1 if quick else 3),
        floor_runs=args.floor_runs or (2 if quick else 5),
        validate_runs=args.validate_runs or (3 if quick else 10),
        network_rtt_ms=rtt,
        keep=bool(args.keep),
        quick=quick,
    )


def find_seedcompile() -> str:
    """The seedcompile of this interpreter's environment, else the one on PATH."""
    beside = Path(sys.executable).parent / "seedcompile"
    if beside.exists():
        return str(beside)
    found = shutil.which("seedcompile")
    if found is None:
        raise SystemExit("seedcompile not found: run `make install` first")
    return found


def describe_machine() -> dict[str, Any]:
    cpuinfo = (
        Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    )
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in cpuinfo.splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    meminfo = (
        Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    )
    total_kib = next(
        (
            int(line.split()[1])
            for line in meminfo.splitlines()
            if line.startswith("MemTotal:")
        ),
        0,
    )
    return {
        "cpu": model,
        "cores": len(os.sched_getaffinity(0)),
        "ram_gib": round(total_kib / 1024**2, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "commit": git_commit(),
    }


def git_commit() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "seedcompile"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+modified" if dirty else "")


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# -- measuring ----------------------------------------------------------------


def measure_compile(
    srv: server.Server,
    seedcompile: str,
    size: str,
    *,
    runs: int,
    warmups: int,
    route: Route,
) -> Measured:
    """Compile one spec, whole process each time: warm-up runs, then measured runs."""
    spec = SPECS / f"{size.lower()}.yaml"
    output = OUT / f"{route.prefix}{size.lower()}.json"
    timings = OUT / f"{route.prefix}{size.lower()}.timings.json"
    argv = [
        seedcompile,
        "compile",
        str(spec.relative_to(REPO)),
        "--db",
        route.url,
        "-o",
        str(output),
        "--timings-json",
        str(timings),
    ]
    # No fixture on disk before a run: seedcompile skips a spec whose fixture
    # is up to date, and every run must compile from scratch.
    for n in range(warmups):
        say(f"compile {size}{route.note}: warm-up {n + 1}/{warmups}")
        output.unlink(missing_ok=True)
        run_process(argv, cwd=REPO).check()
    measured = Measured()
    for n in range(runs):
        say(f"compile {size}{route.note}: run {n + 1}/{runs}")
        output.unlink(missing_ok=True)
        timings.unlink(missing_ok=True)
        server.reset_statements(srv)
        run = run_process(argv, cwd=REPO).check()
        counted = server.count_statements(srv)
        record = json.loads(timings.read_text())
        if (record["orders"], record["preps"]) != EXPECTED[size]:
            raise RuntimeError(
                f"{spec.name} compiled to {record['orders']} orders and "
                f"{record['preps']} preps, not {EXPECTED[size]}: fix the spec"
            )
        measured.runs.append(
            {
                "seconds": run.seconds,
                "cpu_seconds": run.cpu_seconds,
                "peak_rss": run.peak_rss,
                "output_bytes": output.stat().st_size,
                "sha256": file_digest(output),
                "orders": record["orders"],
                "preps": record["preps"],
                "queries": record["queries"],
                "server_statements": counted.statements,
                "server_queries": counted.queries,
                "server_rows": counted.rows,
                "cli_seconds": record["seconds"],
                "stages": merge_stages(record["stages"]),
            }
        )
    return measured


def merge_stages(stages: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Stages by name, in order, summing a stage that is timed in pieces."""
    merged: dict[str, dict[str, float]] = {}
    for stage in stages:
        entry = merged.setdefault(
            stage["stage"], {"seconds": 0.0, "queries": 0, "rows": 0}
        )
        for key in ("seconds", "queries", "rows"):
            entry[key] += stage[key]
    return merged


def summarise_compile(measured: Measured) -> dict[str, Any]:
    """Medians of the runs, and the per-stage table."""
    first = measured.runs[0]
    stage_names = list(first["stages"])
    stages = [
        {
            "stage": "start-up (interpreter, imports)",
            "seconds": median([r["seconds"] - r["cli_seconds"] for r in measured.runs]),
            "queries": 0,
            "rows": 0,
        }
    ]
    for name in stage_names:
        stages.append(
            {
                "stage": name,
                "seconds": median(
                    [r["stages"][name]["seconds"] for r in measured.runs]
                ),
                "queries": first["stages"][name]["queries"],
                "rows": first["stages"][name]["rows"],
            }
        )
    stages.append(
        {
            "stage": "load spec, connect, write",
            "seconds": median(
                [
                    r["cli_seconds"] - sum(s["seconds"] for s in r["stages"].values())
                    for r in measured.runs
                ]
            ),
            "queries": first["server_statements"] - first["queries"],
            "rows": 0,
        }
    )
    return {
        "runs": measured.runs,
        "seconds": measured.median("seconds"),
        "cpu_seconds": measured.median("cpu_seconds"),
        "seconds_min": min(r["seconds"] for r in measured.runs),
        "seconds_max": max(r["seconds"] for r in measured.runs),
        "peak_rss": measured.highest("peak_rss"),
        "output_bytes": first["output_bytes"],
        "orders": first["orders"],
        "preps": first["preps"],
        "queries": first["queries"],
        "server_statements": first["server_statements"],
        "server_queries": first["server_queries"],
        "server_rows": first["server_rows"],
        "same_bytes": len({r["sha256"] for r in measured.runs}) == 1,
        "stages": stages,
    }


def measure_naive(
    srv: server.Server, size: str, *, runs: int, route: Route
) -> dict[str, Any]:
    """Run naive.py on a spec; compare its fixture with seedcompile's on loopback."""
    spec = SPECS / f"{size.lower()}.yaml"
    output = OUT / f"{route.prefix}naive-{size.lower()}.json"
    argv = [sys.executable, str(BENCH / "naive.py"), str(spec), "--db", route.url]
    argv += ["-o", str(output)]
    measured = Measured()
    for n in range(runs):
        say(f"naive {size}{route.note}: run {n + 1}/{runs}")
        server.reset_statements(srv)
        run = run_process(argv, cwd=REPO).check()
        counted = server.count_statements(srv)
        measured.runs.append(
            {
                "seconds": run.seconds,
                "cpu_seconds": run.cpu_seconds,
                "peak_rss": run.peak_rss,
                "server_statements": counted.statements,
                "server_queries": counted.queries,
                "server_rows": counted.rows,
            }
        )
    return {
        "runs": measured.runs,
        "seconds": measured.median("seconds"),
        "peak_rss": measured.highest("peak_rss"),
        "server_statements": measured.runs[0]["server_statements"],
        "server_queries": measured.runs[0]["server_queries"],
        "output_bytes": output.stat().st_size,
        "comparison": compare_fixtures(OUT / f"{size.lower()}.json", output),
    }


def compare_fixtures(ours: Path, theirs: Path) -> dict[str, Any]:
    """How far the naive fixture is from seedcompile's, section by section.

    An entry counts as the same when every field the naive one has is equal
    in seedcompile's; fields only seedcompile writes (provenance) are listed.
    """
    a = orjson.loads(ours.read_bytes())
    b = orjson.loads(theirs.read_bytes())
    sections = {}
    extra: set[str] = set()
    for key in ("orders", "collection_preps", "stock_adjustments"):
        left, right = a[key], b[key]
        differing = abs(len(left) - len(right))
        for x, y in zip(left, right, strict=False):
            differing += any(x.get(k) != v for k, v in y.items())
            extra.update(f"{key}.{k}" for k in x.keys() - y.keys())
        sections[key] = {
            "seedcompile": len(left),
            "naive": len(right),
            "differing": differing,
        }
    identical = all(s["differing"] == 0 for s in sections.values())
    return {
        "identical_except_meta": identical,
        "sections": sections,
        "only_in_seedcompile": sorted(extra | (a.keys() - b.keys())),
    }


def measure_floor(srv: server.Server, size: str, settings: Settings) -> dict[str, Any]:
    """Run floor.py on a spec, sized to seedcompile's output for it."""
    spec = SPECS / f"{size.lower()}.yaml"
    ours = OUT / f"{size.lower()}.json"
    document = orjson.loads(ours.read_bytes())
    orders = len(document["orders"])
    preps = len(document["collection_preps"])
    allocated = sum(len(p["orders"]) for p in document["collection_preps"])
    del document
    output = OUT / f"floor-{size.lower()}.json"
    argv = [sys.executable, str(BENCH / "floor.py"), str(spec), "--db", srv.client_url]
    argv += ["-o", str(output), "--orders", str(orders), "--preps", str(preps)]
    argv += ["--allocated", str(allocated), "--size", str(ours.stat().st_size)]
    measured = Measured()
    for n in range(settings.floor_runs):
        say(f"floor {size}: run {n + 1}/{settings.floor_runs}")
        server.reset_statements(srv)
        run = run_process(argv, cwd=REPO).check()
        counted = server.count_statements(srv)
        steps = json.loads(run.stdout)
        measured.runs.append(
            {
                "seconds": run.seconds,
                "cpu_seconds": run.cpu_seconds,
                "peak_rss": run.peak_rss,
                "steps": steps["steps"],
                "rows": sum(steps["rows"].values()),
                "padding": steps["padding"],
                "server_statements": counted.statements,
            }
        )
    return {
        "size": size,
        "runs": measured.runs,
        "seconds": measured.median("seconds"),
        "peak_rss": measured.highest("peak_rss"),
        "output_bytes": output.stat().st_size,
        "rows": measured.runs[0]["rows"],
        "padding": measured.runs[0]["padding"],
        "server_statements": measured.runs[0]["server_statements"],
        "steps": {
            step: median([r["steps"][step] for r in measured.runs])
            for step in measured.runs[0]["steps"]
        },
    }


def measure_validate(seedcompile: str, settings: Settings) -> dict[str, Any]:
    """`seedcompile validate` of a small spec, whole process, start-up included."""
    argv = [seedcompile, "validate", str(VALIDATE_SPEC)]
    runs: list[ProcessRun] = []
    say(f"validate: {settings.validate_runs} runs")
    for _ in range(settings.validate_runs):
        runs.append(run_process(argv, cwd=REPO).check())
    return {
        "spec": str(VALIDATE_SPEC),
        "runs": [run.seconds for run in runs],
        "seconds": median([run.seconds for run in runs]),
        "peak_rss": max(run.peak_rss for run in runs),
    }


def measure_network(
    srv: server.Server,
    seedcompile: str,
    settings: Settings,
    compiles: dict[str, Measured],
) -> dict[str, Any]:
    """seedcompile and naive on M again, through a proxy that delays each chunk.

    Informative, not a target: what the same query patterns cost when every
    round trip takes the emulated RTT instead of loopback's ~25 us.
    """
    size = NETWORK_SIZE
    rtt_ms = settings.network_rtt_ms
    parts = urlsplit(srv.client_url)
    target = (parts.hostname or "127.0.0.1", parts.port or server.DEFAULT_PORT)
    with latency.DelayProxy(target, rtt=rtt_ms / 1000) as proxy:
        route = Route(
            proxy.url_for(srv.client_url),
            prefix="net-",
            note=f" over the emulated network (RTT {rtt_ms:g} ms)",
        )
        say(f"timing {ROUND_TRIPS} round trips, direct and through the proxy")
        round_trip = {
            "direct_ms": time_round_trip(srv.client_url) * 1000,
            "proxy_ms": time_round_trip(route.url) * 1000,
            "queries": ROUND_TRIPS,
        }
        ours = summarise_compile(
            measure_compile(
                srv, seedcompile, size, runs=NETWORK_RUNS, warmups=1, route=route
            )
        )
        naive = measure_naive(srv, size, runs=NETWORK_NAIVE_RUNS, route=route)
        connections = proxy.connections
    on_loopback = {run["sha256"] for run in compiles[size].runs}
    return {
        "size": size,
        "rtt_ms": rtt_ms,
        "emulation": (
            "bench/latency.py: a TCP proxy on loopback holding every chunk of "
            "bytes for RTT/2 in each direction; bandwidth not limited"
        ),
        "round_trip": round_trip,
        "proxied_connections": connections,
        "seedcompile": ours,
        "naive": naive,
        "same_bytes_as_loopback": {run["sha256"] for run in ours["runs"]}
        == on_loopback,
    }


def time_round_trip(url: str, queries: int = ROUND_TRIPS) -> float:
    """The median seconds of a `SELECT 1` on an open connection to `url`."""

    async def measure() -> float:
        conn = await asyncpg.connect(url)
        try:
            seconds = []
            for _ in range(queries):
                started = time.perf_counter()
                await conn.fetchval("SELECT 1")
                seconds.append(time.perf_counter() - started)
        finally:
            await conn.close()
        return median(seconds)

    return asyncio.run(measure())


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# -- results ------------------------------------------------------------------


def write_results(results: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    files = {
        RESULTS / "latest.json": orjson.dumps(results, option=orjson.OPT_INDENT_2)
        + b"\n",
        RESULTS / "latest.md": report.render_markdown(results).encode(),
    }
    for path, data in files.items():
        temp = path.with_suffix(path.suffix + ".tmp")
        temp.write_bytes(data)
        temp.replace(path)
    say(f"wrote {', '.join(str(p.relative_to(REPO)) for p in files)}")


if __name__ == "__main__":
    sys.exit(main())
