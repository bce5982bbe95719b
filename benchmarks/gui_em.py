"""The QC dock's EM at each synapse: next synapse to EM on screen, main-thread stalls, memory (Xvfb).

```bash
xvfb-run -a -s "-screen 0 1600x1000x24" python benchmarks/gui_em.py                 # tiny demo
xvfb-run -a python benchmarks/gui_em.py --dataset demo --steps 20 --walk 500
```

Opens napari with the synapse QC dock on a demo neuron (``--dataset``: a snapshot path or
dataset name; default a 40-neuron demo made in a temporary folder) and measures:

1. **prefetched step**: for ``--steps`` steps, wait until the next synapse's tissue is in the
   prefetch cache (as a reviewer reading the EM for a few seconds gives the worker time to), then
   press ``n``: the time from the press until the EM and segments layers hold the new cutout and
   the canvas has painted it (``repaint()``, synchronous). Target: under 50 ms. Split into the
   dock's handling of the key (``qc.do``: the review, the canvas's ring and camera, and the EM
   panel's two layers, napari's re-slicing of them included) and the paint (``repaint()``: vispy's
   texture uploads and the drawing of every visible layer); with the main thread's CPU time
   (``time.thread_time``) next to the wall time, that of the key's handling split into napari's
   slicing (``set_view_slice``), vispy's layer updates (``_on_data_change``: vertex and texture
   data made ready for upload) and the rest (the plugin's own code and napari's events). Then
   the canvas alone: ``--steps`` paints with nothing changed (what a step's paint costs at least).
2. **stalls**: a 5 ms ``QTimer`` heartbeat runs throughout; the longest gap between beats during
   each phase is the longest time the main thread was busy (layer updates, slicing, painting,
   results of workers arriving). Target: under 100 ms.
3. **walk**: ``--walk`` synapses stepped through at ``--pace`` ms per step (faster than the
   worker fetches; the list wraps around): every 100 steps, the EM cutout cache's items and
   bytes, the synthetic tissue's chunk cache (of this process; the demo's tissue is drawn in the EM
   panel's child process, whose resident memory is shown next to this one's), the partner
   skeletons kept by the canvas and the process's resident memory; the caches must stay within
   their bounds. ``--in-thread`` draws the demo's tissue in the worker thread of this process
   instead (as before the child process existed), for before/after runs. ``--tracemalloc``
   also prints the allocation sites that grew most from step 100 to the end.

Prints one table and exits with status 2 when a target is missed.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_setup import next_prefetched, qc_viewer, spin_until, tiny_demo

STEP_TARGET_MS = 50.0
STALL_TARGET_MS = 100.0


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory (MB) of a process now (default: this one; NaN: no such process)."""
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return float("nan")
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def resident_after_trim() -> float | None:
    """Resident memory (MB) after glibc's ``malloc_trim(0)`` (``None`` where there is no glibc):
    what is left is held by live objects, the rest was free memory kept by the allocator."""
    import ctypes
    import gc

    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    gc.collect()
    libc.malloc_trim(0)
    return rss_mb()


def tissue_chunk_cache(dataset: str):
    """The synthetic tissue's chunk cache of ``dataset`` in this process (``None``: not synthetic)."""
    from napari_crant.datasets import get_source
    from napari_crant.tissue.synthetic import has_synthetic_tissue, synthetic_tissue

    path = getattr(get_source(dataset), "path", None)
    return synthetic_tissue(path).volume if path is not None and has_synthetic_tissue(path) else None


