"""One repaint of many synapse dots in 2D and in 3D, and how many dots each draws (run under Xvfb).

```bash
xvfb-run -a -s "-screen 0 1600x1000x24" python benchmarks/frame_3d.py                 # 300 Kenyon cells
xvfb-run -a -s "-screen 0 1600x1000x24" python benchmarks/frame_3d.py --many 50 --frames 3
```

Opens napari at 1600 x 1000, loads ``--many`` Kenyon cells of ``--dataset`` (the demo by
default) with the synapse dots' level of detail at its automatic limit (software OpenGL under
Xvfb: a stable subsample) or ``--limit``, then paints the canvas (``repaint()``: vispy's draw of
every layer and Qt's composition of the frame) ``--frames`` times in 2D and again after switching
to 3D. Prints, per display, the dots the level of detail shows (``shown``), the dots napari hands
to vispy (the markers of every synapse layer's visual), and the median wall and main-thread CPU
time of one repaint. Run it on two source trees (``PYTHONPATH=<tree>/src``) to compare.
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


def _kenyon_cells(dataset: str, many: int) -> list[int]:
    code = (
        "import json, numpy as np\n"
        "from napari_crant.queries.common import open_query\n"
        "from napari_crant.scene.loading import current_annotations\n"
        f"src, at = open_query({dataset!r}, 'latest')\n"
        "ann = current_annotations(src, at)\n"
        "ct = ann['cell_type'].astype(str)\n"
        f"kc = ann[ct.str.startswith('KC')]['root_id'].to_numpy(np.uint64)[:{many}]\n"
        "print(json.dumps([int(x) for x in kc]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="demo")
    parser.add_argument("--many", type=int, default=300, help="Kenyon cells loaded")
    parser.add_argument("--frames", type=int, default=5, help="repaints timed per display")
    parser.add_argument("--limit", type=int, default=-1,
                        help="synapse dots drawn at most (-1 automatic, 0 every dot)")
    args = parser.parse_args(argv)
    os.environ.setdefault("NAPARI_CRANT_DATA_DIR", tempfile.mkdtemp(prefix="frame-3d-"))
    ids = _kenyon_cells(args.dataset, args.many)

    import napari
    from qtpy.QtWidgets import QApplication

    from napari_crant._qt.session import get_session
    from napari_crant.scene.loading import load_neurons, run_to_end

    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1600, 1000)
    app = QApplication.instance()
    session = get_session(viewer)
    session.params.dataset = args.dataset
    result = run_to_end(load_neurons(ids, **session.params.load_kwargs()))
    session.dots.set_limit(args.limit)
    session.add(result)

    def spin(seconds: float, until=lambda: False) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end and not until():
            app.processEvents()
            time.sleep(0.005)

    spin(600, lambda: not session.drawing)
    canvas = viewer.window._qt_viewer.canvas
    layers = [layer for kind in ("pre", "post") for layer in session.batches.layers(kind)]

    def markers() -> int:
        return sum(len(canvas.layer_to_visual[layer].node.points_markers._data) for layer in layers)

    print(f"{len(ids)} Kenyon cells of {args.dataset}: {sum(len(layer.data) for layer in layers):,} "
          f"synapse dots; limit {session.dots.budget.limit} ({session.dots.budget.reason or 'none'}); "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'display':>7s} {'shown':>8s} {'drawn':>8s} {'frame ms':>9s} {'CPU ms':>7s}")
    for ndisplay in (2, 3):
        viewer.dims.ndisplay = ndisplay
        spin(1.0)  # the level of detail recounts after the display changed
        walls, cpus = [], []
        for _ in range(args.frames):
            t0, c0 = time.perf_counter(), time.thread_time()
            canvas.native.update()
            canvas.native.repaint()
            app.processEvents()
            walls.append((time.perf_counter() - t0) * 1000)
            cpus.append((time.thread_time() - c0) * 1000)
        shown = sum(int(layer.shown.sum()) for layer in layers)
        print(f"{ndisplay:>6d}D {shown:>8,d} {markers():>8,d} {statistics.median(walls):>9.0f} "
              f"{statistics.median(cpus):>7.0f}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
