"""The current synapse's ring: where the synapse is, in 2D and 3D, moved by its translate (no new data)."""

import numpy as np
import pytest
from qc_helpers import build, count_slices, load, wait

from napari_crant._qt.qc.ring import move_ring, ring_position
from napari_crant._qt.session import find_layer
from napari_crant.demo import TINY_NEURONS, make_demo
from napari_crant.scene.loading import pick_demo_neuron


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("ring") / "demo"
    make_demo(out, n_neurons=TINY_NEURONS, seed=3)
    return out


def _drawn_at(viewer, layer) -> np.ndarray:
    """World position (of the displayed axes, napari order) where vispy draws the ring's point."""
    visual = viewer.window._qt_viewer.canvas.layer_to_visual[layer]
    shown = np.asarray(layer._view_data, np.float64)
    assert shown.shape[0] == 1  # the ring's one point is in the slice
    mapped = visual.node.transform.map(shown[0][::-1])  # vispy's axes are reversed (x first)
    return np.asarray(mapped[: shown.shape[1]])[::-1]


def _synapse(qc) -> np.ndarray:
    row = qc.current_row()
    return np.array([row["z"], row["y"], row["x"]], np.float64)


@pytest.mark.parametrize("ndisplay", [2, 3])
def test_the_ring_is_at_the_synapse_and_moves_without_new_data(qtbot, qc, demo, ndisplay):
    viewer = qc.session.viewer
    qc.em_panel.show_em.setChecked(False)  # the ring alone (the EM panel has its own tests)
    load(viewer, [pick_demo_neuron(demo)], demo)
    viewer.dims.ndisplay = ndisplay
    build(qtbot, qc)
    wait(qtbot, qc)
    ring = find_layer(viewer, "qc_current")
    # zoomed in on the synapse, a marker of at most 48 px, not a 1,400 nm disc over the view
    from napari_crant._qt.qc.canvas import RING_PIXELS

    assert tuple(ring.canvas_size_limits) == RING_PIXELS and RING_PIXELS[1] <= 48
    rows = [int(r) for r in qc.review.visible_rows()]
    z = qc.review.items["z"].to_numpy(np.float64)
    # steps to synapses at other depths, back and forth
    path = [*[r for r in rows if z[r] != z[rows[0]]][:3], rows[0]]
    for r in path:
        data_events = []
        ring.events.data.connect(data_events.append)
        counts = count_slices([ring])
        qc.review.go_to(r)
        wait(qtbot, qc)
        ring.events.data.disconnect(data_events.append)
        assert find_layer(viewer, "qc_current") is ring
        assert not data_events and np.array_equal(ring.data, np.zeros((1, 3)))  # no new data
        np.testing.assert_allclose(ring_position(ring), _synapse(qc))
        assert ring.features["synapse_id"].tolist() == [str(qc.current_row()["synapse_id"])]
        shown = list(viewer.dims.displayed)
        np.testing.assert_allclose(_drawn_at(viewer, ring), _synapse(qc)[shown], atol=1e-6)
        if ndisplay == 3:
            assert counts.get(ring.name, 0) == 0  # not re-sliced: vispy moved the node
        else:
            assert viewer.dims.point[0] == pytest.approx(_synapse(qc)[0], abs=21)
        # a re-slice from scratch shows the same
        before = np.asarray(ring._view_data).copy()
        ring.refresh()
        np.testing.assert_array_equal(np.asarray(ring._view_data), before)
    # the layer's extent is the ring's position (the viewer's world follows it)
    np.testing.assert_allclose(ring.extent.world[0], _synapse(qc), atol=1e-6)


def test_a_ring_outside_a_thin_slab_is_sliced_again(qtbot, qc, demo):
    viewer = qc.session.viewer
    qc.em_panel.show_em.setChecked(False)
    load(viewer, [pick_demo_neuron(demo)], demo)
    build(qtbot, qc)
    wait(qtbot, qc)
    ring = find_layer(viewer, "qc_current")
    zs = qc.review.items["z"].to_numpy(np.float64)
    rows = [int(r) for r in qc.review.visible_rows()]
    far = max(rows, key=lambda r: abs(zs[r] - zs[qc.review.current]))
    assert abs(zs[far] - zs[qc.review.current]) > 200
    thickness = list(viewer.dims.thickness)
    thickness[0] = 50.0  # a thin slab: the ring at another depth is not in the slice at this z
    viewer.dims.thickness = tuple(thickness)
    row = qc.review.items.iloc[far]
    here = float(viewer.dims.point[0])
    assert move_ring(viewer, ring, (row["z"], row["y"], row["x"]), "1")
    assert viewer.dims.point[0] == here
    assert len(np.asarray(ring._view_data)) == 0  # re-sliced: not drawn at this z, as napari would
    viewer.dims.set_point(0, float(row["z"]))
    np.testing.assert_allclose(_drawn_at(viewer, ring), [row["y"], row["x"]], atol=1e-6)
    # a layer that is not a ring at the origin is left alone (the canvas makes it anew)
    ring.data = np.ones((1, 3))
    assert not move_ring(viewer, ring, (0.0, 0.0, 0.0), "1")
