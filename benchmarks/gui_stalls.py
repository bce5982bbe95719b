"""Longest main-thread stall per user action in napari with the napari-crant docks (run under Xvfb).

```bash
xvfb-run -a -s "-screen 0 1600x1000x24" python benchmarks/gui_stalls.py               # demo dataset
xvfb-run -a -s "-screen 0 1600x1000x24" python benchmarks/gui_stalls.py --repeats 5 --arrivals 2
```

A 5 ms ``QTimer`` heartbeat runs on the main thread; the stall of an action is the longest gap
between two heartbeats from the moment the action starts until it is done and the event loop has
been idle for a moment (the action, the layer updates, napari's slicing and the repaint). Actions:

- **open the query dock**: the longest stall from the moment the dock is opened (its module
  imported, the widget made and docked, its empty layers made) until Load is pressed (no target
  of its own; the UI budget is 100 ms); a line after the table lists every stall over 50 ms
  of that time, with the painting in each;
- **first neuron**: in a fresh process, the query dock opens (its background warm-up starts),
  the user pastes an ID (``--paste-s`` seconds later) and presses Load; the time from Load to the
  neuron drawn, and from napari being up to the neuron drawn. Target: under 1.5 s from Load;
- **one neuron**: load one more neuron (worker) and draw it. Target: no stall over 100 ms;
- **300 neurons**: load ``--many`` Kenyon cells at once and draw them. Target: under 250 ms;
  the report says how many of their synapse dots were drawn (``_qt/dot_lod.py``: with software
  OpenGL a stable subsample of 8,000 while more are in view);
- **verdict key**, **step**: in the synapse QC dock on the demo neuron. Target: under 100 ms.

Prints a table (median and worst over the repeats, target met or not); exit status 2 when a
target is missed. Two more columns split each worst stall: the time the main thread spent
painting the window in it (under Xvfb that is Mesa's software OpenGL: a frame of 167,000
synapses takes seconds there, milliseconds on a GPU), and the rest (Python: napari-crant,
napari, Qt). ``--frame`` also reports the median time of one repaint of the loaded scene.
``repaints`` is the median number of window repaints (Qt's ``UpdateRequest``: under Xvfb each
composes the whole window through software OpenGL) from the start of an action until it settled.
``CPU ms`` is the median main-thread CPU time (``time.thread_time``) from the start of the
action until it is done and settled: on a shared machine the stalls also hold time the main
thread waited for a core, and Mesa's software rasteriser draws in threads of its own.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

TARGETS_MS = {"first neuron (Load → drawn)": 1500.0, "one neuron": 100.0, "300 neurons": 250.0,
              "verdict key": 100.0, "step": 100.0}


def _ids(dataset: str, many: int) -> dict[str, list[int]]:
    """The demo neuron, other annotated neurons and ``many`` Kenyon cells (in a child process,
    so that the measured process starts cold)."""
    code = (
        "import json, numpy as np\n"
        "from napari_crant.queries.common import open_query\n"
        "from napari_crant.scene.loading import current_annotations, pick_demo_neuron\n"
        f"src, at = open_query({dataset!r}, 'latest')\n"
        "ann = current_annotations(src, at)\n"
        "ct = ann['cell_type'].astype(str)\n"
        f"kc = ann[ct.str.startswith('KC')]['root_id'].to_numpy(np.uint64)[:{many}]\n"
        "other = ann[ct.str.startswith('uPN')]['root_id'].to_numpy(np.uint64)[:20]\n"
        f"demo = pick_demo_neuron({dataset!r})\n"
        "print(json.dumps({'demo': [int(demo)], 'kc': [int(x) for x in kc],\n"
        "                  'other': [int(x) for x in other]}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


class PaintClock:
    """Time spent by the main thread in the window's paint events (software OpenGL under Xvfb).

    An event filter on the main window runs each of its ``UpdateRequest``/``Paint`` events
    itself (Qt repaints every widget of the window, the OpenGL canvas included, in the
    window's ``UpdateRequest``) and records its start and end; the stall split uses these.
    """

    def __init__(self, window):
        from qtpy.QtCore import QEvent, QObject

        kinds = (QEvent.Type.UpdateRequest, QEvent.Type.Paint)
        self.spans: list[tuple[float, float]] = []
        spans = self.spans

        class _Filter(QObject):
            busy = False

            def eventFilter(self, obj, event):
                if event.type() not in kinds or self.busy:
                    return False
                self.busy = True
                t0 = time.perf_counter()
                try:
                    obj.event(event)
                finally:
                    self.busy = False
                spans.append((t0, time.perf_counter()))
                return True

        self._filter = _Filter()
        window.installEventFilter(self._filter)  # napari's main window (a Python class)

    def repaints(self, start: float, end: float) -> int:
        """Window repaints (each a whole-window composition under Xvfb) begun within ``[start, end]``."""
        return sum(1 for a, _ in self.spans if start <= a <= end)

    def painted_ms(self, start: float, end: float) -> float:
        """Painting time within ``[start, end]`` (ms)."""
        return sum(max(0.0, min(b, end) - max(a, start)) for a, b in self.spans) * 1000


class Heartbeat:
    """A 5 ms main-thread timer recording when it fired."""

    def __init__(self, interval_ms: int = 5):
        from qtpy.QtCore import Qt, QTimer

        self.ticks: list[float] = []
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(lambda: self.ticks.append(time.perf_counter()))
        self.timer.start(interval_ms)

    def longest_gap_ms(self, start: float, end: float) -> float:
        """Longest time without a heartbeat in ``[start, end]`` (ms)."""
        return self.longest_gap(start, end)[1] * 1000

    def gaps(self, start: float, end: float, longer_than_s: float) -> list[tuple[float, float]]:
        """Start and length (s) of every time without a heartbeat in ``[start, end]`` longer than
        ``longer_than_s``."""
        ticks = [start, *[t for t in self.ticks if start < t < end], end]
        return [(a, b - a) for a, b in itertools.pairwise(ticks) if b - a > longer_than_s]

    def longest_gap(self, start: float, end: float) -> tuple[float, float]:
        """Start and length (s) of the longest time without a heartbeat in ``[start, end]``."""
        ticks = [start, *[t for t in self.ticks if start < t < end], end]
        return max(((a, b - a) for a, b in itertools.pairwise(ticks)), key=lambda g: g[1])


def run_until(done, timeout_s: float, settle_s: float = 0.3) -> bool:
    """Run the Qt event loop until ``done()`` (then ``settle_s`` more); whether it got done."""
    from qtpy.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    deadline = time.perf_counter() + timeout_s
    state = {"done_at": None}

    def check() -> None:
        now = time.perf_counter()
        if state["done_at"] is None and done():
            state["done_at"] = now
        if (state["done_at"] is not None and now - state["done_at"] >= settle_s) or now > deadline:
            loop.quit()

    poll = QTimer()
    poll.timeout.connect(check)
    poll.start(2)
    loop.exec()
    poll.stop()
    return state["done_at"] is not None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="demo")
    parser.add_argument("--repeats", type=int, default=5, help="repeats of the quick actions")
    parser.add_argument("--arrivals", type=int, default=1, help="repeats of the many-neuron load")
    parser.add_argument("--many", type=int, default=300, help="neurons loaded at once")
    parser.add_argument("--paste-s", type=float, default=2.0,
                        help="seconds between the dock opening and Load (pasting an ID)")
    parser.add_argument("--frame", action="store_true",
                        help="also time one repaint of the scene after each load")
    args = parser.parse_args(argv)
    os.environ.setdefault("NAPARI_CRANT_DATA_DIR", tempfile.mkdtemp(prefix="gui-bench-"))
    ids = _ids(args.dataset, args.many)

    t_start = time.perf_counter()
    import napari

    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1600, 1000)
    beat = Heartbeat()
    paint = PaintClock(viewer.window._qt_window)
    t_up = time.perf_counter()
    t_dock = time.perf_counter()  # the dock opens: its module imported, made, docked, its layers made
    from napari_crant._qt.query_widget import QueryWidget

    query = QueryWidget(viewer)
    query.dataset.value = args.dataset
    viewer.window.add_dock_widget(query, name="Query neurons")
    from napari_crant._qt.session import find_layer, get_session

    session = get_session(viewer)
    results: dict[str, list[float]] = {k: [] for k in TARGETS_MS}
    results["first neuron (napari up → drawn)"] = []
    results["open the query dock (until Load)"] = []
    painted: dict[str, list[float]] = {k: [] for k in results}  # painting within the worst stall
    cpu: dict[str, list[float]] = {k: [] for k in results}  # main-thread CPU time of the action
    cpu_start = [0.0]
    frames: dict[str, list[float]] = {k: [] for k in results}
    repaints: dict[str, list[int]] = {k: [] for k in results}  # window repaints during the action
    dots: dict[str, tuple] = {}  # synapse dots drawn / in view, the limit and why (dot_lod.py)

    def stall(name: str, start: float) -> None:
        end = time.perf_counter()
        cpu[name].append((time.thread_time() - cpu_start[0]) * 1000)
        at, length = beat.longest_gap(start, end)
        results[name].append(length * 1000)
        painted[name].append(paint.painted_ms(at, at + length))
        repaints[name].append(paint.repaints(start, end))
        if args.frame:
            canvas = viewer.window._qt_viewer.canvas.native
            from qtpy.QtWidgets import QApplication

            t0 = time.perf_counter()
            canvas.update()
            canvas.repaint()
            QApplication.processEvents()
            frames[name].append((time.perf_counter() - t0) * 1000)

    def drawn(n: int) -> bool:
        layer = find_layer(viewer, "skeletons")
        # a big load is written into its layers over several event-loop turns (``drawing``)
        return (query.worker is None and layer is not None and len(session.scene.neurons) >= n
                and not getattr(session, "drawing", False))

    # -- first neuron (cold process) ----------------------------------------------------------
    run_until(lambda: time.perf_counter() - t_up >= args.paste_s, args.paste_s + 1, settle_s=0)
    t_load, cpu_start[0] = time.perf_counter(), time.thread_time()
    at, length = beat.longest_gap(t_dock, t_load)
    results["open the query dock (until Load)"].append(length * 1000)
    painted["open the query dock (until Load)"].append(paint.painted_ms(at, at + length))
    dock_stalls = [(a - t_dock, gap, paint.painted_ms(a, a + gap))
                   for a, gap in beat.gaps(t_dock, t_load, 0.05)]
    query.load_ids(ids["demo"])
    run_until(lambda: drawn(1), 120, settle_s=0)
    t_drawn = time.perf_counter()
    cpu["first neuron (Load → drawn)"].append((time.thread_time() - cpu_start[0]) * 1000)
    results["first neuron (Load → drawn)"].append((t_drawn - t_load) * 1000)
    results["first neuron (napari up → drawn)"].append((t_drawn - t_up) * 1000)
    painted["first neuron (Load → drawn)"].append(paint.painted_ms(t_load, t_drawn))
    worst_first = beat.longest_gap_ms(t_load, t_drawn)
    run_until(lambda: not query.workers, 60)

    # -- one neuron, then many ----------------------------------------------------------------
    for root in ids["other"][: args.repeats]:
        n = len(session.scene.neurons) + 1
        start, cpu_start[0] = time.perf_counter(), time.thread_time()
        query.load_ids([root])
        run_until(lambda n=n: drawn(n), 120)
        stall("one neuron", start)
    for _ in range(args.arrivals):
        session.clear()
        run_until(lambda: True, 1)
        start, cpu_start[0] = time.perf_counter(), time.thread_time()
        query.load_ids(ids["kc"])
        run_until(lambda: drawn(len(ids["kc"])), 600)
        stall("300 neurons", start)
        budget = session.dots.budget
        dots["300 neurons"] = (sum(int(layer.shown.sum()) for kind in ("pre", "post")
                                   for layer in session.batches.layers(kind)), budget.in_view,
                               budget.limit, budget.reason)

    # -- synapse QC keys ----------------------------------------------------------------------
    from napari_crant._qt.qc.dock import QCWidget

    session.clear()
    query.load_ids(ids["demo"])
    run_until(lambda: drawn(1), 120)
    qc = QCWidget(viewer)
    viewer.window.add_dock_widget(qc, name="Synapse QC")
    qc.build()
    run_until(lambda: not qc.review.items.empty, 120)
    for _ in range(args.repeats):
        for name, action in (("verdict key", "correct"), ("step", "next")):
            start, cpu_start[0] = time.perf_counter(), time.thread_time()
            from qtpy.QtCore import QTimer

            QTimer.singleShot(0, lambda action=action: qc.do(action))
            run_until(lambda: True, 5)
            stall(name, start)

    print(f"napari-crant GUI stalls ({args.dataset}; napari up {t_up - t_start:.1f} s after start; "
          f"{args.many} neurons = {len(ids['kc'])} Kenyon cells)")
    print(f"{'action':34s} {'median ms':>10s} {'worst ms':>10s} {'target ms':>10s}  met "
          f"{'worst: painting':>16s} {'worst: rest':>12s} {'frame ms':>9s} {'CPU ms':>7s} {'repaints':>8s}")
    ok = True
    for name, ms in results.items():
        if not ms:
            continue
        target = TARGETS_MS.get(name)
        met = target is None or max(ms) < target
        ok &= met
        target_text = "" if target is None else f"{target:.0f}"
        met_text = "" if target is None else ("yes" if met else "NO ")
        worst = int(max(range(len(ms)), key=ms.__getitem__))
        paint_ms = painted[name][worst] if len(painted[name]) > worst else None
        paint_text = rest_text = ""
        if paint_ms is not None and name.startswith("first neuron (Load"):
            paint_text = f"{paint_ms:.0f}"  # the whole Load -> drawn time (no single stall)
            rest_text = f"({worst_first:.0f} stall)"
        elif paint_ms is not None:
            paint_text, rest_text = f"{paint_ms:.0f}", f"{ms[worst] - paint_ms:.0f}"
        frame_text = f"{statistics.median(frames[name]):.0f}" if frames.get(name) else ""
        cpu_text = f"{statistics.median(cpu[name]):.0f}" if cpu.get(name) else ""
        repaint_text = f"{statistics.median(repaints[name]):.0f}" if repaints.get(name) else ""
        print(f"{name:34s} {statistics.median(ms):10.0f} {max(ms):10.0f} {target_text:>10s}  {met_text} "
              f"{paint_text:>16s} {rest_text:>12s} {frame_text:>9s} {cpu_text:>7s} {repaint_text:>8s}")
    print("open the query dock: every stall over 50 ms (ms after the dock opened: stall ms, of it painting): "
          + ", ".join(f"{1000 * a:.0f}: {1000 * gap:.0f} ({p:.0f})" for a, gap, p in dock_stalls))
    for name, (drawn_dots, in_view, limit, reason) in dots.items():
        print(f"{name}: {drawn_dots:,} of {in_view:,} synapse dots drawn (limit: "
              f"{'none' if limit is None else f'{limit:,}'}{f', {reason}' if reason else ''})")
    qc.cleanup()
    viewer.close()
    return 0 if ok else 2


if __name__ == "__main__":
    sys.exit(main())
