"""Benchmarks: napari-crant against what users would write instead, on large demo snapshots.

Run ``python benchmarks/run.py`` (defaults: 25,000 and 100,000 neurons, i.e. about 5M and
20M synapses). Each case runs in its own Python process (so its peak memory is its own),
once as warm-up and then ``--repeats`` times; the medians, ratios measured in the same run,
the machine and the dataset sizes go to ``docs/benchmarks.md`` and the raw figures to
``docs/benchmarks.json``.

Full-scan baselines, on the same data in the same run (context only: they read the whole
table for every query; ``benchmarks/peers.py`` compares with the strong peers, sorted copies
and binary searches):

- **pandas**: the whole synapse table (root IDs materialized at the latest version) loaded in
  memory; boolean mask + groupby, what a user writes by hand;
- **pyarrow**: a scan of that table as one Parquet file with ``is_in`` filters, how people
  query the public connectome release files;
- **cave**: the same napari-crant API through the CAVE source against the local
  CAVE-compatible server (the crantpy route), when ``napari_crant.server`` is installed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data"

# case name -> (description, number of neurons it takes)
CASES = {
    "open_snapshot": ("open a snapshot and answer a first root lookup", 1),
    "connectivity_1": ("get_connectivity, 1 neuron", 1),
    "connectivity_100": ("get_connectivity, 100 neurons", 100),
    "synapses_1": ("get_synapses (pre and post of 1 neuron)", 1),
    "adjacency_500": ("get_adjacency, 500 x 500 neurons", 500),
    "synapse_counts_1000": ("get_synapse_counts, 1,000 neurons", 1000),
    "update_ids_10000": ("update_ids, 10,000 IDs (half outdated), cache cleared", 10000),
    "attach_synapses_100": ("attach_synapses, 100 neurons (skeletons prebuilt)", 100),
    "l2_skeleton_1": ("get_l2_skeleton, 1 neuron", 1),
    "layer_data_1": ("napari layer data from loaded results, 1 neuron", 1),
    "layer_data_100": ("napari layer data from loaded results, 100 neurons", 100),
    "load_neurons_1": ("load for the canvas (skeleton, synapses, partners) + layer data, 1 neuron", 1),
    "load_neurons_100": ("load for the canvas + layer data, 100 neurons", 100),
}
BASELINE_CASES = ("connectivity_1", "connectivity_100", "synapses_1", "adjacency_500",
                  "synapse_counts_1000")
CAVE_CASES = (*BASELINE_CASES, "update_ids_10000", "l2_skeleton_1")
BENCH_TOKEN = "benchmark-fake-token"  # the local server's; never a real one


# -- inputs ----------------------------------------------------------------------------------
def pick_inputs(path: Path, seed: int = 0) -> dict[str, list[int]]:
    """Deterministic query IDs: current roots with synapses, and outdated roots."""
    from napari_crant.sources.snapshot import SnapshotSource

    src = SnapshotSource(path)
    roots = src.roots_table()
    current = np.sort(roots.loc[roots["expired"].isna(), "root_id"].to_numpy(np.uint64))
    outdated = np.sort(roots.loc[roots["expired"].notna(), "root_id"].to_numpy(np.uint64))
    # neurons (not tiny fragments): roots with at least 20 L2 chunks
    col = src._root_l2["root_id"]
    l2_counts = np.searchsorted(col, current, "right") - np.searchsorted(col, current, "left")
    neurons = current[l2_counts >= 20] if (l2_counts >= 20).sum() >= 1000 else current
    rng = np.random.default_rng(seed)

    def sample(pool: np.ndarray, k: int) -> list[int]:
        # distinct IDs where the dataset has enough (small datasets repeat some)
        return [int(x) for x in rng.choice(pool, k, replace=k > len(pool))]

    n_old = min(5000, len(outdated))
    ids_10k = sample(outdated, n_old) + sample(current, 10000 - n_old)
    return {
        "one": sample(neurons, 1),
        "hundred": sample(neurons, 100),
        "five_hundred": sample(neurons, 500),
        "thousand": sample(neurons, 1000),
        "ten_thousand": ids_10k,
        "n_outdated": n_old,
    }


def materialized_parquet(path: Path) -> Path:
    """The synapse table with root IDs as of the latest version, as one Parquet file."""
    out = path / "bench_synapses_latest.parquet"
    if out.exists():
        return out
    import pyarrow as pa
    import pyarrow.parquet as pq

    from napari_crant.materialization import resolve_materialization
    from napari_crant.sources.snapshot import SnapshotSource

    src = SnapshotSource(path)
    at = resolve_materialization(src, "latest")
    s = src._synapses
    n = len(s)
    writer = None
    step = 2_000_000
    for lo in range(0, n, step):
        rows = np.arange(lo, min(lo + step, n))
        pre = src._roots_of_l2_or_zero(s["pre_pt_l2_id"][rows], at)
        post = src._roots_of_l2_or_zero(s["post_pt_l2_id"][rows], at)
        t = pa.table({
            "id": s["id"][rows], "pre_pt_root_id": pre, "post_pt_root_id": post,
            "size": s["size"][rows].astype(np.int64),
        })
        if writer is None:
            writer = pq.ParquetWriter(out.with_suffix(".tmp"), t.schema, compression="snappy")
        writer.write_table(t, row_group_size=1_000_000)
    writer.close()
    out.with_suffix(".tmp").rename(out)
    return out


# -- one case in a child process -------------------------------------------------------------
def _peak_rss_mb() -> float:
    # VmHWM is this process's own peak (ru_maxrss would include the parent's, kept across exec)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmHWM in /proc/self/status")


def _anon_rss_mb() -> float:
    """Anonymous (heap) resident memory now: excludes memory-mapped file pages."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def _current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(method: str, case: str, path: str, inputs_file: str, repeats: int, extra: str) -> dict:
    """Run one case ``repeats`` times after a warm-up; report seconds and memory."""
    import napari_crant as nc
    from napari_crant.queries.update import clear_update_cache

    inputs = json.loads(Path(inputs_file).read_text())
    base_rss = _current_rss_mb()
    setup_s = 0.0
    t0 = time.perf_counter()
    if method == "napari_crant":
        dataset = path
        if case == "open_snapshot":
            from napari_crant.materialization import resolve_materialization
            from napari_crant.sources.snapshot import SnapshotSource

            def fn():
                s = SnapshotSource(path)
                s.root_status(np.array(inputs["one"], np.uint64), resolve_materialization(s, "latest"))
        else:
            fn = _napari_crant_case(nc, case, dataset, inputs, clear_update_cache)
    elif method == "cave":
        from napari_crant.sources.cave import CaveDatasetConfig, CaveSource

        server = json.loads(extra)
        cfg = CaveDatasetConfig(name="bench-cave", server_address=server["url"],
                                datastack=server["datastack"], row_cap=server["row_cap"], timeout=600)
        fn = _napari_crant_case(nc, case, CaveSource(cfg, auth_token=BENCH_TOKEN), inputs,
                                clear_update_cache)
    elif method == "pandas":
        import pandas as pd

        df = pd.read_parquet(extra)
        setup_s = time.perf_counter() - t0
        fn = _pandas_case(pd, df, case, inputs)
    elif method == "pyarrow":
        fn = _pyarrow_case(case, extra, inputs)
    else:
        raise ValueError(method)
    fn()  # warm-up
    times = []
    anon = [_anon_rss_mb()]
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
        anon.append(_anon_rss_mb())  # sampled while the result is still alive
        del result
    return {
        "method": method, "case": case, "times_s": times, "median_s": statistics.median(times),
        "setup_s": setup_s, "peak_rss_mb": _peak_rss_mb(), "base_rss_mb": base_rss,
        "anon_mb": max(anon),
    }


