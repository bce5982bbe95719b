"""The QC dock's EM in 3D as a proofreader sees it (screenshots under Xvfb), and the user's layer order.

In 3D the EM is a plane through the synapse: the pre and post segments must be outlined on it in
their own colours, the ring must be whole around the synapse and the verdict dot must not sit on
the T-bar. The plugin orders the tissue's layers when they are added and when the display changes,
and otherwise keeps what the user moved or hid.
"""

import numpy as np
import pytest
from qc_helpers import build, em_ready, load, wait

from napari_crant._qt.session import find_layer
from napari_crant.demo import TINY_NEURONS, make_demo
from napari_crant.scene.loading import pick_demo_neuron

#: a smaller cutout than the default keeps the tests quick
WIDTH_NM, SECTIONS = 1024, 3
#: the camera's angles of the 3D checks: looking down z, tilted (the plane cuts the ring's disc)
ANGLES = (-20.0, 20.0, 0.0)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("tissue3d") / "demo"
    make_demo(out, n_neurons=TINY_NEURONS, seed=3)
    return out


def _review_pre(qtbot, qc, demo):
    """Review the demo neuron at its first output synapse (pre and post both segmented)."""
    qc.em_panel.set_size(WIDTH_NM, SECTIONS)
    load(qc.session.viewer, [pick_demo_neuron(demo)], demo)
    build(qtbot, qc)
    pre = np.flatnonzero(qc.review.items["type"].to_numpy() == "pre")
    qc.review.go_to(int(pre[0]))
    tissue = em_ready(qtbot, qc)
    wait(qtbot, qc)
    return tissue


def _in_3d(qtbot, qc, tissue):
    viewer = qc.session.viewer
    viewer.dims.ndisplay = 3
    viewer.camera.angles = ANGLES
    qc.canvas.center_on(tissue.center, always=True)
    viewer.camera.zoom = viewer.camera.zoom * 2.0


def _shot(qtbot, viewer):
    qtbot.wait(50)  # a paint (screenshot renders the canvas itself; this lets pending events through)
    return np.asarray(viewer.screenshot(canvas_only=True, flash=False))[..., :3].astype(np.float64) / 255.0


def _label_pixels(with_seg, without, rgb, opacity):
    """How many pixels changed by the segments layer are that label's colour blended over grey EM."""
    changed = np.abs(with_seg - without).sum(axis=-1) > 0.06
    rest = with_seg[changed] - opacity * np.asarray(rgb)[:3]  # what the EM gave: grey, at most 1 - opacity
    grey = ((np.ptp(rest, axis=-1) < 0.05) & (rest.min(axis=-1) > -0.03)
            & (rest.max(axis=-1) < 1 - opacity + 0.03))
    return int(np.count_nonzero(grey))


def test_in_3d_the_pre_and_post_segments_are_outlined_on_the_em_plane(qtbot, qc, demo):
    viewer = qc.session.viewer
    tissue = _review_pre(qtbot, qc, demo)
    seg = find_layer(viewer, "qc_segments")
    # 2D: the segments whole (napari outlines them; a hover anywhere on one shows its root)
    assert seg.contour == 2 and np.array_equal(seg.data, tissue.outline)
    _in_3d(qtbot, qc, tissue)
    # 3D: napari draws no contours; the layer holds the outlines themselves, drawn over the plane
    assert seg.contour == 0 and np.array_equal(seg.data, tissue.contours)
    with_seg = _shot(qtbot, viewer)
    seg.visible = False
    without = _shot(qtbot, viewer)
    seg.visible = True
    opacity = float(seg.opacity)
    pre = _label_pixels(with_seg, without, seg.get_color(tissue.pre_root), opacity)
    post = _label_pixels(with_seg, without, seg.get_color(tissue.post_root), opacity)
    # both outlines are on screen, each in its own colour (a few hundred pixels each at this zoom)
    assert pre > 150 and post > 150, (pre, post)
    # outlines, not filled segments: the pre segment's section holds many more voxels than its outline
    section = qc.em_panel.section.value()
    filled = np.count_nonzero(tissue.outline[section] == tissue.pre_root)
    outlined = np.count_nonzero(tissue.contours[section] == tissue.pre_root)
    assert 0 < outlined < filled / 2
    # unticking "outline segments" fills them in 3D too; back to 2D they are outlined by napari
    qc.em_panel.outline.setChecked(False)
    assert np.array_equal(seg.data, tissue.outline)
    qc.em_panel.outline.setChecked(True)
    viewer.dims.ndisplay = 2
    assert seg.contour == 2 and np.array_equal(seg.data, tissue.outline)
    marker = tissue.center
    assert seg.get_value(marker, world=True) == tissue.pre_root  # hover inside the segment: its root


