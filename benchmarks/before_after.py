"""Before / after a change: the same measurement in new processes, alternating two source trees.

``python benchmarks/before_after.py CASE --src BEFORE_SRC --src AFTER_SRC [--rounds N] ...``

Each round runs one process per tree, in turn (before, after, before, ...), so both meet the
same load; every process imports napari-crant from its ``--src`` (a checkout's ``src``
directory) and prints one JSON line. Cases:

- ``cold-connectivity SNAPSHOT``: ``get_connectivity`` of one neuron, a *different* neuron each
  call, never queried before in this machine's run (each process draws its own neurons with its
  own seed, so their pages are not in the page cache unless another process read them: no page
  is dropped from the cache), then the same neurons again (in memory). Per call: thread CPU time,
  process CPU time (all threads), wall time, system time, KB read from disk (``getrusage``).
- ``synapses SNAPSHOT``: ``get_synapses`` of one neuron (pre side) for every combination of
  ``return_pixels`` and ``split_positions``, the same neurons in every process; thread CPU and
  wall time of the second pass (warm).
- ``peers-cases SNAPSHOT``: the three cases of ``peers.py`` (one neuron's ``get_connectivity``,
  ``get_synapse_counts`` of 1,000 neurons, ``get_adjacency`` 500 x 500) on the peers' picks
  (``--calls`` neurons and ``--calls // 18`` sets, a different one each call), every ``.arrow``
  file of the snapshot read into the page cache first (as ``peers.py`` gives every method its data
  in memory); wall and process CPU time (all threads) per case.
- ``cave-restart``: the first look after a restart over CAVE: a snapshot served with
  ``--latency`` ms per request (``serve_in_thread``, what ``napari-crant serve --latency`` runs),
  each tree with its own cache directory filled by a first process; then per round one new
  process per tree: imports, ``CaveSource`` made, then the first ``get_connectivity`` (or
  ``get_synapses``) at a pinned version timed (process CPU time, wall, time waiting for a CPU
  from ``/proc/self/schedstat``) and the server's requests counted (must be 0).

Prints medians per tree and the after / before ratios.
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

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TOKEN = "5be0c4a1f9e2d3b7a6c8e0f1d2c3b4a5"  # made up, hex as cloud-volume wants; never a real one


# -- the measurements, run in a child process -------------------------------------------------
def _cold_connectivity(path: str, calls: int, seed: int) -> dict:
    import resource

    import numpy as np

    import napari_crant as nc
    from napari_crant.datasets import get_source
    from napari_crant.materialization import resolve_materialization

    src = get_source(path)
    at = resolve_materialization(src, "latest")
    roots = src._synapse_index._slice_columns()["root_id"]  # in memory: touches no synapse page
    rng = np.random.default_rng(seed)
    pool = rng.permutation(roots)[: calls * 3]
    picked = pool[src.root_status(pool, at)[1]][: calls + 1]
    nc.get_connectivity([int(picked[0])], dataset=path)  # warm-up: code paths, not these pages

    def run(ids) -> dict:
        got: dict[str, list[float]] = {"cpu_ms": [], "process_cpu_ms": [], "wall_ms": [], "sys_ms": [],
                                       "read_kb": []}
        for r in ids:
            r0 = resource.getrusage(resource.RUSAGE_SELF)
            t, c, pc = time.perf_counter(), time.thread_time(), time.process_time()
            nc.get_connectivity([int(r)], dataset=path)
            c, pc, t = time.thread_time() - c, time.process_time() - pc, time.perf_counter() - t
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            got["cpu_ms"].append(c * 1e3)
            got["process_cpu_ms"].append(pc * 1e3)
            got["wall_ms"].append(t * 1e3)
            got["sys_ms"].append((r1.ru_stime - r0.ru_stime) * 1e3)
            got["read_kb"].append((r1.ru_inblock - r0.ru_inblock) / 2)
        return {k: statistics.median(v) for k, v in got.items()}

    return {"cold": run(picked[1:]), "warm": run(picked[1:])}


def _synapses(path: str, calls: int, seed: int) -> dict:
    import numpy as np

    import napari_crant as nc
    from napari_crant.datasets import get_source
    from napari_crant.materialization import resolve_materialization

    src = get_source(path)
    at = resolve_materialization(src, "latest")
    roots = src._synapse_index._slice_columns()["root_id"]
    pool = np.random.default_rng(seed).permutation(roots)[: calls * 3]
    picked = [int(x) for x in pool[src.root_status(pool, at)[1]][:calls]]
    out = {}
    for pixels in (True, False):
        for split in (False, True):
            def call(r: int, pixels=pixels, split=split):
                return nc.get_synapses(pre_ids=r, return_pixels=pixels, split_positions=split, dataset=path)

            rows = [len(call(r)) for r in picked]  # first pass: pages and code paths
            cpu, wall = [], []
            for r in picked:
                t, c = time.perf_counter(), time.thread_time()
                call(r)
                cpu.append((time.thread_time() - c) * 1e3)
                wall.append((time.perf_counter() - t) * 1e3)
            out[f"pixels={pixels},split={split}"] = {"cpu_ms": statistics.median(cpu),
                                                     "wall_ms": statistics.median(wall),
                                                     "rows": statistics.median(rows)}
    return out


def _peers_cases(path: str, calls: int, seed: int) -> dict:
    sys.path.insert(0, str(HERE))
    import numpy as np
    from peers import pick_queries

    import napari_crant as nc

    queries = pick_queries(Path(path), calls, max(2, calls // 18), seed)
    buffer = memoryview(bytearray(8 << 20))
    # read once, the pages then in memory (not napari_crant's page_in: the tree measured may predate it)
    for f in sorted(Path(path).glob("*.arrow")):
        with open(f, "rb", buffering=0) as fh:
            while fh.readinto(buffer):
                pass
    cases = {"connectivity_1": lambda r: nc.get_connectivity([r], dataset=path),
             "synapse_counts_1000": lambda ids: nc.get_synapse_counts(ids, dataset=path),
             "adjacency_500": lambda ab: nc.get_adjacency(ab[0], ab[1], dataset=path)}
    out = {}
    for case, fn in cases.items():
        inputs = queries[case]
        fn(inputs[0])  # warm-up on a query not timed
        wall, cpu = [], []
        for q in inputs[1:]:
            t, c = time.perf_counter(), time.process_time()
            fn(q)
            wall.append((time.perf_counter() - t) * 1e3)
            cpu.append((time.process_time() - c) * 1e3)
        out[case] = {"wall_ms": float(np.median(wall)), "process_cpu_ms": float(np.median(cpu))}
    return out


def _waited_ms() -> float:
    try:
        with open("/proc/self/schedstat") as f:
            return int(f.read().split()[1]) / 1e6
    except (OSError, IndexError, ValueError):
        return float("nan")


def _cave_restart(url: str, root: int, version: int, case: str) -> dict:
    import diskcache  # noqa: F401  (imported before timing: a restarted napari has them)
    import navis  # noqa: F401

    import napari_crant as nc
    import napari_crant.queries.connectivity
    import napari_crant.queries.synapses
    from napari_crant.sources.cave import CaveDatasetConfig, CaveSource

    made = time.process_time()
    src = CaveSource(CaveDatasetConfig(name="bench", server_address=url, datastack="bench", timeout=600),
                     auth_token=TOKEN)
    made = time.process_time() - made
    w, t, c = _waited_ms(), time.perf_counter(), time.process_time()
    if case == "synapses":
        rows = len(nc.get_synapses(pre_ids=root, materialization=version, dataset=src))
    else:
        rows = len(nc.get_connectivity(root, materialization=version, dataset=src))
    return {"cpu_ms": (time.process_time() - c) * 1e3, "wall_ms": (time.perf_counter() - t) * 1e3,
            "waited_ms": _waited_ms() - w, "rows": rows, "source_cpu_ms": made * 1e3}


# -- the driver -------------------------------------------------------------------------------
def _child(src: str, args: list[str], env: dict | None = None) -> dict:
    env = {**(env or os.environ), "PYTHONPATH": src}
    res = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True,
                         env=env, timeout=3600, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"child {args} with {src} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _flat(result: dict, prefix: str = "") -> dict[str, float]:
    out = {}
    for k, v in result.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k} "))
        elif isinstance(v, int | float):
            out[f"{prefix}{k}"] = float(v)
    return out


def _report(label: str, runs: dict[str, list[dict]], srcs: list[str]) -> None:
    print(f"\n{label}: medians over {len(runs[srcs[0]])} processes per tree; load average "
          f"{os.getloadavg()[0]:.1f}")
    keys = list(_flat(runs[srcs[0]][0]))
    meds = {s: {k: statistics.median(_flat(r)[k] for r in runs[s]) for k in keys} for s in srcs}
    width = max(len(k) for k in keys)
    print(f"{'':{width}}  " + "  ".join(f"{Path(s).parent.name or s:>14}" for s in srcs) + "   after/before")
    for k in keys:
        a, b = meds[srcs[0]][k], meds[srcs[-1]][k]
        ratio = f"{b / a:8.2f}" if a else "       -"
        print(f"{k:{width}}  " + "  ".join(f"{meds[s][k]:14.3f}" for s in srcs) + f"   {ratio}")


def main(argv: list[str] | None = None) -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child" and argv is None:
        case, *rest = sys.argv[2:]
        if case == "cold-connectivity":
            out = _cold_connectivity(rest[0], int(rest[1]), int(rest[2]))
        elif case == "synapses":
            out = _synapses(rest[0], int(rest[1]), int(rest[2]))
        elif case == "peers-cases":
            out = _peers_cases(rest[0], int(rest[1]), int(rest[2]))
        else:
            out = _cave_restart(rest[0], int(rest[1]), int(rest[2]), rest[3])
        print(json.dumps(out))
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("case", choices=("cold-connectivity", "synapses", "peers-cases", "cave-restart"))
    p.add_argument("snapshot", help="snapshot directory (cave-restart: the one served)")
    p.add_argument("--src", action="append", required=True, help="a source tree (give two: before, after)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--calls", type=int, default=60,
                   help="neurons per process (cold-connectivity, synapses, peers-cases)")
    p.add_argument("--seed", type=int, default=1000)
    p.add_argument("--latency", type=float, default=300.0, help="cave-restart: ms per request")
    p.add_argument("--query", default="connectivity", choices=("connectivity", "synapses"),
                   help="cave-restart: the call timed")
    args = p.parse_args(argv)
    srcs = [str(Path(s).resolve()) for s in args.src]
    runs: dict[str, list[dict]] = {s: [] for s in srcs}
    print(f"{args.case}: load average {os.getloadavg()[0]:.1f} at the start", flush=True)
    if args.case != "cave-restart":
        for i in range(args.rounds):
            for j, s in enumerate(srcs):
                seed = args.seed + i * len(srcs) + j if args.case == "cold-connectivity" else args.seed
                runs[s].append(_child(s, [args.case, args.snapshot, str(args.calls), str(seed)]))
        _report(args.case, runs, srcs)
        return 0
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, srcs[-1])
    from cave_cache import pick_neurons

    from napari_crant.server.runner import serve_in_thread

    version, roots = pick_neurons(Path(args.snapshot), 1)
    home = tempfile.mkdtemp(prefix="bench-before-after-")
    base = {**os.environ, "HOME": home, "NO_PROXY": "127.0.0.1,localhost"}
    envs = {s: {**base, "NAPARI_CRANT_CAVE_CACHE_DIR": str(Path(home) / f"cache-{j}")}
            for j, s in enumerate(srcs)}
    with serve_in_thread(args.snapshot, datastack="bench", token=TOKEN, latency_ms=args.latency) as server:
        child_args = [args.case, server.url, str(roots[0]), str(version), args.query]
        for s in srcs:  # each tree fills its own cache (the first look, with the latency)
            _child(s, child_args, envs[s])
        log = server.app.state.requests
        for _ in range(args.rounds):
            for s in srcs:
                log.reset()
                got = _child(s, child_args, envs[s])
                got["requests"] = log.count
                runs[s].append(got)
    _report(f"cave-restart ({args.query}, version {version}, {args.latency:.0f} ms latency)", runs, srcs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