def _napari_crant_case(nc, case, dataset, inputs, clear_cache):
    one, hundred = inputs["one"], inputs["hundred"]
    if case == "connectivity_1":
        return lambda: nc.get_connectivity(one, dataset=dataset)
    if case == "connectivity_100":
        return lambda: nc.get_connectivity(hundred, dataset=dataset)
    if case == "synapses_1":
        return lambda: (nc.get_synapses(pre_ids=one, dataset=dataset),
                        nc.get_synapses(post_ids=one, dataset=dataset))
    if case == "adjacency_500":
        return lambda: nc.get_adjacency(inputs["five_hundred"], inputs["five_hundred"], dataset=dataset)
    if case == "synapse_counts_1000":
        return lambda: nc.get_synapse_counts(inputs["thousand"], dataset=dataset)
    if case == "update_ids_10000":
        def fn():
            clear_cache()
            return nc.update_ids(inputs["ten_thousand"], dataset=dataset)
        return fn
    if case == "l2_skeleton_1":
        return lambda: nc.get_l2_skeleton(one, dataset=dataset)
    if case == "attach_synapses_100":
        skels = nc.get_l2_skeleton(hundred, dataset=dataset)
        return lambda: nc.attach_synapses(skels, dataset=dataset)
    if case.startswith(("layer_data_", "load_neurons_")):
        from napari_crant.scene.layer_data import Scene
        from napari_crant.scene.loading import load_neurons, run_to_end

        ids = one if case.endswith("_1") else hundred

        def build(result):
            scene = Scene()
            scene.add(result)
            return scene.layers()

        if case.startswith("layer_data_"):
            loaded = run_to_end(load_neurons(ids, dataset=dataset))
            return lambda: build(loaded)
        return lambda: build(run_to_end(load_neurons(ids, dataset=dataset)))
    raise ValueError(case)


