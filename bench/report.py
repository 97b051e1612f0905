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


def floors(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The floor runs by spec; earlier results have one, L's, under "floor"."""
    if "floors" in results:
        found: dict[str, dict[str, Any]] = results["floors"]
        return found
    floor = results.get("floor")
    return {} if floor is None else {floor["size"]: floor}


def ratios(results: dict[str, Any]) -> dict[str, float]:
    """The ratios of the run, by name.

    naive/seedcompile for S and M; seedcompile/floor for M and L, and
    naive/floor where both ran (the ceiling); XL/L; naive/seedcompile over
    the emulated network.
    """
    compiles = results["compiles"]
    naive = results["naive"]
    out: dict[str, float] = {}
    for size, run in naive.items():
        out[f"naive_over_seedcompile_{size}"] = (
            run["seconds"] / compiles[size]["seconds"]
        )
    for size, floor in floors(results).items():
        out[f"seedcompile_over_floor_{size}"] = (
            compiles[size]["seconds"] / floor["seconds"]
        )
        if size in naive:
            out[f"naive_over_floor_{size}"] = naive[size]["seconds"] / floor["seconds"]
    network = results.get("network")
    if network is not None:
        out[f"network_naive_over_seedcompile_{network['size']}"] = (
            network["naive"]["seconds"] / network["seedcompile"]["seconds"]
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
        value = f"{ratio:.1f}x"
        if "naive_over_floor_M" in found:
            # The most any implementation could reach here: naive over the floor.
            value += (
                f" (ceiling here: naive / floor = {found['naive_over_floor_M']:.1f}x)"
            )
        add(
            f"M at least {NAIVE_SPEEDUP}x faster than naive",
            value,
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
    for size, floor in floors(results).items():
        ratio = (
            f"seedcompile / floor = {compiles[size]['seconds'] / floor['seconds']:.2f}x"
        )
        if size in results["naive"]:
            naive = results["naive"][size]["seconds"]
            ratio += f"; naive / floor = {naive / floor['seconds']:.1f}x"
        rows.append(
            [
                f"floor {size}",
                f"{floor['seconds']:.3f}",
                f"{floor['peak_rss'] / MB:.0f}",
                floor["server_statements"],
                ratio,
                f"{floor['output_bytes'] / MB:.1f} MB ({floor['padding']:,} B padding)",
            ]
        )
    return rows


def _ceiling_lines(results: dict[str, Any]) -> list[str]:
    """What naive / floor means, for each spec that has both."""
    lines = []
    for size in results["naive"]:
        ceiling = results["ratios"].get(f"naive_over_floor_{size}")
        if ceiling is None:
            continue
        line = (
            f"ceiling on {size}: naive / floor = {ceiling:.1f}x, the most times "
            "faster than naive any compiler can be on this machine (the floor "
            "fetches the same rows in one round and writes as many bytes)"
        )
        if size == "M" and ceiling < NAIVE_SPEEDUP:
            line += (
                f"; below the {NAIVE_SPEEDUP}x target, which no compiler can meet here"
            )
        lines.append(line + ".")
    return lines


def _network_rows(network: dict[str, Any], loopback: dict[str, Any]) -> list[list[Any]]:
    """naive and seedcompile over the emulated network, next to loopback."""
    size = network["size"]
    naive, ours = network["naive"], network["seedcompile"]
    same = naive["comparison"]["identical_except_meta"]
    return [
        [
            f"naive {size}",
            f"{loopback['naive'][size]['seconds']:.3f}",
            f"{naive['seconds']:.3f}",
            f"{naive['server_statements']:,}",
            len(naive["runs"]),
            "same orders, preps, stock" if same else "DIFFERS",
        ],
        [
            f"seedcompile {size}",
            f"{loopback['compiles'][size]['seconds']:.3f}",
            f"{ours['seconds']:.3f}",
            f"{ours['server_statements']:,}",
            len(ours["runs"]),
            "same bytes as on loopback"
            if network["same_bytes_as_loopback"]
            else "DIFFERENT BYTES",
        ],
        [
            "naive / seedcompile",
            f"{loopback['ratios'][f'naive_over_seedcompile_{size}']:.1f}x",
            f"{loopback['ratios'][f'network_naive_over_seedcompile_{size}']:.1f}x",
            "",
            "",
            "",
        ],
    ]


NETWORK_HEADERS = ("run", "loopback s", "network s", "server stmts", "runs", "output")


def _network_title(network: dict[str, Any]) -> str:
    return (
        f"over an emulated network (RTT {network['rtt_ms']:g} ms; "
        "informative, not a target)"
    )


def _network_note(network: dict[str, Any]) -> str:
    trip = network["round_trip"]
    return (
        "Emulated: bench/latency.py, a TCP proxy on loopback, holds every chunk "
        f"of bytes for RTT/2 = {network['rtt_ms'] / 2:g} ms in each direction "
        "(bandwidth not limited; TCP's own connect handshake not delayed). "
        f"A `SELECT 1` round trip took {trip['proxy_ms']:.3f} ms through it, "
        f"{trip['direct_ms']:.3f} ms direct (median of {trip['queries']}). "
        "Wall s: median of the runs."
    )


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
    if results["naive"] or floors(results):
        parts += ["references (same server, same run)"]
        parts += [table(REFERENCE_HEADERS, _reference_rows(results))]
        for size, floor in floors(results).items():
            steps = ", ".join(f"{k} {v:.3f}" for k, v in floor["steps"].items())
            prefetched = results["compiles"][size]["stages"]
            rows = sum(s["rows"] for s in prefetched if s["stage"] == "prefetch")
            parts += [
                f"floor {size} steps (median s): {steps}; {floor['rows']:,} rows "
                f"fetched (seedcompile's prefetch: {rows:,})"
            ]
        parts += [*_ceiling_lines(results), ""]
    network = results.get("network")
    if network is not None:
        parts += [_network_title(network)]
        parts += [table(NETWORK_HEADERS, _network_rows(network, results))]
        parts += [_network_note(network), ""]
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
        ceilings = _ceiling_lines(results)
        if ceilings:
            parts += [" ".join(line[0].upper() + line[1:] for line in ceilings), ""]
    network = results.get("network")
    if network is not None:
        title = _network_title(network)
        parts += [f"{title[0].upper()}{title[1:]}:", ""]
        parts += [md_table(NETWORK_HEADERS, _network_rows(network, results)), ""]
        parts += [_network_note(network), ""]
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
