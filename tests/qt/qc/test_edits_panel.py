"""The QC dock's Edits tab: the watchdog, edit diffs, update in place, version diffs."""

import os
from pathlib import Path

import numpy as np
import pytest
from qc_helpers import build, load, wait

import tiny
from napari_crant._qt.session import find_layer


def test_edit_watchdog_diff_and_update_in_place(qtbot, qc, tiny_path):
    viewer = qc.session.viewer
    edits = qc.edits_panel
    # B0 as it was at version 2; it was split since (B0 -> B2 + X)
    load(viewer, [tiny.B0], tiny_path, materialization=2, update_ids=False)
    assert list(qc.session.scene.neurons) == [int(tiny.B0)]
    qc.check_now()
    wait(qtbot, qc)
    qtbot.waitUntil(lambda: edits.outdated == {int(tiny.B0): int(tiny.B2)}, timeout=5000)
    assert f"{tiny.B0} was edited; it is now {tiny.B2}" in edits.edit_status.text()
    assert edits.update_button.isEnabled()
    worker = edits.show_edit_diff()
    # no napari progress bar (its animated indicator repaints the whole window): the dock says it
    assert getattr(worker, "pbar", None) is None and "Comparing" in edits.diff_summary.text()
    wait(qtbot, qc)
    layer = find_layer(viewer, "qc_diff")
    lost = layer.features[layer.features["status"] == "lost"]
    assert sorted(lost["synapse_id"]) == sorted(str(tiny.synapse_id(k)) for k in (4, 7))
    assert (layer.features["status"] == "gained").sum() == 0
    assert "0 synapses gained" in edits.diff_summary.text() and "2 lost" in edits.diff_summary.text()
    assert edits.diff_model.frame["change"].tolist() == [-1, -1]
    # update in place: B0 is replaced by B2
    worker = edits.update_in_place()
    assert getattr(worker, "pbar", None) is None and "Loading" in edits.edit_status.text()
    wait(qtbot, qc)
    qtbot.waitUntil(lambda: int(tiny.B2) in qc.session.scene.neurons, timeout=5000)
    assert list(qc.session.scene.neurons) == [int(tiny.B2)]
    assert set(find_layer(viewer, "skeletons").features["root_id"]) == {str(tiny.B2)}
    assert not edits.outdated and not edits.update_button.isEnabled()


def test_nothing_to_act_on(qtbot, qc):
    assert qc.check_now() is None
    assert qc.edits_panel.edit_status.text() == "No neurons loaded."
    assert qc.edits_panel.update_in_place() is None
    assert "No edited neuron to act on" in qc.message.text()
    assert qc.edits_panel.compare_versions() is None
    assert qc.edits_panel.version_summary.text() == "Load a neuron first."


def test_verdicts_follow_the_updated_id(qtbot, qc, tiny_path):
    load(qc.session.viewer, [tiny.B0], tiny_path, materialization=2, update_ids=False)
    build(qtbot, qc)
    assert qc.review.root == int(tiny.B0)
    ids = qc.review.items["synapse_id"].to_numpy(np.uint64)
    qc.review.go_to(int(np.flatnonzero(ids == tiny.synapse_id(6))[0]))
    qc.set_verdict("correct")
    qc.check_now()
    wait(qtbot, qc)
    qtbot.waitUntil(lambda: bool(qc.edits_panel.outdated), timeout=5000)
    qc.edits_panel.update_in_place()
    wait(qtbot, qc)
    # the review list is rebuilt for B2 and synapse 6's verdict reappears
    qtbot.waitUntil(lambda: qc.review.root == int(tiny.B2) and not qc.review.items.empty, timeout=30_000)
    assert "Rebuilding its review list" in qc.edits_panel.edit_status.text()
    v = qc.review.worklist.set_index("synapse_id").loc[tiny.synapse_id(6), "verdict"]
    assert v == "correct"


def test_version_diff(qtbot, qc, tiny_path):
    load(qc.session.viewer, [tiny.B2], tiny_path)
    edits = qc.edits_panel
    edits.version_a.setText("2")
    edits.version_b.setText("live")
    worker = edits.compare_versions()
    assert getattr(worker, "pbar", None) is None and "Comparing" in edits.version_summary.text()
    wait(qtbot, qc)
    df = edits.version_model.frame
    rows = list(zip(df["direction"], df["partner_id"].tolist(), df["weight_a"], df["weight_b"], strict=True))
    assert rows == [("downstream", tiny.CD, 2, 1), ("upstream", tiny.A2, 5, 4), ("downstream", tiny.A2, 1, 1)]
    assert "2 of 3 partner weights differ" in edits.version_summary.text()


DOCS = os.environ.get("NAPARI_CRANT_DOCS_IMAGES")


@pytest.mark.skipif(not DOCS, reason="set NAPARI_CRANT_DOCS_IMAGES to write docs images")
def test_qc_edits_screenshot(qtbot, qc, tiny_path):
    out = Path(DOCS)
    out.mkdir(parents=True, exist_ok=True)
    qc.session.viewer.window._qt_window.resize(1600, 1000)
    load(qc.session.viewer, [tiny.B0], tiny_path, materialization=2, update_ids=False)
    qc.check_now()
    wait(qtbot, qc)
    qc.edits_panel.show_edit_diff()
    wait(qtbot, qc)
    qc.edits_panel.version_a.setText("2")
    qc.edits_panel.compare_versions()
    wait(qtbot, qc)
    qc.tabs.setCurrentIndex(1)
    qtbot.wait(300)
    qc.grab().save(str(out / "qc-edits.png"))
