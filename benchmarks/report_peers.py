"""The "Strong peers" section of ``docs/benchmarks.md`` from ``benchmarks/peers.py``'s results."""

from __future__ import annotations

from pathlib import Path

START, END = "<!-- peers:start -->", "<!-- peers:end -->"
CASES = {
    "connectivity_1": "get_connectivity, 1 neuron",
    "synapse_counts_1000": "get_synapse_counts, 1,000 neurons",
    "adjacency_500": "get_adjacency, 500 x 500",
}
PEERS = {"pandas": "pandas sorted in memory + searchsorted",
         "duckdb": "DuckDB table file, pre- and post-sorted copies",
         "polars": "polars lazy scan of sorted Parquet"}


def _ms(s: float) -> str:
    return f"{s * 1e3:,.2f} ms" if s < 10 else f"{s:,.1f} s"


def _x(r: float) -> str:
    return f"{r:,.0f}×" if r >= 10 else f"{r:.2f}×"


def section(results: dict, title: str = "Strong peers", markers: bool = True) -> str:
    """Markdown of the peers comparison (medians, ratios, agreement, memory, targets).

    ``title`` is the section's heading; ``markers`` wraps it in the comments that
    :func:`write_report` replaces (a dated section appended by hand goes without them).
    """
    by = {(r["neurons"], r["method"]): r for r in results["runs"]}
    # a size is named by its neuron count but ordered by its synapses (30M has more neurons than 100M)
    synapses_of = {r["neurons"]: r["synapses"] for r in results["runs"]}
    sizes = sorted(synapses_of, key=lambda n: (synapses_of[n], n))
    m = results["machine"]
    runs = next(iter(results["runs"]))["cases"]
    n_calls = {c: len(v["times_s"]) for c, v in runs.items()}
    lines = [
        *([START] if markers else []),
        f"## {title}",
        "",
        "Made by `python benchmarks/peers.py` (see `benchmarks/README.md`). The peers are what a "
        "competent engineer builds in an afternoon on the same synapses, root IDs materialized at "
        "the latest version: " + "; ".join(f"**{k}**: {v}" for k, v in PEERS.items())
        + "; **numpy**, the floor: plain arrays in memory, sorted by pre and by post root, "
        "`searchsorted` (what touching the rows costs). Every call queries a *different* neuron "
        "(or neuron set), the same sequence for every method, after one warm-up; "
        + ", ".join(f"{n} calls for {CASES[c].split(',')[0]} ({c})" for c, n in n_calls.items())
        + ". Ratios are peer median / napari-crant median (above 1×, napari-crant is faster); "
        "*vs floor* is napari-crant / numpy. *Agree* says whether every method returned the same "
        "rows on every call (canonical pairs and weights, or per-neuron counts, hashed).",
        "",
        _residence(results),
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores (shared with other jobs), {m['memory_gib']} GiB; "
        f"Python {m['python']}, numpy {m['numpy']}, pandas {m['pandas']}, duckdb {m['duckdb']}.",
        "",
    ]
    lines += ["### Wall time (median)", "", *_table(by, sizes, "median_s"), "",
              "### CPU time of the process, all threads (median)", "",
              "Wall times on a machine shared with other jobs include waiting for a core; CPU time "
              "does not (and counts every thread of the multi-threaded peers, DuckDB and polars).",
              "", *_table(by, sizes, "cpu_median_s")]
    lines += ["", "Setup of each method (not timed above): "
              + "; ".join(f"n={n:,}: " + ", ".join(
                  f"{r['method']} {r['setup_s']:.1f} s / {r['after_setup'].get('VmRSS', 0):,.0f} MB"
                  + (f" + {r['in_memory']['bytes'] / 2**20:,.0f} MB of files read in "
                     f"{r['in_memory']['seconds']:.1f} s" if r.get("in_memory", {}).get("bytes") else "")
                  for (k, _), r in by.items() if k == n) for n in sizes) + "."]
    lines += ["", "### napari-crant's memory over 100 single-neuron queries", "",
              "| synapses | resident after opening and 1 query | after 100 queries "
              "| of which mapped file pages | heap (anonymous) |",
              "|---:|---:|---:|---:|---:|"]
    for n in sizes:
        nc = by.get((n, "napari_crant"))
        if nc and "sweep" in nc:
            b, a = nc["sweep"]["before"], nc["sweep"]["after"]
            lines.append(f"| {nc['synapses']:,} | {b['VmRSS']:,.0f} MB | {a['VmRSS']:,.0f} MB | "
                         f"{b['RssFile']:,.0f} → {a['RssFile']:,.0f} MB | "
                         f"{b['RssAnon']:,.0f} → {a['RssAnon']:,.0f} MB |")
    lines += ["", "### Targets (ratios from the same run)", "", "On wall time:", "",
              *targets(by, sizes, "median_s", results.get("scaling")), "", "On CPU time:", "",
              *targets(by, sizes, "cpu_median_s", results.get("scaling")),
              *([END] if markers else [])]
    return "\n".join(lines) + "\n"


