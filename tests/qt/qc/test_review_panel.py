"""The QC dock's Review tab: sets, resuming, the review list, export and import, messages."""

import collections
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from qc_helpers import build, load, store

import tiny
from napari_crant._qt.session import find_layer


def test_resume_sets_and_filters(qtbot, qc, tiny_path):
    panel = qc.review_panel
    db = store()
    db.set_verdict("tiny", tiny.synapse_id(4), tiny.sv(3), tiny.sv(8), "correct", reviewer="bo")
    db.set_verdict("tiny", tiny.synapse_id(2), tiny.sv(1), tiny.sv(6), "false_positive")
    load(qc.session.viewer, [tiny.A2], tiny_path)
    build(qtbot, qc)
    # verdicts reloaded; resumes at the first unreviewed synapse
    assert int(qc.current_row()["synapse_id"]) == tiny.synapse_id(1)
    assert panel.progress.text().startswith("reviewed 2 of 9")
    assert "reviewed before" in qc.message.text()
    panel.review_set.setCurrentIndex(panel.review_set.findData("post"))
    assert sorted(qc.review.items["synapse_id"].tolist()) == [tiny.synapse_id(11), tiny.synapse_id(12)]
    panel.review_set.setCurrentIndex(1)  # flagged only
    assert len(qc.review.items) == 6
    panel.review_set.setCurrentIndex(panel.review_set.findData("partner"))
    panel.partner.setCurrentIndex(panel.partner.findData(str(tiny.B2)))
    panel.apply_set()
    assert sorted(qc.review.items["synapse_id"].tolist()) == [tiny.synapse_id(k) for k in (1, 2, 3, 5, 12)]
    assert panel.partner.currentText().endswith(f"({tiny.B2}): 5 synapses")


def test_export_import_and_bad_import(qtbot, qc, tiny_path, tmp_path):
    load(qc.session.viewer, [tiny.A2], tiny_path)
    build(qtbot, qc)
    qc.set_verdict("correct")
    qc.set_verdict("unsure")
    out = tmp_path / "v.parquet"
    assert qc.export(out) and out.is_file()
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"a": [1]}).to_csv(bad, index=False)
    before = store().verdicts()
    assert not qc.import_file(bad)
    msg = qc.message.text()
    assert "Nothing imported" in msg and "not a napari-crant verdict export" in msg
    pd.testing.assert_frame_equal(store().verdicts(), before)
    # import into a fresh database: the verdicts show up in the open list
    os.environ["NAPARI_CRANT_DATA_DIR"] = str(tmp_path / "other")
    qc.review.store = store()
    qc.review.worklist["verdict"] = None
    assert qc.import_file(out)
    assert qc.review.counts()["correct"] == 1 and qc.review.counts()["unsure"] == 1


def test_a_verdict_updates_one_row_and_one_point(qtbot, qc, tiny_path):
    """Verdicts and steps never reset the list, re-size its columns or rebuild the verdict layer."""
    load(qc.session.viewer, [tiny.A2], tiny_path)
    build(qtbot, qc)
    panel = qc.review_panel
    seen = collections.Counter()
    changed = []
    panel.model.modelReset.connect(lambda: seen.update(["reset"]))
    panel.model.dataChanged.connect(lambda a, b, *_: changed.append((a.row(), b.row())))
    panel.model.rowsRemoved.connect(lambda _p, a, b: seen.update([("removed", a, b)]))
    panel.model.rowsInserted.connect(lambda _p, a, b: seen.update([("inserted", a, b)]))
    panel.table.resizeColumnsToContents = lambda: seen.update(["resize"])
    layer = find_layer(qc.session.viewer, "qc_verdicts")
    layer.events.data.connect(lambda _e: seen.update(["layer data"]))
    recoloured = []
    layer.events.face_color.connect(lambda _e: recoloured.append(1))
    widths = [panel.table.columnWidth(i) for i in range(panel.model.columnCount())]
    qc.set_verdict("correct")  # 4
    qc.do("next")
    qc.set_verdict("unsure")  # 1
    assert changed == [(0, 0), (2, 2)] and not seen
    assert not recoloured  # no colour event: each verdict sends its one vertex (test_verdict_points.py)
    assert [panel.table.columnWidth(i) for i in range(panel.model.columnCount())] == widths
    assert panel.model.text(2, "verdict") == "unsure" and panel.model.text(2, "#") == "3"
    np.testing.assert_allclose(layer.face_color[2], (0.7, 0.45, 1.0, 1.0))
    assert layer.features["verdict"].tolist()[:3] == ["correct", "unreviewed", "unsure"]
    # unreviewed only: one reset for the new filter; a verdict then removes its row, undo puts it back
    qc.do("toggle_unreviewed")
    assert seen == {"reset": 1} and panel.model.rowCount() == 7
    assert int(qc.current_row()["synapse_id"]) == tiny.synapse_id(9)
    qc.set_verdict("correct")  # 9: shown row 1 (2, 9, 11, ...)
    assert seen[("removed", 1, 1)] == 1 and panel.model.rowCount() == 6
    qc.do("undo")
    assert seen[("inserted", 1, 1)] == 1 and panel.model.rowCount() == 7
    assert panel.model.text(1, "synapse_id") == str(tiny.synapse_id(9))
    assert seen["reset"] == 1 and not seen["resize"] and not seen["layer data"]


