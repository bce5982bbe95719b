"""Single-neuron ``get_connectivity`` against the numpy floor in one process, call by call.

``peers.py`` runs each method in its own process, minutes apart. On a machine shared with
other jobs, the same code's median then moves by 1.5-2x from one process to the next (other
jobs on the sibling core, memory placement), in the floor's process as much as in
napari-crant's: a ratio of two such medians carries both. Here napari-crant and the floor
(``peers_methods.numpy_method``: plain arrays in memory, ``searchsorted``) run in one process
on the same neurons, one call each in turn (which one goes first alternates), so every pair of
calls sees the same machine. Each neuron is a different one (``peers.pick_queries``), and both
answers are compared (canonical pairs and weights) outside the timing.

``--warm`` runs every query once, untimed, before the timed pass; ``--cold`` drops the
snapshot's files from the OS page cache first (``peers.evict``), so each neuron's rows come
from disk in its timed call (the floor is in memory either way, as in ``peers.py``).

Run ``python benchmarks/peers_interleaved.py --datasets DIR[,DIR...] --seeds 0,1,2 [--warm |
--cold]``; it prints a Markdown table and writes the figures to ``--json`` if given.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def measure(path: Path, seed: int, neurons: int, warm: bool, cold: bool) -> dict:
    """CPU (process) and wall time of each call on each side, the ratios, and agreement."""
    from peers import evict, pick_queries
    from peers_methods import _triples, numpy_method

    import napari_crant as nc

    queries = pick_queries(path, neurons, 1, seed)["connectivity_1"]
    floor = numpy_method(path / "peers")["connectivity_1"]
    dataset = str(path)

    def ours(root: int):
        return nc.get_connectivity([root], dataset=dataset)

    for side in (ours, floor):  # one neuron not timed: imports, opening, first allocations
        side(queries[0])
    if warm:
        for root in queries[1:]:
            ours(root), floor(root)
    if cold:
        evict(path)
    cpu = {"napari_crant": [], "numpy": []}
    wall = {"napari_crant": [], "numpy": []}
    agree = True
    for i, root in enumerate(queries[1:]):
        order = ((ours, "napari_crant"), (floor, "numpy"))
        answers = {}
        for fn, name in (order if i % 2 == 0 else order[::-1]):
            c, t = time.process_time(), time.perf_counter()
            answers[name] = fn(root)
            wall[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
        mine = answers["napari_crant"]
        agree &= _triples(mine["pre"], mine["post"], mine["weight"]) == _triples(*answers["numpy"])
    med = {k: statistics.median(v) for k, v in cpu.items()}
    per_call = [a / b for a, b in zip(cpu["napari_crant"], cpu["numpy"], strict=True) if b > 0]
    return {"dataset": str(path), "seed": seed, "calls": len(queries) - 1, "warm": warm, "cold": cold,
            "cpu_median_s": med, "wall_median_s": {k: statistics.median(v) for k, v in wall.items()},
            "ratio_of_medians": med["napari_crant"] / med["numpy"],
            "median_of_ratios": statistics.median(per_call), "agree": agree,
            "load": os.getloadavg(), "cpu_s": cpu}


def table(results: list[dict]) -> str:
    """Markdown: one row per dataset and seed."""
    lines = ["| synapses | seed | calls | load | napari-crant CPU | numpy floor CPU | ratio of medians | "
             "median of per-call ratios | agree |", "|---:|---:|---:|---|---:|---:|---:|---:|---|"]
    for r in results:
        counts = json.loads((Path(r["dataset"]) / "manifest.json").read_text())["counts"]
        c = r["cpu_median_s"]
        lines.append(f"| {counts['synapses']:,} | {r['seed']} | {r['calls']} | {r['load'][0]:.1f} | "
                     f"{c['napari_crant'] * 1e3:.3f} ms | {c['numpy'] * 1e3:.3f} ms | "
                     f"**{r['ratio_of_medians']:.2f}×** | {r['median_of_ratios']:.2f}× | "
                     f"{'yes' if r['agree'] else 'NO'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", required=True, help="comma-separated snapshot directories (peers prepared)")
    p.add_argument("--seeds", default="0", help="comma-separated seeds (the neurons picked)")
    p.add_argument("--neurons", type=int, default=101, help="distinct neurons timed per seed")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--warm", action="store_true", help="every query once, untimed, first")
    mode.add_argument("--cold", action="store_true",
                      help="drop the snapshot's files from the page cache first")
    p.add_argument("--json", type=Path, help="write the figures here")
    args = p.parse_args(argv)
    results = []
    for d in args.datasets.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            r = measure(Path(d).expanduser().resolve(), seed, args.neurons, args.warm, args.cold)
            print(f"{Path(d).name} seed {seed}: ratio {r['ratio_of_medians']:.2f}x "
                  f"(napari-crant {r['cpu_median_s']['napari_crant'] * 1e3:.3f} ms, "
                  f"floor {r['cpu_median_s']['numpy'] * 1e3:.3f} ms CPU), agree {r['agree']}", flush=True)
            results.append(r)
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent / "src"))
    sys.path.insert(0, str(HERE))
    sys.exit(main())