def _table(by: dict, sizes: list[int], key: str) -> list[str]:
    """Rows per case and size: napari-crant, the floor, each peer and the ratios."""
    lines = ["| case | synapses | napari-crant | numpy floor | vs floor | pandas | × | DuckDB | × "
             "| polars | × | agree |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for case, desc in CASES.items():
        for n in sizes:
            nc = by.get((n, "napari_crant"))
            if nc is None or case not in nc["cases"] or key not in nc["cases"][case]:
                continue
            t = nc["cases"][case][key]
            row = [desc, f"{nc['synapses']:,}", _ms(t)]
            for method in ("numpy", *PEERS):
                b = by.get((n, method), {}).get("cases", {}).get(case)
                if b is None:
                    row += ["", ""]
                    continue
                row += [_ms(b[key]), _x(t / b[key] if method == "numpy" else b[key] / t)]
            answers = [r["cases"][case]["answers"] for (k, _), r in by.items()
                       if k == n and case in r["cases"]]
            row.append(f"yes ({len(answers)} methods)" if all(a == answers[0] for a in answers) else "**NO**")
            lines.append("| " + " | ".join(row) + " |")
    return lines


def targets(by: dict, sizes: list[int], key: str = "median_s", scaling: dict | None = None) -> list[str]:
    """The issue's targets, met or missed. "Flat" compares the smallest and the largest size: in one
    process, calls alternated (``scaling``, from ``peers.py``'s scaling child) when given, with the
    ratio across the per-method processes and the numpy floor's as context; else across processes."""
    out = []

    def check(label, ok, detail):
        out.append(f"- {'met' if ok else '**missed**'}: {label} ({detail})")

    for n in sizes:
        nc = by.get((n, "napari_crant"))
        if nc is None or any(key not in v for v in nc["cases"].values()):
            continue
        syn = f"{nc['synapses']:,} synapses"
        c = nc["cases"].get("connectivity_1")
        peers = {p: by[(n, p)]["cases"] for p in PEERS if (n, p) in by}
        if c:
            timed = [(v["connectivity_1"][key], p) for p, v in peers.items() if "connectivity_1" in v]
            label = f"{syn}: get_connectivity 1 neuron >= 2x faster than the fastest strong peer"
            if timed:
                fastest = min(timed)
                check(label, fastest[0] / c[key] >= 2, f"{fastest[1]} {_x(fastest[0] / c[key])}")
            else:
                out.append(f"- not measured: {label} (no strong peer was run)")
            fl = by.get((n, "numpy"), {}).get("cases", {}).get("connectivity_1")
            if fl:
                r = c[key] / fl[key]
                check(f"{syn}: get_connectivity 1 neuron within 3x of plain numpy", r <= 3, _x(r))
        for case in ("synapse_counts_1000", "adjacency_500"):
            v = nc["cases"].get(case)
            if v:
                timed = [(p2[case][key], p) for p, p2 in peers.items() if case in p2]
                label = f"{syn}: {CASES[case]} ahead of every strong peer"
                if timed:
                    worst = min(timed)
                    check(label, worst[0] > v[key], f"closest {worst[1]} {_x(worst[0] / v[key])}")
                else:
                    out.append(f"- not measured: {label} (no strong peer was run)")
    if len(sizes) >= 2:
        lo, hi = by.get((sizes[0], "napari_crant")), by.get((sizes[-1], "napari_crant"))
        floor_lo, floor_hi = by.get((sizes[0], "numpy")), by.get((sizes[-1], "numpy"))
        if lo and hi:
            for case in CASES:
                if case in lo["cases"] and case in hi["cases"] and key in lo["cases"][case]:
                    g = hi["cases"][case][key] / lo["cases"][case][key]
                    # context: plain numpy on the same calls; across processes run minutes
                    # apart its growth is partly the machine's
                    floor = ""
                    if floor_lo and floor_hi and case in floor_lo["cases"] and case in floor_hi["cases"]:
                        f = floor_hi["cases"][case][key] / floor_lo["cases"][case][key]
                        floor = f"; numpy floor in the same run {f:.2f}×"
                    label = (f"{CASES[case]}: flat from {lo['synapses']:,} to {hi['synapses']:,} "
                             "synapses (growth < 1.5x)")
                    one = (scaling or {}).get("cases", {}).get(case)
                    if one is not None:
                        g1 = one["large"][key] / one["small"][key]
                        check(label, g1 < 1.5, f"{g1:.2f}× in one process, calls alternated; "
                              f"across processes {g:.2f}×{floor}")
                    else:
                        check(label, g < 1.5, f"{g:.2f}×{floor}")
    return out


def write_report(results: dict, out: Path) -> None:
    """Replace (or add at the top) the peers section of ``out``."""
    text = out.read_text() if out.exists() else "# Benchmarks\n"
    new = section(results)
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + new.rstrip("\n") + rest.split(END, 1)[1]
    else:
        first, _, rest = text.partition("\n")
        text = f"{first}\n\n{new}\n{rest.lstrip()}"
    out.write_text(text)


def _residence(results: dict) -> str:
    """Where each method's data was when the timed calls began."""
    if results.get("in_memory"):
        return ("Every method answered from memory: numpy and pandas load their tables in their "
                "setup; the files DuckDB, polars and napari-crant query were read once into the OS "
                "page cache before their timed calls (napari-crant: `SnapshotSource.preload`), after "
                "napari-crant's memory sweep below.")
    if results.get("cold"):
        return ("Every file was dropped from the OS page cache before each method (`--cold`): "
                "numpy and pandas load their tables in their untimed setup, DuckDB, polars and "
                "napari-crant read from disk during the timed calls.")
    return ("Files were left where they were (`--from-disk`): numpy and pandas hold their tables "
            "in memory, DuckDB, polars and napari-crant read whatever of their files is not in the "
            "page cache during the timed calls.")
