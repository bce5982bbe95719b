"""Main-thread CPU of hiding the shown synapse's verdict dot on the 3D EM plane, per step (Xvfb).

```bash
xvfb-run -a -s "-screen 0 1600x1000x24" python benchmarks/qc_dot.py              # tiny demo
xvfb-run -a python benchmarks/qc_dot.py --dataset demo --steps 500
```

Opens napari in 3D with the synapse QC dock on a demo neuron, waits for the first EM, then calls
:meth:`CurrentDot.hide <napari_crant._qt.qc.current_dot.CurrentDot.hide>` for ``--steps`` synapses
in turn, as each QC step in 3D does (the previous dot's face and rim given back, the next one's made
transparent: four one-vertex uploads). It prints the median and 90th percentile of the main thread's
CPU time (``time.thread_time``) per call.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

from bench_setup import qc_viewer, spin_until, tiny_demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=None, help="snapshot path or dataset (default: a tiny demo)")
    parser.add_argument("--root", type=int, default=None, help="neuron to review (default: picked)")
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args(argv)
    os.environ.setdefault("NAPARI_CRANT_DATA_DIR", tempfile.mkdtemp(prefix="qc-dot-bench-"))
    dataset = args.dataset or tiny_demo("qc-dot-demo-")
    viewer, app, qc, _root = qc_viewer(dataset, args.root, 3)
    qc.build()
    panel = qc.em_panel
    if not (spin_until(app, lambda: not qc.review.items.empty, 300)
            and spin_until(app, lambda: panel.shown is not None, 600)):
        print(f"no review list or no EM: {panel.status.text()}", file=sys.stderr)
        return 1
    spin_until(app, lambda: not qc.workers, 120)
    dot = panel.current_dot
    n = len(qc.review.items)
    times = []
    for k in range(args.steps):
        start = time.thread_time()
        dot.hide((k * 7) % n)
        times.append(time.thread_time() - start)
        app.processEvents()
    times.sort()
    p90 = times[int(0.9 * (len(times) - 1))]
    load = os.getloadavg()[0]
    print(f"{n} verdict dots, {args.steps} calls, load {load:.2f}: CurrentDot.hide main-thread CPU "
          f"median {1e3 * statistics.median(times):.2f} ms, 90th percentile {1e3 * p90:.2f} ms")
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
