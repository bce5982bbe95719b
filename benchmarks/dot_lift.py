"""Paint cost of lifted synapse dots in 3D (``dot_depth.lift_dots``), under Xvfb.

```bash
xvfb-run -a -s "-screen 0 1600x1000x24" python benchmarks/dot_lift.py [--dots 100000] [--rounds 3]
```

Opens napari in 3D with one Points layer of ``--dots`` random synapse-like dots (400 nm, the
session's canvas size limits and antialiasing) in a 200 um cube, fitted to the view, and paints it
(``viewer.screenshot``: vispy's draw and the read-back) ``--frames`` times with the lift off
(vispy's markers) and on (two more transforms per vertex, the fragment depth written), in
alternating rounds: a one-voxel image with the QC EM's metadata, far from the dots, is shown or
hidden and :func:`~napari_crant._qt.dot_depth.relift` called, as the EM panel does. Prints the
median wall time, main-thread CPU and process CPU (Mesa's llvmpipe draws in threads of its own) per
frame of each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dots", type=int, default=100_000)
    parser.add_argument("--frames", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    import napari
    import numpy as np
    from qtpy.QtWidgets import QApplication

    from napari_crant._qt.dot_depth import lift_dots, plane_shown, relift
    from napari_crant.scene.layer_data import DOT_ANTIALIAS, MAX_POINT_PIXELS, METADATA_KEY, MIN_POINT_PIXELS

    viewer = napari.Viewer(ndisplay=3)
    viewer.window._qt_window.resize(1600, 1000)
    viewer.window.show()
    data = np.random.default_rng(0).uniform(0, 200_000, size=(args.dots, 3))
    layer = viewer.add_points(data, size=400.0, canvas_size_limits=(MIN_POINT_PIXELS, MAX_POINT_PIXELS),
                              face_color="orange", border_width=0.0, antialiasing=DOT_ANTIALIAS,
                              metadata={METADATA_KEY: "pre"})
    if not lift_dots(viewer, layer):
        print("vispy's markers are not as expected: no lift", file=sys.stderr)
        return 1
    viewer.reset_view()
    em = viewer.add_image(np.zeros((1, 1, 1), np.uint8), translate=(-1e6, -1e6, -1e6),
                          metadata={METADATA_KEY: "qc_em"}, visible=False)
    app = QApplication.instance()
    for _ in range(20):
        app.processEvents()
    times: dict[str, list[tuple[float, float, float]]] = {"off": [], "on": []}
    for _ in range(args.rounds):
        for mode in ("off", "on"):
            em.visible = mode == "on"
            relift(viewer)
            assert plane_shown(viewer) == (mode == "on")
            viewer.screenshot(canvas_only=True, flash=False)  # the program relinked
            for _ in range(args.frames):
                w, c, p = time.perf_counter(), time.thread_time(), time.process_time()
                viewer.screenshot(canvas_only=True, flash=False)
                times[mode].append((time.perf_counter() - w, time.thread_time() - c, time.process_time() - p))
    load = os.getloadavg()[0]
    print(f"{args.dots:,} dots in 3D, {args.rounds} rounds x {args.frames} frames, load {load:.2f}")
    for mode, rows in times.items():
        wall, cpu, proc = (1e3 * statistics.median(r[i] for r in rows) for i in range(3))
        print(f"lift {mode:3s}: wall {wall:.1f} ms, main thread CPU {cpu:.1f} ms, process CPU {proc:.1f} ms")
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
