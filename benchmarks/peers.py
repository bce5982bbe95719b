"""napari-crant against the strong peers: what a competent engineer builds in an afternoon.

Run ``python benchmarks/peers.py`` (defaults: 25,000, 150,000 and 500,000 neurons at 200
synapses per neuron, i.e. about 5M, 30M and 100M synapses; ``--sizes 2000`` for a quick run).
The datasets are demo snapshots built by the demo generator (``benchmarks/bench_data.py``'s
``dataset_for``); the peers read the same synapses with root IDs materialized at the latest
version (``bench_data.materialized_parquet``), prepared once per dataset under ``<snapshot>/peers``:

- **numpy** (the floor): the table in memory as plain arrays, one copy sorted by the
  presynaptic root and one by the postsynaptic root; ``np.searchsorted`` for each neuron's
  rows. It is what touching the rows costs, with no IDs to parse, no history, no result
  frame;
- **pandas**: the same two sorted copies as DataFrames in memory; ``Series.searchsorted``,
  ``iloc`` slices, ``groupby``;
- **duckdb**: a DuckDB database file holding a pre-sorted and a post-sorted table (zone maps
  prune on the sorted key); prepared SQL;
- **polars**: a lazy scan of the two sorted Parquet files (row-group statistics prune).

Every case times a *different* query each call (distinct neurons, distinct neuron sets), the
same sequence for every method, after one warm-up query; each method runs in its own process.
Before its timed calls, every method has its data in memory: numpy and pandas load their tables
in their setup, and the files DuckDB, polars and napari-crant query are read once into the OS
page cache (untimed, reported; ``--from-disk`` leaves them where they are, ``--cold`` drops every
file from the page cache first).
Every answer is reduced to a canonical form (sorted ``pre, post, weight`` triples; per-neuron
counts) and hashed outside the timing; the report says whether all sides agreed on every
call. Ratios are peer median / napari-crant median from the same run. The napari-crant process
also reports its resident memory split into mapped file pages and heap (``RssFile`` /
``RssAnon``) after opening and after 100 single-neuron queries on 100 other neurons.

The methods and the canonical forms are in ``benchmarks/peers_methods.py``, the report in
``benchmarks/report_peers.py``.

The report goes to the "Strong peers" section of ``docs/benchmarks.md`` (the rest of that file
is ``benchmarks/run.py``'s) and the raw figures to ``docs/benchmarks-peers.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from peers_methods import (
    POST,
    PRE,
    duckdb_method,
    napari_crant_method,
    numpy_method,
    pandas_method,
    polars_method,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
METHODS = ("napari_crant", "numpy", "pandas", "duckdb", "polars")
CASES = {
    "connectivity_1": "get_connectivity, 1 neuron",
    "synapse_counts_1000": "get_synapse_counts, 1,000 neurons",
    "adjacency_500": "get_adjacency, 500 x 500",
}



# -- data ------------------------------------------------------------------------------------
def prepare_peers(path: Path) -> Path:
    """Sorted Parquet copies and the DuckDB file of the latest-version synapse table."""
    import duckdb
    import polars as pl
    from bench_data import materialized_parquet

    out = path / "peers"
    if (out / "done").exists():
        return out
    out.mkdir(exist_ok=True)
    flat = materialized_parquet(path)
    for key, name in ((PRE, "by_pre"), (POST, "by_post")):
        (pl.scan_parquet(flat).sort([key, PRE if key == POST else POST, "id"])
         .sink_parquet(out / f"{name}.parquet", row_group_size=100_000, statistics=True))
    db = out / "peers.duckdb"
    db.unlink(missing_ok=True)
    con = duckdb.connect(str(db))
    con.execute("SET preserve_insertion_order = true")
    for name in ("by_pre", "by_post"):
        src = str(out / f"{name}.parquet").replace("'", "''")
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_parquet('{src}')")
    con.close()
    (out / "done").write_text("ok")
    return out


def pick_queries(path: Path, n_single: int, n_sets: int, seed: int) -> dict:
    """Distinct neurons (roots alive at the latest version, >= 20 L2 chunks) for every call.

    Alive at the version the peers materialized: newer roots would be mapped back by
    napari-crant (``update_ids``) and found by no peer.
    """
    from napari_crant.materialization import resolve_materialization
    from napari_crant.sources.snapshot import SnapshotSource

    src = SnapshotSource(path)
    roots = np.sort(src.roots_table()["root_id"].to_numpy(np.uint64))
    current = roots[src.root_status(roots, resolve_materialization(src, "latest"))[1]]
    col = src._root_l2["root_id"]
    chunks = np.searchsorted(col, current, "right") - np.searchsorted(col, current, "left")
    neurons = current[chunks >= 20]
    rng = np.random.default_rng(seed)
    pool = rng.permutation(neurons)
    need = 1 + n_single + 100  # warm-up, timed, working-set sweep
    if len(pool) < need:
        raise SystemExit(f"{path}: only {len(pool)} neurons, need {need}; use a larger size")
    single = [int(x) for x in pool[:need]]

    def sets(k: int) -> list[list[int]]:
        return [[int(x) for x in rng.choice(neurons, k, replace=False)] for _ in range(n_sets + 1)]

    return {"connectivity_1": single[: 1 + n_single], "sweep": single[1 + n_single:],
            "synapse_counts_1000": sets(1000),
            "adjacency_500": [[a, b] for a, b in zip(sets(500), sets(500), strict=True)]}


# -- one method in a child process -----------------------------------------------------------
def _status_mb() -> dict[str, float]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key = line.split(":")[0]
        if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            out[key] = int(line.split()[1]) / 1024.0
    return out


def child(method: str, path: Path, queries: dict, cases: list[str]) -> dict:
    t0 = time.perf_counter()
    peers = path / "peers"
    make = {"napari_crant": lambda: napari_crant_method(path), "numpy": lambda: numpy_method(peers),
            "pandas": lambda: pandas_method(peers), "duckdb": lambda: duckdb_method(peers),
            "polars": lambda: polars_method(peers)}[method]
    fns = make()
    setup_s = time.perf_counter() - t0
    out: dict = {"method": method, "setup_s": setup_s, "after_setup": _status_mb(), "cases": {}}
    if method == "napari_crant":  # first, so the pages touched are these queries' only
        fns["connectivity_1"](queries["connectivity_1"][0])
        before = _status_mb()
        t = time.perf_counter()
        for r in queries["sweep"]:
            fns["connectivity_1"](r)
        out["sweep"] = {"queries": len(queries["sweep"]), "seconds": time.perf_counter() - t,
                        "before": before, "after": _status_mb()}
    if queries.get("in_memory"):  # after the sweep, which measures the pages queries touch
        out["in_memory"] = in_memory(method, path)
    for case in cases:
        fn = fns[case]
        canon = fns["canon_counts"] if case == "synapse_counts_1000" else fns.get("canon_pairs", lambda x: x)
        inputs = queries[case]
        canon(fn(inputs[0]))  # warm-up on a query not timed
        if queries.get("warm"):  # every timed query once first: its pages are in memory
            for q in inputs[1:]:
                fn(q)
        times, cpu, answers, io = [], [], [], []
        for q in inputs[1:]:
            r0 = resource.getrusage(resource.RUSAGE_SELF)
            t, c = time.perf_counter(), time.process_time()
            res = fn(q)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            io.append((r1.ru_majflt - r0.ru_majflt, (r1.ru_inblock - r0.ru_inblock) / 2,
                       r1.ru_stime - r0.ru_stime))
            answers.append(canon(res))
        out["cases"][case] = {"times_s": times, "median_s": statistics.median(times), "cpu_s": cpu,
                              "cpu_median_s": statistics.median(cpu), "answers": answers,
                              "major_faults": [a for a, _, _ in io], "read_kb": [b for _, b, _ in io],
                              "sys_s": [c for _, _, c in io]}
    out["end"] = _status_mb()
    return out


def in_memory(method: str, path: Path) -> dict:
    """Bring the files a method queries into the OS page cache (untimed, like its setup).

    numpy and pandas hold their tables in memory after their setup; DuckDB and polars read
    their files when queried, and napari-crant reads its mapped snapshot: their files are read
    once here (``napari_crant.sources.snapshot_mapping.page_in``; napari-crant's own
    ``SnapshotSource.preload``), so that every method answers from memory.
    """
    from napari_crant.sources.snapshot_mapping import page_in

    t = time.perf_counter()
    if method == "napari_crant":
        from napari_crant.datasets import get_source

        nbytes = get_source(str(path)).preload()
    elif method in ("duckdb", "polars"):
        names = ("peers.duckdb",) if method == "duckdb" else ("by_pre.parquet", "by_post.parquet")
        nbytes = sum(page_in(path / "peers" / name) for name in names)
    else:
        nbytes = 0
    return {"seconds": time.perf_counter() - t, "bytes": nbytes}


def scaling_child(small: Path, large: Path, queries: dict[str, dict], cases: list[str]) -> dict:
    """napari-crant at the smallest and the largest size in one process, call by call.

    Both snapshots are read into the page cache first; then, for each case, the calls of the two
    sizes alternate (which size goes first alternates too), the same picks as the per-method
    children, so both sizes meet the same machine in the same seconds. The medians' ratio is
    the per-query growth with the dataset (across two processes minutes apart, the floor's
    own medians move by up to 2.5x on a shared machine).
    """
    from napari_crant.datasets import get_source

    fns = {path: napari_crant_method(path) for path in (small, large)}
    for path in (small, large):
        get_source(str(path)).preload()
    out: dict = {}
    for case in cases:
        for path in (small, large):
            fns[path][case](queries[str(path)][case][0])  # warm-up on a query not timed
        times = {str(small): ([], []), str(large): ([], [])}
        n = min(len(queries[str(path)][case]) for path in (small, large))
        for i in range(1, n):
            for path in ((small, large) if i % 2 else (large, small)):
                t, c = time.perf_counter(), time.process_time()
                fns[path][case](queries[str(path)][case][i])
                times[str(path)][0].append(time.perf_counter() - t)
                times[str(path)][1].append(time.process_time() - c)
        out[case] = {path: {"median_s": statistics.median(w), "cpu_median_s": statistics.median(c)}
                     for path, (w, c) in times.items()}
    return out


def evict(path: Path) -> int:
    """Drop the files under ``path`` (a snapshot and its peers) from the OS page cache.

    ``POSIX_FADV_DONTNEED`` on each file: the next reads come from disk, as after a reboot.
    The files are not changed. Returns the bytes advised.
    """
    total = 0
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        fd = os.open(f, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            total += f.stat().st_size
        finally:
            os.close(fd)
    return total


def run_child(method: str, path: Path, queries_file: str, cases: list[str]) -> dict | None:
    cmd = [sys.executable, __file__, "--child", method, str(path), queries_file, ",".join(cases)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=7200)
    if res.returncode != 0:
        print(f"  ! {method} failed:\n{res.stderr[-3000:]}", file=sys.stderr)
        return None
    return json.loads(res.stdout.strip().splitlines()[-1])


def run_scaling(paths: list[Path], picked: dict[str, dict], cases: list[str]) -> dict | None:
    """:func:`scaling_child` on the smallest and the largest dataset (by synapses), in a new process."""
    def synapses(path: Path) -> int:
        return int(json.loads((path / "manifest.json").read_text())["counts"]["synapses"])

    small, large = min(paths, key=synapses), max(paths, key=synapses)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({str(small): picked[str(small)], str(large): picked[str(large)]}, f)
    print(f"one process, {small.name} and {large.name} call by call", flush=True)
    cmd = [sys.executable, __file__, "--scaling", str(small), str(large), f.name, ",".join(cases)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=7200)
    if res.returncode != 0:
        print(f"  ! scaling failed:\n{res.stderr[-3000:]}", file=sys.stderr)
        return None
    out = json.loads(res.stdout.strip().splitlines()[-1])
    return {"small": synapses(small), "large": synapses(large),
            "cases": {case: {"small": v[str(small)], "large": v[str(large)]} for case, v in out.items()}}


# -- driver ----------------------------------------------------------------------------------
def main(argv=None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--scaling":
        small, large, queries_file, cases = sys.argv[2:6]
        queries = json.loads(Path(queries_file).read_text())
        print(json.dumps(scaling_child(Path(small), Path(large), queries, cases.split(","))))
        return 0
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--child":
        method, path, queries_file, cases = sys.argv[2:6]
        queries = json.loads(Path(queries_file).read_text())
        print(json.dumps(child(method, Path(path), queries, cases.split(","))))
        return 0
    from bench_data import dataset_for, machine
    from report_peers import write_report

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="25000,150000,500000",
                   help="comma-separated neuron counts (x 200 synapses per neuron; default 5M, 30M, 100M)")
    p.add_argument("--synapses-per-neuron", type=float, default=200.0)
    p.add_argument("--neurons", type=int, default=21, help="distinct neurons timed for the 1-neuron case")
    p.add_argument("--sets", type=int, default=5,
                   help="distinct neuron sets timed for the 1,000 / 500 x 500 cases")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    p.add_argument("--report-only", metavar="JSON", help="rewrite the section from a results file")
    p.add_argument("--datasets", metavar="DIRS",
                   help="comma-separated snapshot directories to use instead of building --sizes "
                        "(their peers are prepared in <snapshot>/peers unless present)")
    p.add_argument("--warm", action="store_true",
                   help="run every timed query once, untimed, before the timed pass (every method), "
                        "so the pages the queries read are in memory")
    p.add_argument("--from-disk", action="store_true",
                   help="leave napari-crant's snapshot and the DuckDB and polars files where they are "
                        "(by default every method's files are read into the page cache before its timed "
                        "calls, as numpy and pandas hold theirs in memory)")
    p.add_argument("--cold", action="store_true",
                   help="drop each dataset's files from the OS page cache before every method "
                        "(POSIX_FADV_DONTNEED; the files are not changed)")
    args = p.parse_args(argv)
    out = Path(args.out)
    raw = out.with_name("benchmarks-peers.json")
    if args.report_only:
        write_report(json.loads(Path(args.report_only).read_text()), out)
        return 0
    results: dict = {"machine": machine(), "datasets": {}, "runs": [], "cold": args.cold, "warm": args.warm,
                     "in_memory": not (args.from_disk or args.cold),
                     "load_before": os.getloadavg()}
    if args.datasets:
        paths = [Path(d).expanduser().resolve() for d in args.datasets.split(",")]
    else:
        paths = [dataset_for(int(n), args.seed, args.synapses_per_neuron) for n in args.sizes.split(",")]
    picked: dict[str, dict] = {}
    for path in paths:
        manifest = json.loads((path / "manifest.json").read_text())
        n = int(manifest["info"]["n_neurons"])
        print(f"dataset n={n}: {manifest['counts']['synapses']:,} synapses; preparing the peers", flush=True)
        t = time.perf_counter()
        prepare_peers(path)
        queries = pick_queries(path, args.neurons, args.sets, args.seed)
        results["datasets"][str(n)] = {"path": str(path), "counts": manifest["counts"],
                                       "prepare_s": time.perf_counter() - t}
        picked[str(path)] = queries
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump({**queries, "warm": args.warm, "in_memory": not (args.from_disk or args.cold)}, f)
        for method in args.methods.split(","):
            if args.cold:
                evict(path)
            r = run_child(method, path, f.name, args.cases.split(","))
            if r is None:
                continue
            r["neurons"], r["synapses"] = n, manifest["counts"]["synapses"]
            r["load"] = os.getloadavg()
            results["runs"].append(r)
            print("  " + method.ljust(13) + "  ".join(
                f"{c} {v['median_s'] * 1e3:8.2f} ms" for c, v in r["cases"].items()), flush=True)
        raw.write_text(json.dumps(results, indent=1))
    if len(paths) >= 2 and "napari_crant" in args.methods.split(",") and not (args.cold or args.warm):
        results["scaling"] = run_scaling(paths, picked, args.cases.split(","))
    results["load_after"] = os.getloadavg()
    raw.write_text(json.dumps(results, indent=1))
    write_report(results, out)
    print(f"wrote {out} and {raw}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    sys.path.insert(0, str(HERE))
    sys.exit(main())
