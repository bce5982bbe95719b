"""Telling neurons apart: the legend dock, hover texts and click-to-select on the canvas."""

from types import SimpleNamespace

import numpy as np
import pytest

import tiny
from conftest import run_load  # tests/qt/conftest.py
from napari_crant._qt.session import find_layer, get_session

A2, B2 = int(tiny.A2), int(tiny.B2)


@pytest.fixture
def loaded(qtbot, viewer, query):
    query.ids.value = f"{A2} {B2}"
    run_load(qtbot, query)
    assert list(get_session(viewer).scene.neurons) == [A2, B2]
    return get_session(viewer)


@pytest.fixture
def legend(qtbot, viewer):
    from napari_crant._qt.legend import SHOWN, SOLO, LegendWidget

    w = LegendWidget(viewer)
    viewer.window.add_dock_widget(w, name="Neuron legend")
    w.SHOWN, w.SOLO = SHOWN, SOLO
    return w


def _rows_of(layer, root):
    return layer.features["root_id"].to_numpy() == str(root)


def test_legend_lists_every_neuron(viewer, legend, loaded):
    from napari_crant._qt.legend import CELL_TYPE, ROOT, SWATCH

    assert legend.table.rowCount() == 2
    assert [legend.table.item(r, ROOT).text() for r in range(2)] == [str(A2), str(B2)]
    types = {A2: "", B2: ""} | dict(zip(loaded.scene.root_ids.tolist(),
                                        loaded.scene.cell_types(loaded.scene.root_ids), strict=True))
    assert legend.table.item(0, CELL_TYPE).text() == (types[A2] or "—")
    # the swatch is the skeleton's colour
    skeletons = find_layer(viewer, "skeletons")
    edge_color = skeletons.edge_color[np.flatnonzero(_rows_of(skeletons, B2))[0]]
    swatch = legend.table.item(1, SWATCH).background().color()
    assert np.allclose([swatch.redF(), swatch.greenF(), swatch.blueF()], edge_color[:3], atol=1 / 255)
    assert "2 neurons" in legend.summary.text()


def test_toggle_and_solo_change_what_is_drawn(qtbot, viewer, legend, loaded):
    from qtpy.QtCore import Qt

    skeletons, pre, post = (find_layer(viewer, k) for k in ("skeletons", "pre", "post"))
    a_edges, a_pre, a_post = _rows_of(skeletons, A2), _rows_of(pre, A2), _rows_of(post, A2)
    assert (a_pre.any() and (~a_pre).any()) or a_post.any()
    legend.table.item(legend.row_of(A2), legend.SHOWN).setCheckState(Qt.CheckState.Unchecked)
    assert not loaded.model.entry(A2).visible
    assert np.all(skeletons.edge_color[a_edges, 3] == 0) and np.all(skeletons.edge_color[~a_edges, 3] == 1)
    assert not pre.shown[a_pre].any() and pre.shown[~a_pre].all()
    assert not post.shown[a_post].any() and post.shown[~a_post].all()
    assert not find_layer(viewer, "somata").shown[_rows_of(find_layer(viewer, "somata"), A2)].any()
    # solo A2 (hidden, but solo shows only it), then end the solo: back to A2 hidden
    legend.table.item(legend.row_of(A2), legend.SOLO).setCheckState(Qt.CheckState.Checked)
    assert loaded.model.solo == A2
    assert pre.shown[a_pre].all() and not pre.shown[~a_pre].any()
    assert np.all(skeletons.edge_color[~a_edges, 3] == 0)
    legend.table.item(legend.row_of(A2), legend.SOLO).setCheckState(Qt.CheckState.Unchecked)
    assert loaded.model.solo is None and not pre.shown[a_pre].any() and pre.shown[~a_pre].all()
    legend.show_all_button.click()
    assert pre.shown.all() and np.all(skeletons.edge_color[:, 3] == 1)
    assert legend.table.item(legend.row_of(A2), legend.SHOWN).checkState() == Qt.CheckState.Checked


def _event(position, view_direction=None):
    return SimpleNamespace(position=tuple(float(x) for x in position), view_direction=view_direction,
                           type="mouse_move")


