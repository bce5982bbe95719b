"""The synapse QC dock driven as a reviewer would: keys on the canvas, verdicts in the DB, diffs."""

import collections
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from qtpy.QtCore import Qt

import tiny
from napari_crant._qt.qc_state import qc_state, with_qc_weights
from napari_crant._qt.session import find_layer, get_session
from napari_crant.qc.verdicts import VerdictStore
from napari_crant.view.loading import load_neurons, run_to_end

WORKLIST_A2 = [4, 2, 1, 9, 11, 10, 12, 5, 3]


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_CRANT_DATA_DIR", str(tmp_path / "data"))


def _load(viewer, ids, dataset, **kw):
    session = get_session(viewer)
    session.params.dataset = dataset
    for k, v in kw.items():
        setattr(session.params, k, v)
    session.add(run_to_end(load_neurons(ids, **session.params.load_kwargs())))
    return session


@pytest.fixture
def qc(qtbot, make_napari_viewer):
    from napari_crant._qt.qc_widget import QCWidget

    viewer = make_napari_viewer(show=True)
    w = QCWidget(viewer)
    viewer.window.add_dock_widget(w, name="Synapse QC")
    yield w
    qtbot.waitUntil(lambda: not w.workers, timeout=30_000)
    w.cleanup()


def _build(qtbot, qc, fragment_l2=2):
    qc.fragment_l2.setValue(fragment_l2)
    worker = qc.build()
    assert worker is not None
    _wait(qtbot, qc)
    qtbot.waitUntil(lambda: not qc.items.empty, timeout=5000)


def _wait(qtbot, qc, timeout=30_000):
    """Wait until the widget's workers are done (their finished signal may precede a waitSignal)."""
    qtbot.waitUntil(lambda: not qc.workers, timeout=timeout)


def _canvas(qc):
    return qc.session.viewer.window._qt_viewer.canvas.native


def _camera(viewer):
    return viewer.scene.camera


def keymap(viewer, key):
    from napari.utils.key_bindings import coerce_keybinding

    return viewer.keymap.get(coerce_keybinding(key))


def _store():
    return VerdictStore()