def _pandas_case(pd, df, case, inputs):
    def conn(ids):
        m = df["pre_pt_root_id"].isin(ids) | df["post_pt_root_id"].isin(ids)
        sel = df[m]
        sel = sel[(sel["pre_pt_root_id"] != sel["post_pt_root_id"]) & (sel["pre_pt_root_id"] != 0)
                  & (sel["post_pt_root_id"] != 0)]
        return sel.groupby(["pre_pt_root_id", "post_pt_root_id"]).size().sort_values(ascending=False)

    if case == "connectivity_1":
        return lambda: conn(inputs["one"])
    if case == "connectivity_100":
        return lambda: conn(inputs["hundred"])
    if case == "synapses_1":
        return lambda: (df[df["pre_pt_root_id"].isin(inputs["one"])],
                        df[df["post_pt_root_id"].isin(inputs["one"])])
    if case == "adjacency_500":
        ids = inputs["five_hundred"]

        def adj():
            sel = df[df["pre_pt_root_id"].isin(ids) & df["post_pt_root_id"].isin(ids)]
            return pd.crosstab(sel["pre_pt_root_id"], sel["post_pt_root_id"])
        return adj
    if case == "synapse_counts_1000":
        ids = inputs["thousand"]

        def counts():
            c = conn(ids).reset_index()
            return (c.groupby("pre_pt_root_id").size(), c.groupby("post_pt_root_id").size())
        return counts
    raise ValueError(case)


def _pyarrow_case(case, parquet, inputs):
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    dset = ds.dataset(parquet, format="parquet")

    def scan(pre=None, post=None, either=None):
        if either is not None:
            arr = pa.array(either, pa.uint64())
            expr = pc.is_in(ds.field("pre_pt_root_id"), arr) | pc.is_in(ds.field("post_pt_root_id"), arr)
        elif pre is not None and post is not None:
            expr = (pc.is_in(ds.field("pre_pt_root_id"), pa.array(pre, pa.uint64()))
                    & pc.is_in(ds.field("post_pt_root_id"), pa.array(post, pa.uint64())))
        elif pre is not None:
            expr = pc.is_in(ds.field("pre_pt_root_id"), pa.array(pre, pa.uint64()))
        else:
            expr = pc.is_in(ds.field("post_pt_root_id"), pa.array(post, pa.uint64()))
        return dset.to_table(filter=expr)

    def conn(ids):
        t = scan(either=ids)
        return t.group_by(["pre_pt_root_id", "post_pt_root_id"]).aggregate([("id", "count")])

    if case == "connectivity_1":
        return lambda: conn(inputs["one"])
    if case == "connectivity_100":
        return lambda: conn(inputs["hundred"])
    if case == "synapses_1":
        return lambda: (scan(pre=inputs["one"]), scan(post=inputs["one"]))
    if case == "adjacency_500":
        ids = inputs["five_hundred"]
        return lambda: scan(pre=ids, post=ids).group_by(
            ["pre_pt_root_id", "post_pt_root_id"]).aggregate([("id", "count")])
    if case == "synapse_counts_1000":
        return lambda: conn(inputs["thousand"])
    raise ValueError(case)