def test_hover_any_skeleton_or_synapse_whatever_layer_is_active(viewer, loaded):
    picker = loaded.picker
    pre = find_layer(viewer, "pre")
    skeletons = find_layer(viewer, "skeletons")
    viewer.layers.selection.active = skeletons  # not the synapse layer
    row = int(np.flatnonzero(_rows_of(pre, A2))[0])
    picker.on_mouse_move(viewer, _event(pre.data[row]))
    # the synapse napari picks there (overlapping points: the top one), named with its neuron and partner
    hit = pre.get_value(pre.data[row], dims_displayed=[1, 2], world=True)
    root, sid, partner = (int(pre.features[c].iloc[hit]) for c in ("root_id", "synapse_id", "partner_id"))
    assert picker.text.startswith(f"presynapse {sid}: {root} (")
    assert f"→ partner {partner} (" in picker.text  # cell types of both
    assert picker.text in str(viewer.status)
    # a skeleton node of B2 away from every synapse and soma
    viewer.layers.selection.active = find_layer(viewer, "post")
    b_edges = skeletons.data[_rows_of(skeletons, B2)]
    node = b_edges[0, 0]
    for kind in ("pre", "post", "somata"):
        find_layer(viewer, kind).visible = False
    picker.on_mouse_move(viewer, _event(node))
    assert picker.text == f"skeleton of {B2} ({loaded.model.entry(B2).cell_type})"
    assert picker.text in str(viewer.status)
    # far from everything: nothing
    picker.on_mouse_move(viewer, _event(node + np.array([0, 1e7, 1e7])))
    assert picker.text == ""
    # 3D: the same node picked along the view direction
    viewer.dims.ndisplay = 3
    direction = tuple(viewer.scene.camera.view_direction)
    far = node - 50_000 * np.asarray(direction)
    root, text = picker.pick(far, direction)
    assert root == B2 and text.startswith(f"skeleton of {B2}")


def test_click_selects_the_neuron_everywhere(qtbot, viewer, loaded, qc_data_dir):
    from napari_crant._qt.adjacency import AdjacencyWidget
    from napari_crant._qt.legend import LegendWidget
    from napari_crant._qt.partners import PartnerWidget
    from napari_crant._qt.qc.dock import QCWidget

    partners, adjacency, qc, legend = (cls(viewer) for cls in (PartnerWidget, AdjacencyWidget, QCWidget,
                                                                  LegendWidget))
    for name, w in (("Partners", partners), ("Adjacency", adjacency), ("QC", qc), ("Legend", legend)):
        viewer.window.add_dock_widget(w, name=name)
    qtbot.waitUntil(lambda: adjacency.data is not None and adjacency.data.values.size > 0, timeout=30_000)
    skeletons = find_layer(viewer, "skeletons")
    for kind in ("pre", "post", "somata"):
        find_layer(viewer, kind).visible = False
    node = skeletons.data[_rows_of(skeletons, B2)][0, 0]
    assert loaded.picker.click(node) == B2
    assert loaded.model.selected == B2
    assert partners.neuron.currentData() == str(B2)
    assert set(partners.frame()["neuron_id"].tolist()) == {B2}
    assert qc.review_panel.selected_root() == B2
    d = adjacency.data  # the heat map outlines the neuron's row (pre) and column (post)
    row = np.flatnonzero(np.asarray(d.row_keys, dtype=np.uint64) == B2)
    col = np.flatnonzero(np.asarray(d.col_keys, dtype=np.uint64) == B2)
    assert adjacency.canvas.marked == (int(row[0]) if len(row) else -1, int(col[0]) if len(col) else -1)
    assert adjacency.canvas.marked != (-1, -1)
    assert {i.row() for i in legend.table.selectedIndexes()} == {legend.row_of(B2)}
    # a click on empty canvas keeps the selection; a legend row selects too
    loaded.picker.click(node + np.array([0, 1e7, 1e7]))
    assert loaded.model.selected == B2
    legend.table.selectRow(legend.row_of(A2))
    assert loaded.model.selected == A2 and partners.neuron.currentData() == str(A2)
    qtbot.waitUntil(lambda: not qc.workers and adjacency.worker is None, timeout=30_000)
    qc.cleanup()


