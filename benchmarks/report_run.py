"""The report of ``benchmarks/run.py`` (medians, ratios, scaling, targets) and how it is
written into ``docs/benchmarks.md`` around the sections other benchmarks own."""

from __future__ import annotations

from pathlib import Path

from run_cases import CASES


def write_keeping_peers(out: Path, text: str) -> None:
    """Write the report, keeping the "Strong peers" section of ``benchmarks/peers.py`` on top
    (then the before / after section of ``benchmarks/report_layout.py`` and the "Building the
    demo" section of ``benchmarks/demo_build.py`` after it)."""
    from demo_build import END as BUILD_END
    from demo_build import START as BUILD_START
    from report_layout import END_LAYOUT, START_LAYOUT
    from report_peers import END, START

    old = out.read_text() if out.exists() else ""
    if START in old and END in old:
        peers = START + old.split(START, 1)[1].split(END, 1)[0] + END
        for start, end in ((START_LAYOUT, END_LAYOUT), (BUILD_START, BUILD_END)):
            if start in old and end in old:  # the sections kept after the peers, in this order
                peers += f"\n\n{start}{old.split(start, 1)[1].split(end, 1)[0]}{end}"
        first, _, rest = text.partition("\n")
        text = (f"{first}\n\n{peers}\n\n## Context: full scans and the other cases\n\n"
                "From `benchmarks/run.py`, a separate run (its own date, load and code version): "
                "compare figures within one section, not across the two.\n" + rest)
    out.write_text(text)


def report(results: dict) -> str:
    runs = results["runs"]
    by = {(r["neurons"], r["case"], r["method"]): r for r in runs}
    sizes = sorted({r["neurons"] for r in runs})
    m = results["machine"]
    lines = [
        "# Benchmarks",
        "",
        "Made by `python benchmarks/run.py` (see `benchmarks/README.md`). Each case ran in its own "
        f"process: one warm-up, then {results['repeats']} timed runs; the table gives the median. "
        "The pandas and pyarrow columns are full scans, kept as context (the strong peers are "
        "above). The single-neuron cases here repeat one neuron; the peers section times a "
        "different neuron each call. "
        "Ratios are baseline median / napari-crant median from the same run (below 1×, the "
        "baseline was faster). Peak memory is the "
        "process's peak RSS (imports included; memory-mapped snapshot pages count once touched, "
        "though they are reclaimable page cache); *heap* is the largest anonymous RSS (`RssAnon`, "
        "allocations only) sampled after each timed run.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; Python {m['python']}, "
        f"numpy {m['numpy']}, pandas {m['pandas']}, pyarrow {m['pyarrow']}, duckdb {m['duckdb']}.",
        "",
        "| dataset | neurons (current roots) | synapses | roots ever | synapse files |",
        "|---|---:|---:|---:|---:|",
    ]
    for n in sizes:
        d = results["datasets"][str(n)]
        c = d["counts"]
        lines.append(f"| demo n={n:,} | {c['current_roots']:,} | {c['synapses']:,} | {c['roots']:,} | "
                     f"{d['synapse_files_mb']:,.0f} MB |")
    lines += ["", "## Medians", "",
              "| case | synapses | napari-crant | peak RSS MB | heap MB | pandas full mask | × "
              "| pyarrow full scan | × | CAVE source via local server | × |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for case, (desc, _) in CASES.items():
        for n in sizes:
            r = by.get((n, case, "napari_crant"))
            if r is None:
                continue
            heap = f"{r['anon_mb']:,.0f}" if "anon_mb" in r else ""
            row = [desc, f"{r['synapses']:,}", _ms(r["median_s"]), f"{r['peak_rss_mb']:,.0f}", heap]
            for base in ("pandas", "pyarrow", "cave"):
                b = by.get((n, case, base))
                row += ([_ms(b["median_s"]), _ratio(b["median_s"] / r["median_s"])] if b else ["", ""])
            lines.append("| " + " | ".join(row) + " |")
    pandas_runs = [r for r in runs if r["method"] == "pandas"]
    if pandas_runs:
        lines += ["", "The pandas baseline first loads the whole table: "
                  + "; ".join(f"n={r['neurons']:,}: {r['setup_s']:.1f} s, peak {r['peak_rss_mb']:,.0f} MB"
                              for r in pandas_runs if r["case"] == "connectivity_1") + "."]
    if len(sizes) >= 2:
        lo, hi = sizes[0], sizes[-1]
        lines += ["", f"## Scaling from n={lo:,} to n={hi:,}", "",
                  "| case | small | large | growth |", "|---|---:|---:|---:|"]
        for case, (desc, _) in CASES.items():
            a, b = by.get((lo, case, "napari_crant")), by.get((hi, case, "napari_crant"))
            if a and b:
                lines.append(f"| {desc} | {_ms(a['median_s'])} | {_ms(b['median_s'])} | "
                             f"{b['median_s'] / a['median_s']:.2f}× |")
    lines += ["", "## Targets", "", *targets(results, by, sizes)]
    return "\n".join(lines) + "\n"


def targets(results, by, sizes) -> list[str]:
    hi, lo = sizes[-1], sizes[0]
    out = []

    def check(label, ok, detail):
        out.append(f"- {'met' if ok else '**missed**'}: {label} ({detail})")

    c1 = by.get((hi, "connectivity_1", "napari_crant"))
    if c1:
        check("single-neuron get_connectivity median <= 5 ms", c1["median_s"] <= 0.005, _ms(c1["median_s"]))
        c1lo = by.get((lo, "connectivity_1", "napari_crant"))
        if c1lo and lo != hi:
            g = c1["median_s"] / c1lo["median_s"]
            check("growth < 1.5x from the small to the large dataset", g < 1.5, f"{g:.2f}×")
    for case, limit, label in (("open_snapshot", 1.0, "opening a snapshot < 1 s"),
                               ("update_ids_10000", 1.0, "update_ids 10,000 IDs < 1 s"),
                               ("adjacency_500", 1.0, "get_adjacency 500 x 500 < 1 s"),
                               ("layer_data_100", 1.0, "layer data for 100 neurons < 1 s"),
                               ("load_neurons_1", 1.0, "a neuron on the canvas (load + layer data) < 1 s")):
        r = by.get((hi, case, "napari_crant"))
        if r:
            check(label, r["median_s"] < limit, _ms(r["median_s"]))
    r = by.get((hi, "update_ids_10000", "cave"))
    if r:
        check("update_ids 10,000 IDs over CAVE (local server) < 1 s", r["median_s"] < 1.0, _ms(r["median_s"]))
    o = by.get((hi, "open_snapshot", "napari_crant"))
    if o:
        mb = results["datasets"][str(hi)]["synapse_files_mb"]
        grown = o["peak_rss_mb"] - o["base_rss_mb"]
        check("opening: memory well below the synapse table", grown < 0.1 * mb,
              f"+{grown:,.0f} MB over imports vs {mb:,.0f} MB of synapse files")
    return out


def _ratio(x: float) -> str:
    """Baseline / napari-crant; below 1 the baseline was faster."""
    return f"{x:,.0f}×" if x >= 10 else f"{x:.1f}×"


def _ms(s: float) -> str:
    return f"{s * 1e3:,.2f} ms" if s < 10 else f"{s:,.1f} s"

