"""The review keys driven as a reviewer would: on the canvas, in the dock, on the viewer keymap."""

import numpy as np
from qc_helpers import WORKLIST_A2, build, canvas, keymap, load, store
from qtpy.QtCore import Qt

import tiny
from napari_crant._qt.qc.ring import ring_position
from napari_crant._qt.session import find_layer


def _shown(qc) -> int:
    return int(qc.current_row()["synapse_id"]) - int(tiny.SYN_BASE)


def test_review_with_keys_on_the_canvas(qtbot, qc, tiny_path):
    viewer = qc.session.viewer
    panel = qc.review_panel
    load(viewer, [tiny.A2], tiny_path)
    assert panel.neuron.currentData() == str(tiny.A2)
    build(qtbot, qc)
    # worklist order: likely errors first, each with its reason
    assert qc.review.items["synapse_id"].tolist() == [tiny.synapse_id(k) for k in WORKLIST_A2]
    assert panel.model.text(0, "reason").startswith("farther than 2,000 nm")
    assert panel.model.text(0, "synapse_id") == str(tiny.synapse_id(4))
    info = panel.info.text()
    assert "synapse 9000000000004" in info and "(1 of 9 shown)" in info and "farther than" in info
    # the camera is on the first synapse, in (z, y, x) nm; in 2D: (y, x) and the z slider
    row = qc.review.items.iloc[0]
    np.testing.assert_allclose(viewer.scene.camera.center[-2:], (row["y"], row["x"]))
    assert viewer.dims.point[0] == row["z"]
    viewer.dims.ndisplay = 3
    qc.review.go_to(0)
    np.testing.assert_allclose(viewer.scene.camera.center, (row["z"], row["y"], row["x"]))
    current = find_layer(viewer, "qc_current")
    np.testing.assert_allclose(ring_position(current), [row["z"], row["y"], row["x"]])

    # keys on the canvas, with a Points layer selected (napari's '1' would delete points)
    pre = find_layer(viewer, "pre")
    viewer.layers.selection.active = pre
    pre.selected_data = {0}
    n_pre = len(pre.data)
    c = canvas(qc)
    c.setFocus()
    panel.reviewer.setText("ana")
    qtbot.keyClick(c, Qt.Key.Key_1)  # 4 correct -> 2
    panel.note.setText("two T-bars")
    qtbot.keyClick(c, Qt.Key.Key_2)  # 2 false positive -> 1
    qtbot.keyClick(c, Qt.Key.Key_N)  # skip 1 -> 9
    qtbot.keyClick(c, Qt.Key.Key_3)  # 9 wrong partner -> 11
    qtbot.keyClick(c, Qt.Key.Key_P)  # back to 9
    qtbot.keyClick(c, Qt.Key.Key_P)  # 1
    qtbot.keyClick(c, Qt.Key.Key_4)  # 1 unsure -> 9
    assert len(pre.data) == n_pre  # nothing deleted
    stored = store().verdicts("tiny")
    got = {int(s) - int(tiny.SYN_BASE): v
           for s, v in zip(stored["synapse_id"], stored["verdict"], strict=True)}
    assert got == {4: "correct", 2: "false_positive", 9: "wrong_partner", 1: "unsure"}
    assert set(stored["reviewer"]) == {"ana"}
    assert stored.loc[stored["synapse_id"] == tiny.synapse_id(2), "note"].item() == "two T-bars"
    assert stored["reviewed_at"].notna().all()
    # the current synapse is 9; the camera follows
    assert _shown(qc) == 9
    row = qc.current_row()
    np.testing.assert_allclose(viewer.scene.camera.center, (row["z"], row["y"], row["x"]))
    assert panel.progress.text().startswith(
        "reviewed 4 of 9 (1 correct, 1 false positive, 1 wrong partner, 1 unsure)")
    assert panel.model.text(1, "verdict") == "false_positive"
    # verdict colours on the canvas
    layer = find_layer(viewer, "qc_verdicts")
    assert layer.name == "CRANT QC verdicts"
    feats = layer.features.set_index("synapse_id")
    assert feats.loc[str(tiny.synapse_id(2)), "verdict"] == "false_positive"
    assert feats.loc[str(tiny.synapse_id(3)), "verdict"] == "unreviewed"
    i2 = list(layer.features["synapse_id"]).index(str(tiny.synapse_id(2)))
    np.testing.assert_allclose(layer.face_color[i2], (0.95, 0.2, 0.2, 1.0))
    # u: unreviewed only
    qtbot.keyClick(c, Qt.Key.Key_U)
    assert panel.unreviewed_only.isChecked()
    assert panel.model.rowCount() == 5
    assert qc.current_row()["verdict"] is None
    # the partner table sees the rejected synapses (2 false positive, 9 wrong partner)
    qtbot.waitUntil(lambda: qc.state.rejected == {int(tiny.synapse_id(2)), int(tiny.synapse_id(9))},
                    timeout=5000)