def test_synapse_colours_readable_at_the_fitted_view(viewer, loaded):
    from napari_crant.scene.colors import TYPE_COLORS
    from napari_crant.scene.layer_data import MAX_POINT_PIXELS, MIN_POINT_PIXELS

    for kind in ("pre", "post"):
        layer = find_layer(viewer, kind)
        # readable when far; zoomed in on the tissue a marker, not a disc of the synapse's nm size
        assert tuple(layer.canvas_size_limits) == (MIN_POINT_PIXELS, MAX_POINT_PIXELS)
        assert MAX_POINT_PIXELS <= 24
        assert np.allclose(layer.face_color, TYPE_COLORS[kind])


def test_cancel_keeps_the_neurons_loaded_so_far(qtbot, viewer, query, monkeypatch):
    """Cancel during the skeletons: the neurons fetched so far are drawn, with their synapses."""
    import time

    import napari_crant.queries.skeleton as skeleton

    real = skeleton.skeleton_with_soma  # what the load reads a skeleton with
    fetched = []

    def slow_after_first(source, root):  # the real skeleton, slower after the first
        if fetched:
            time.sleep(1.0)
        fetched.append(int(root))
        return real(source, root)

    monkeypatch.setattr(skeleton, "skeleton_with_soma", slow_after_first)
    query.ids.value = f"{A2} {B2} {int(tiny.C0)}"
    query.load_button.native.click()
    worker = query.worker
    qtbot.waitUntil(lambda: len(fetched) >= 1 and "skeleton of" in query.message.value, timeout=20_000)
    with qtbot.waitSignal(worker.finished, timeout=20_000):
        query.cancel_button.native.click()
    session = get_session(viewer)
    kept = list(session.scene.neurons)
    assert kept and A2 in kept and len(kept) < 3
    assert query.message.value.startswith(f"Cancelled: kept the {len(kept)} of 3 neurons")
    assert set(find_layer(viewer, "skeletons").features["root_id"]) == {str(r) for r in kept}
    pre = find_layer(viewer, "pre")
    assert len(pre.data) and set(pre.features["root_id"]) <= {str(r) for r in kept}
    assert [e.root_id for e in session.model.entries] == kept
    assert query.load_button.enabled


def test_stale_error_popups_are_closed_by_a_new_attempt(qtbot, make_napari_viewer, tiny_path, tmp_path):
    from napari._qt.dialogs.qt_notification import NapariQtNotification

    from napari_crant._qt.query_widget import ERROR_PREFIX, QueryWidget

    viewer = make_napari_viewer(show=True)  # pop-ups show only on a visible window
    w = QueryWidget(viewer)
    viewer.window.add_dock_widget(w, name="Query neurons")
    qtbot.waitUntil(lambda: not w.workers, timeout=60_000)

    canvas = viewer.window._qt_viewer.canvas.native

    def ours():  # this window's pop-ups from this dock (earlier tests' windows may leave theirs)
        found = []
        for p in NapariQtNotification._instances:
            try:
                if p.parent() is canvas and p.message.text().startswith(ERROR_PREFIX):
                    found.append(p)
            except RuntimeError:  # deleted with its window
                continue
        return found

    w.dataset.value = str(tmp_path / "missing")
    w.ids.value = str(A2)
    run_load(qtbot, w)
    qtbot.waitUntil(lambda: len(ours()) == 1, timeout=10_000)
    assert "unknown dataset" in ours()[0].message.text()
    w.dataset.value = tiny_path  # the next attempt succeeds: the stale pop-up goes
    run_load(qtbot, w)
    assert w.message.value.startswith("Loaded 1 neuron")
    qtbot.waitUntil(lambda: not ours(), timeout=10_000)
    qtbot.waitUntil(lambda: not w.workers, timeout=30_000)


def test_dock_warms_up_in_the_background(qtbot, make_napari_viewer, tiny_path):
    from napari_crant import datasets
    from napari_crant._qt.query_widget import QueryWidget
    from napari_crant.scene import loading

    datasets.set_default_dataset(tiny_path)
    loading._ANNOTATION_CACHE.clear()
    viewer = make_napari_viewer()
    w = QueryWidget(viewer)  # the warm-up starts with the dock
    # the worker may return before a signal spy could connect: wait for what the dock recorded
    qtbot.waitUntil(lambda: w.warm_up_result is not None, timeout=60_000)
    assert w.warm_up_result == f"imports, dataset {tiny_path}"
    assert len(loading._ANNOTATION_CACHE) == 1  # the first load will not read the annotations again
    qtbot.waitUntil(lambda: not w.workers, timeout=30_000)
