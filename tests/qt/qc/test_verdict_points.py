"""A verdict key sends one vertex of the verdict layer to the GPU; the frame equals a full refresh."""

import numpy as np
import pytest
from qc_helpers import build, load

import tiny
from napari_crant._qt.qc.canvas import verdict_color
from napari_crant._qt.qc.vispy_points import recolor_point
from napari_crant._qt.qc.vispy_programs import layer_visual
from napari_crant._qt.session import find_layer


def _frame(viewer):
    return np.asarray(viewer.screenshot(canvas_only=True, flash=False))


@pytest.mark.parametrize("ndisplay", [2, 3])
def test_a_verdict_recolours_one_vertex_and_draws_what_a_refresh_draws(qtbot, qc, tiny_path, ndisplay):
    viewer = qc.session.viewer
    load(viewer, [tiny.A2], tiny_path)
    viewer.dims.ndisplay = ndisplay
    qc.em_panel.show_em.setChecked(False)  # no EM image over the points
    build(qtbot, qc)
    qc.review_panel.advance.setChecked(False)  # the camera stays on the synapse recoloured
    layer = find_layer(viewer, "qc_verdicts")
    markers = layer_visual(viewer, layer).points_markers
    full_sends, sub_uploads, colour_events = [], [], []
    plain_set_data, plain_subdata = markers.set_data, markers._vbo.set_subdata
    markers.set_data = lambda *a, **k: (full_sends.append(1), plain_set_data(*a, **k))[1]
    markers._vbo.set_subdata = lambda data, offset=0, **k: (sub_uploads.append((len(data), offset)),
                                                            plain_subdata(data, offset=offset, **k))[1]
    layer.events.face_color.connect(lambda _e: colour_events.append(1))
    before = _frame(viewer)
    index = qc.review.current
    qc.set_verdict("false_positive")
    after = _frame(viewer)
    row = int(np.flatnonzero(np.asarray(layer._view_indices) == index)[0])
    assert sub_uploads == [(1, row)]  # one vertex, at the point's place in the view
    assert not full_sends and not colour_events  # napari sent nothing again
    np.testing.assert_allclose(layer.face_color[index], verdict_color("false_positive"))
    np.testing.assert_allclose(markers._data["a_bg_color"][row], verdict_color("false_positive"))
    assert layer.features["verdict"].iloc[index] == "false_positive"
    assert not np.array_equal(before, after)  # the new colour shows
    thumbnail = np.array(layer.thumbnail, copy=True)
    layer._update_thumbnail()  # napari's own thumbnail of the layer's colours now
    np.testing.assert_array_equal(layer.thumbnail, thumbnail)
    # napari's own full refresh of the layer draws the same frame
    markers.set_data, markers._vbo.set_subdata = plain_set_data, plain_subdata
    layer.events.face_color()
    assert np.array_equal(_frame(viewer), after)


def test_without_a_canvas_visual_nothing_is_changed(qtbot, qc, tiny_path):
    viewer = qc.session.viewer
    load(viewer, [tiny.A2], tiny_path)
    build(qtbot, qc)
    layer = find_layer(viewer, "qc_verdicts")
    colors = np.array(layer.face_color, copy=True)
    assert not recolor_point(None, layer, 0, (1.0, 0.0, 0.0, 1.0))  # no viewer window: napari's way
    assert not recolor_point(viewer, layer, len(colors) + 3, (1.0, 0.0, 0.0, 1.0))  # no such point
    np.testing.assert_array_equal(layer.face_color, colors)


def test_qc_points_layers_say_they_have_no_text(qtbot, qc, tiny_path):
    """Every Points layer of the session and the review: *display text* unticked, no text drawn."""
    from napari.layers import Points

    viewer = qc.session.viewer
    load(viewer, [tiny.A2], tiny_path)
    qc.em_panel.show_em.setChecked(False)
    build(qtbot, qc)
    points = [layer for layer in viewer.layers if isinstance(layer, Points)]
    assert {"qc_verdicts", "qc_current", "pre", "somata"} <= {p.metadata.get("napari_crant") for p in points}
    for layer in points:
        assert not layer.text.visible, layer.name
        assert not layer_visual(viewer, layer).text.visible, layer.name