def test_bad_neuron_and_no_list_messages(qtbot, qc):
    assert qc.build() is None
    assert "Load a neuron first" in qc.message.text()
    assert not qc.set_verdict("correct")
    assert qc.message.text() == "No synapse selected: build a review list first."
    qc.do("undo")
    assert qc.message.text() == "Nothing undone: nothing to undo."
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
    load(qc.session.viewer, [root], str(path))
    qc.review_panel.neuron.setCurrentIndex(qc.review_panel.neuron.findData(str(root)))
    build(qtbot, qc, fragment_l2=40)
    wl = qc.review.items
    is_planted = np.isin(wl["synapse_id"].to_numpy(np.uint64), ids)
    # first: a planted anomaly, or the original of a planted duplicate (the pair is the anomaly)
    assert is_planted.sum() >= 3 and (is_planted[0] or (
        wl["flags"].iloc[0] == ("near_duplicate",) and is_planted[1]))
    unflagged = np.flatnonzero(wl["n_flags"].to_numpy() == 0)
    assert np.flatnonzero(is_planted).max() < unflagged.min()  # every planted one before any clean one
    assert (wl.loc[is_planted, "reason"] != "").all()


DOCS = os.environ.get("NAPARI_CRANT_DOCS_IMAGES")


@pytest.mark.skipif(not DOCS, reason="set NAPARI_CRANT_DOCS_IMAGES to write docs images")
def test_qc_screenshot(qtbot, make_napari_viewer, tmp_path, qc_data_dir):
    from imageio.v3 import imwrite

    from napari_crant._qt.qc.dock import QCWidget
    from napari_crant.demo import TINY_NEURONS, make_demo

    out = Path(DOCS)
    out.mkdir(parents=True, exist_ok=True)
    path = make_demo(tmp_path / "demo", n_neurons=TINY_NEURONS, seed=0)
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1600, 1000)
    w = QCWidget(viewer)
    viewer.window.add_dock_widget(w, name="Synapse QC", area="right")
    root = 576460753003423617
    load(viewer, [root], str(path))
    build(qtbot, w, fragment_l2=40)
    w.review_panel.field_of_view.setValue(30_000)
    for v in ("correct", "false_positive", "correct", "wrong_partner", "unsure", "correct"):
        w.set_verdict(v)
    qtbot.waitUntil(lambda: not w.workers, timeout=30_000)
    qtbot.wait(500)
    imwrite(out / "qc-window.png", viewer.screenshot(canvas_only=False, flash=False))
    w.grab().save(str(out / "qc-widget.png"))


def _partners_patched():
    from napari_crant._qt.partners import PartnerWidget

    return hasattr(PartnerWidget, "_on_qc_changed")


@pytest.mark.skipif(not _partners_patched(), reason="partners.py does not read the QC verdicts yet")
def test_partner_table_counts_only_synapses_not_marked_wrong(qtbot, qc, tiny_path):
    from napari_crant._qt.partners import PartnerWidget

    viewer = qc.session.viewer
    partners = PartnerWidget(viewer)
    viewer.window.add_dock_widget(partners, name="Partners")
    load(viewer, [tiny.A2], tiny_path)
    build(qtbot, qc)
    qc.review.go_to(1)  # synapse 2: A2 -> B2
    qc.set_verdict("false_positive")
    df = partners.model.frame
    row = df[(df["partner_id"].to_numpy(np.uint64) == tiny.B2) & (df["direction"] == "downstream")]
    assert int(row["weight_qc"].iloc[0]) == int(row["weight"].iloc[0]) - 1
    assert "after QC" in partners.summary.text()


def test_viewer_is_injectable():
    """napari injects the viewer by the parameter's (real, not string) annotation."""
    import inspect

    import napari

    from napari_crant._qt.qc.dock import QCWidget

    param = inspect.signature(QCWidget).parameters["napari_viewer"]
    assert param.annotation is napari.viewer.Viewer
