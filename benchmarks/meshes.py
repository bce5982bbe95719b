"""A root's mesh: generated from the demo's skeleton (cold and warm fragment cache), through
``get_mesh``, and through the local server with the unmodified cloud-volume (manifest +
fragments over HTTP).

Run::

    python benchmarks/meshes.py [--neurons 12] [--repeats 5]

It builds a demo snapshot of ``--neurons`` neurons (seed 3) in a temporary directory, picks
the roots with the most skeleton nodes, and times each case ``--repeats`` times; the table
gives medians (ms) with the root's node, L2-chunk and triangle counts. Target: a
1,000-node neuron's fragments generated in well under a second.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

TOKEN = "5f3c9a0e7d21b4c68e0f1a2b3c4d5e6f"  # made up: cloud-volume wants hex or base64


def median_ms(fn: Callable[[], object], repeats: int, before: Callable[[], None] | None = None) -> float:
    times = []
    for _ in range(repeats):
        if before is not None:
            before()
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--neurons", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--roots", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")

    from cloudvolume import CloudVolume

    import napari_crant as nc
    from napari_crant.server.runner import serve_in_thread
    from napari_crant.sources.cave import CaveDatasetConfig, CaveSource
    from napari_crant.sources.snapshot import SnapshotSource

    out = Path(tempfile.mkdtemp(prefix="napari-crant-bench-")) / "demo"
    nc.make_demo(out, n_neurons=args.neurons, seed=3)
    source = SnapshotSource(out)
    nodes = source.skeleton_nodes()
    t = time.perf_counter()
    mesher = source._meshes.mesher
    build_ms = (time.perf_counter() - t) * 1e3
    alive = source.roots_table()
    alive = alive[alive["expired"].isna()] if "expired" in alive else alive
    l2_of_node = nodes["l2_id"].to_numpy(np.uint64)
    sizes = []
    for root in alive["root_id"].to_numpy(np.uint64):
        n = int(np.isin(l2_of_node, source.l2_ids(int(root))).sum())
        sizes.append((n, int(root)))
    picks = [r for _, r in sorted(sizes, reverse=True)[: args.roots]]
    print(f"demo: {args.neurons} neurons, {len(nodes):,} skeleton nodes; "
          f"first use (imports, node index) {build_ms:.0f} ms")

    rows = []
    with serve_in_thread(source, token=TOKEN) as srv:
        cfg = CaveDatasetConfig(name="bench", server_address=srv.url, datastack=srv.datastack)
        seg = CaveSource(cfg, auth_token=TOKEN).client.info.segmentation_source()
        cv = CloudVolume(seg, progress=False, use_https=True, secrets={"token": TOKEN})
        for root in picks:
            l2 = source.l2_ids(root)
            n_nodes = int(np.isin(l2_of_node, l2).sum())
            mesh = source.root_mesh(root, None)
            clear = mesher._cache.clear
            rows.append({
                "root": root, "nodes": n_nodes, "l2 chunks": len(l2), "triangles": len(mesh.faces),
                "generate cold": median_ms(lambda r=root: source.root_mesh(r, None), args.repeats, clear),
                "generate warm": median_ms(lambda r=root: source.root_mesh(r, None), args.repeats),
                "get_mesh warm": median_ms(lambda r=root: nc.get_mesh(r, dataset=out), args.repeats),
                "cloud-volume cold": median_ms(lambda r=root: cv.mesh.get(r), args.repeats, clear),
                "cloud-volume warm": median_ms(lambda r=root: cv.mesh.get(r), args.repeats),
            })
    header = list(rows[0])
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        cells = [f"{v:.1f}" if isinstance(v, float) else str(v) for v in row.values()]
        print("| " + " | ".join(cells) + " |")
    print("(times: medians in ms)")


if __name__ == "__main__":
    main()
