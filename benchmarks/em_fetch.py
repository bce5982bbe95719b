"""A synapse's tissue (EM + segmentation + outline) fetched in this process vs in the child process.

```bash
python benchmarks/em_fetch.py                      # tiny demo, 12 synapses of one neuron
python benchmarks/em_fetch.py --dataset demo --synapses 20
```

For each synapse, alternately (in-thread first on even rows, the child first on odd ones),
``fetch_synapse_tissue`` in the calling thread and ``TissueProcess.fetch`` (the EM panel's
default) on a cold chunk cache each (every synapse is new to both; neighbours may share
chunks), and prints the medians of: wall time, CPU time of *this* process (all its threads:
what the napari process would spend, holding its GIL) and CPU time of the child; then the same
synapse again, warm (what the first fetch drew is in the tissue's cache). The child is started
and warmed (geometry read, shapes indexed) before timing. Also checks that both give
the same bytes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_setup import tiny_demo


def child_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=None, help="snapshot path or dataset (default: a tiny demo)")
    parser.add_argument("--synapses", type=int, default=12)
    parser.add_argument("--width", type=float, default=2048.0, help="cutout width (nm)")
    parser.add_argument("--sections", type=int, default=5)
    args = parser.parse_args(argv)
    os.environ.setdefault("NAPARI_CRANT_DATA_DIR", tempfile.mkdtemp(prefix="em-fetch-"))

    import numpy as np

    from napari_crant.datasets import get_source
    from napari_crant.qc.em_process import TissueProcess
    from napari_crant.qc.em_review import fetch_synapse_tissue
    from napari_crant.qc.worklist import build_worklist
    from napari_crant.scene.loading import pick_demo_neuron
    from napari_crant.tissue.synthetic import synthetic_tissue

    dataset = args.dataset or tiny_demo("em-fetch-demo-")
    size = (args.width, args.width, 42.0 * args.sections)
    wl = build_worklist(pick_demo_neuron(dataset), dataset=dataset)
    picks = np.linspace(0, len(wl) - 1, args.synapses + 1).astype(int)
    renderer = TissueProcess()
    t0 = time.perf_counter()
    renderer.fetch(wl.iloc[int(picks[0])], dataset, "latest", size)  # start the child, read the geometry
    start_s = time.perf_counter() - t0
    fetch_synapse_tissue(wl.iloc[int(picks[0])], dataset, "latest", size)  # the same here
    pid = renderer.pid
    volume = synthetic_tissue(get_source(dataset).path).volume
    rows: dict[str, list[tuple[float, float, float]]] = {
        name: [] for name in ("this process (worker thread)", "child process",
                              "this process (worker thread), warm", "child process, warm")}
    same = 0
    for k, i in enumerate(picks[1:]):
        row = wl.iloc[int(i)]
        got = {}
        order = ("here", "child") if k % 2 == 0 else ("child", "here")
        for where in order:
            volume.clear()  # cold in this process (the child's cache holds other chunks)
            w0, c0, k0 = time.perf_counter(), time.process_time(), child_cpu_s(pid)
            if where == "here":
                got[where] = fetch_synapse_tissue(row, dataset, "latest", size)
            else:
                got[where] = renderer.fetch(row, dataset, "latest", size)
            w, c, kc = time.perf_counter() - w0, time.process_time() - c0, child_cpu_s(pid) - k0
            name = "this process (worker thread)" if where == "here" else "child process"
            rows[name].append((1000 * w, 1000 * c, 1000 * kc))
            # warm: the same synapse again (the tissue's cache holds what the cold fetch drew)
            w0, c0, k0 = time.perf_counter(), time.process_time(), child_cpu_s(pid)
            if where == "here":
                fetch_synapse_tissue(row, dataset, "latest", size)
            else:
                renderer.fetch(row, dataset, "latest", size)
            w, c, kc = time.perf_counter() - w0, time.process_time() - c0, child_cpu_s(pid) - k0
            rows[f"{name}, warm"].append((1000 * w, 1000 * c, 1000 * kc))
        a, b = got["here"], got["child"]
        same += int(a.em.data.tobytes() == b.em.data.tobytes()
                    and a.segmentation.data.tobytes() == b.segmentation.data.tobytes()
                    and np.array_equal(a.outline, b.outline))
    renderer.close()
    print(f"\n{dataset}: {args.synapses} synapses, cutout {args.width:.0f} nm x {args.sections} sections; "
          f"child started and warmed in {start_s:.1f} s; load {os.getloadavg()[0]:.1f}")
    print("| drawn in | wall median | wall max | CPU of this process median | CPU of the child median |\n"
          "|---|---:|---:|---:|---:|")
    for name, v in rows.items():
        a = np.array(v)
        print(f"| {name} | {np.median(a[:, 0]):.0f} ms | {a[:, 0].max():.0f} ms | "
              f"{np.median(a[:, 1]):.0f} ms | {np.median(a[:, 2]):.0f} ms |")
    print(f"same bytes (EM, segmentation, outline): {same} of {len(picks) - 1}")
    ratio = statistics.median(r[1] for r in rows["child process"]) / max(
        statistics.median(r[1] for r in rows["this process (worker thread)"]), 1e-9)
    print(f"CPU of this process per fetch, child / in-thread: {ratio:.3f}")
    return 0 if same == len(picks) - 1 else 1


if __name__ == "__main__":
    sys.exit(main())
