"""Building the demo snapshot at whole-brain scale: time and resident memory per size.

Run ``python benchmarks/demo_build.py --sizes 5000,25000,150000,500000`` (200 synapses per
neuron: about 1M, 5M, 30M and 100M synapses). Each size is built by ``make_demo`` in its own
process, into ``benchmarks/data/`` under the name ``benchmarks/run.py`` and
``benchmarks/peers.py`` use, so the peers benchmark runs on the snapshots built here (not
committed; ``--remove`` deletes each one after measuring it).

The building process samples its own ``/proc/self/status`` every 0.2 s: the resident peak
(``VmHWM``, the kernel's high-water mark, what ``/usr/bin/time -v`` reports), and the
largest anonymous (``RssAnon``: heap and arrays) and file-backed (``RssFile``: mapped
files) resident sizes seen. Results are merged by size and snapshot format (every entry
records its ``format_version``) into ``docs/benchmarks-demo-build.json`` (sizes can be built
in separate runs, and a format's numbers stay next to the next one's) and the section
between the ``demo-build`` markers of ``docs/benchmarks.md`` is rewritten from all of them.
Every result also has the memory by stage (:mod:`build_stages`; ``--stages`` prints it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from build_stages import format_stages

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data"
RESULTS = ROOT / "docs" / "benchmarks-demo-build.json"
#: ``benchmarks/peers.py``'s raw results on the snapshots built here (``--peers-json`` copies
#: them here), shown in the same section.
PEERS_RESULTS = ROOT / "docs" / "benchmarks-demo-build-peers.json"
CASE_NAMES = {"connectivity_1": "get_connectivity, 1 neuron",
              "synapse_counts_1000": "get_synapse_counts, 1,000 neurons",
              "adjacency_500": "get_adjacency, 500 x 500"}
REPORT = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- demo-build:start -->", "<!-- demo-build:end -->"


def _status_kb() -> dict[str, int]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
            out[key] = int(value.split()[0])
    return out


def child(neurons: int, spn: float, seed: int, path: Path) -> dict:
    """Build one demo in this process while sampling its memory."""
    from build_stages import mark_stages, stage_table

    from napari_crant.demo import make_demo

    peaks = {"RssAnon": 0, "RssFile": 0}
    series: list[tuple[float, int]] = []
    detail: list[tuple[float, int, int, int]] = []  # time, VmRSS, RssAnon, RssFile (MiB)
    marks: list[dict] = []
    done = threading.Event()
    t0 = time.perf_counter()
    stage_log = path.with_name(path.name + ".stages.jsonl")
    stage_log.unlink(missing_ok=True)
    mark_stages(marks, t0, stage_log)

    def sample() -> None:
        while not done.wait(0.2):
            s = _status_kb()
            for k in peaks:
                peaks[k] = max(peaks[k], s[k])
            t = round(time.perf_counter() - t0, 1)
            series.append((t, s["VmRSS"] // 1024))
            detail.append((t, s["VmRSS"] // 1024, s["RssAnon"] // 1024, s["RssFile"] // 1024))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    cpu0 = os.times()
    make_demo(path, n_neurons=neurons, seed=seed, overwrite=True, synapses_per_neuron=spn)
    seconds = time.perf_counter() - t0
    cpu1 = os.times()
    done.set()
    sampler.join()
    manifest = json.loads((path / "manifest.json").read_text())
    disk = sum(f.stat().st_size for f in path.iterdir())
    step = max(1, len(series) // 200)
    return {
        "neurons": neurons, "synapses_per_neuron": spn, "seed": seed,
        "format_version": manifest["format_version"],
        "synapses": manifest["counts"]["synapses"], "counts": manifest["counts"],
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu1.user + cpu1.system - cpu0.user - cpu0.system, 1),
        "peak_rss_mb": round(_status_kb()["VmHWM"] / 1024),
        "peak_anon_mb": round(peaks["RssAnon"] / 1024),
        "peak_file_mb": round(peaks["RssFile"] / 1024),
        "snapshot_mb": round(disk / 2**20),
        "rss_series_mb": series[::step],
        "stages": stage_table(marks, detail),
        "load_before": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def _key(r: dict) -> tuple:
    return r["neurons"], r["synapses_per_neuron"], r["seed"], r["format_version"]


def merge_results(results: list[dict], others: list[dict]) -> list[dict]:
    """``results`` with ``others`` merged in: per size and format, the newest build (by date)."""
    newest: dict[tuple, dict] = {}
    for r in [*results, *others]:
        if _key(r) not in newest or r["date"] > newest[_key(r)]["date"]:
            newest[_key(r)] = r
    return list(newest.values())


def dataset_path(neurons: int, seed: int, spn: float, data: Path = DATA) -> Path:
    """The path ``benchmarks/run.py``'s ``dataset_for`` uses for the same demo (under ``data``)."""
    from napari_crant.snapshot.format import FORMAT_VERSION

    return data / f"demo-f{FORMAT_VERSION}-n{neurons}-s{seed}-spn{spn:g}"


