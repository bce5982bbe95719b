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
    from imageio.v3 import imwrite
    from qtpy.QtCore import QItemSelectionModel

    from napari_crant._qt.cli import camera, open_demo

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
    adj.parent().raise_()
    adj.table.clicked.emit(adj.model.index(1, 0))
    qtbot.wait(300)
    adj.grab().save(str(out / "adjacency-widget.png"))