def test_in_3d_the_ring_is_whole_and_the_verdict_dot_is_not_on_the_t_bar(qtbot, qc, demo):
    viewer = qc.session.viewer
    tissue = _review_pre(qtbot, qc, demo)
    _in_3d(qtbot, qc, tissue)
    shot = _shot(qtbot, viewer)
    yellow = (shot[..., 0] > 0.8) & (shot[..., 1] > 0.8) & (shot[..., 2] < 0.3)
    ys, xs = np.nonzero(yellow)
    cy, cx = (np.array(shot.shape[:2]) - 1) / 2  # the synapse is at the canvas centre
    radius = np.hypot(ys - cy, xs - cx)
    ring = radius > 0.5 * np.median(radius)  # the ring's pixels (not a yellow speck at the centre)
    octants = np.floor((np.arctan2(ys[ring] - cy, xs[ring] - cx) + np.pi) / (np.pi / 4)).astype(int) % 8
    counts = np.bincount(octants, minlength=8)
    # the whole ring: every eighth of it drawn, none cut off by the tilted plane
    assert counts.min() > 0.4 * counts.max(), counts.tolist()
    # the verdict dot at the synapse: hidden while the plane shows it (the ring marks the synapse)
    verdicts = find_layer(viewer, "qc_verdicts")
    index = qc.review.current
    assert verdicts.face_color[index][3] == 0.0 and verdicts.border_color[index][3] == 0.0
    dot_px = 2 * int(np.ceil(verdicts.canvas_size_limits[1]))
    around = np.s_[int(cy) - dot_px:int(cy) + dot_px, int(cx) - dot_px:int(cx) + dot_px]
    verdicts.visible = False
    hidden = _shot(qtbot, viewer)
    # nothing of the dot drawn: neither its face nor its rim (a small dark ring on the T-bar)
    assert np.abs(hidden[around] - shot[around]).max() < 0.02
    verdicts.visible = True
    # the next synapse: its dot hidden, the previous one's back in its verdict's colour
    assert qc.set_verdict("correct")
    em_ready(qtbot, qc)
    from napari_crant._qt.qc.canvas import verdict_color

    np.testing.assert_allclose(verdicts.face_color[index], verdict_color("correct"))
    assert verdicts.border_color[index][3] == 1.0
    assert verdicts.face_color[qc.review.current][3] == 0.0
    # a verdict on the shown synapse without moving on keeps its dot hidden
    shown = qc.review.current
    qc.review.give("unsure", advance=False)
    assert qc.review.current == shown and verdicts.face_color[shown][3] == 0.0
    # the user hides the EM: the dot is shown (nothing covers it); shown again: hidden
    em = find_layer(viewer, "qc_em")
    em.visible = False
    assert verdicts.face_color[shown][3] > 0
    em.visible = True
    assert verdicts.face_color[shown][3] == 0.0
    # 2D: the EM covers the dots; every dot has its verdict's colour
    viewer.dims.ndisplay = 2
    assert np.all(verdicts.face_color[:, 3] > 0) and np.all(verdicts.border_color[:, 3] > 0)


def test_the_users_layer_order_and_hidden_layers_are_kept_from_synapse_to_synapse(qtbot, qc, demo):
    viewer = qc.session.viewer
    _review_pre(qtbot, qc, demo)
    em, seg, ring = (find_layer(viewer, k) for k in ("qc_em", "qc_segments", "qc_current"))
    assert list(viewer.layers)[-3:] == [em, seg, ring]  # imposed when the EM layers were added
    # the user drags the EM below the neurons and hides the segments
    viewer.layers.move(viewer.layers.index(em), 0)
    seg.visible = False
    user_2d = list(viewer.layers)
    for _ in range(2):
        qc.do("next")
        em_ready(qtbot, qc)
        wait(qtbot, qc)
        assert list(viewer.layers) == user_2d and not seg.visible
    # 3D: the plugin's order there (the tissue first); back in 2D, the user's order again
    viewer.dims.ndisplay = 3
    assert list(viewer.layers)[:2] == [em, seg] and list(viewer.layers)[-1] is ring
    viewer.dims.ndisplay = 2
    assert list(viewer.layers) == user_2d
    # a layer added later lands on top and stays there: the user arranged the 2D order
    extra = viewer.add_points(np.zeros((1, 3)), name="added later")
    qc.do("next")
    em_ready(qtbot, qc)
    assert list(viewer.layers) == [*user_2d, extra] and not seg.visible
    # the user shows the segments again: they follow the synapses again
    seg.visible = True
    qc.do("previous")
    em_ready(qtbot, qc)
    assert seg.visible
    # hidden by the user, then the EM turned off and on in the dock: shown
    seg.visible = False
    qc.em_panel.show_em.setChecked(False)
    qc.em_panel.show_em.setChecked(True)
    em_ready(qtbot, qc)
    assert seg.visible and em.visible
    wait(qtbot, qc)


def _red(shot):
    return (shot[..., 0] > 0.8) & (shot[..., 1] < 0.25) & (shot[..., 2] < 0.25)


