"""The QC dock's oblique view and slab: the camera looks across the synapse, a slab is clipped."""

import numpy as np
from qc_helpers import build, load

import tiny


def test_oblique_view_and_slab_in_3d(qtbot, qc, tiny_path):
    viewer = qc.session.viewer
    load(viewer, [tiny.A2], tiny_path)
    build(qtbot, qc)
    viewer.dims.ndisplay = 3
    opts = qc.view_options
    opts.oblique.setChecked(True)
    opts.slab.setChecked(True)
    opts.thickness.setValue(600)
    qc.do("next")
    row = qc.current_row()
    axis = np.array([row[f"post_{a}"] - row[f"pre_{a}"] for a in "zyx"], float)
    axis /= np.linalg.norm(axis)
    cam = viewer.camera
    assert abs(np.dot(cam.view_direction, axis)) < 1e-3  # looking across the pre -> post axis
    layers = [layer for layer in viewer.layers if layer.name.startswith("CRANT")]
    planes = layers[0].experimental_clipping_planes
    assert len(planes) == 2 and all(p.enabled for p in planes)
    gap = np.dot(np.subtract(planes[0].position, planes[1].position), cam.view_direction)
    assert abs(abs(gap) - 600) < 1e-3
    opts.slab.setChecked(False)
    assert all(len(layer.experimental_clipping_planes) == 0 for layer in layers)


def test_slab_in_2d_is_the_z_thickness(qtbot, qc, tiny_path):
    viewer = qc.session.viewer
    load(viewer, [tiny.A2], tiny_path)
    build(qtbot, qc)
    before = tuple(viewer.dims.thickness)
    qc.view_options.slab.setChecked(True)
    row = qc.current_row()
    assert viewer.dims.thickness[0] == 1000 and viewer.dims.point[0] == row["z"]
    qc.view_options.slab.setChecked(False)
    assert tuple(viewer.dims.thickness) == before