def test_review_with_keys_on_the_canvas(qtbot, qc, tiny_path):
    viewer = qc.session.viewer
    _load(viewer, [tiny.A2], tiny_path)
    assert qc.neuron.currentData() == str(tiny.A2)
    _build(qtbot, qc)
    # worklist order: likely errors first, each with its reason
    assert qc.items["synapse_id"].tolist() == [tiny.synapse_id(k) for k in WORKLIST_A2]
    assert qc.model.frame["reason"].iloc[0].startswith("farther than 2,000 nm")
    assert "synapse 9000000000004" in qc.info.text() and "farther than" in qc.info.text()
    # the camera is on the first synapse, in (z, y, x) nm; in 2D: (y, x) and the z slider
    row = qc.items.iloc[0]
    np.testing.assert_allclose(_camera(viewer).center[-2:], (row["y"], row["x"]))
    assert viewer.dims.point[0] == row["z"]
    viewer.dims.ndisplay = 3
    qc.go_to(0)
    np.testing.assert_allclose(_camera(viewer).center, (row["z"], row["y"], row["x"]))
    current = find_layer(viewer, "qc_current")
    np.testing.assert_allclose(current.data, [[row["z"], row["y"], row["x"]]])

    # keys on the canvas, with a Points layer selected (napari's '1' would delete points)
    pre = find_layer(viewer, "pre")
    viewer.layers.selection.active = pre
    pre.selected_data = {0}
    n_pre = len(pre.data)
    canvas = _canvas(qc)
    canvas.setFocus()
    qc.reviewer.setText("ana")
    qtbot.keyClick(canvas, Qt.Key.Key_1)  # 4 correct -> 2
    qc.note.setText("two T-bars")
    qtbot.keyClick(canvas, Qt.Key.Key_2)  # 2 false positive -> 1
    qtbot.keyClick(canvas, Qt.Key.Key_N)  # skip 1 -> 9
    qtbot.keyClick(canvas, Qt.Key.Key_3)  # 9 wrong partner -> 11
    qtbot.keyClick(canvas, Qt.Key.Key_P)  # back to 9
    qtbot.keyClick(canvas, Qt.Key.Key_P)  # 1
    qtbot.keyClick(canvas, Qt.Key.Key_4)  # 1 unsure -> 9
    assert len(pre.data) == n_pre  # nothing deleted
    stored = _store().verdicts("tiny")
    got = {int(s) - int(tiny.SYN_BASE): v
           for s, v in zip(stored["synapse_id"], stored["verdict"], strict=True)}
    assert got == {4: "correct", 2: "false_positive", 9: "wrong_partner", 1: "unsure"}
    assert set(stored["reviewer"]) == {"ana"}
    assert stored.loc[stored["synapse_id"] == tiny.synapse_id(2), "note"].item() == "two T-bars"
    assert stored["reviewed_at"].notna().all()
    # the current synapse is 9; the camera follows
    assert int(qc.current_row()["synapse_id"]) == tiny.synapse_id(9)
    row = qc.current_row()
    np.testing.assert_allclose(_camera(viewer).center, (row["z"], row["y"], row["x"]))
    assert qc.progress.text().startswith(
        "reviewed 4 of 9 (1 correct, 1 false positive, 1 wrong partner, 1 unsure)")
    # verdict colours on the canvas
    layer = find_layer(viewer, "qc_verdicts")
    assert layer.name == "CRANT QC verdicts"
    feats = layer.features.set_index("synapse_id")
    assert feats.loc[str(tiny.synapse_id(2)), "verdict"] == "false_positive"
    assert feats.loc[str(tiny.synapse_id(3)), "verdict"] == "unreviewed"
    i2 = list(layer.features["synapse_id"]).index(str(tiny.synapse_id(2)))
    np.testing.assert_allclose(layer.face_color[i2], (0.95, 0.2, 0.2, 1.0))
    # u: unreviewed only
    qtbot.keyClick(canvas, Qt.Key.Key_U)
    assert qc.unreviewed_only.isChecked()
    assert qc.model.rowCount() == 5
    assert qc.current_row()["verdict"] is None
    # the partner table sees the rejected synapses (2 false positive, 9 wrong partner)
    qtbot.waitUntil(lambda: qc.state.rejected == {int(tiny.synapse_id(2)), int(tiny.synapse_id(9))},
                    timeout=5000)


def test_viewer_keymap_and_unbind_on_close(qtbot, make_napari_viewer, tiny_path):
    from napari_crant._qt.qc_widget import QCWidget

    viewer = make_napari_viewer(show=True)
    mine = []
    viewer.bind_key("N", lambda v: mine.append(1), overwrite=True)
    w = QCWidget(viewer)
    dock = viewer.window.add_dock_widget(w, name="Synapse QC")
    _load(viewer, [tiny.A2], tiny_path)
    _build(qtbot, w)
    keymap(viewer, "N")(viewer)  # scripted: the viewer keymap
    assert int(w.current_row()["synapse_id"]) == tiny.synapse_id(2)
    keymap(viewer, "1")(viewer)
    assert _store().verdicts("tiny")["verdict"].tolist() == ["correct"]
    # the dock itself: keys work when it has focus (not in the note field)
    w.table.setFocus()
    qtbot.keyClick(w.table, Qt.Key.Key_N)
    assert int(w.current_row()["synapse_id"]) == tiny.synapse_id(9)
    qtbot.waitUntil(lambda: not w.workers, timeout=30_000)
    viewer.window.remove_dock_widget(dock)  # what the dock's close button does
    assert keymap(viewer, "1") is None and keymap(viewer, "U") is None
    keymap(viewer, "N")(viewer)  # the earlier binding is back
    assert mine == [1]
    canvas = viewer.window._qt_viewer.canvas.native
    qtbot.keyClick(canvas, Qt.Key.Key_N)
    assert int(w.current_row()["synapse_id"]) == tiny.synapse_id(9)  # no longer reacts
    w.deleteLater()


