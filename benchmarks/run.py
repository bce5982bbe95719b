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

The datasets and inputs come from ``bench_data.py``, what each case runs from
``run_cases.py``, the report from ``report_run.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_data import dataset_for, machine, materialized_parquet, pick_inputs
from report_run import report, write_keeping_peers
from run_cases import BASELINE_CASES, CASES, CAVE_CASES, _napari_crant_case, _pandas_case, _pyarrow_case

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BENCH_TOKEN = "benchmark-fake-token"  # the local server's; never a real one


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



if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    sys.exit(main())
