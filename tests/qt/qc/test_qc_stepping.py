"""Stepping in 2D re-slices only the layers whose slice changes with z, and shows the right slice."""

import numpy as np
import pytest
from qc_helpers import build, count_slices, load, wait

from napari_crant._qt.qc.slicing import set_z_point, slice_is_z_independent
from napari_crant._qt.session import find_layer
from napari_crant.demo import TINY_NEURONS, make_demo
from napari_crant.scene.loading import pick_demo_neuron


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("stepping") / "demo"
    make_demo(out, n_neurons=TINY_NEURONS, seed=3)
    return out


def _rows_at_two_depths(qc):
    """Indices of two shown rows at different z (the review goes from the first to the second)."""
    z = qc.review.items["z"].to_numpy(np.float64)
    rows = [int(r) for r in qc.review.visible_rows()]
    first = rows[0]
    other = next(r for r in rows if z[r] != z[first])
    return first, other


@pytest.fixture
def review_2d(qtbot, qc, demo):
    viewer = qc.session.viewer
    qc.em_panel.show_em.setChecked(False)  # the EM panel's layers have their own tests
    load(viewer, [pick_demo_neuron(demo)], demo)
    build(qtbot, qc)
    wait(qtbot, qc)
    assert viewer.dims.ndisplay == 2
    # a layer of the user's own whose slice depends on z: one plane per z step of the data
    zmin, zmax = (float(v) for v in viewer.dims.range[0][:2])
    planes = np.arange(4, dtype=np.float32)[:, None, None] * np.ones((4, 8, 8), np.float32)
    image = viewer.add_image(planes, scale=(max((zmax - zmin) / 3, 1.0), 1000.0, 1000.0),
                             translate=(zmin, 8000.0, 8000.0), name="user planes", units="nm")
    # and user points drawn only at their own z
    z = qc.review.items["z"].to_numpy(np.float64)
    pts = viewer.add_points(qc.review.items[["z", "y", "x"]].to_numpy(np.float64), name="user points",
                            size=100, units="nm", projection_mode="none")
    return viewer, image, pts, z


def test_a_step_in_2d_re_slices_only_the_layers_that_depend_on_z(qtbot, qc, review_2d):
    viewer, image, pts, z = review_2d
    first, other = _rows_at_two_depths(qc)
    qc.review.go_to(first)
    wait(qtbot, qc)
    assert viewer.dims.point[0] == pytest.approx(z[first], abs=1.0)
    skeletons, verdicts = find_layer(viewer, "skeletons"), find_layer(viewer, "qc_verdicts")
    projected = [layer for layer in viewer.layers if layer.name not in ("user planes", "user points")]
    assert skeletons is not None and verdicts is not None and skeletons in projected
    assert all(slice_is_z_independent(layer, viewer.dims, 0) for layer in projected if len(layer.data))
    shown_before = {layer.name: np.asarray(layer._view_data).copy() for layer in projected}
    counts = count_slices(list(viewer.layers))
    qc.review.go_to(other)
    assert viewer.dims.point[0] == pytest.approx(z[other], abs=1.0)
    # the projected layers (every neuron's skeleton and synapses, the verdicts) were not sliced again;
    # the ring moved (its data changed), the user's z-dependent layers were sliced once each
    assert counts.get(skeletons.name, 0) == 0 and counts.get(verdicts.name, 0) == 0
    for kind in ("pre", "post", "somata"):
        layer = find_layer(viewer, kind)
        assert layer is not None and counts.get(layer.name, 0) == 0, kind
    assert counts["user planes"] == 1 and counts["user points"] == 1
    # ... and show what napari would show at the new z: the same as before (everything projected),
    # their slice input is the dims' (a later refresh slices at the right z)
    for layer in projected:
        if layer.name != find_layer(viewer, "qc_current").name:
            np.testing.assert_array_equal(np.asarray(layer._view_data), shown_before[layer.name])
        assert layer._slice_input.world_slice.point[0] == pytest.approx(z[other], abs=1.0)
    # the user's own layers show the slice at the new z
    assert image._slice_input.world_slice.point[0] == viewer.dims.point[0]
    shown = np.array(image._slice.image.raw, copy=True)
    image.refresh()  # sliced anew from the dims: the same
    np.testing.assert_array_equal(image._slice.image.raw, shown)
    at_z = np.abs(z - viewer.dims.point[0]) <= 0.5
    assert at_z.any()
    expected = pts.data[at_z][:, 1:]
    np.testing.assert_array_equal(np.unique(np.asarray(pts._view_data), axis=0), np.unique(expected, axis=0))
    assert viewer.cursor.position[0] == pytest.approx(z[other], abs=1.0)
    # a refresh of a layer that was not sliced gives the same view (its state matched the dims)
    before = np.asarray(skeletons._view_data).copy()
    skeletons.refresh()
    np.testing.assert_array_equal(np.asarray(skeletons._view_data), before)


