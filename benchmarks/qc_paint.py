"""What one paint of the QC view costs, by the layers shown (run under Xvfb).

```bash
xvfb-run -a -s "-screen 0 1600x1000x24" python benchmarks/qc_paint.py            # tiny demo, 2D
xvfb-run -a -s "-screen 0 1600x1000x24" python benchmarks/qc_paint.py --ndisplay 3 --frames 20
```

Opens napari at 1600 x 1000 with the synapse QC dock on a demo neuron, waits for the EM of
the first synapse, then paints the canvas (``repaint()``: synchronous, vispy's draw of every
visible layer and Qt's composition of the GL frame into the window) ``--frames`` times for
each set of visible layers: every layer; the QC layers only; "hide other layers" (EM, segments,
ring); each layer alone; none (the frame itself). Prints the median wall and main-thread CPU
(``time.thread_time``) and the process's CPU time (with Mesa's threads) per frame; Mesa's
software rasteriser (llvmpipe) draws in threads of its own, so wall time above the main thread's
CPU time is mostly that rasteriser (and, on a loaded machine, waiting for a core). A layer's
cost is its frame minus the empty frame.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_setup import qc_viewer, spin_until, tiny_demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=None, help="snapshot path or dataset (default: a tiny demo)")
    parser.add_argument("--root", type=int, default=None, help="neuron to review (default: picked)")
    parser.add_argument("--frames", type=int, default=15, help="paints per set of layers")
    parser.add_argument("--ndisplay", type=int, choices=(2, 3), default=2)
    parser.add_argument("--profile", type=Path, default=None,
                        help="write a pyinstrument profile (main thread) of the paints with every layer here")
    parser.add_argument("--text-off", action="store_true",
                        help="hide the (empty) text of every Points layer first (napari draws it anyway)")
    args = parser.parse_args(argv)
    os.environ.setdefault("NAPARI_CRANT_DATA_DIR", tempfile.mkdtemp(prefix="qc-paint-"))

    from napari_crant.scene.layer_data import METADATA_KEY

    dataset = args.dataset or tiny_demo("qc-paint-demo-")
    viewer, app, qc, root = qc_viewer(dataset, args.root, args.ndisplay)

    qc.build()
    if not spin_until(app, lambda: not qc.review.items.empty, 300) or \
            not spin_until(app, lambda: qc.em_panel.shown is not None and not qc.workers, 600):
        print(f"no review list or EM for {root}", file=sys.stderr)
        return 1
    canvas = viewer.window._qt_viewer.canvas.native
    size = canvas.size()

    def kind(layer) -> str:
        return str(layer.metadata.get(METADATA_KEY, "other"))

    layers = list(viewer.layers)
    if args.text_off:
        for layer in layers:
            text = getattr(layer, "text", None)
            if text is not None and hasattr(text, "visible"):
                text.visible = False
    visible = {id(layer): layer.visible for layer in layers}
    qc_kinds = ("qc_em", "qc_segments", "qc_current", "qc_verdicts", "qc_partner")
    sets: list[tuple[str, list]] = [
        ("every layer", [layer for layer in layers if visible[id(layer)]]),
        ("QC layers only", [layer for layer in layers if kind(layer) in qc_kinds and visible[id(layer)]]),
        ("hide other layers (EM, segments, ring)",
         [layer for layer in layers if kind(layer) in ("qc_em", "qc_segments", "qc_current")]),
        ("none (the frame itself)", []),
    ]
    sets += [(f"only {layer.name} ({layer._type_string}, {kind(layer)}, {len(layer.data)} items, "
              f"blending {layer.blending})", [layer]) for layer in layers if visible[id(layer)]]

    def frames(shown: list, profile: Path | None = None) -> tuple[float, float]:
        ids = {id(layer) for layer in shown}
        for layer in layers:
            want = id(layer) in ids
            if layer.visible != want:
                layer.visible = want
        for _ in range(3):  # let the visibility changes settle, textures upload
            app.processEvents()
            canvas.repaint()
        wall, cpu, proc = [], [], []
        profiler = None
        if profile is not None:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005)
            profiler.start()
        for _ in range(args.frames):
            t0, c0, p0 = time.perf_counter(), time.thread_time(), time.process_time()
            canvas.repaint()
            wall.append(1000 * (time.perf_counter() - t0))
            cpu.append(1000 * (time.thread_time() - c0))
            proc.append(1000 * (time.process_time() - p0))
        if profiler is not None:
            profiler.stop()
            profile.write_text(profiler.output_text(unicode=False, color=False, show_all=True))
        return statistics.median(wall), statistics.median(cpu), statistics.median(proc)

    results = [(name, *frames(shown, args.profile if i == 0 else None))
               for i, (name, shown) in enumerate(sets)]
    for layer in layers:
        layer.visible = visible[id(layer)]
    base_wall = next(w for name, w, _, _ in results if name.startswith("none"))
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"\nQC view paint: {dataset}, neuron {root}, {args.ndisplay}D, canvas {size.width()} x "
          f"{size.height()} px in a 1600 x 1000 window, {args.frames} frames per row, points' text "
          f"{'hidden' if args.text_off else 'as napari leaves it'}, load {' '.join(load)}")
    print("| layers shown | paint wall median | main-thread CPU median | process CPU median "
          "(with Mesa's threads) | wall minus empty frame |\n|---|---:|---:|---:|---:|")
    for name, wall, cpu, proc in results:
        if wall < 0.5:  # seen after a dozen rows on Xvfb: repaint() returned at once (nothing painted)
            print(f"| {name} | not painted (repaint() returned at once) | | | |")
            continue
        print(f"| {name} | {wall:.1f} ms | {cpu:.1f} ms | {proc:.1f} ms | {wall - base_wall:+.1f} ms |")
    qc.cleanup()
    spin_until(app, lambda: not qc.em_panel.workers, 600)
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
