"""The benchmark's targets, and its results as text and as Markdown."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# The targets of issue 5 (2-core machine, PostgreSQL on loopback).
MAX_QUERIES = 12
NAIVE_SPEEDUP = 100  # M at least this many times faster than naive
L_SECONDS = 2.5
FLOOR_RATIO = 3.0  # L within this many times the floor
L_PEAK_MB = 600
XL_FACTOR = 10.0  # XL within this many times L's time and memory
VALIDATE_SECONDS = 0.5

MB = 1_000_000


def ratios(results: dict[str, Any]) -> dict[str, float]:
    """naive/seedcompile for S and M, seedcompile/floor for L, XL/L."""
    compiles = results["compiles"]
    out: dict[str, float] = {}
    for size, naive in results["naive"].items():
        out[f"naive_over_seedcompile_{size}"] = (
            naive["seconds"] / compiles[size]["seconds"]
        )
    floor = results["floor"]
    if floor is not None:
        size = floor["size"]
        out[f"seedcompile_over_floor_{size}"] = (
            compiles[size]["seconds"] / floor["seconds"]
        )
    if "XL" in compiles and "L" in compiles:
        out["xl_over_l_seconds"] = compiles["XL"]["seconds"] / compiles["L"]["seconds"]
        out["xl_over_l_memory"] = compiles["XL"]["peak_rss"] / compiles["L"]["peak_rss"]
    return out


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per target that this run measured: what, the value, passed."""
    compiles = results["compiles"]
    found = results["ratios"]
    targets: list[dict[str, Any]] = []

    def add(name: str, value: str, passed: bool) -> None:
        targets.append({"target": name, "value": value, "passed": passed})

    if compiles:
        sizes = ", ".join(compiles)
        statements = {c["server_statements"] for c in compiles.values()}
        add(
            f"statements the server ran for a compile: the same for {sizes}, "
            f"at most {MAX_QUERIES}",
            "/".join(str(c["server_statements"]) for c in compiles.values()),
            len(statements) == 1 and max(statements) <= MAX_QUERIES,
        )
        queries = {c["queries"] for c in compiles.values()}
        add(
            f"queries seedcompile counts for a compile: the same for {sizes}, "
            f"at most {MAX_QUERIES}",
            "/".join(str(c["queries"]) for c in compiles.values()),
            len(queries) == 1 and max(queries) <= MAX_QUERIES,
        )
    if "naive_over_seedcompile_M" in found:
        ratio = found["naive_over_seedcompile_M"]
        add(
            f"M at least {NAIVE_SPEEDUP}x faster than naive",
            f"{ratio:.1f}x",
            ratio >= NAIVE_SPEEDUP,
        )
    if "L" in compiles:
        seconds = compiles["L"]["seconds"]
        add(f"L at most {L_SECONDS} s wall", f"{seconds:.2f} s", seconds <= L_SECONDS)
        peak = compiles["L"]["peak_rss"] / MB
        add(
            f"L peak memory at most {L_PEAK_MB} MB", f"{peak:.0f} MB", peak <= L_PEAK_MB
        )
    if "seedcompile_over_floor_L" in found:
        ratio = found["seedcompile_over_floor_L"]
        add(
            f"L within {FLOOR_RATIO:g}x the floor",
            f"{ratio:.2f}x",
            ratio <= FLOOR_RATIO,
        )
    if "xl_over_l_seconds" in found:
        ratio = found["xl_over_l_seconds"]
        add(f"XL within {XL_FACTOR:g}x L's time", f"{ratio:.2f}x", ratio <= XL_FACTOR)
        ratio = found["xl_over_l_memory"]
        add(f"XL within {XL_FACTOR:g}x L's memory", f"{ratio:.2f}x", ratio <= XL_FACTOR)
    seconds = results["validate"]["seconds"]
    add(
        f"validate of a small spec at most {VALIDATE_SECONDS} s wall",
        f"{seconds:.3f} s",
        seconds <= VALIDATE_SECONDS,
    )
    return targets


