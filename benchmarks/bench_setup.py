"""Set-up shared by the QC and EM benchmarks: a tiny demo, and napari with the synapse QC dock."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def tiny_demo(prefix: str) -> str:
    """Build the tiny demo (``TINY_NEURONS``, seed 3) in a new temporary folder; its path."""
    from napari_crant.demo import TINY_NEURONS, make_demo

    return str(make_demo(Path(tempfile.mkdtemp(prefix=prefix)) / "demo", n_neurons=TINY_NEURONS, seed=3))


def qc_viewer(dataset: str, root: int | None, ndisplay: int) -> tuple[Any, Any, Any, int]:
    """A shown 1600 x 1000 napari window with the synapse QC dock on ``dataset``, the neuron to
    review loaded.

    Returns
    -------
    tuple
        ``(viewer, app, qc, root)``: ``root`` is the given one or the dataset's demo neuron.
    """
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_crant._qt.qc.dock import QCWidget
    from napari_crant._qt.session import get_session
    from napari_crant.scene.loading import load_neurons, pick_demo_neuron, run_to_end

    viewer = napari.Viewer(show=True, ndisplay=ndisplay)
    viewer.window._qt_window.resize(1600, 1000)
    app = QApplication.instance()
    qc = QCWidget(viewer)
    viewer.window.add_dock_widget(qc, name="Synapse QC")
    session = get_session(viewer)
    session.params.dataset = dataset
    root = root if root is not None else pick_demo_neuron(dataset)
    session.add(run_to_end(load_neurons([root], **session.params.load_kwargs())))
    return viewer, app, qc, root


def spin_until(app: Any, cond: Callable[[], bool], timeout: float) -> bool:
    """Process ``app``'s events until ``cond()`` holds (``True``) or ``timeout`` seconds pass (``False``)."""
    end = time.perf_counter() + timeout
    while not cond():
        if time.perf_counter() > end:
            return False
        app.processEvents()
        time.sleep(0.002)
    return True


def next_prefetched(app: Any, qc: Any, prefetch: Any, timeout: float = 300) -> int | None:
    """Wait until the next synapse the QC dock steps to is prefetched (or failed) and the events
    are handled; its synapse ID (``None``: no next synapse)."""
    rows = qc.review.visible_rows()
    later = rows[rows > qc.review.current]
    if not len(later):
        return None
    nxt = int(qc.review.items.iloc[int(later[0])]["synapse_id"])
    spin_until(app, lambda: prefetch.status(nxt) in ("ready", "failed"), timeout)
    for _ in range(3):
        app.processEvents()
    return nxt