class CaveServerProcess:
    """``napari-crant serve`` on 127.0.0.1 in its own process (so it does not share the GIL)."""

    def __init__(self, path: Path, row_cap: int = 200_000):
        from napari_crant.server.runner import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.info = {"url": self.url, "datastack": "bench", "row_cap": row_cap}
        self.home = tempfile.mkdtemp(prefix="bench-home-")
        self.log = Path(self.home) / "server.log"
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "napari_crant", "serve", "--dataset", str(path), "--port",
                 str(self.port), "--datastack", "bench", "--token", BENCH_TOKEN, "--row-cap", str(row_cap)],
                stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "HOME": self.home, "NO_PROXY": "127.0.0.1,localhost"},
            )
        import urllib.error
        import urllib.request

        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the CAVE server exited: {self.log.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{self.url}/info/version", timeout=2)  # loopback only
                return
            except urllib.error.HTTPError:  # it answers (401 without the token): it is up
                return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError("the CAVE server did not start within 120 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def run_child(method, case, path, inputs_file, repeats, extra="") -> dict | None:
    cmd = [sys.executable, __file__, "--child", method, case, str(path), str(inputs_file),
           str(repeats), extra]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if res.returncode != 0:
        print(f"  ! {method}/{case} failed:\n{res.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(res.stdout.strip().splitlines()[-1])


# -- driver ----------------------------------------------------------------------------------
def dataset_for(neurons: int, seed: int, synapses_per_neuron: float) -> Path:
    from napari_crant.demo import make_demo
    from napari_crant.snapshot.format import FORMAT_VERSION

    path = DATA / f"demo-f{FORMAT_VERSION}-n{neurons}-s{seed}-spn{synapses_per_neuron:g}"
    if not (path / "manifest.json").exists():
        print(f"building {path} ...", flush=True)
        t = time.perf_counter()
        make_demo(path, n_neurons=neurons, seed=seed, overwrite=True,
                  synapses_per_neuron=synapses_per_neuron)
        print(f"  built in {time.perf_counter() - t:.0f} s", flush=True)
    return path


def machine() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import duckdb
    import pandas
    import pyarrow

    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem, 1),
            "python": platform.python_version(), "numpy": np.__version__,
            "pandas": pandas.__version__, "pyarrow": pyarrow.__version__, "duckdb": duckdb.__version__}


def main(argv=None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--child":
        method, case, path, inputs_file, repeats, extra = sys.argv[2:8]
        print(json.dumps(child(method, case, path, inputs_file, int(repeats), extra)))
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="25000,100000",
                   help="comma-separated neuron counts of the datasets (default: 25000,100000)")
    p.add_argument("--repeats", type=int, default=7, help="timed runs per case after one warm-up")
    p.add_argument("--synapses-per-neuron", type=float, default=200.0,
                   help="synapse density of the generated datasets (200: 100,000 neurons ~ 20M synapses)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cases", default="all", help="comma-separated case names, or 'all'")
    p.add_argument("--no-baselines", action="store_true", help="skip the pandas/pyarrow/cave runs")
    p.add_argument("--no-cave", action="store_true", help="skip the CAVE-source-through-local-server runs")
    p.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    p.add_argument("--report-only", metavar="JSON", help="rewrite the report from a results JSON file")
    args = p.parse_args(argv)
    if args.report_only:
        write_keeping_peers(Path(args.out), report(json.loads(Path(args.report_only).read_text())))
        print(f"wrote {args.out}")
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    cases = list(CASES) if args.cases == "all" else args.cases.split(",")
    results: dict = {"machine": machine(), "repeats": args.repeats, "datasets": {}, "runs": []}
    for n in sizes:
        path = dataset_for(n, args.seed, args.synapses_per_neuron)
        manifest = json.loads((path / "manifest.json").read_text())
        size_mb = sum(f.stat().st_size for f in path.iterdir() if f.name.startswith("synapses")) / 2**20
        results["datasets"][str(n)] = {"path": str(path), "counts": manifest["counts"],
                                       "synapse_files_mb": round(size_mb, 1)}
        inputs = pick_inputs(path, args.seed)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(inputs, f)
            inputs_file = f.name
        methods = ["napari_crant"]
        extra = {"napari_crant": ""}
        server = None
        if not args.no_baselines:
            extra["pandas"] = extra["pyarrow"] = str(materialized_parquet(path))
            methods += ["pandas", "pyarrow"]
            if not args.no_cave:
                server = CaveServerProcess(path)
                extra["cave"] = json.dumps(server.info)
                methods.append("cave")
        print(f"dataset n={n}: {manifest['counts']['synapses']:,} synapses", flush=True)
        try:
            _run_cases(results, cases, methods, path, inputs_file, args.repeats, extra, n, manifest)
        finally:
            if server is not None:
                server.stop()
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    write_keeping_peers(out, report(results))
    print(f"wrote {out} and {out.with_suffix('.json')}")
    return 0


def _run_cases(results, cases, methods, path, inputs_file, repeats, extra, n, manifest) -> None:
    for case in cases:
        for method in methods:
            wanted = {"napari_crant": CASES, "pandas": BASELINE_CASES, "pyarrow": BASELINE_CASES,
                      "cave": CAVE_CASES}[method]
            if case not in wanted:
                continue
            r = run_child(method, case, path, inputs_file, repeats, extra[method])
            if r is None:
                continue
            r["neurons"] = n
            r["synapses"] = manifest["counts"]["synapses"]
            results["runs"].append(r)
            print(f"  {case:22s} {method:13s} median {r['median_s'] * 1e3:10.2f} ms  "
                  f"peak {r['peak_rss_mb']:8.0f} MB", flush=True)


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


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    sys.exit(main())