# -- text ---------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain table: the first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        first = row[0].ljust(widths[0])
        rest = [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
        ]
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])


def _spec_rows(results: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for size, c in results["compiles"].items():
        rows.append(
            [
                size,
                f"{c['orders']:,}",
                f"{c['preps']:,}",
                f"{c['seconds']:.3f}",
                f"{c['seconds_min']:.3f}-{c['seconds_max']:.3f}",
                f"{c['cpu_seconds']:.3f}",
                f"{c['peak_rss'] / MB:.0f}",
                f"{c['output_bytes'] / MB:.1f}",
                c["queries"],
                c["server_statements"],
                f"{c['server_rows']:,}",
                len(c["runs"]),
                "yes" if c["same_bytes"] else "NO",
            ]
        )
    return rows


SPEC_HEADERS = (
    "spec",
    "orders",
    "preps",
    "wall s (median)",
    "range",
    "cpu s",
    "peak RSS MB",
    "output MB",
    "queries",
    "server stmts",
    "rows",
    "runs",
    "same bytes",
)


def _stage_rows(compile_: dict[str, Any]) -> list[list[Any]]:
    return [
        [s["stage"], f"{s['seconds']:.3f}", s["queries"], f"{s['rows']:,}"]
        for s in compile_["stages"]
    ]


def _machine_line(results: dict[str, Any]) -> str:
    m = results["machine"]
    return (
        f"{m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM; {m['os']}; "
        f"Python {m['python']}; PostgreSQL {m.get('postgresql', '?')} on loopback; "
        f"seedcompile {m['commit']}; {results['date']}; load average "
        f"{m['load_before']:.2f} before, {m['load_after']:.2f} after"
    )


# A 1-minute load average above this before the benchmark starts means other
# work shares the machine.
BUSY_LOAD = 0.5


def _reference_rows(results: dict[str, Any]) -> list[list[Any]]:
    rows = []
    compiles = results["compiles"]
    for size, naive in results["naive"].items():
        ours = compiles[size]["seconds"]
        same = naive["comparison"]["identical_except_meta"]
        rows.append(
            [
                f"naive {size}",
                f"{naive['seconds']:.3f}",
                f"{naive['peak_rss'] / MB:.0f}",
                f"{naive['server_statements']:,}",
                f"naive / seedcompile = {naive['seconds'] / ours:.1f}x",
                "same orders, preps, stock" if same else "DIFFERS",
            ]
        )
    floor = results["floor"]
    if floor is not None:
        size = floor["size"]
        ours = compiles[size]["seconds"]
        rows.append(
            [
                f"floor {size}",
                f"{floor['seconds']:.3f}",
                f"{floor['peak_rss'] / MB:.0f}",
                floor["server_statements"],
                f"seedcompile / floor = {ours / floor['seconds']:.2f}x",
                f"{floor['output_bytes'] / MB:.1f} MB ({floor['padding']:,} B padding)",
            ]
        )
    return rows


REFERENCE_HEADERS = (
    "reference",
    "wall s",
    "peak RSS MB",
    "server stmts",
    "ratio",
    "output",
)


def render_text(results: dict[str, Any]) -> str:
    parts = ["seedcompile benchmark", _machine_line(results), ""]
    if results["machine"]["load_before"] > BUSY_LOAD:
        parts += [
            "WARNING: the machine was busy before the benchmark started (load "
            f"average {results['machine']['load_before']:.2f}); times are noisy.",
            "",
        ]
    ds = results["dataset"]
    rows = ", ".join(f"{n:,} {t}" for t, n in ds["rows"].items())
    how = f"loaded in {ds['seconds']:.1f} s" if ds["loaded"] else "reused"
    parts += [f"dataset ({how}): {rows}", ""]
    if results["compiles"]:
        parts += ["per spec (whole `seedcompile compile` process)"]
        parts += [table(SPEC_HEADERS, _spec_rows(results)), ""]
        for size, c in results["compiles"].items():
            parts += [f"stages of {size} (median seconds)"]
            parts += [
                table(("stage", "seconds", "queries", "rows"), _stage_rows(c)),
                "",
            ]
    if results["naive"] or results["floor"]:
        parts += ["references (same server, same run)"]
        parts += [table(REFERENCE_HEADERS, _reference_rows(results)), ""]
        floor = results["floor"]
        if floor is not None:
            steps = ", ".join(f"{k} {v:.3f}" for k, v in floor["steps"].items())
            prefetched = results["compiles"][floor["size"]]["stages"]
            rows = sum(s["rows"] for s in prefetched if s["stage"] == "prefetch")
            parts += [
                f"floor steps (median s): {steps}; {floor['rows']:,} rows fetched "
                f"(seedcompile's prefetch: {rows:,})",
                "",
            ]
    v = results["validate"]
    parts += [f"validate {v['spec']}: {v['seconds']:.3f} s median of {len(v['runs'])}"]
    if "xl_over_l_seconds" in results["ratios"]:
        r = results["ratios"]
        time_ratio, memory_ratio = r["xl_over_l_seconds"], r["xl_over_l_memory"]
        parts += [f"XL / L: {time_ratio:.2f}x time, {memory_ratio:.2f}x memory"]
    parts += ["", "targets"]
    for t in results["targets"]:
        verdict = "PASS" if t["passed"] else "FAIL"
        parts.append(f"{verdict}  {t['target']}: {t['value']}")
    parts.append("")
    parts.append(
        "queries: seedcompile's own count of its reference queries; server stmts: "
        "every statement the server ran for the process (pg_stat_statements), "
        "connection set-up and BEGIN/COMMIT included; MB = 10^6 bytes; peak RSS is "
        "the highest of the runs; cpu s: user + system time of the process. In "
        "the stage tables, the queries of 'load spec, connect, write' are the "
        "statements beyond seedcompile's own queries."
    )
    if results["settings"]["quick"]:
        parts.append("--quick: fewer runs and no warm-up; not a result to publish.")
    return "\n".join(parts)


# -- Markdown -----------------------------------------------------------------


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |"]
    lines.append("| " + " | ".join(["---"] + ["---:"] * (len(headers) - 1)) + " |")
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(results: dict[str, Any]) -> str:
    parts = [
        "# Benchmark results",
        "",
        f"Machine: {_machine_line(results)}.",
        "",
    ]
    if results["compiles"]:
        headers = (
            "spec",
            "orders",
            "preps",
            "wall s",
            "peak RSS MB",
            "output MB",
            "queries",
            "server stmts",
        )
        rows = [
            [
                size,
                f"{c['orders']:,}",
                f"{c['preps']:,}",
                f"{c['seconds']:.2f}",
                f"{c['peak_rss'] / MB:.0f}",
                f"{c['output_bytes'] / MB:.1f}",
                c["queries"],
                c["server_statements"],
            ]
            for size, c in results["compiles"].items()
        ]
        parts += [md_table(headers, rows), ""]
    refs = _reference_rows(results)
    if refs:
        rows = [[r[0], r[1], r[4]] for r in refs]
        parts += [md_table(("reference", "wall s", "ratio"), rows), ""]
    parts += [
        md_table(
            ("target", "value", ""),
            [
                [t["target"], t["value"], "PASS" if t["passed"] else "**FAIL**"]
                for t in results["targets"]
            ],
        ),
        "",
    ]
    parts.append(
        "Wall time is the median of whole `seedcompile compile` processes; "
        "`bench/results/latest.json` has every run and the per-stage times. "
        "Produced by `make bench`."
    )
    if results["settings"]["quick"]:
        parts.append("\n_--quick run: fewer runs and no warm-up._")
    return "\n".join(parts) + "\n"
