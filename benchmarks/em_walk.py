"""Walking through the synapses fast: is the EM there at each step, never stale, how soon it catches up.

Under Xvfb:

```bash
xvfb-run -a -s "-screen 0 1600x1000x24" python benchmarks/em_walk.py               # tiny demo, 2D
xvfb-run -a -s "-screen 0 1600x1000x24" python benchmarks/em_walk.py --ndisplay 3 --paces 100,1000
```

Opens napari with the synapse QC dock on a demo neuron (``--dataset``; default the tiny demo made
in a temporary folder), waits for the first EM, then for each pace in ``--paces`` (ms between
steps: 30 is ``n`` held down with the keyboard's auto-repeat, 100 a fast reviewer, 1000 one who
glances at each synapse) lets the prefetch settle and steps ``--steps`` times with the dock's own
``next`` (``qc.do('next')``: the key's handling), keeping Qt's event loop running between steps.

Per step: **hit** when the EM of the synapse stepped to is on the layers as the step returns
(from the prefetch cache); otherwise the **wait** until it is drawn, if it is drawn before the
next step (else the step was **passed** before its EM arrived). At every turn of the event loop
it checks that the EM layers never show another synapse's cutout than the current one
(**stale**: must be 0). After the last step, **catch-up**: the time until the EM of the synapse
the walk stopped at is drawn. **Fetches** during each walk: those whose cutout was drawn, those
that finished but were never drawn (after the walk had passed them, or ahead of where it stopped),
those cancelled in the child and
those dropped before they started (a tree that cancels passed fetches: ``TissueProcess.cancelled``
and ``dropped``), with the child's CPU time spent on each kind (**wasted**: finished but never
drawn, or cancelled). Also the main-thread CPU of one move of the current-synapse ring, the
old way (``layer.data = ...``) and by translate (``ring.move_ring``), alternating, when the tree
has the latter.

Prints tables and exits with status 2 if a stale cutout was ever shown.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

from bench_setup import qc_viewer, tiny_demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=None, help="snapshot path or dataset (default: a tiny demo)")
    parser.add_argument("--root", type=int, default=None, help="neuron to review (default: picked)")
    parser.add_argument("--ndisplay", type=int, choices=(2, 3), default=2)
    parser.add_argument("--paces", default="30,100,1000", help="ms between steps, comma-separated")
    parser.add_argument("--steps", type=int, default=40, help="steps per pace")
    parser.add_argument("--ring-moves", type=int, default=30, help="ring moves timed each way")
    args = parser.parse_args(argv)
    os.environ.setdefault("NAPARI_CRANT_DATA_DIR", tempfile.mkdtemp(prefix="em-walk-"))

    import numpy as np
    import pandas as pd

    from napari_crant._qt.qc.canvas import one_extent_update
    from napari_crant._qt.qc.em_panel import EMPanel
    from napari_crant._qt.session import find_layer

    dataset = args.dataset or tiny_demo("em-walk-demo-")
    drawn: list[tuple[float, int]] = []  # (time, synapse) of every EM drawn
    plain_draw = EMPanel.draw

    def recorded_draw(self, tissue):
        plain_draw(self, tissue)
        drawn.append((time.perf_counter(), int(tissue.synapse_id)))

    EMPanel.draw = recorded_draw
    from napari_crant.qc.em_process import TissueProcess

    fetched: list[tuple[str, int, str, float]] = []  # (pace, synapse, outcome, child CPU s)
    phase = {"pace": "first"}
    plain_fetch = TissueProcess.fetch

    def recorded_fetch(self, row, *a, **k):
        pid = self.pid
        before = _cpu_s(pid) if pid else 0.0
        n_dropped = getattr(self, "dropped", 0)
        try:
            tissue = plain_fetch(self, row, *a, **k)
        except Exception:
            fetched.append((phase["pace"], int(row["synapse_id"]), "failed", 0.0))
            raise
        pid = self.pid
        cpu = (_cpu_s(pid) - before) if pid else 0.0
        outcome = "tissue" if tissue is not None else (
            "dropped" if getattr(self, "dropped", 0) > n_dropped else "cancelled")
        fetched.append((phase["pace"], int(row["synapse_id"]), outcome, cpu))
        return tissue

    TissueProcess.fetch = recorded_fetch
    viewer, app, qc, root = qc_viewer(dataset, args.root, args.ndisplay)
    panel, prefetch = qc.em_panel, qc.em_panel.prefetch
    stale = {"turns": 0, "stale": 0}

    def current_key() -> int | None:
        row = qc.review.current_row()
        return None if row is None else int(row["synapse_id"])

    def check_stale() -> None:
        layer = find_layer(viewer, "qc_em")
        stale["turns"] += 1
        shown = panel.shown
        if layer is not None and layer.visible and (shown is None or shown.synapse_id != current_key()):
            stale["stale"] += 1

    def spin(seconds: float, until=None) -> bool:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            app.processEvents()
            check_stale()
            if until is not None and until():
                return True
            time.sleep(0.001)
        return until is not None and until()

    qc.build()
    if not spin(300, lambda: not qc.review.items.empty):
        print("no review list after 300 s", file=sys.stderr)
        return 1
    n_items = len(qc.review.items)
    t0 = time.perf_counter()
    if not spin(600, lambda: panel.shown is not None):
        print(f"no EM after 600 s: {panel.status.text()}", file=sys.stderr)
        return 1
    first_s = time.perf_counter() - t0

    def settled() -> bool:
        return all(prefetch.status(int(r["synapse_id"])) in ("ready", "failed")
                   for r in prefetch.wanted_rows())

    results = []
    fetch_rows: list[tuple[float, dict[str, tuple[int, float]]]] = []
    for pace in (float(p) for p in args.paces.split(",")):
        spin(600, settled)  # the reviewer looked at this synapse long enough for the prefetch to finish
        phase["pace"] = f"{pace:.0f}"
        n_drawn0 = len(drawn)
        hits = passed = 0
        waits: list[float] = []
        c_start = time.thread_time()
        w_start = time.perf_counter()
        for _ in range(args.steps):
            t_step = time.perf_counter()
            qc.do("next")
            key = current_key()
            shown = panel.shown
            if shown is not None and shown.synapse_id == key and find_layer(viewer, "qc_em").visible:
                hits += 1
                spin(pace / 1000)
                continue
            n_before = len(drawn)
            got = spin(pace / 1000, lambda k=key, n=n_before: any(s == k for _, s in drawn[n:]))
            if got:
                when = next(t for t, s in drawn[n_before:] if s == key)
                waits.append(1000 * (when - t_step))
                spin(max(0.0, t_step + pace / 1000 - time.perf_counter()))
            else:
                passed += 1
        walk_s = time.perf_counter() - w_start
        cpu_s = time.thread_time() - c_start
        t_stop = time.perf_counter()
        key = current_key()
        n_before = len(drawn)
        already = panel.shown is not None and panel.shown.synapse_id == key
        caught = already or spin(600, lambda k=key, n=n_before: any(s == k for _, s in drawn[n:]))
        catch_up = 0.0 if already else (
            1000 * (next(t for t, s in drawn[n_before:] if s == key) - t_stop) if caught else float("nan"))
        results.append((pace, hits, len(waits), passed, waits, catch_up, walk_s, cpu_s))
        spin(600, lambda: not prefetch.in_flight)  # the fetches started during the walk ended
        shown_keys = {s for _, s in drawn[n_drawn0:]}
        mine = [f for f in fetched if f[0] == phase["pace"]]
        ids = qc.review.items["synapse_id"].to_numpy()
        stop_at = qc.review.current

        def behind(key: int, ids=ids, stop_at=stop_at) -> bool:  # the walk (forward) went past it
            at = np.flatnonzero(ids == key)
            return bool(len(at)) and int(at[0]) < stop_at

        unseen = [f for f in mine if f[2] == "tissue" and f[1] not in shown_keys]
        kinds = {"drawn": [f for f in mine if f[2] == "tissue" and f[1] in shown_keys],
                 "finished after the walk passed it": [f for f in unseen if behind(f[1])],
                 "finished, ahead of where the walk stopped": [f for f in unseen if not behind(f[1])],
                 "cancelled in the child": [f for f in mine if f[2] == "cancelled"],
                 "dropped before it started": [f for f in mine if f[2] == "dropped"]}
        fetch_rows.append((pace, {k: (len(v), sum(f[3] for f in v)) for k, v in kinds.items()}))
        phase["pace"] = "settle"

    # the ring: one move, the old way and by translate, alternating
    ring_rows = []
    try:
        from napari_crant._qt.qc.ring import move_ring
    except ImportError:
        move_ring = None
    ring = find_layer(viewer, "qc_current")
    if ring is not None and args.ring_moves:
        old = viewer.add_points(np.array(ring_position_of(ring, np)), size=1400.0, name="old ring",
                                features=pd.DataFrame({"synapse_id": ["0"]}),
                                face_color=[[1.0, 1.0, 0.0, 0.35]], projection_mode="all",
                                blending="translucent_no_depth", units="nm")
        old.border_color, old.border_width = "yellow", 0.15
        pts = qc.review.items[["z", "y", "x"]].to_numpy(np.float64)
        times: dict[str, list[float]] = {"data": [], "translate": []}
        canvas = viewer.window._qt_viewer.canvas.native

        def by_data(p, name):
            old.data = p[None]
            old.features["synapse_id"] = [name]

        def by_translate(p, name):
            move_ring(viewer, ring, p, name)

        ways = [("data", by_data)] + ([("translate", by_translate)] if move_ring is not None else [])
        for i in range(args.ring_moves):
            p = pts[i % len(pts)]
            for name, move in (ways if i % 2 else ways[::-1]):
                with one_extent_update(viewer, (old, ring)):
                    c = time.thread_time()
                    move(p, str(i))
                    times[name].append(1000 * (time.thread_time() - c))
                canvas.repaint()
                app.processEvents()
        ring_rows = [(k, v) for k, v in times.items() if v]
        viewer.layers.remove(old)

    print(f"\nEM walk: {dataset}, neuron {root} ({n_items} synapses), {args.ndisplay}D, cutout "
          f"{panel.size_nm[0]:.0f} nm x {panel.sections.value()} sections; first EM {first_s:.1f} s; "
          f"load {os.getloadavg()[0]:.1f}")
    print("| pace | steps | EM there at the step (hit) | drawn later, before the next step "
          "| passed before its EM | wait when drawn later, median / max | catch-up after the last step "
          "| main-thread CPU per step (keys, arrivals, paints) |\n|---:|---:|---:|---:|---:|---:|---:|---:|")
    for pace, hits, late, passed, waits, catch_up, _walk_s, cpu_s in results:
        wait_txt = f"{statistics.median(waits):.0f} / {max(waits):.0f} ms" if waits else "—"
        print(f"| {pace:.0f} ms | {args.steps} | {hits} ({100 * hits / args.steps:.0f} %) | {late} "
              f"| {passed} | {wait_txt} | {catch_up:.0f} ms | {1000 * cpu_s / args.steps:.1f} ms |")
    print(f"stale cutout shown: {stale['stale']} of {stale['turns']} turns of the event loop")
    print("| pace | fetches drawn | finished after the walk passed it | finished ahead of the stop "
          "| cancelled in the child | dropped before start | child CPU, all "
          "| child CPU wasted (passed + cancelled) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for pace, k in fetch_rows:
        total = sum(c for _, c in k.values())
        wasted = k["finished after the walk passed it"][1] + k["cancelled in the child"][1]
        cells = " | ".join(f"{n} ({1000 * c:.0f} ms)" if name != "dropped before it started" else f"{n}"
                           for name, (n, c) in k.items())
        print(f"| {pace:.0f} ms | {cells} | {1000 * total:.0f} ms | {1000 * wasted:.0f} ms |")
    if ring_rows:
        print("| ring move | main-thread CPU median | max |\n|---|---:|---:|")
        for name, v in ring_rows:
            print(f"| {name} | {statistics.median(v):.2f} ms | {max(v):.2f} ms |")
    qc.cleanup()
    spin(600, lambda: not panel.workers)
    viewer.close()
    return 2 if stale["stale"] else 0


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used (0 once it is gone)."""
    from pathlib import Path

    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ring_position_of(ring, np):
    """The ring's world position as one row (the old ring starts where the current one is)."""
    data = np.asarray(ring.data, np.float64)
    return np.asarray(ring.data_to_world(data[0]), np.float64)[None] if len(data) else np.zeros((1, 3))


if __name__ == "__main__":
    sys.exit(main())
