"""Screenshots for docs/user-guide.md, on the demo dataset.

Skipped unless ``NAPARI_CRANT_DOCS_IMAGES`` names the output directory::

    NAPARI_CRANT_DOCS_IMAGES=docs/images xvfb-run -a -s "-screen 0 1600x1000x24" \\
        python -m pytest tests/qt/test_docs_images.py
"""

import os
from pathlib import Path

import pytest

OUT = os.environ.get("NAPARI_CRANT_DOCS_IMAGES")
pytestmark = pytest.mark.skipif(not OUT, reason="set NAPARI_CRANT_DOCS_IMAGES to write docs images")


def test_docs_images(qtbot, make_napari_viewer):
    import numpy as np
    from imageio.v3 import imwrite
    from qtpy.QtCore import QItemSelectionModel

    import napari_crant as nc
    from napari_crant._qt.cli import camera, open_demo
    from napari_crant.queries.criteria import NeuronCriteria

    out = Path(OUT)
    out.mkdir(parents=True, exist_ok=True)
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1600, 1000)
    viewer.dims.ndisplay = 3
    widgets, _ = open_demo(viewer, "demo", None, 3)
    qtbot.waitUntil(lambda: widgets["Query neurons"].worker is None, timeout=300_000)
    adj = widgets["Adjacency"]
    qtbot.waitUntil(lambda: adj.worker is None and not adj.adjacency.empty, timeout=60_000)
    camera(viewer).angles = (0.0, 0.0, 90.0)
    viewer.reset_view()
    partners = widgets["Partners"]
    partners.neuron.setCurrentIndex(1)
    qtbot.wait(300)
    imwrite(out / "demo-window.png", viewer.screenshot(canvas_only=False, flash=False))
    widgets["Query neurons"].native.grab().save(str(out / "query-widget.png"))
    # select the strongest partner: its synapses are highlighted
    sel = partners.table.selectionModel()
    sel.select(partners.proxy.index(0, 0),
               QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
    qtbot.wait(300)
    partners.grab().save(str(out / "partners-widget.png"))
    imwrite(out / "highlight-canvas.png", viewer.screenshot(canvas_only=True, flash=False))
    # the adjacency dock: the demo's 61 uPNs by cell type, and its 331 Kenyon cells clustered
    adj_dock = adj.parent()
    adj_dock.setFloating(True)  # the size a user gives it when reading a large matrix
    adj_dock.resize(480, 640)
    for name, criteria, order in (
            ("adjacency-widget.png", NeuronCriteria(cell_type="uPN", dataset="demo"), "cell type"),
            ("adjacency-300.png", NeuronCriteria(cell_type="KC", exact=False, dataset="demo"), "clustering")):
        adj.order.setCurrentText(order)
        adj._on_returned(nc.get_adjacency(criteria, criteria, symmetric=True, dataset="demo"))
        row, col = np.argwhere(adj.data.values == adj.data.vmax)[0]
        adj.canvas.selected = (int(row), int(col))  # marked as after a click
        adj._on_hover(int(row), int(col))  # what hovering the cell shows
        qtbot.wait(300)
        adj.grab().save(str(out / name))
