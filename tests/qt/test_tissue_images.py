"""Screenshots of the EM at each synapse and of the meshes for docs/user-guide.md (40-neuron demo).

Skipped unless ``NAPARI_CRANT_DOCS_IMAGES`` names the output directory::

    NAPARI_CRANT_DOCS_IMAGES=docs/images xvfb-run -a -s "-screen 0 1600x1000x24" \\
        python -m pytest tests/qt/test_tissue_images.py
"""

import os
from pathlib import Path

import numpy as np
import pytest

OUT = os.environ.get("NAPARI_CRANT_DOCS_IMAGES")
pytestmark = pytest.mark.skipif(not OUT, reason="set NAPARI_CRANT_DOCS_IMAGES to write docs images")


def test_tissue_images(qtbot, make_napari_viewer, tmp_path, qc_data_dir):
    from imageio.v3 import imwrite
    from qtpy.QtCore import Qt

    import tiny
    from napari_crant._qt.qc.dock import QCWidget
    from napari_crant._qt.query_widget import QueryWidget
    from napari_crant._qt.session import find_layer, get_session
    from napari_crant.demo import TINY_NEURONS, make_demo
    from napari_crant.scene.loading import load_neurons, pick_demo_neuron, run_to_end

    out = Path(OUT)
    out.mkdir(parents=True, exist_ok=True)
    demo = make_demo(tmp_path / "demo", n_neurons=TINY_NEURONS, seed=3)
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1600, 1000)
    qt_viewer = viewer.window._qt_viewer
    qt_viewer.dockLayerList.hide()
    qt_viewer.dockLayerControls.hide()
    query = QueryWidget(viewer)  # docked for the meshes picture only
    qc = QCWidget(viewer)
    viewer.window.add_dock_widget(qc, name="Synapse QC", area="right")
    session = get_session(viewer)
    session.params.dataset = str(demo)
    root = pick_demo_neuron(demo)
    session.add(run_to_end(load_neurons([root], **session.params.load_kwargs())))
    qc.review_panel.fragment_l2.setValue(40)
    qc.review_panel.field_of_view.setValue(2400)
    qc.build()
    qtbot.waitUntil(lambda: not qc.review.items.empty, timeout=300_000)
    pre = np.flatnonzero(qc.review.items["type"].to_numpy() == "pre")
    qc.review.go_to(int(pre[0]))
    panel = qc.em_panel

    def ready():
        row = qc.current_row()
        return panel.shown is not None and panel.shown.synapse_id == int(row["synapse_id"])

    qtbot.waitUntil(ready, timeout=600_000)
    qtbot.waitUntil(lambda: not qc.workers, timeout=120_000)
    qc.em_panel.em_only.setChecked(True)
    qtbot.wait(500)
    imwrite(out / "qc-em-window.png", viewer.screenshot(canvas_only=False, flash=False))

    # a click on the segment at the synapse (the camera is centred on it): its root, and Load
    canvas = viewer.window._qt_viewer.canvas.native
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=canvas.rect().center())
    qtbot.wait(300)
    assert panel.picked_root is not None
    qc.em_panel.grab().save(str(out / "qc-em-panel.png"))
    imwrite(out / "qc-em-picked.png", viewer.screenshot(canvas_only=True, flash=False))
    qc.em_panel.em_only.setChecked(False)

    # 3D: the EM as a plane through the synapse among the skeleton and the neuron's mesh
    query.meshes.display.value = "both"
    qtbot.waitUntil(lambda: not query.meshes.workers, timeout=600_000)
    viewer.dims.ndisplay = 3
    qc.canvas.center_on(panel.shown.center)
    viewer.camera.angles = (-20.0, 20.0, 0.0)  # looking down z, tilted: the EM plane faces the camera
    viewer.camera.zoom = viewer.camera.zoom * 0.45
    find_layer(viewer, "meshes").opacity = 0.6
    qtbot.wait(500)
    imwrite(out / "qc-em-3d.png", viewer.screenshot(canvas_only=True, flash=False))

    # meshes and the brain context
    viewer.window.add_dock_widget(query, name="Query neurons", area="left")
    qc.em_panel.show_em.setChecked(False)
    from qtpy.QtWidgets import QDockWidget

    qc_dock = qc
    while not isinstance(qc_dock, QDockWidget):
        qc_dock = qc_dock.parentWidget()
    qc_dock.hide()
    query.meshes.display.value = "meshes"
    query.meshes.context.value = "brain"
    qtbot.waitUntil(lambda: not query.meshes.workers, timeout=300_000)
    find_layer(viewer, "meshes").opacity = 1.0
    find_layer(viewer, "context").opacity = 0.25
    viewer.camera.angles = (-30.0, 25.0, 0.0)
    viewer.reset_view()
    qtbot.wait(500)
    imwrite(out / "meshes-window.png", viewer.screenshot(canvas_only=False, flash=False))

    # a dataset without EM: the message in the dock, the review goes on
    qc_dock.show()
    viewer.dims.ndisplay = 2
    session.clear()
    session.params.dataset = str(tiny.build(tmp_path / "tiny"))
    session.add(run_to_end(load_neurons([int(tiny.A2)], **session.params.load_kwargs())))
    qc.review_panel.neuron.setCurrentIndex(qc.review_panel.neuron.findData(str(int(tiny.A2))))
    qc.build()
    qtbot.waitUntil(lambda: not qc.review.items.empty and int(qc.review.root) == int(tiny.A2),
                    timeout=120_000)
    qc.em_panel.show_em.setChecked(True)
    qtbot.waitUntil(lambda: "No EM" in panel.status.text(), timeout=120_000)
    qtbot.wait(300)
    panel.grab().save(str(out / "qc-em-missing.png"))
    qtbot.waitUntil(lambda: not qc.workers and not query.meshes.workers, timeout=120_000)
    qc.cleanup()
    qtbot.waitUntil(lambda: not panel.workers, timeout=600_000)
