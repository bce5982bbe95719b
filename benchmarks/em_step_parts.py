"""Where a prefetched EM step's main-thread CPU goes: the EM panel's and napari's parts (Xvfb).

```bash
xvfb-run -a -s "-screen 0 1600x1000x24" python benchmarks/em_step_parts.py            # tiny demo
xvfb-run -a -s "-screen 0 1600x1000x24" python benchmarks/em_step_parts.py --dataset /path/to/demo --steps 30
```

Opens napari with the synapse QC dock (2D) like ``gui_em.py``, waits before each step until the
next synapse's tissue is prefetched, presses ``n`` and paints (``repaint()``). Every part listed
in :data:`PARTS` is wrapped to count its main-thread CPU time (``time.thread_time``, outermost
call of each part only; parts nest, e.g. ``draw/set_z_point`` inside ``draw``), and the medians
over the steps are printed: which of the step's ~40-60 ms of handling is the plugin's code, which
napari's slicing, vispy's transforms and texture data, thumbnails. No profiler: the wrappers cost
microseconds per call.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import tempfile
import time

from bench_setup import next_prefetched, qc_viewer, spin_until, tiny_demo

#: (module, owner, attribute, label, is a property setter)
PARTS = (
    ("napari_crant._qt.qc.em_panel", "EMPanel", "draw", "EM panel: draw", False),
    ("napari_crant._qt.qc.em_panel", None, "put_cutout_layer", "draw/put_cutout_layer", False),
    ("napari_crant._qt.qc.em_panel", None, "set_z_point", "draw/set_z_point", False),
    ("napari_crant._qt.qc.em_panel", None, "show_moved", "draw/show_moved (the EM layers' slice)", False),
    ("napari_crant._qt.qc.em_panel", "EMPanel", "_set_status", "draw/_set_status", False),
    ("napari_crant._qt.qc.canvas", None, "_world_changed", "world extent checks (`_world_changed`)", False),
    ("napari_crant._qt.qc.canvas", "ReviewCanvas", "show", "canvas: show (ring, partner, camera)", False),
    ("napari_crant._qt.qc.canvas", "ReviewCanvas", "center_on", "canvas: show/center_on", False),
    ("napari_crant._qt.qc.canvas", None, "move_ring", "canvas: show/move_ring", False),
    ("napari.layers.base.base", "Layer", "translate", "napari: translate setter", True),
    ("napari.layers.base.base", "Layer", "_slice_dims", "napari: _slice_dims (dims-driven slice)", False),
    ("napari.layers.base.base", "_LayerSlicingState", "set_view_slice", "napari: set_view_slice", False),
    ("napari.layers.base.base", "Layer", "_refresh_sync", "napari: _refresh_sync", False),
    ("napari.layers.base.base", "Layer", "_clear_extent", "napari: _clear_extent", False),
    ("napari.layers.labels.labels", "Labels", "_update_thumbnail", "napari: Labels thumbnail", False),
    ("napari.layers.image.image", "Image", "_update_thumbnail", "napari: Image thumbnail", False),
    ("napari.components.dims", "Dims", "set_point", "napari: Dims.set_point", False),
    ("napari._vispy.layers.base", "VispyBaseLayer", "_on_matrix_change", "vispy: _on_matrix_change", False),
    ("napari._vispy.layers.scalar_field", "VispyScalarFieldBaseLayer", "_on_data_change",
     "vispy: image/labels _on_data_change", False),
)


def wrap_parts(totals: dict[str, float]) -> None:
    """Wrap every part of :data:`PARTS` to add its outermost calls' thread CPU to ``totals``."""
    import importlib

    depth: dict[str, int] = {}

    def timed(fn, label):
        @functools.wraps(fn)  # napari passes the event only to callbacks whose signature takes it
        def inner(*a, **kw):
            depth[label] = depth.get(label, 0) + 1
            c0 = time.thread_time()
            try:
                return fn(*a, **kw)
            finally:
                depth[label] -= 1
                if not depth[label]:
                    totals[label] = totals.get(label, 0.0) + time.thread_time() - c0
        return inner

    for module, owner, name, label, setter in PARTS:
        target = importlib.import_module(module)
        target = getattr(target, owner) if owner else target
        if setter:
            prop = vars(target)[name]
            setattr(target, name, property(prop.fget, timed(prop.fset, label)))
        else:
            setattr(target, name, timed(getattr(target, name), label))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=None, help="snapshot path or dataset (default: a tiny demo)")
    parser.add_argument("--steps", type=int, default=15)
    args = parser.parse_args(argv)
    os.environ.setdefault("NAPARI_CRANT_DATA_DIR", tempfile.mkdtemp(prefix="em-parts-"))
    totals: dict[str, float] = {}
    wrap_parts(totals)
    dataset = args.dataset or tiny_demo("em-parts-demo-")
    viewer, app, qc, root = qc_viewer(dataset, None, 2)
    panel, prefetch = qc.em_panel, qc.em_panel.prefetch
    canvas = viewer.window._qt_viewer.canvas.native

    qc.build()
    if not spin_until(app, lambda: not qc.review.items.empty, 300) or not spin_until(
            app, lambda: panel.shown is not None, 600):
        print("no review list or no EM", file=sys.stderr)
        return 1
    per_step = []
    for _ in range(args.steps):
        if next_prefetched(app, qc, prefetch) is None:
            break
        totals.clear()
        c0 = time.thread_time()
        qc.do("next")
        c1 = time.thread_time()
        canvas.repaint()
        c2 = time.thread_time()
        step = dict(totals)
        step["STEP: the key's handling (`qc.do`)"] = c1 - c0
        step["STEP: the paint (`repaint()`)"] = c2 - c1
        per_step.append(step)
        app.processEvents()
    print(f"\n{dataset}, neuron {root}: {len(per_step)} prefetched steps, 2D; load {os.getloadavg()[0]:.1f}")
    print("| part (main-thread CPU, outermost calls) | median | max |\n|---|---:|---:|")
    labels = [k for k in per_step[0] if k.startswith("STEP")] + [p[3] for p in PARTS]
    for label in labels:
        values = [1000 * s.get(label, 0.0) for s in per_step]
        print(f"| {label} | {statistics.median(values):.2f} ms | {max(values):.2f} ms |")
    qc.cleanup()
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