def test_in_3d_dots_the_plane_passes_through_are_drawn_whole(qtbot, qc, demo):
    """Verdict dots of the synapses around the one shown, at the plane's depth, read as whole discs
    (the tilted plane cut them in half); dots well behind the plane stay hidden by the EM."""
    from napari_crant._qt.dot_depth import LIFT_NM, points_markers
    from napari_crant._qt.qc.em_layers import drawn_plane_z, ray_meets_plane

    viewer = qc.session.viewer
    qc.em_panel.set_size(2048, SECTIONS)
    load(viewer, [pick_demo_neuron(demo)], demo)
    build(qtbot, qc)
    verdicts = find_layer(viewer, "qc_verdicts")
    data = np.asarray(verdicts.data)
    # the synapse with the most others within 1 um across and 150 nm in depth
    d = data[:, None, :] - data[None, :, :]
    busy = int(np.argmax(((np.abs(d[..., 0]) < 150) & (np.hypot(d[..., 1], d[..., 2]) < 1000)).sum(1)))
    qc.review.go_to(busy)
    tissue = em_ready(qtbot, qc)
    wait(qtbot, qc)
    _in_3d(qtbot, qc, tissue)
    em = find_layer(viewer, "qc_em")
    for layer in viewer.layers:  # the EM plane and the verdict dots alone
        if layer is not em and layer is not verdicts:
            layer.visible = False
    plane_z = drawn_plane_z(tissue, float(tissue.section_z()[qc.em_panel.section.value()]))
    lo = np.asarray(tissue.em.translate, np.float64)[1:]
    hi = lo + np.asarray(tissue.em.scale, np.float64)[1:] * np.asarray(tissue.em.data.shape)[1:]

    def on_plane(points):  # where each dot lies on the screen: over the EM plane?
        hits = [ray_meets_plane(p, viewer.camera.view_direction, plane_z) for p in points]
        return np.array([h is not None and bool(np.all((h[1:] > lo + 300) & (h[1:] < hi - 300)))
                         for h in hits])

    depth = (data[:, 0] - plane_z) * np.sign(viewer.camera.view_direction[0])  # > 0: behind the plane
    over = on_plane(data)
    near = over & (np.abs(data[:, 0] - plane_z) < 100.0)
    near[qc.review.current] = False  # hidden on purpose (the ring marks it)
    far = over & (depth > 2 * LIFT_NM)
    assert near.sum() >= 10 and far.sum() >= 3, (near.sum(), far.sum())
    verdicts.face_color = np.tile([1.0, 0.0, 0.0, 1.0], (len(data), 1))
    verdicts.canvas_size_limits = (0.0, verdicts.canvas_size_limits[1])  # a dot of size 0: not drawn
    for mask, check in ((near, "whole"), (far, "hidden")):
        verdicts.size = np.where(mask, 600.0, 0.0)  # the others not drawn (napari's ``shown`` is 2D only)
        shot = _red(_shot(qtbot, viewer))
        em.visible = False  # no plane: every dot whole
        plain = _red(_shot(qtbot, viewer))
        em.visible = True
        assert plain.sum() > 20 * mask.sum(), (check, plain.sum())
        if check == "whole":  # the same discs with the plane as without it
            assert shot.sum() >= 0.97 * plain.sum(), (shot.sum(), plain.sum())
        else:  # more than the lift behind the plane: hidden by the EM
            assert shot.sum() <= 0.05 * plain.sum(), (shot.sum(), plain.sum())
    # lifted only while the plane is shown in 3D: 2D, or the EM hidden, draws as napari does
    markers = points_markers(viewer, verdicts)
    assert bool(markers.shared_program["u_spherical"])
    em.visible = False
    assert not bool(markers.shared_program["u_spherical"])
    em.visible = True
    viewer.dims.ndisplay = 2
    assert not bool(markers.shared_program["u_spherical"])


def test_switching_to_3d_warns_nothing_and_the_2d_outlines_come_back(qtbot, qc, demo):
    """napari warns "Contours are not displayed during 3D rendering" when it slices a Labels layer
    with ``contour`` set in 3D: the segments layer has contour 0 before napari slices it in 3D, and
    its 2D outlines (napari's ``contour=2``) are the same after a round trip."""
    import warnings

    viewer = qc.session.viewer
    tissue = _review_pre(qtbot, qc, demo)
    seg = find_layer(viewer, "qc_segments")
    assert seg.contour == 2
    outlines = np.array(seg._slice.image.view, copy=True)  # what napari draws: the outlines' colours
    for _ in range(2):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            viewer.dims.ndisplay = 3
            _shot(qtbot, viewer)
            qc.em_panel.outline.setChecked(False)  # filled, then outlined again, in 3D
            qc.em_panel.outline.setChecked(True)
            _shot(qtbot, viewer)
        assert not [w for w in caught if "Contours" in str(w.message)], [str(w.message) for w in caught]
        assert seg.contour == 0 and np.array_equal(seg.data, tissue.contours)
        viewer.dims.ndisplay = 2
        assert seg.contour == 2 and np.array_equal(seg.data, tissue.outline)
        np.testing.assert_array_equal(seg._slice.image.view, outlines)
