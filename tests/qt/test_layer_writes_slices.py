"""Writing a batch's layers re-slices only the layers whose slice can change (issue 11, "one
neuron"): a neuron arriving nudges the dims' point by a fraction of a nm; this package's layers
projected through a slab that still holds all their data keep their slice, every other layer
(the user's, a slab that no longer holds them) is sliced again, as napari would; a new Points
layer without text does not draw its (empty) text visual."""

import numpy as np

from napari_crant._qt.layer_writes import write_into
from napari_crant.scene.layer_data import METADATA_KEY

RNG = np.random.default_rng(7)


def _points(n, z=(1_000.0, 9_000.0)):
    data = RNG.uniform(0, 50_000, size=(n, 3))
    data[:, 0] = RNG.uniform(*z, size=n)
    return data


def _ours(viewer, name, data):
    return viewer.add_points(data, name=name, metadata={METADATA_KEY: "pre"}, projection_mode="all",
                             size=100.0)


def _slab(viewer, middle, thickness):
    def set_slab(v):
        v.dims.set_point(0, middle)
        v.dims.thickness = (thickness, 1.0, 1.0)
    return set_slab


def _sliced_log(*layers):
    log = []
    for layer in layers:
        layer.events.set_data.connect(lambda *_, layer=layer: log.append(layer.name))
    return log


def _write(viewer, layer, data, on_slab):
    kwargs = {"name": layer.name, "features": {"root_id": np.array(["1"] * len(data), dtype=object)},
              "face_color": np.ones((len(data), 4)), "border_color": np.ones((len(data), 4)),
              "size": 100.0}
    return write_into(viewer, [(layer, (data, kwargs, "points"))], on_slab=on_slab)


def test_a_nudged_point_does_not_slice_layers_whose_slab_still_holds_them(make_napari_viewer):
    viewer = make_napari_viewer()
    a, b = _ours(viewer, "a", _points(50)), _ours(viewer, "b", _points(80))
    _slab(viewer, 5_000.0, 40_000.0)(viewer)
    log = _sliced_log(a, b)
    _write(viewer, a, _points(60), _slab(viewer, 5_000.4, 40_000.0))
    assert "a" in log and "b" not in log  # b's points are inside the slab before and after
    assert float(b._slice_input.world_slice.point[0]) == float(viewer.dims.point[0])
    assert len(b._view_data) == 80 and len(a._view_data) == 60


def test_a_slab_that_leaves_out_data_slices_the_layer_again(make_napari_viewer):
    viewer = make_napari_viewer()
    a, b = _ours(viewer, "a", _points(50)), _ours(viewer, "b", _points(80, z=(1_000.0, 30_000.0)))
    _slab(viewer, 15_000.0, 40_000.0)(viewer)
    assert len(b._view_data) == 80
    log = _sliced_log(a, b)
    _write(viewer, a, _points(60), _slab(viewer, 5_000.0, 10_000.0))  # b's upper points now outside
    assert "b" in log
    inside = np.count_nonzero(np.asarray(b.data)[:, 0] <= 10_000.0)
    assert len(b._view_data) == inside < 80


def test_the_users_layers_are_sliced_again_when_the_point_moves(make_napari_viewer):
    viewer = make_napari_viewer()
    a = _ours(viewer, "a", _points(50))
    image = viewer.add_image(np.zeros((10, 8, 8), np.uint8), scale=(1_000.0, 6_000.0, 6_000.0), name="user")
    _slab(viewer, 5_000.0, 40_000.0)(viewer)
    log = _sliced_log(a, image)
    _write(viewer, a, _points(60), _slab(viewer, 5_000.4, 40_000.0))
    assert "user" in log


def test_a_new_points_layer_without_text_does_not_draw_its_text_visual(make_napari_viewer):
    """vispy draws the empty text visual napari gives a layer without text (a font atlas at the
    first paint, a draw at every paint): write_into hides it until the layer has text."""
    viewer = make_napari_viewer()
    data = _points(20)
    kwargs = {"name": "CRANT presynapses", "metadata": {METADATA_KEY: "pre"}, "size": 100.0,
              "features": {"root_id": np.array([str(i) for i in range(20)], dtype=object)}}
    (layer,) = write_into(viewer, [(None, (data, kwargs, "points"))])
    node = viewer.window._qt_viewer.canvas.layer_to_visual[layer].node.text
    assert not node.visible
    layer.text = "root_id"  # text after all: drawn
    assert node.visible
    layer.text.visible = False
    assert not node.visible


def test_the_display_text_box_is_ticked_only_while_there_is_text(make_napari_viewer):
    """napari's layer controls tick "display text" from ``layer.text.visible``: unticked while the
    layer has no text; ticking it then draws nothing and the box stays unticked (there is nothing to
    show, the status bar says how to give the layer text); text given later is shown and ticked."""
    viewer = make_napari_viewer()
    kwargs = {"name": "CRANT presynapses", "metadata": {METADATA_KEY: "pre"}, "size": 100.0,
              "features": {"root_id": np.array([str(i) for i in range(20)], dtype=object)}}
    (layer,) = write_into(viewer, [(None, (_points(20), kwargs, "points"))])
    viewer.layers.selection.active = layer
    box = viewer.window._qt_viewer.controls.widgets[layer]._text_visibility_control.text_disp_checkbox
    node = viewer.window._qt_viewer.canvas.layer_to_visual[layer].node.text
    assert not layer.text.visible and not box.isChecked() and not node.visible
    box.click()  # the user ticks it
    assert not layer.text.visible and not box.isChecked() and not node.visible
    assert "has no text" in str(viewer.status)
    layer.text = "root_id"  # text after all: shown, and the box says so
    assert layer.text.visible and box.isChecked() and node.visible
    box.click()
    assert not layer.text.visible and not box.isChecked() and not node.visible
    box.click()
    assert layer.text.visible and box.isChecked() and node.visible
    layer.text = None  # no text again
    assert not layer.text.visible and not box.isChecked() and not node.visible
