"""Two ways of reading several roots' slices, alternated call by call in one process, at two sizes.

``python benchmarks/read_paths.py SNAP_SMALL SNAP_LARGE --case counts --calls 100``

The counting queries read the slices of many roots (``get_synapse_counts``: 1,000 neurons,
both sides; ``get_adjacency``: 500 x 500, one side) with
:meth:`~napari_crant.sources.snapshot_mapping.MappedTable.read_ranges`. This script times that
path (``positioned``: one positioned read a slice, ``RWF_NOWAIT`` first, advice only for slices
not in memory) against the one it replaced (``mapped``: ``MappedTable.prefetch``, one
``MADV_WILLNEED`` per merged range, then the rows gathered through the mapping, a page fault
for every page new to the process), both in the same process, on both snapshots, in turn
(small positioned, small mapped, large positioned, large mapped, ...; which path goes first
alternates), each path with its own neuron sets (so neither reads rows the other has just
touched). Per call: thread CPU time and its system part (``getrusage``); a second pass repeats
each path's queries. Prints the medians and the large / small ratios per path and pass.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PATHS = ("positioned", "mapped")


def _mapped_gather(self, name: str, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The replaced path: advice on the rows' pages, then a gather through the mapping."""
    from napari_crant.sources.snapshot_synapses import expand_ranges

    self.prefetch(name, lo, hi)
    return self[name][expand_ranges(lo, hi)]


def main(argv: list[str] | None = None) -> int:
    from query_scaling import _queries, _run

    from napari_crant.sources.snapshot_mapping import MappedTable

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("small")
    p.add_argument("large")
    p.add_argument("--case", choices=("counts", "adjacency"), default="counts")
    p.add_argument("--calls", type=int, default=100, help="timed calls per size, path and pass")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    sizes = [str(Path(args.small).resolve()), str(Path(args.large).resolve())]
    drawn = {s: _queries(s, args.case, 2 * args.calls + 1, args.seed) for s in sizes}
    queries = {(s, m): drawn[s][1 + k::2] for s in sizes for k, m in enumerate(PATHS)}
    read = {"positioned": MappedTable.read_ranges, "mapped": _mapped_gather}
    for s in sizes:
        _run(args.case, s, drawn[s][0])  # warm-up: opening, imports
    for label in ("first pass", "second pass (same queries)"):
        cpu: dict = {key: [] for key in queries}
        sys_s: dict = {key: [] for key in queries}
        for i in range(args.calls):
            for s in sizes:
                for m in (PATHS if i % 2 == 0 else PATHS[::-1]):
                    MappedTable.read_ranges = read[m]
                    r0, t = resource.getrusage(resource.RUSAGE_THREAD), time.thread_time()
                    _run(args.case, s, queries[s, m][i])
                    cpu[s, m].append(time.thread_time() - t)
                    sys_s[s, m].append(resource.getrusage(resource.RUSAGE_THREAD).ru_stime - r0.ru_stime)
        MappedTable.read_ranges = read["positioned"]
        for m in PATHS:
            med = {s: float(np.median(cpu[s, m])) * 1e3 for s in sizes}
            parts = [f"{Path(s).name}: {med[s]:.2f} ms CPU (system {np.median(sys_s[s, m]) * 1e3:.2f} ms)"
                     for s in sizes]
            print(f"{args.case}, {m}, {label}: " + " | ".join(parts)
                  + f" | large / small {med[sizes[1]] / med[sizes[0]]:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent / "src"))
    sys.path.insert(0, str(HERE))
    sys.exit(main())