def report(results: list[dict]) -> str:
    """The Markdown section (between the markers) from all measured sizes."""
    rows = sorted(results, key=lambda r: (r["synapses"], r["format_version"]))
    lines = [
        START,
        "## Building the demo at whole-brain scale",
        "",
        "Made by `python benchmarks/demo_build.py` (see its docstring): `make_demo`, seed 0, "
        "each size in its own process. *Resident peak* is the process's `VmHWM` (what "
        "`/usr/bin/time -v` reports); *heap* and *mapped files* are the largest `RssAnon` and "
        "`RssFile` sampled every 0.2 s. The synapses are drawn block by block to a staging "
        "file and sorted by an external sort (`snapshot/external_sort.py`), so they add a "
        "bounded amount; the rest grows with the skeleton nodes, L2 chunks and supervoxels "
        "(the per-node arrays are mapped files in the build's scratch directory; stage 3's "
        "live arbor tips, `l2_edges_table`'s ranks, `put l2` and `put supervoxels` are still "
        "heap). *Format* is the snapshot format written "
        "(`docs/snapshot-format.md`): format 3 sorts the synapses twice (grouped by "
        "presynaptic root, and the post-side copy by postsynaptic root) with two more root "
        "columns; format 2 (the streaming writer before the working-set layout) sorted them by "
        "presynaptic L2 chunk plus a small post index. Times are wall clock on 2 cores shared "
        "with other jobs (load average before each build given; CPU is the process's own). "
        "One row per size and format: the newest build recorded (`--merge` takes other runs' "
        "results files in); *code* is the version that built it, where the run recorded it.",
        "",
        "| neurons | synapses / neuron | synapses | format | skeleton nodes | L2 chunks | build | "
        "CPU | resident peak | heap | mapped files | snapshot on disk | load | date | code |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        c = r["counts"]
        lines.append(
            f"| {r['neurons']:,} | {r['synapses_per_neuron']:g} | {r['synapses']:,} | "
            f"{r['format_version']} | "
            f"{c.get('skeleton_nodes', 0):,} | "
            f"{c['l2']:,} | {r['seconds'] / 60:.1f} min | {r['cpu_seconds'] / 60:.1f} min | "
            f"{r['peak_rss_mb'] / 1024:.2f} GB | {r['peak_anon_mb'] / 1024:.2f} GB | "
            f"{r['peak_file_mb'] / 1024:.2f} GB | {r['snapshot_mb'] / 1024:.1f} GB | "
            f"{r['load_before'][0]:.1f} | {r['date']} | {r.get('code', '-')} |")
    lines += [
        "",
        "Memory by phase (the RSS series and the stage table in the JSON; "
        "`--stages` prints it): the skeletons, contacts, L2 chunks and supervoxels grow with "
        "the skeleton nodes; the synapses themselves add one block of 2M rows "
        "being drawn, 3 bytes per synapse (flags, ID offset steps) and one "
        "4M-row sort run at a time while the synapse files are written (format 3: 96-byte "
        "rows, 384 MB, while the post-side copy's 52-byte records of the same rows are "
        "collected and sorted; format 2: 80-byte rows, 320 MB, and 24-byte post-index "
        "records). Scratch space on disk: the staging file (56 bytes per synapse, removed "
        "once read, before the merge) and the sort runs (format 3: 96 + 52 = 148 bytes per "
        "synapse; format 2: 104), each sort's runs removed once merged.",
    ]
    lines += format_comparison(rows)
    newest_format = [r for r in rows if r["format_version"] == max(x["format_version"] for x in rows)]
    biggest = max(newest_format, key=lambda r: (r["counts"].get("skeleton_nodes", 0), r["date"]),
                  default=None)
    if biggest is not None and biggest["counts"].get("skeleton_nodes"):
        per_node = biggest["peak_rss_mb"] * 2**20 / biggest["counts"]["skeleton_nodes"]
        lines += [
            "",
            f"At the build of the newest format with the most skeleton nodes "
            f"({biggest['counts']['skeleton_nodes']:,}) the resident peak is "
            f"{biggest['peak_rss_mb']:,} MiB{peak_stage(biggest)}, {per_node:.0f} bytes per "
            "skeleton node. The stages are not streamed per batch of neurons, so the peak still "
            "grows with the nodes. A 10^8-synapse demo is built as the issue's ant brain, 10^5 "
            "neurons with 1,000 synapses each; 500,000 neurons with 200 synapses each "
            "(`peers.py`'s default largest size, about 127M skeleton nodes) is not built here.",
        ]
    if PEERS_RESULTS.exists():
        lines += ["", *peers_table(json.loads(PEERS_RESULTS.read_text()))]
    lines.append(END)
    return "\n".join(lines)


def peak_stage(r: dict) -> str:
    """`` in `stage` ``: the first stage at the highest ``VmHWM`` of the stage table, or ``""``."""
    rows = [row for row in r.get("stages") or [] if row.get("hwm_mb")]
    if not rows:
        return ""
    top = max(row["hwm_mb"] for row in rows)
    return f" in `{next(row['stage'] for row in rows if row['hwm_mb'] == top)}`"


def format_comparison(rows: list[dict]) -> list[str]:
    """For every size built in two snapshot formats: the resident peaks side by side, and when
    in the build each format peaked (from the sampled series)."""
    out = []
    by_size: dict[tuple, dict[int, dict]] = {}
    for r in rows:  # the same code in both formats, else the formats are not what differs
        by_size.setdefault((r["neurons"], r["synapses_per_neuron"], r["seed"], r.get("code")), {})[
            r["format_version"]] = r
    for formats in by_size.values():
        if len(formats) < 2:
            continue
        old, new = formats[min(formats)], formats[max(formats)]

        def when(r: dict) -> str:
            series = r.get("rss_series_mb") or [[0.0, 0]]
            t = max(series, key=lambda x: x[1])[0]
            return f"{t:.0f} s into a {r['seconds']:.0f} s build"

        out += ["", f"Format {new['format_version']} against format {old['format_version']} at "
                f"{new['synapses']:,} synapses (same demo): resident peak "
                f"{new['peak_rss_mb'] / 1024:.2f} GB against {old['peak_rss_mb'] / 1024:.2f} GB "
                f"(×{new['peak_rss_mb'] / old['peak_rss_mb']:.2f}); highest sample {when(new)} "
                f"against {when(old)}. The synapse files' share is set by the run size "
                "(`DEFAULT_RUN_ROWS`), not by the number of synapses."]
    return out


def peers_table(results: dict) -> list[str]:
    """Medians per size and method from ``benchmarks/peers.py``'s raw results."""
    runs = results["runs"]
    methods = [m for m in ("napari_crant", "numpy", "pandas", "duckdb", "polars")
               if any(r["method"] == m for r in runs)]
    sizes = sorted({r["synapses"] for r in runs})
    # the dataset paths name the snapshot format (``dataset_path``: demo-f<format>-...)
    formats = sorted({d["path"].rsplit("/", 1)[-1].split("-")[1].lstrip("f")
                      for d in results["datasets"].values()})
    out = ["### Queries on the big snapshots",
           "",
           f"Snapshot format {', '.join(formats)}"
           + (" (before the working-set layout: the section \"Before and after the working-set "
              "layout\" above gives format 3 against format 2 at 5M; these sizes have not been "
              "rerun in format 3)" if formats == ["2"] else "") + ".",
           "",
           "`python benchmarks/peers.py --methods " + ",".join(methods)
           + ("` --cold" if results.get("cold") else "`") + " on the demo snapshots "
           + ", ".join(f"`{d['path'].rsplit('/', 1)[-1]}`" for d in results["datasets"].values())
           + f" (same run, load average {_load_range(results)} from other jobs, wall "
           "medians, a different neuron or neuron set each call; *agree*: every method "
           "returned the same answers). *vs smallest* is the napari-crant median over its median "
           "on the smallest size (wall, and CPU time of the process, steadier under load). "
           "The query layout is not this section's work (see the peers section above).",
           "",
           "| case | synapses | " + " | ".join(methods) + " | napari-crant vs numpy | "
           "vs smallest | vs smallest, CPU time | agree |",
           "|---|---:|" + "---:|" * len(methods) + "---:|---:|---:|---|"]
    by = {(r["method"], r["synapses"]): r for r in runs}
    for case, name in CASE_NAMES.items():
        base = by.get(("napari_crant", sizes[0]), {}).get("cases", {}).get(case)
        for n in sizes:
            cells, answers = [], set()
            for m in methods:
                c = by.get((m, n), {}).get("cases", {}).get(case)
                cells.append(f"{c['median_s'] * 1e3:,.1f} ms" if c else "-")
                if c:
                    answers.add(json.dumps(c["answers"]))
            ours = by.get(("napari_crant", n), {}).get("cases", {}).get(case)
            floor = by.get(("numpy", n), {}).get("cases", {}).get(case)
            ratio = f"{ours['median_s'] / floor['median_s']:.1f}×" if ours and floor else "-"
            growth = f"{ours['median_s'] / base['median_s']:.2f}×" if ours and base else "-"
            cpu = (f"{ours['cpu_median_s'] / base['cpu_median_s']:.2f}×" if ours and base
                   else "-")
            agree = "yes" if len(answers) == 1 else "no"
            out.append(f"| {name} | {n:,} | " + " | ".join(cells)
                       + f" | {ratio} | {growth} | {cpu} | {agree} |")
    mem = [r for r in runs if r["method"] == "napari_crant" and "sweep" in r]
    if mem:
        out += ["", "napari-crant's resident memory over 100 single-neuron queries (mapped file "
                "pages / heap):"]
        for r in sorted(mem, key=lambda r: r["synapses"]):
            b, a = r["sweep"]["before"], r["sweep"]["after"]
            out.append(f"- {r['synapses']:,} synapses: {b['RssFile']:,.0f} → "
                       f"{a['RssFile']:,.0f} MB mapped, {b['RssAnon']:,.0f} → "
                       f"{a['RssAnon']:,.0f} MB heap")
    return out


def _load_range(results: dict) -> str:
    """The 1-minute load averages the peers run recorded, as ``lo-hi``."""
    loads = [r["load"][0] for r in results["runs"] if "load" in r]
    loads += [results[k][0] for k in ("load_before", "load_after") if k in results]
    return f"{min(loads):.1f}-{max(loads):.1f}" if loads else "not recorded"


def write_report(results: list[dict], out: Path = REPORT) -> None:
    """Put the section into ``out``: replace the old one, or add it after the peers."""
    text = out.read_text() if out.exists() else "# Benchmarks\n"
    section = report(results)
    if START in text and END in text:
        before, rest = text.split(START, 1)
        text = before + section + rest.split(END, 1)[1]
    elif "<!-- layout:end -->" in text or "<!-- peers:end -->" in text:
        # after the peers (and their before / after section): where run.py keeps it
        mark = "<!-- layout:end -->" if "<!-- layout:end -->" in text else "<!-- peers:end -->"
        before, after = text.split(mark, 1)
        text = before + mark + "\n\n" + section + "\n" + after
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    out.write_text(text)


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--child":
        neurons, spn, seed, path = sys.argv[2:6]
        print(json.dumps(child(int(neurons), float(spn), int(seed), Path(path))))
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="5000,25000,150000,500000", help="neuron counts")
    p.add_argument("--synapses-per-neuron", type=float, default=200.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--remove", action="store_true", help="delete each snapshot after measuring")
    p.add_argument("--report-only", action="store_true", help="rewrite the report from the JSON")
    p.add_argument("--peers-json", metavar="JSON",
                   help="show this benchmarks/peers.py raw results file in the section too")
    p.add_argument("--results", metavar="JSON", type=Path, default=RESULTS,
                   help="merge the results into this file (default: %(default)s)")
    p.add_argument("--merge", metavar="JSON", nargs="+", type=Path, default=[],
                   help="merge other runs' results files (e.g. written with --results) into "
                        "--results first: per size and format the newest build is kept")
    p.add_argument("--no-report", action="store_true",
                   help="do not rewrite the section of docs/benchmarks.md")
    p.add_argument("--data", type=Path, default=DATA,
                   help="build the snapshots under this directory (default: %(default)s)")
    p.add_argument("--stages", action="store_true",
                   help="print where each build's memory went, stage by stage")
    args = p.parse_args(argv)
    if args.peers_json:
        PEERS_RESULTS.write_text(Path(args.peers_json).read_text())
    results_path = args.results
    results = json.loads(results_path.read_text()) if results_path.exists() else []
    if args.merge:
        results = merge_results(results, [r for f in args.merge for r in json.loads(f.read_text())])
        results_path.write_text(json.dumps(results, indent=1))
    if not args.report_only:
        for n in (int(s) for s in args.sizes.split(",")):
            path = dataset_path(n, args.seed, args.synapses_per_neuron, args.data)
            print(f"building {path.name} ...", flush=True)
            res = subprocess.run([sys.executable, __file__, "--child", str(n),
                                  str(args.synapses_per_neuron), str(args.seed), str(path)],
                                 capture_output=True, text=True)
            if res.returncode != 0:
                print(f"  ! n={n} failed:\n{res.stderr[-3000:]}", file=sys.stderr)
                return 1
            r = json.loads(res.stdout.strip().splitlines()[-1])
            print(f"  {r['synapses']:,} synapses in {r['seconds']:.0f} s, resident peak "
                  f"{r['peak_rss_mb']:,} MB (heap {r['peak_anon_mb']:,} MB)", flush=True)
            if args.stages:
                print(format_stages(r["stages"], r["peak_rss_mb"]), flush=True)
            # merged with what is on disk now (another run may have added sizes meanwhile)
            results = json.loads(results_path.read_text()) if results_path.exists() else []
            results = [x for x in results if _key(x) != _key(r)] + [r]
            results_path.write_text(json.dumps(results, indent=1))
            if args.remove:
                shutil.rmtree(path, ignore_errors=True)
    if not args.no_report:
        write_report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
