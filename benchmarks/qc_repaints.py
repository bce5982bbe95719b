"""Window repaints per QC key, with and without the paint-once changes, alternating in one process.

```bash
xvfb-run -a -s "-screen 0 1600x1000x24" python benchmarks/qc_repaints.py --rounds 6
```

With vispy's canvas (a ``QOpenGLWidget``) in napari's window, every repaint of the window
composes the whole window through OpenGL (Mesa's software rasteriser under Xvfb). This opens
the QC dock on the demo neuron (2D, EM off) and presses keys (a verdict, which steps on; a
step) alternately in two modes of the same process, so that a shared machine's load falls on
both alike:

- **after**: as shipped: layout requests handled before the window repaints
  (``paint_once.LayoutsBeforePaint``), the QC rows behind a ``HintBarrier``, a verdict's colour
  sent as one vertex (``vispy_points.recolor_point``);
- **before**: the filter removed, the barrier passing every layout request on, the verdict's
  colour through napari's colour event (as on main before these changes).

Per key: the window's repaints until the event loop is quiet (no repaint for ``--quiet-ms``),
the time from the key to the end of the last repaint (``busy``), the main thread's CPU time in
it, and the longest gap of a 5 ms heartbeat (``stall``). Prints medians per mode and key.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time

from bench_setup import qc_viewer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="demo")
    parser.add_argument("--rounds", type=int, default=6, help="presses per key and mode")
    parser.add_argument("--quiet-ms", type=float, default=600.0,
                        help="the key is done when no window repaint came for this long")
    parser.add_argument("--parts", action="store_true",
                        help="also each paint change alone (filter, barrier, recolor), to see which one "
                             "changes the longest stall")
    args = parser.parse_args(argv)
    os.environ.setdefault("NAPARI_CRANT_DATA_DIR", tempfile.mkdtemp(prefix="qc-repaints-"))
    from qtpy.QtCore import QEvent, QObject, Qt, QTimer

    import napari_crant._qt.qc.canvas as canvas_module
    from napari_crant._qt.paint_once import layouts_before_paint

    viewer, app, qc, root = qc_viewer(args.dataset, None, 2)
    qc.em_panel.show_em.setChecked(False)  # the EM's own fetches would land at random times
    qc.build()
    deadline = time.perf_counter() + 300
    while qc.review.items.empty and time.perf_counter() < deadline:
        app.processEvents()
        time.sleep(0.005)
    window = viewer.window._qt_window
    paint_filter = layouts_before_paint(window)
    barrier = qc.layout_barrier
    recolor_point, hints = canvas_module.recolor_point, barrier._current_hints

    def mode(parts: frozenset[str]) -> None:
        window.removeEventFilter(paint_filter)
        if "filter" in parts:
            window.installEventFilter(paint_filter)
        installed[0] = "filter" in parts
        canvas_module.recolor_point = recolor_point if "recolor" in parts else (lambda *a: False)
        # without it: the hints always "changed", so every request is passed on (as without the barrier)
        barrier._current_hints = (hints if "barrier" in parts
                                  else (lambda: (object(), barrier.content.sizePolicy())))

    flushes: list[tuple[float, float]] = []

    class Flushes(QObject):
        busy = False

        def eventFilter(self, obj, event):  # the outermost filter: times the whole repaint
            if event.type() != QEvent.Type.UpdateRequest or self.busy:
                return False
            self.busy = True
            t0 = time.perf_counter()
            try:
                for f in ([paint_filter] if paint_filter.parent() is window and installed[0] else []):
                    f.eventFilter(obj, event)
                obj.event(event)
            finally:
                self.busy = False
            flushes.append((t0, time.perf_counter()))
            return True

    installed = [True]
    ticks: list[float] = []
    beat = QTimer()
    beat.setTimerType(Qt.TimerType.PreciseTimer)
    beat.timeout.connect(lambda: ticks.append(time.perf_counter()))
    beat.start(5)
    outer = Flushes()

    def press(action: str) -> tuple[int, float, float, float]:
        flushes.clear()
        ticks.clear()
        start, cpu0 = time.perf_counter(), time.thread_time()
        QTimer.singleShot(0, lambda: qc.do(action))
        last = start
        while True:
            app.processEvents()
            now = time.perf_counter()
            last = flushes[-1][1] if flushes else last
            if now - max(last, start) > args.quiet_ms / 1000:
                break
            time.sleep(0.001)
        end = flushes[-1][1] if flushes else start
        cpu = (time.thread_time() - cpu0) * 1000
        points = [start, *[t for t in ticks if start < t < end], end]
        stall = max(b - a for a, b in itertools.pairwise(points)) * 1000
        return len(flushes), (end - start) * 1000, cpu, stall

    app.installEventFilter(outer)
    every = frozenset({"filter", "barrier", "recolor"})
    modes = {"before": frozenset(), "after": every}
    if args.parts:
        modes.update({f"{p} only": frozenset({p}) for p in sorted(every)})
        modes.update({f"all but {p}": every - {p} for p in sorted(every)})
    results: dict[tuple[str, str], list[tuple[int, float, float, float]]] = {}
    for _ in range(args.rounds):
        for name, parts in modes.items():
            mode(parts)
            for key, action in (("verdict (then next)", "correct"), ("step", "next")):
                results.setdefault((name, key), []).append(press(action))
    mode(every)
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    print(f"QC keys, window repaints per key ({args.dataset}, {len(qc.review.items)} synapses of {root}, 2D, "
          f"EM off, {args.rounds} presses per key and mode, alternating; load {' '.join(load)})")
    print("| key | mode | repaints | busy (key → last repaint done) ms | main-thread CPU ms "
          "| longest stall ms |")
    print("|---|---|---:|---:|---:|---:|")
    order = list(modes)
    for (side, key), runs in sorted(results.items(), key=lambda kv: (kv[0][1], order.index(kv[0][0]))):
        med = [statistics.median(r[i] for r in runs) for i in range(4)]
        print(f"| {key} | {side} | {med[0]:.0f} ({min(r[0] for r in runs)}-{max(r[0] for r in runs)}) | "
              f"{med[1]:.0f} | {med[2]:.0f} | {med[3]:.0f} |")
    app.removeEventFilter(outer)
    qc.cleanup()
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