def test_a_thin_slab_makes_the_projected_layers_follow_z(qtbot, qc, review_2d):
    """With a slab that does not span the data, the projected layers' slice changes with z: sliced."""
    viewer, _image, _pts, z = review_2d
    first, other = _rows_at_two_depths(qc)
    qc.review.go_to(first)
    wait(qtbot, qc)
    verdicts = find_layer(viewer, "qc_verdicts")
    thickness = list(viewer.dims.thickness)
    thickness[0] = 100.0
    viewer.dims.thickness = tuple(thickness)
    assert not slice_is_z_independent(verdicts, viewer.dims, 0)
    counts = count_slices([verdicts])
    sliced = set_z_point(viewer, 0, float(z[other]))
    assert verdicts in sliced and counts[verdicts.name] == 1
    inside = np.abs(z - viewer.dims.point[0]) <= 50.0
    assert inside.any() and not inside.all()
    np.testing.assert_array_equal(np.unique(np.asarray(verdicts._view_data), axis=0),
                                  np.unique(verdicts.data[inside][:, 1:], axis=0))
    # the same z again: nothing to do
    assert set_z_point(viewer, 0, float(viewer.dims.point[0])) == []


def test_a_step_in_3d_leaves_the_slider_alone(qtbot, qc, review_2d):
    viewer, _image, _pts, _z = review_2d
    viewer.dims.ndisplay = 3
    first, other = _rows_at_two_depths(qc)
    qc.review.go_to(first)
    point = tuple(viewer.dims.point)
    counts = count_slices([find_layer(viewer, "skeletons")])
    qc.review.go_to(other)
    assert tuple(viewer.dims.point) == point and not counts


def test_a_new_partner_skeleton_does_not_relink_the_partner_program(qtbot, qc, review_2d, monkeypatch):
    """vispy's mesh visual made a new colour-transform function at each set_data: the partner's
    program was regenerated and relinked at the next paint; now it is linked once."""
    from vispy.gloo import glir

    viewer = review_2d[0]
    linked = []
    plain = glir.GlirProgram.link_program

    def counted(program, *args, **kwargs):
        linked.append(program.id)
        return plain(program, *args, **kwargs)

    monkeypatch.setattr(glir.GlirProgram, "link_program", counted)
    canvas = viewer.window._qt_viewer.canvas.native
    partners = qc.review.items["partner_id"].to_numpy()
    rows, seen = [], set()
    for r in (int(r) for r in qc.review.visible_rows()):  # one row per partner with a skeleton
        if int(partners[r]) not in seen and int(partners[r]) not in (0, qc.review.root):
            seen.add(int(partners[r]))
            rows.append(r)
    assert len(rows) >= 2
    rows = (rows * 10)[:10]  # back and forth between partners (their skeletons kept by the canvas)

    def new_skeletons(rows):
        """Step through ``rows``, painting each; how many times the partner layer got another skeleton
        and how often its program was linked meanwhile."""
        drawn, links, previous = 0, 0, None
        for r in rows:
            qc.review.go_to(r)
            wait(qtbot, qc)  # a partner's skeleton arrives from a worker
            before = len(linked)
            canvas.repaint()
            layer = find_layer(viewer, "qc_partner")
            if layer is None or not len(layer.data):
                continue
            node = viewer.window._qt_viewer.canvas.layer_to_visual[layer].node
            programs = {program.id for program in node.shared_program._programs.values()}
            if previous is not None and not np.array_equal(layer.data, previous):
                drawn += 1
                links += sum(1 for pid in linked[before:] if pid in programs)
            previous = np.array(layer.data, copy=True)
        return drawn, links

    new_skeletons(rows[:2])  # the layer is made and linked once
    drawn, links = new_skeletons(rows[2:6])
    assert drawn >= 2 and links == 0
    # vispy's own behaviour, for comparison: one link per new skeleton
    node = viewer.window._qt_viewer.canvas.layer_to_visual[find_layer(viewer, "qc_partner")].node
    del node._build_color_transform
    drawn, links = new_skeletons(rows[6:10])
    assert drawn >= 2 and links == drawn