def test_resume_sets_and_filters(qtbot, qc, tiny_path):
    store = _store()
    store.set_verdict("tiny", tiny.synapse_id(4), tiny.sv(3), tiny.sv(8), "correct", reviewer="bo")
    store.set_verdict("tiny", tiny.synapse_id(2), tiny.sv(1), tiny.sv(6), "false_positive")
    _load(qc.session.viewer, [tiny.A2], tiny_path)
    _build(qtbot, qc)
    # verdicts reloaded; resumes at the first unreviewed synapse
    assert int(qc.current_row()["synapse_id"]) == tiny.synapse_id(1)
    assert qc.progress.text().startswith("reviewed 2 of 9")
    assert "reviewed before" in qc.message.text()
    qc.review_set.setCurrentIndex(list(qc.review_set.itemData(i) for i in range(qc.review_set.count()))
                                  .index("post"))
    assert sorted(qc.items["synapse_id"].tolist()) == [tiny.synapse_id(11), tiny.synapse_id(12)]
    qc.review_set.setCurrentIndex(1)  # flagged only
    assert len(qc.items) == 6
    qc.review_set.setCurrentIndex(qc.review_set.findData("partner"))
    qc.partner.setCurrentIndex(qc.partner.findData(str(tiny.B2)))
    qc.apply_set()
    assert sorted(qc.items["synapse_id"].tolist()) == [tiny.synapse_id(k) for k in (1, 2, 3, 5, 12)]
    assert qc.partner.currentText().endswith(f"({tiny.B2}): 5 synapses")


def test_export_import_and_bad_import(qtbot, qc, tiny_path, tmp_path):
    _load(qc.session.viewer, [tiny.A2], tiny_path)
    _build(qtbot, qc)
    qc.set_verdict("correct")
    qc.set_verdict("unsure")
    out = tmp_path / "v.parquet"
    assert qc.export(out) and out.is_file()
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"a": [1]}).to_csv(bad, index=False)
    before = _store().verdicts()
    assert not qc.import_file(bad)
    msg = qc.message.text()
    assert "Nothing imported" in msg and "not a napari-crant verdict export" in msg
    pd.testing.assert_frame_equal(_store().verdicts(), before)
    # import into a fresh database: the verdicts show up in the open list
    os.environ["NAPARI_CRANT_DATA_DIR"] = str(tmp_path / "other")
    qc.store = VerdictStore()
    qc.worklist["verdict"] = None
    assert qc.import_file(out)
    assert qc.counts()["correct"] == 1 and qc.counts()["unsure"] == 1


def test_edit_watchdog_diff_and_update_in_place(qtbot, qc, tiny_path):
    viewer = qc.session.viewer
    # B0 as it was at version 2; it was split since (B0 -> B2 + X)
    _load(viewer, [tiny.B0], tiny_path, materialization=2, update_ids=False)
    assert list(qc.session.scene.neurons) == [int(tiny.B0)]
    qc.check_now()
    _wait(qtbot, qc)
    qtbot.waitUntil(lambda: qc.outdated == {int(tiny.B0): int(tiny.B2)}, timeout=5000)
    assert f"{tiny.B0} was edited; it is now {tiny.B2}" in qc.edit_status.text()
    assert qc.update_button.isEnabled()
    qc.show_edit_diff()
    _wait(qtbot, qc)
    layer = find_layer(viewer, "qc_diff")
    lost = layer.features[layer.features["status"] == "lost"]
    assert sorted(lost["synapse_id"]) == sorted(str(tiny.synapse_id(k)) for k in (4, 7))
    assert (layer.features["status"] == "gained").sum() == 0
    assert "0 synapses gained" in qc.diff_summary.text() and "2 lost" in qc.diff_summary.text()
    p = qc.diff_model.frame
    assert p["change"].tolist() == [-1, -1]
    # update in place: B0 is replaced by B2
    qc.update_in_place()
    _wait(qtbot, qc)
    qtbot.waitUntil(lambda: int(tiny.B2) in qc.session.scene.neurons, timeout=5000)
    assert list(qc.session.scene.neurons) == [int(tiny.B2)]
    assert set(find_layer(viewer, "skeletons").features["root_id"]) == {str(tiny.B2)}
    assert not qc.outdated and not qc.update_button.isEnabled()


