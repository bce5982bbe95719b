"""The QC dock's EM panel on the demo's synthetic tissue: position, stepping, prefetch, picking, errors."""

import numpy as np
import pytest
from qc_helpers import build, canvas, count_slices, em_ready, load, wait

import tiny
from napari_crant._qt.qc.ring import ring_position
from napari_crant._qt.session import find_layer
from napari_crant.demo import TINY_NEURONS, make_demo
from napari_crant.scene.loading import pick_demo_neuron

#: a smaller cutout than the default keeps the tests quick (the default is 2048 nm x 5 sections)
WIDTH_NM, SECTIONS = 1024, 3


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("tissue") / "demo"
    make_demo(out, n_neurons=TINY_NEURONS, seed=3)
    return out


def _count_calls(objects, name):
    """Count, per object (by ``id``), the calls of its method ``name`` from now on."""
    counts = {}
    for obj in objects:
        plain, key = getattr(obj, name), id(obj)

        def counted(*args, plain=plain, key=key, **kwargs):
            counts[key] = counts.get(key, 0) + 1
            return plain(*args, **kwargs)

        setattr(obj, name, counted)
    return counts


def _wait_all(qtbot, qc):
    """Wait for the review's workers and the EM fetches."""
    wait(qtbot, qc)
    qtbot.waitUntil(lambda: not qc.em_panel.workers, timeout=300_000)


def _review(qtbot, qc, demo):
    qc.em_panel.set_size(WIDTH_NM, SECTIONS)
    load(qc.session.viewer, [pick_demo_neuron(demo)], demo)
    build(qtbot, qc)
    return em_ready(qtbot, qc)


