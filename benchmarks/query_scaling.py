"""Per-query cost at two dataset sizes, queries alternated in one process.

``python benchmarks/query_scaling.py SNAP_SMALL SNAP_LARGE --case connectivity --calls 150``

Opens both snapshots in one process and alternates their queries (small, large, small, ...),
a different neuron (``connectivity``) or neuron set (``counts``: 1,000 neurons; ``adjacency``:
500 x 500) each call, drawn from the roots alive at the latest version. Alternating in one
process gives both sizes the same load, the same interpreter and the same heap, so the ratio
of the medians is the growth with the dataset. Per call: the process's CPU time (every thread:
``get_synapse_counts`` counts its inputs on a second thread), its system time, the KB it read
from disk (``getrusage``) and the wall time; a second pass repeats the same queries
(their pages now in memory). ``--cold`` first drops both snapshots' files from the OS page
cache (``POSIX_FADV_DONTNEED``; the files are not changed). Prints one line per pass.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _queries(path: str, case: str, calls: int, seed: int) -> list:
    from napari_crant.queries.common import open_query

    src, at = open_query(path, "latest")
    roots = np.sort(src.roots_table()["root_id"].to_numpy(np.uint64))
    alive = roots[src.root_status(roots, at)[1]]
    rng = np.random.default_rng(seed)
    if case == "counts":
        return [rng.choice(alive, 1000, replace=False) for _ in range(calls + 1)]
    if case == "adjacency":
        return [(rng.choice(alive, 500, replace=False), rng.choice(alive, 500, replace=False))
                for _ in range(calls + 1)]
    return [[int(x)] for x in rng.choice(alive, calls + 1, replace=False)]


def _run(case: str, path: str, query) -> None:
    import napari_crant as nc

    if case == "counts":
        nc.get_synapse_counts(query, dataset=path)
    elif case == "adjacency":
        nc.get_adjacency(query[0], query[1], dataset=path)
    else:
        nc.get_connectivity(query, dataset=path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("small")
    p.add_argument("large")
    p.add_argument("--case", choices=("connectivity", "counts", "adjacency"), default="connectivity")
    p.add_argument("--calls", type=int, default=100, help="timed calls per size and pass")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cold", action="store_true", help="drop the snapshots from the page cache first")
    args = p.parse_args(argv)
    paths = [str(Path(args.small).resolve()), str(Path(args.large).resolve())]
    if args.cold:
        from peers import evict

        for path in paths:
            evict(Path(path))
    queries = {path: _queries(path, args.case, args.calls, args.seed) for path in paths}
    for path in paths:
        _run(args.case, path, queries[path][0])  # warm-up: opening, imports
    for label in ("first pass", "second pass (same queries)"):
        cpu, sys_s, read, wall = ({path: [] for path in paths} for _ in range(4))
        for i in range(1, args.calls + 1):
            for path in paths:
                r0, t, w = resource.getrusage(resource.RUSAGE_SELF), time.process_time(), time.perf_counter()
                _run(args.case, path, queries[path][i])
                wall[path].append(time.perf_counter() - w)
                cpu[path].append(time.process_time() - t)
                r1 = resource.getrusage(resource.RUSAGE_SELF)
                sys_s[path].append(r1.ru_stime - r0.ru_stime)
                read[path].append((r1.ru_inblock - r0.ru_inblock) / 2)
        med = {path: float(np.median(cpu[path])) * 1e3 for path in paths}
        on_wall = {path: float(np.median(wall[path])) * 1e3 for path in paths}
        parts = [f"{Path(path).name}: {med[path]:.2f} ms CPU, {on_wall[path]:.2f} ms wall (system "
                 f"{np.median(sys_s[path]) * 1e3:.2f} ms, read {np.median(read[path]):,.0f} KB)"
                 for path in paths]
        print(f"{args.case}, {label}: " + " | ".join(parts)
              + f" | large / small {med[paths[1]] / med[paths[0]]:.2f} CPU, "
              f"{on_wall[paths[1]] / on_wall[paths[0]]:.2f} wall", flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent / "src"))
    sys.path.insert(0, str(HERE))
    sys.exit(main())