def test_verdicts_follow_the_updated_id(qtbot, qc, tiny_path):
    viewer = qc.session.viewer
    _load(viewer, [tiny.B0], tiny_path, materialization=2, update_ids=False)
    _build(qtbot, qc)
    assert qc.root == int(tiny.B0)
    qc.go_to(int(np.flatnonzero(qc.items["synapse_id"].to_numpy(np.uint64) == tiny.synapse_id(6))[0]))
    qc.set_verdict("correct")
    qc.check_now()
    _wait(qtbot, qc)
    qtbot.waitUntil(lambda: bool(qc.outdated), timeout=5000)
    qc.update_in_place()
    _wait(qtbot, qc)
    # the review list is rebuilt for B2 and synapse 6's verdict reappears
    qtbot.waitUntil(lambda: qc.root == int(tiny.B2) and not qc.items.empty, timeout=30_000)
    v = qc.worklist.set_index("synapse_id").loc[tiny.synapse_id(6), "verdict"]
    assert v == "correct"


def test_version_diff(qtbot, qc, tiny_path):
    _load(qc.session.viewer, [tiny.B2], tiny_path)
    qc.version_a.setText("2")
    qc.version_b.setText("live")
    qc.compare_versions()
    _wait(qtbot, qc)
    df = qc.version_model.frame
    rows = list(zip(df["direction"], df["partner_id"].tolist(), df["weight_a"], df["weight_b"], strict=True))
    assert rows == [("downstream", tiny.CD, 2, 1), ("upstream", tiny.A2, 5, 4), ("downstream", tiny.A2, 1, 1)]
    assert "2 of 3 partner weights differ" in qc.version_summary.text()


def test_bad_neuron_and_no_list_messages(qtbot, qc):
    assert qc.build() is None
    assert "Load a neuron first" in qc.message.text()
    assert not qc.set_verdict("correct")
    qc.do("next")
    assert "Build a review list first" in qc.message.text()


def test_worklist_of_a_demo_neuron_puts_planted_anomalies_first(qtbot, qc, tmp_path):
    from napari_crant.demo import TINY_NEURONS, build_demo_tables, make_demo
    from napari_crant.queries.common import open_query

    path = make_demo(tmp_path / "demo", n_neurons=TINY_NEURONS, seed=0)
    planted = json.loads((Path(path) / "manifest.json").read_text())["info"]["planted_anomalies"]
    ids = np.array([i for v in planted.values() for i in v], np.uint64)
    # the neuron touching the most planted synapses (at the latest version)
    s = build_demo_tables(TINY_NEURONS, seed=0).synapses.set_index("id").loc[ids]
    source, at = open_query(path, "latest")
    pre = source.roots_of_supervoxels(s["pre_pt_supervoxel_id"].to_numpy(np.uint64), at)
    post = source.roots_of_supervoxels(s["post_pt_supervoxel_id"].to_numpy(np.uint64), at)
    root = collections.Counter([int(r) for r in (*pre, *post) if r]).most_common(1)[0][0]
    _load(qc.session.viewer, [root], str(path))
    qc.neuron.setCurrentIndex(qc.neuron.findData(str(root)))
    _build(qtbot, qc, fragment_l2=40)
    wl = qc.items
    is_planted = np.isin(wl["synapse_id"].to_numpy(np.uint64), ids)
    assert is_planted.sum() >= 3 and is_planted[0]
    unflagged = np.flatnonzero(wl["n_flags"].to_numpy() == 0)
    assert np.flatnonzero(is_planted).max() < unflagged.min()  # every planted one before any clean one
    assert (wl.loc[is_planted, "reason"] != "").all()


def test_with_qc_weights():
    partners = pd.DataFrame({
        "neuron_id": np.array([1, 1], np.uint64), "direction": ["downstream", "upstream"],
        "partner_id": np.array([7, 7], np.uint64), "weight": np.array([3, 2], np.int64)})
    syn = pd.DataFrame({
        "root_id": np.array([1, 1, 1], np.uint64), "type": ["pre", "pre", "post"],
        "synapse_id": np.array([10, 11, 12], np.uint64), "partner_id": np.array([7, 7, 7], np.uint64)})
    out = with_qc_weights(partners, syn, {10, 12})
    assert out["weight_qc"].tolist() == [2, 1] and list(out.columns).index("weight_qc") == 4
    assert with_qc_weights(partners, syn, set())["weight_qc"].tolist() == [3, 2]