def test_undo_and_clear_keys(qtbot, qc, tiny_path):
    viewer = qc.session.viewer
    load(viewer, [tiny.A2], tiny_path)
    build(qtbot, qc)
    c = canvas(qc)
    c.setFocus()
    qtbot.keyClick(c, Qt.Key.Key_2)  # 4 false positive -> 2
    qtbot.keyClick(c, Qt.Key.Key_3)  # 2 wrong partner -> 1
    assert _shown(qc) == 1
    qtbot.waitUntil(lambda: qc.state.rejected == {int(tiny.synapse_id(4)), int(tiny.synapse_id(2))},
                    timeout=5000)
    qtbot.keyClick(c, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo: 2 unreviewed, shown
    assert _shown(qc) == 2 and qc.current_row()["verdict"] is None
    assert "Undone: synapse 9000000000002" in qc.message.text()
    assert qc.state.rejected == {int(tiny.synapse_id(4))}
    layer = find_layer(viewer, "qc_verdicts")
    np.testing.assert_allclose(layer.face_color[1], (0.65, 0.65, 0.65, 0.6))
    qtbot.keyClick(c, Qt.Key.Key_P)  # back to 4
    qtbot.keyClick(c, Qt.Key.Key_C)  # clear 4: unreviewed, stays there
    assert _shown(qc) == 4 and qc.current_row()["verdict"] is None
    assert qc.review_panel.model.text(0, "verdict") == ""
    assert store().verdicts("tiny").empty and qc.state.rejected == set()
    assert "not reviewed" in qc.review_panel.info.text()
    qtbot.keyClick(c, Qt.Key.Key_Z)  # undo the clear: 4 false positive again
    assert store().verdicts("tiny")["verdict"].tolist() == ["false_positive"]
    assert qc.review_panel.model.text(0, "verdict") == "false_positive"
    qtbot.keyClick(c, Qt.Key.Key_Z)
    qtbot.keyClick(c, Qt.Key.Key_Z)  # nothing left to undo: said, nothing changes
    assert "Nothing undone: nothing to undo" in qc.message.text()
    assert store().verdicts("tiny").empty
    assert store().history()["change"].tolist() == ["set", "set", "undo", "cleared", "undo", "undo"]
    # the buttons do the same
    qc.review_panel.verdict_buttons["unsure"].click()
    qc.review_panel.undo_button.click()
    assert store().verdicts("tiny").empty
    qc.review_panel.clear_button.click()
    assert "Nothing cleared" in qc.message.text() and "has no verdict to clear" in qc.message.text()


def test_viewer_keymap_and_unbind_on_close(qtbot, make_napari_viewer, tiny_path, qc_data_dir):
    from napari_crant._qt.qc.dock import QCWidget

    viewer = make_napari_viewer(show=True)
    mine = []
    viewer.bind_key("N", lambda v: mine.append(1), overwrite=True)
    w = QCWidget(viewer)
    dock = viewer.window.add_dock_widget(w, name="Synapse QC")
    load(viewer, [tiny.A2], tiny_path)
    build(qtbot, w)
    keymap(viewer, "N")(viewer)  # scripted: the viewer keymap
    assert _shown(w) == 2
    keymap(viewer, "1")(viewer)
    assert store().verdicts("tiny")["verdict"].tolist() == ["correct"]
    keymap(viewer, "Control-Z")(viewer)
    assert store().verdicts("tiny").empty and _shown(w) == 2
    keymap(viewer, "1")(viewer)
    # the dock itself: keys work when it has focus (not in the note field)
    w.review_panel.table.setFocus()
    qtbot.keyClick(w.review_panel.table, Qt.Key.Key_N)
    assert _shown(w) == 9
    qtbot.keyClick(w.review_panel.note, Qt.Key.Key_Z)  # typing a note: no undo
    assert store().verdicts("tiny")["verdict"].tolist() == ["correct"]
    qtbot.waitUntil(lambda: not w.workers, timeout=30_000)
    viewer.window.remove_dock_widget(dock)  # what the dock's close button does
    assert keymap(viewer, "1") is None and keymap(viewer, "U") is None and keymap(viewer, "Z") is None
    keymap(viewer, "N")(viewer)  # the earlier binding is back
    assert mine == [1]
    qtbot.keyClick(viewer.window._qt_viewer.canvas.native, Qt.Key.Key_N)
    assert _shown(w) == 9  # no longer reacts
    w.deleteLater()
