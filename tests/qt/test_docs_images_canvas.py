"""Screenshots of the canvas with ~20 neurons and the legend, on the demo dataset (docs/user-guide.md).

Skipped unless ``NAPARI_CRANT_DOCS_IMAGES`` names the output directory::

    NAPARI_CRANT_DOCS_IMAGES=docs/images xvfb-run -a -s "-screen 0 1600x1000x24" \\
        python -m pytest tests/qt/test_docs_images_canvas.py
"""

import os
from pathlib import Path

import numpy as np
import pytest

OUT = os.environ.get("NAPARI_CRANT_DOCS_IMAGES")
pytestmark = pytest.mark.skipif(not OUT, reason="set NAPARI_CRANT_DOCS_IMAGES to write docs images")
TYPES = ("uPN", "KC_g", "ORN", "LHON", "PAM")


def test_canvas_images(qtbot, make_napari_viewer):
    from imageio.v3 import imwrite

    from napari_crant._qt.legend import LegendWidget
    from napari_crant._qt.session import find_layer, get_session
    from napari_crant.queries.common import open_query
    from napari_crant.scene.loading import current_annotations, load_neurons, run_to_end

    out = Path(OUT)
    source, at = open_query("demo", "latest")
    ann = current_annotations(source, at)
    roots = np.concatenate([ann[ann["cell_type"] == t]["root_id"].to_numpy(np.uint64)[:4] for t in TYPES])
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1600, 1000)
    legend = LegendWidget(viewer)
    viewer.window.add_dock_widget(legend, name="Neuron legend")
    session = get_session(viewer)
    session.params.dataset = "demo"
    session.add(run_to_end(load_neurons(roots, dataset="demo")))
    viewer.reset_view()  # the fitted view
    qtbot.wait(500)
    assert legend.table.rowCount() == len(roots) == 20
    imwrite(out / "canvas-20-neurons.png", viewer.screenshot(canvas_only=True, flash=False))
    # a neuron soloed from the legend, the status bar naming what is under the cursor
    session.model.toggle_solo(int(roots[0]))
    pre = find_layer(viewer, "pre")
    row = int(np.flatnonzero(pre.shown)[0])
    viewer.status = ""
    session.picker.text = ""
    from types import SimpleNamespace

    session.picker.on_mouse_move(viewer, SimpleNamespace(position=tuple(pre.data[row]), view_direction=None))
    qtbot.wait(500)
    imwrite(out / "legend-solo-window.png", viewer.screenshot(canvas_only=False, flash=False))