def test_qc_state_signal():
    class S:
        pass

    s = S()
    st = qc_state(s)
    assert qc_state(s) is st
    seen = []
    st.changed.connect(lambda: seen.append(1))
    st.update(5, "false_positive")
    st.update(5, "wrong_partner")
    st.update(5, "correct")
    assert seen == [1, 1] and st.rejected == set()


DOCS = os.environ.get("NAPARI_CRANT_DOCS_IMAGES")


@pytest.mark.skipif(not DOCS, reason="set NAPARI_CRANT_DOCS_IMAGES to write docs images")
def test_qc_screenshot(qtbot, make_napari_viewer, tmp_path):
    from imageio.v3 import imwrite

    from napari_crant._qt.qc_widget import QCWidget
    from napari_crant.demo import TINY_NEURONS, make_demo

    out = Path(DOCS)
    out.mkdir(parents=True, exist_ok=True)
    path = make_demo(tmp_path / "demo", n_neurons=TINY_NEURONS, seed=0)
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1600, 1000)
    w = QCWidget(viewer)
    viewer.window.add_dock_widget(w, name="Synapse QC", area="right")
    root = 576460753003423617
    _load(viewer, [root], str(path))
    _build(qtbot, w, fragment_l2=40)
    w.field_of_view.setValue(30_000)
    for v in ("correct", "false_positive", "correct", "wrong_partner", "unsure", "correct"):
        w.set_verdict(v)
    qtbot.waitUntil(lambda: not w.workers, timeout=30_000)
    qtbot.wait(500)
    imwrite(out / "qc-window.png", viewer.screenshot(canvas_only=False, flash=False))
    w.grab().save(str(out / "qc-widget.png"))


@pytest.mark.skipif(not DOCS, reason="set NAPARI_CRANT_DOCS_IMAGES to write docs images")
def test_qc_edits_screenshot(qtbot, qc, tiny_path):
    out = Path(DOCS)
    out.mkdir(parents=True, exist_ok=True)
    qc.session.viewer.window._qt_window.resize(1600, 1000)
    _load(qc.session.viewer, [tiny.B0], tiny_path, materialization=2, update_ids=False)
    qc.check_now()
    _wait(qtbot, qc)
    qc.show_edit_diff()
    _wait(qtbot, qc)
    qc.version_a.setText("2")
    qc.compare_versions()
    _wait(qtbot, qc)
    qc.tabs.setCurrentIndex(1)
    qtbot.wait(300)
    qc.grab().save(str(out / "qc-edits.png"))

def _partners_patched():
    from napari_crant._qt.partners import PartnerWidget

    return hasattr(PartnerWidget, "_on_qc_changed")


@pytest.mark.skipif(not _partners_patched(), reason="partners.py does not read the QC verdicts yet")
def test_partner_table_counts_only_synapses_not_marked_wrong(qtbot, qc, tiny_path):
    from napari_crant._qt.partners import PartnerWidget

    viewer = qc.session.viewer
    partners = PartnerWidget(viewer)
    viewer.window.add_dock_widget(partners, name="Partners")
    _load(viewer, [tiny.A2], tiny_path)
    _build(qtbot, qc)
    qc.go_to(1)  # synapse 2: A2 -> B2
    qc.set_verdict("false_positive")
    df = partners.model.frame
    row = df[(df["partner_id"].to_numpy(np.uint64) == tiny.B2) & (df["direction"] == "downstream")]
    assert int(row["weight_qc"].iloc[0]) == int(row["weight"].iloc[0]) - 1
    assert "after QC" in partners.summary.text()


def test_viewer_is_injectable():
    """napari injects the viewer by the parameter's (real, not string) annotation."""
    import inspect

    import napari

    from napari_crant._qt.qc_widget import QCWidget

    param = inspect.signature(QCWidget).parameters["napari_viewer"]
    assert param.annotation is napari.viewer.Viewer