class Heartbeat:
    """A 5 ms timer on the main thread; the longest gap between beats since :meth:`reset`."""

    def __init__(self) -> None:
        from qtpy.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(5)
        self.timer.timeout.connect(self._beat)
        self.last = time.perf_counter()
        self.worst = 0.0
        self.timer.start()

    def _beat(self) -> None:
        now = time.perf_counter()
        self.worst = max(self.worst, now - self.last)
        self.last = now

    def reset(self) -> None:
        self.last = time.perf_counter()
        self.worst = 0.0

    def worst_ms(self) -> float:
        return 1000 * self.worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=None, help="snapshot path or dataset (default: a tiny demo)")
    parser.add_argument("--root", type=int, default=None, help="neuron to review (default: picked)")
    parser.add_argument("--steps", type=int, default=15, help="prefetched steps timed")
    parser.add_argument("--walk", type=int, default=500, help="synapses stepped through for memory")
    parser.add_argument("--pace", type=float, default=40.0, help="ms between steps of the walk")
    parser.add_argument("--ndisplay", type=int, choices=(2, 3), default=2)
    parser.add_argument("--tracemalloc", action="store_true", help="print the sites that grew most")
    parser.add_argument("--profile", type=Path, default=None,
                        help="write a pyinstrument profile (main thread) of the prefetched steps here")
    parser.add_argument("--cprofile", type=Path, default=None,
                        help="write cProfile statistics (main thread, `pstats`) of the prefetched steps here")
    parser.add_argument("--in-thread", action="store_true",
                        help="draw the demo's tissue in this process's worker thread (the old way)")
    args = parser.parse_args(argv)
    os.environ.setdefault("NAPARI_CRANT_DATA_DIR", tempfile.mkdtemp(prefix="em-bench-"))

    from napari_crant._qt.qc.em_panel import EMPanel
    from napari_crant._qt.session import find_layer

    dataset = args.dataset or tiny_demo("em-bench-demo-")
    draw_ms: list[float] = []
    draw_cpu_ms: list[float] = []
    plain_draw = EMPanel.draw

    def timed_draw(self, tissue):  # the EM panel's share of a step: its two layers
        t0, c0 = time.perf_counter(), time.thread_time()
        plain_draw(self, tissue)
        draw_ms.append(1000 * (time.perf_counter() - t0))
        draw_cpu_ms.append(1000 * (time.thread_time() - c0))

    EMPanel.draw = timed_draw
    # main-thread CPU inside napari's slicing and inside vispy's layer updates (vertex and texture
    # data prepared for upload), counted where they run (outermost call only)
    inside = {"slicing": 0.0, "vispy": 0.0}
    depth = {"slicing": 0, "vispy": 0}

    def cpu_counted(kind, plain):
        @functools.wraps(plain)  # napari passes the event only to callbacks whose signature takes it
        def counted(*a, **kw):
            depth[kind] += 1
            c0 = time.thread_time()
            try:
                return plain(*a, **kw)
            finally:
                depth[kind] -= 1
                if not depth[kind]:
                    inside[kind] += time.thread_time() - c0
        return counted

    from napari._vispy.layers import image as vispy_image
    from napari._vispy.layers import labels as vispy_labels
    from napari._vispy.layers import points as vispy_points
    from napari._vispy.layers import scalar_field as vispy_scalar_field
    from napari._vispy.layers import vectors as vispy_vectors
    from napari.layers.base.base import _LayerSlicingState

    _LayerSlicingState.set_view_slice = cpu_counted("slicing", _LayerSlicingState.set_view_slice)
    for cls in (vispy_scalar_field.VispyScalarFieldBaseLayer, vispy_image.VispyImageLayer,
                vispy_labels.VispyLabelsLayer, vispy_points.VispyPointsLayer,
                vispy_vectors.VispyVectorsLayer):
        if "_on_data_change" in vars(cls):
            cls._on_data_change = cpu_counted("vispy", cls._on_data_change)
    viewer, app, qc, root = qc_viewer(dataset, args.root, args.ndisplay)
    panel, prefetch = qc.em_panel, qc.em_panel.prefetch
    if args.in_thread:
        from napari_crant.qc.em_review import fetch_synapse_tissue

        panel.fetch = fetch_synapse_tissue
    canvas = viewer.window._qt_viewer.canvas.native

    def current_key() -> int | None:
        row = qc.review.current_row()
        return None if row is None else int(row["synapse_id"])

    qc.build()
    if not spin_until(app, lambda: not qc.review.items.empty, 300):
        print(f"no review list for {root} after 300 s", file=sys.stderr)
        return 1
    n_items = len(qc.review.items)
    print(f"{n_items} synapses of {root}; waiting for the first EM (the tissue index is built once)…",
          file=sys.stderr)
    t = time.perf_counter()
    if not spin_until(app, lambda: panel.shown is not None, 600):
        print(f"no EM after 600 s: {panel.status.text()}", file=sys.stderr)
        return 1
    first_s = time.perf_counter() - t
    beat = Heartbeat()

    # 1. prefetched steps
    steps_ms, do_ms, paint_ms, cpu_ms, stall_steps = [], [], [], [], 0.0
    do_cpu_ms, paint_cpu_ms, slicing_cpu_ms, vispy_cpu_ms = [], [], [], []
    draw_ms.clear()
    draw_cpu_ms.clear()
    profiler = None
    if args.profile is not None:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
    cprofiler = None
    if args.cprofile is not None:
        import cProfile

        cprofiler = cProfile.Profile()
    for _ in range(min(args.steps, n_items - 1)):
        nxt = next_prefetched(app, qc, prefetch)
        if nxt is None:
            break
        beat.reset()
        if profiler is not None:
            profiler.start()
        if cprofiler is not None:
            cprofiler.enable()
        inside["slicing"] = inside["vispy"] = 0.0
        start, cpu = time.perf_counter(), time.thread_time()
        qc.do("next")
        handled, handled_cpu = time.perf_counter(), time.thread_time()
        slicing_cpu_ms.append(1000 * inside["slicing"])
        vispy_cpu_ms.append(1000 * inside["vispy"])
        shown = panel.shown is not None and panel.shown.synapse_id == nxt
        layer = find_layer(viewer, "qc_em")
        canvas.repaint()
        end = time.perf_counter()
        if profiler is not None:
            profiler.stop()
        if cprofiler is not None:
            cprofiler.disable()
        end_cpu = time.thread_time()
        cpu_ms.append(1000 * (end_cpu - cpu))
        do_cpu_ms.append(1000 * (handled_cpu - cpu))
        paint_cpu_ms.append(1000 * (end_cpu - handled_cpu))
        steps_ms.append(1000 * (end - start))
        do_ms.append(1000 * (handled - start))
        paint_ms.append(1000 * (end - handled))
        app.processEvents()
        stall_steps = max(stall_steps, beat.worst_ms())
        if not shown or layer is None or not layer.visible:
            print(f"synapse {nxt}: EM not shown at once ({panel.status.text()})", file=sys.stderr)
    if cprofiler is not None:
        cprofiler.dump_stats(str(args.cprofile))
        print(f"cProfile statistics of the prefetched steps (main thread): {args.cprofile}", file=sys.stderr)
    # the canvas alone: a paint with nothing changed (what every step's paint costs at least)
    frame_ms, frame_cpu_ms = [], []
    for _ in range(args.steps):
        app.processEvents()
        start, cpu = time.perf_counter(), time.thread_time()
        canvas.update()
        canvas.repaint()
        frame_ms.append(1000 * (time.perf_counter() - start))
        frame_cpu_ms.append(1000 * (time.thread_time() - cpu))
    hits, misses = prefetch.hits, prefetch.misses
    step_draw_ms, step_draw_cpu_ms = list(draw_ms), list(draw_cpu_ms)
    if profiler is not None:
        args.profile.write_text(profiler.output_text(unicode=False, color=False, show_all=True))
        print(f"profile of the prefetched steps (main thread): {args.profile}", file=sys.stderr)

    # 3. the walk (with the heartbeat: worker results arrive meanwhile)
    chunks = tissue_chunk_cache(dataset) if args.in_thread else None  # the child holds its own
    walk_hits, walk_misses = prefetch.hits, prefetch.misses
    beat.reset()
    samples = []
    walk_stall = 0.0
    snapshot_at_100 = None
    if args.tracemalloc:
        import tracemalloc

        tracemalloc.start(8)
    for i in range(args.walk):
        if not qc.review.step(+1):
            qc.review.go_to(int(qc.review.visible_rows()[0]))
        end = time.perf_counter() + args.pace / 1000
        while time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.001)
        walk_stall = max(walk_stall, beat.worst_ms())
        if i == 0 or (i + 1) % 100 == 0 or i == args.walk - 1:
            child = panel.renderer.pid
            samples.append((i + 1, len(prefetch), prefetch.nbytes / 2**20,
                            (chunks.cached_bytes / 2**20) if chunks is not None else float("nan"),
                            len(qc.canvas._skeletons), qc.canvas.skeleton_bytes / 2**20, rss_mb(),
                            rss_mb(child) if child is not None else float("nan")))
        if args.tracemalloc and i + 1 == min(100, args.walk):
            snapshot_at_100 = tracemalloc.take_snapshot()
    beat.timer.stop()
    walk_hits, walk_misses = prefetch.hits - walk_hits, prefetch.misses - walk_misses
    if args.tracemalloc and snapshot_at_100 is not None:
        top = tracemalloc.take_snapshot().compare_to(snapshot_at_100, "traceback")
        print("\ngrowth from step 100 to the end, by allocation site (tracemalloc):")
        for stat in top[:8]:
            print(f"  {stat.size_diff / 2**20:+8.1f} MB  {stat.traceback.format()[-1].strip()}")
        tracemalloc.stop()

    med = statistics.median(steps_ms) if steps_ms else float("nan")
    worst = max(steps_ms) if steps_ms else float("nan")
    print(f"\nEM review benchmark: {dataset}, neuron {root} ({n_items} synapses), {args.ndisplay}D, "
          f"cutout {panel.size_nm[0]:.0f} nm x {panel.sections.value()} sections")
    print(f"first EM (tissue index + cold cutout): {first_s:.1f} s")
    print("| measure | median | worst | target |\n|---|---|---|---|")
    print(f"| next synapse -> EM on screen (prefetched, {len(steps_ms)} steps) | {med:.1f} ms | "
          f"{worst:.1f} ms | < {STEP_TARGET_MS:.0f} ms |")
    if steps_ms:
        for what, values in (("the dock's handling of the key (`qc.do`)", do_ms),
                             ("of which the EM panel's layers (napari's re-slicing included)", step_draw_ms),
                             ("the paint (`repaint()`: texture uploads, every visible layer)", paint_ms),
                             ("main-thread CPU time of the step", cpu_ms),
                             ("main-thread CPU: the key's handling (`qc.do`)", do_cpu_ms),
                             ("main-thread CPU: of which napari's slicing (`set_view_slice`)",
                              slicing_cpu_ms),
                             ("main-thread CPU: of which vispy layer updates (`_on_data_change`)",
                              vispy_cpu_ms),
                             ("main-thread CPU: of which the plugin's own code and napari's events (rest)",
                              [d - a - b for d, a, b in zip(do_cpu_ms, slicing_cpu_ms, vispy_cpu_ms,
                                                            strict=True)]),
                             ("main-thread CPU: the paint (`repaint()`)", paint_cpu_ms),
                             ("main-thread CPU time of the EM panel's layers", step_draw_cpu_ms),
                             ("the canvas alone: a paint with nothing changed, wall", frame_ms),
                             ("the canvas alone: main-thread CPU", frame_cpu_ms)):
            if values:
                print(f"| {what} | {statistics.median(values):.1f} ms | {max(values):.1f} ms | |")
    target = f"< {STALL_TARGET_MS:.0f} ms"
    print(f"| longest main-thread stall, prefetched steps | | {stall_steps:.1f} ms | {target} |")
    print(f"| longest main-thread stall, walk of {args.walk} at {args.pace:.0f} ms/step | | "
          f"{walk_stall:.1f} ms | {target} |")
    print(f"prefetch: {hits} shown from the cache, {misses} before their EM arrived")
    print(f"walk at {args.pace:.0f} ms/step: {walk_hits} synapses shown from the cache, {walk_misses} before "
          "their EM arrived (the worker keeps ahead of the reviewer when the second is 0)")
    where = "this process (worker thread)" if args.in_thread else "the EM panel's child process"
    print(f"tissue drawn in: {where} (children started: {panel.renderer.started})")
    print("\n| steps | cached cutouts | cutout cache MB | tissue chunk cache MB (this process) | "
          "partner skeletons | skeletons MB | resident MB | renderer child resident MB |\n"
          "|---|---|---|---|---|---|---|---|")
    for n, items, mb, chunk_mb, n_sk, sk_mb, rss, child_rss in samples:
        print(f"| {n} | {items} | {mb:.1f} | {chunk_mb:.1f} | {n_sk} | {sk_mb:.1f} | {rss:.0f} "
              f"| {child_rss:.0f} |")
    trimmed = resident_after_trim()
    if trimmed is not None:
        print(f"resident after the walk: {samples[-1][6]:.0f} MB; after malloc_trim(0) (memory the C "
              f"allocator held for reuse given back): {trimmed:.0f} MB")
    from napari_crant._qt.qc.canvas import MAX_PARTNER_BYTES, MAX_PARTNER_SKELETONS

    bounded = all(items <= prefetch.max_items and mb * 2**20 <= prefetch.max_bytes
                  and (chunks is None or chunk_mb * 2**20 <= chunks.max_bytes)
                  and n_sk <= MAX_PARTNER_SKELETONS and sk_mb * 2**20 <= MAX_PARTNER_BYTES
                  for _, items, mb, chunk_mb, n_sk, sk_mb, _, _ in samples)
    qc.cleanup()
    spin_until(app, lambda: not panel.workers, 600)
    viewer.close()
    missed = worst > STEP_TARGET_MS or stall_steps > STALL_TARGET_MS or walk_stall > STALL_TARGET_MS \
        or not bounded
    return 2 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