def test_em_and_segments_in_world_coordinates_and_stepping(qtbot, qc, demo):
    viewer = qc.session.viewer
    tissue = _review(qtbot, qc, demo)
    em, seg = find_layer(viewer, "qc_em"), find_layer(viewer, "qc_segments")
    assert em is not None and seg is not None and em.visible and seg.visible
    assert em.data.shape == (SECTIONS, WIDTH_NM // 8, WIDTH_NM // 8) and em.data.dtype == np.uint8
    assert tuple(em.scale) == (42.0, 8.0, 8.0) and seg.contour == 2
    # the tissue above the neurons' layers (their dots and skeletons would cover it), the segments'
    # outlines and the synapse's ring above the EM
    ring = find_layer(viewer, "qc_current")
    assert list(viewer.layers)[-3:] == [em, seg, ring]
    # with the EM the ring is thin, at its nm size around the T-bar and cleft (no on-screen cap)
    from napari_crant._qt.qc.em_layers import RING_NM

    assert float(ring.size[0]) == RING_NM and ring.canvas_size_limits[1] >= 10_000
    assert {"skeletons", "pre", "post", "qc_verdicts"} <= {layer.metadata.get("napari_crant")
                                                           for layer in list(viewer.layers)[:-3]}
    # the verdict dots stay markers at the close view of the tissue (their 600 nm would hide a bouton)
    from napari_crant.scene.layer_data import MAX_POINT_PIXELS
    assert find_layer(viewer, "qc_verdicts").canvas_size_limits[1] == MAX_POINT_PIXELS
    # the synapse marker (world nm) falls inside the image, on the reviewed neuron's segment
    marker = ring_position(find_layer(viewer, "qc_current"))
    lo, hi = em.extent.world
    assert np.all(marker >= lo) and np.all(marker <= hi)
    row = qc.current_row()
    side = "pre_pt_root_id" if row["type"] == "pre" else "post_pt_root_id"
    assert seg.get_value(marker, world=True) == int(row[side]) == qc.review.root
    assert set(np.unique(seg.data).tolist()) <= {0, int(row["pre_pt_root_id"]), int(row["post_pt_root_id"])}
    # the pre point of an output synapse holds the pre root
    pre_rows = np.flatnonzero(qc.review.items["type"].to_numpy() == "pre")
    qc.review.go_to(int(pre_rows[0]))
    tissue = em_ready(qtbot, qc)
    wait(qtbot, qc)  # the partner's skeleton arrives: the z slider stays at the synapse
    row = qc.current_row()
    pre_point = np.array([row["z"], row["y"], row["x"]])
    assert viewer.dims.point[0] == pytest.approx(pre_point[0], abs=21)
    assert seg.get_value(pre_point, world=True) == int(row["pre_pt_root_id"]) == tissue.pre_root
    middle = np.asarray(em.translate) + np.asarray(em.scale) * (np.array(em.data.shape) - 1) / 2
    assert np.allclose(seg.translate, em.translate) and np.all(np.abs(middle - pre_point) <= em.scale)
    # the section slider scrolls z (2D) and moves the plane (3D)
    panel = qc.em_panel
    assert panel.section.maximum() == SECTIONS - 1 and panel.section.value() == SECTIONS // 2
    panel.section.setValue(0)
    assert viewer.dims.point[0] == pytest.approx(tissue.section_z()[0], abs=21)  # within the section
    viewer.dims.ndisplay = 3
    # the plane lies half a section past the section it shows: vispy samples it half a voxel before
    # its position (em_layers.plane_through), i.e. at the section's centre
    assert em.depiction == "plane" and em.plane.position[0] == pytest.approx(0.5)
    # in 3D the plane is drawn first: the depth test hides what lies behind it and on it
    assert list(viewer.layers)[:2] == [em, seg] and list(viewer.layers)[-1] is ring
    panel.section.setValue(2)
    assert em.plane.position[0] == pytest.approx(2.5) and seg.plane.position[0] == pytest.approx(2.5)
    viewer.dims.ndisplay = 2
    assert list(viewer.layers)[-3:] == [em, seg, ring]
    # stepping moves the image to the next synapse
    before = tuple(em.translate)
    qc.do("next")
    nxt = em_ready(qtbot, qc)
    assert tuple(em.translate) == tuple(float(t) for t in nxt.em.translate) != before
    # a layer added later (another neuron, a mesh) lands on top; the next synapse puts the tissue back
    # above it, and a step whose order is right moves nothing
    extra = viewer.add_points(np.zeros((1, 3)), name="added later")
    assert list(viewer.layers)[-1] is extra
    qc.do("next")
    em_ready(qtbot, qc)
    assert list(viewer.layers)[-4:] == [extra, em, seg, ring]
    moves = []
    viewer.layers.events.moved.connect(moves.append)
    qc.do("previous")
    em_ready(qtbot, qc)
    assert moves == []
    _wait_all(qtbot, qc)


def test_prefetched_synapse_shows_at_once_and_the_cache_stays_bounded(qtbot, qc, demo):
    _review(qtbot, qc, demo)
    panel = qc.em_panel
    rows = qc.review.visible_rows()
    nxt = int(qc.review.items.iloc[int(rows[rows > qc.review.current][0])]["synapse_id"])
    qtbot.waitUntil(lambda: panel.prefetch.status(nxt) == "ready", timeout=240_000)
    hits = panel.prefetch.hits
    qc.do("next")  # no waiting: the EM is drawn in the call
    assert panel.shown is not None and panel.shown.synapse_id == nxt
    assert panel.prefetch.hits == hits + 1
    assert find_layer(qc.session.viewer, "qc_em").visible
    assert len(panel.prefetch) <= panel.prefetch.max_items
    assert panel.prefetch.nbytes <= panel.prefetch.max_bytes
    _wait_all(qtbot, qc)


def test_click_on_a_segment_shows_its_root_and_loads_it(qtbot, qc, demo):
    viewer = qc.session.viewer
    _review(qtbot, qc, demo)
    asked = []
    qc.session.load_requested.connect(asked.append)
    # the camera is centred on the synapse: a click at the canvas centre is on the neuron's side of it
    native = canvas(qc)
    center = native.rect().center()
    qtbot.mouseClick(native, __import__("qtpy").QtCore.Qt.MouseButton.LeftButton, pos=center)
    panel = qc.em_panel
    assert panel.picked_root == qc.review.root
    assert str(qc.review.root) in panel.status.text() and str(qc.review.root) in viewer.status
    assert panel.load_button.isEnabled()
    qc.do("load_segment")
    assert len(asked) == 1 and asked[0].dtype == np.uint64 and int(asked[0][0]) == qc.review.root
    _wait_all(qtbot, qc)


@pytest.mark.parametrize("angles", [None, (10.0, -35.0, 60.0)], ids=["down-z", "tilted"])
def test_click_on_the_em_plane_in_3d_shows_its_root_and_loads_it(qtbot, qc, demo, angles):
    """napari's plane depiction in 3D: a click on the plane is the point where the view ray
    meets it, whatever the camera's angle; the root there is shown and offered for loading."""
    from qtpy.QtCore import Qt

    viewer = qc.session.viewer
    _review(qtbot, qc, demo)
    viewer.dims.ndisplay = 3
    if angles is not None:
        viewer.camera.angles = angles
    qc.canvas.center_on(qc.em_panel.shown.center, always=True)  # the synapse at the canvas centre
    em = find_layer(viewer, "qc_em")
    assert em.depiction == "plane" and em.visible
    panel = qc.em_panel
    section = panel.section.value()
    asked = []
    qc.session.load_requested.connect(asked.append)
    native = canvas(qc)
    qtbot.mouseClick(native, Qt.MouseButton.LeftButton, pos=native.rect().center())
    # the synapse lies on the plane of its own section: the ray through it picks the neuron's side
    assert panel.section.value() == section
    assert panel.picked_root == qc.review.root
    assert str(qc.review.root) in panel.status.text() and str(qc.review.root) in viewer.status
    assert panel.load_button.isEnabled()
    qc.do("load_segment")
    assert len(asked) == 1 and asked[0].dtype == np.uint64 and int(asked[0][0]) == qc.review.root
    # a click off the plane's cutout picks nothing and keeps the last pick
    qtbot.mouseClick(native, Qt.MouseButton.LeftButton, pos=native.rect().topLeft() + __import__(
        "qtpy").QtCore.QPoint(3, 3))
    assert panel.picked_root == qc.review.root
    viewer.dims.ndisplay = 2
    _wait_all(qtbot, qc)


def test_no_image_source_is_a_message_and_the_review_goes_on(qtbot, qc, tiny_path):
    load(qc.session.viewer, [tiny.A2], tiny_path)
    build(qtbot, qc)
    panel = qc.em_panel
    _wait_all(qtbot, qc)
    assert "no" in panel.status.text().lower() and "image" in panel.status.text().lower()
    assert str(int(qc.current_row()["synapse_id"])) in panel.status.text()
    assert not panel.retry_button.isHidden()
    assert find_layer(qc.session.viewer, "qc_em") is None
    assert qc.set_verdict("correct")  # the review goes on
    assert qc.review.counts()["correct"] == 1
    _wait_all(qtbot, qc)


def test_cutout_outside_the_volume_is_a_message(qtbot, qc, demo):
    tissue = _review(qtbot, qc, demo)
    assert tissue is not None
    wl = qc.review.worklist.copy()
    wl.attrs = dict(qc.review.worklist.attrs)
    wl.loc[1, "x"] = -5.0e6  # a synapse position off the volume (a bad table row)
    qc.review.set_worklist(wl, qc.review.dataset_name, qc.review.root, qc.review.materialization)
    qc.review.go_to(1)
    panel = qc.em_panel
    qtbot.waitUntil(lambda: "outside the volume" in panel.status.text(), timeout=60_000)
    assert "#ff6b6b" in panel.status.styleSheet()
    assert not find_layer(qc.session.viewer, "qc_em").visible
    qc.review.go_to(0)
    em_ready(qtbot, qc)  # the next synapse shows its EM again
    assert find_layer(qc.session.viewer, "qc_em").visible
    _wait_all(qtbot, qc)


def _reaped(pid: int) -> bool:
    """Whether process ``pid`` exited and was reaped (no zombie)."""
    from pathlib import Path

    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state not in ("R", "S", "D", "Z", "T", "t")


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used."""
    import os
    from pathlib import Path

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_the_demo_tissue_is_drawn_in_a_child_process_ended_with_the_dock(qtbot, qc, demo):
    import os

    _review(qtbot, qc, demo)
    panel = qc.em_panel
    pid = panel.renderer.pid
    assert pid is not None and pid != os.getpid() and panel.renderer.started == 1
    _wait_all(qtbot, qc)
    qc.cleanup()  # the dock closes: the child ends and is reaped at once
    assert panel.renderer.closed and panel.renderer.pid is None and _reaped(pid)


def test_a_renderer_crash_is_a_message_not_a_hang_and_the_em_comes_back(qtbot, qc, demo):
    import os
    import signal

    _review(qtbot, qc, demo)
    panel = qc.em_panel
    _wait_all(qtbot, qc)  # the child is idle
    pid = panel.renderer.pid
    idle = _cpu_s(pid)
    panel.set_size(4096, 7)  # seconds of drawing: the child is killed while it draws
    key = int(qc.current_row()["synapse_id"])
    qtbot.waitUntil(lambda: _cpu_s(pid) > idle + 0.3, timeout=60_000)  # it draws our request
    os.kill(pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: "stopped before answering" in panel.status.text(), timeout=60_000)
    assert str(key) in panel.status.text() and "#ff6b6b" in panel.status.styleSheet()
    assert not panel.retry_button.isHidden() and not find_layer(qc.session.viewer, "qc_em").visible
    assert _reaped(pid)
    assert qc.set_verdict("correct")  # the review goes on (to the next synapse)
    panel.set_size(WIDTH_NM, SECTIONS)  # back to a quick cutout: a new child draws it
    tissue = em_ready(qtbot, qc, timeout=240_000)
    assert tissue.synapse_id == int(qc.current_row()["synapse_id"])
    assert find_layer(qc.session.viewer, "qc_em").visible
    assert panel.renderer.started >= 2 and panel.renderer.pid not in (None, pid)
    _wait_all(qtbot, qc)


def test_closing_the_viewer_ends_the_renderer_process(qtbot, make_napari_viewer, qc_data_dir, demo):
    from qtpy.QtCore import QEvent
    from qtpy.QtWidgets import QApplication

    from napari_crant._qt.qc.dock import QCWidget

    viewer = make_napari_viewer(show=True)
    qc = QCWidget(viewer)
    viewer.window.add_dock_widget(qc, name="Synapse QC")
    _review(qtbot, qc, demo)
    _wait_all(qtbot, qc)
    renderer = qc.em_panel.renderer
    pid = renderer.pid
    assert pid is not None
    viewer.close()  # the dock is deleted, not closed

    def ended() -> bool:
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
        return renderer.closed

    qtbot.waitUntil(ended, timeout=30_000)
    assert renderer.pid is None and _reaped(pid)


def test_a_prefetched_step_in_2d_slices_the_em_once_at_the_synapse(qtbot, qc, demo):
    """The EM panel moves the z slider to the synapse with its new cutout in place: the EM and the
    segments are sliced once each (not at the old z and again at the new one), at the right section."""
    from napari_crant._qt.qc.em_layers import section_of

    viewer = qc.session.viewer
    _review(qtbot, qc, demo)
    panel = qc.em_panel
    z = qc.review.items["z"].to_numpy(np.float64)
    rows = qc.review.visible_rows()
    later = [int(r) for r in rows[rows > qc.review.current] if z[int(r)] != z[qc.review.current]]
    assert later
    target = later[0]
    qc.review.go_to(target - 1 if target - 1 > qc.review.current else qc.review.current)
    em_ready(qtbot, qc)
    wait(qtbot, qc)
    nxt = int(qc.review.items.iloc[target]["synapse_id"])
    qc.review.go_to(target)  # fetches it; then back one and forward again, prefetched
    tissue = em_ready(qtbot, qc)
    assert tissue.synapse_id == nxt
    qc.review.step(-1)
    em_ready(qtbot, qc)
    wait(qtbot, qc)
    qtbot.waitUntil(lambda: panel.prefetch.status(nxt) == "ready", timeout=240_000)
    em, seg = find_layer(viewer, "qc_em"), find_layer(viewer, "qc_segments")
    counts = count_slices([em, seg])
    # vispy's transform of each EM layer is rebuilt once (by the slice, not also by the translate)
    # and the layer list's thumbnails are drawn after the step, not in it
    visuals = viewer.window._qt_viewer.canvas.layer_to_visual
    transforms = _count_calls([visuals[em], visuals[seg]], "_on_matrix_change")
    thumbnails = _count_calls([em, seg], "_update_thumbnail")
    qc.review.go_to(target)
    assert panel.shown is not None and panel.shown.synapse_id == nxt
    assert counts == {em.name: 1, seg.name: 1}
    assert transforms == {id(visuals[em]): 1, id(visuals[seg]): 1}
    assert thumbnails == {}
    qtbot.waitUntil(lambda: thumbnails == {id(em): 1, id(seg): 1}, timeout=30_000)
    shown = np.array(em.thumbnail, copy=True)
    em._update_thumbnail()  # the one drawn later is that of the slice shown
    np.testing.assert_array_equal(shown, em.thumbnail)
    assert viewer.dims.point[0] == pytest.approx(z[target], abs=1.0)
    section = section_of(panel.shown, z[target])
    np.testing.assert_array_equal(np.asarray(em._slice.image.raw), np.asarray(panel.shown.em.data)[section])
    np.testing.assert_array_equal(np.asarray(seg._slice.image.raw), np.asarray(panel.shown.outline)[section])
    _wait_all(qtbot, qc)
