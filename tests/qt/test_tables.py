"""Partner table and adjacency docks, driven through the query dock."""

import numpy as np
import pandas as pd
from qtpy.QtCore import QItemSelectionModel, Qt

import napari_crant as nc
import tiny
from conftest import run_load
from napari_crant._qt.session import find_layer


def _partners(viewer):
    from napari_crant._qt.partners import PartnerWidget

    w = PartnerWidget(viewer)
    viewer.window.add_dock_widget(w, name="Partners")
    return w


def _adjacency(viewer):
    from napari_crant._qt.adjacency import AdjacencyWidget

    w = AdjacencyWidget(viewer)
    viewer.window.add_dock_widget(w, name="Adjacency")
    return w


def _column(widget, name):
    m = widget.model
    c = list(m.frame.columns).index(name)
    return [widget.proxy.index(r, c).data() for r in range(widget.proxy.rowCount())]


def test_partner_table_rows_and_counts(qtbot, viewer, query, tiny_path):
    partners = _partners(viewer)
    query.ids.value = f"{tiny.A2}, {tiny.B2}"
    run_load(qtbot, query)
    conn = nc.get_connectivity([int(tiny.A2), int(tiny.B2)], dataset=tiny_path)
    both = [tiny.A2, tiny.B2]
    n_rows = int(np.isin(conn["pre"], both).sum() + np.isin(conn["post"], both).sum())
    assert partners.proxy.rowCount() == n_rows
    # pick B2, upstream: partners and weights as get_connectivity says; IDs shown exactly
    partners.neuron.setCurrentIndex(partners.neuron.findData(str(tiny.B2)))
    partners.direction.setCurrentText("upstream")
    exp = conn[conn["post"].to_numpy(np.uint64) == tiny.B2]
    got = dict(zip(_column(partners, "partner_id"), map(int, _column(partners, "weight")), strict=True))
    assert got == {str(p): int(w) for p, w in zip(exp["pre"], exp["weight"], strict=True)}
    assert "cell_type" in partners.model.frame.columns
    assert "KC_g" in partners.neuron.currentText()  # labelled by cell type
    # text filter
    partners.filter.setText("PN_DA1")
    assert _column(partners, "partner_id") == [str(tiny.A2)]
    partners.filter.setText("")
    # sorting by weight (numeric, not text)
    c = list(partners.model.frame.columns).index("weight")
    partners.table.sortByColumn(c, Qt.SortOrder.AscendingOrder)
    w = [int(v) for v in _column(partners, "weight")]
    assert w == sorted(w)


def test_selecting_partners_highlights_their_synapses(qtbot, viewer, query):
    partners = _partners(viewer)
    query.ids.value = str(tiny.A2)
    run_load(qtbot, query)
    partners.direction.setCurrentText("downstream")
    rows = _column(partners, "partner_id")
    r = rows.index(str(tiny.B2))
    sel = partners.table.selectionModel()
    sel.select(partners.proxy.index(r, 0),
               QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
    hl = find_layer(viewer, "highlight")
    assert hl is not None
    assert set(hl.features["synapse_id"]) == {str(tiny.synapse_id(k)) for k in (1, 2, 3, 5)}
    sel.clearSelection()
    assert len(find_layer(viewer, "highlight").data) == 0


def test_double_click_loads_partner(qtbot, viewer, query):
    partners = _partners(viewer)
    query.ids.value = str(tiny.A2)
    run_load(qtbot, query)
    query.top_partners.value = 2  # not used for a double-click: only that partner is loaded
    partners.direction.setCurrentText("downstream")
    r = _column(partners, "partner_id").index(str(tiny.B2))
    partners.table.doubleClicked.emit(partners.proxy.index(r, 0))
    assert query.worker is not None
    qtbot.waitUntil(lambda: query.worker is None, timeout=30_000)
    assert set(find_layer(viewer, "skeletons").features["root_id"]) == {str(tiny.A2), str(tiny.B2)}


def test_export_partners(qtbot, viewer, query, tmp_path):
    partners = _partners(viewer)
    query.ids.value = str(tiny.A0)
    run_load(qtbot, query)
    partners.export(tmp_path / "partners.csv")
    text = (tmp_path / "partners.csv").read_text()
    assert "# dataset: tiny" in text and "# materialization_version: 3" in text
    df = pd.read_csv(tmp_path / "partners.csv", comment="#", dtype={"partner_id": str})
    assert len(df) == partners.proxy.rowCount()
    assert list(df["partner_id"]) == _column(partners, "partner_id")


def test_adjacency_heatmap_and_click(qtbot, viewer, query, tiny_path):
    adjw = _adjacency(viewer)
    query.ids.value = f"{tiny.B2}\n{tiny.A2}"
    run_load(qtbot, query)
    qtbot.waitUntil(lambda: adjw.worker is None and not adjw.adjacency.empty, timeout=30_000)
    exp = nc.get_adjacency([int(tiny.A2), int(tiny.B2)], [int(tiny.A2), int(tiny.B2)], symmetric=True,
                           dataset=tiny_path)
    m = adjw.model.matrix
    assert m.index.dtype == np.uint64
    pd.testing.assert_frame_equal(m.loc[exp.index, exp.columns], exp, check_names=False)
    # sorted by cell type: KC_g (B2) before PN_DA1 (A2)
    assert list(m.index) == [tiny.B2, tiny.A2]
    assert adjw.model.headerData(0, Qt.Orientation.Vertical) == f"KC_g ({tiny.B2})"
    adjw.order.setCurrentText("root ID")
    assert list(adjw.model.matrix.index) == [tiny.A2, tiny.B2]
    # click A2 -> B2
    m = adjw.model.matrix
    idx = adjw.model.index(0, 1)
    assert adjw.model.data(idx) == str(m.iloc[0, 1]) == "4"
    adjw.table.clicked.emit(idx)
    hl = find_layer(viewer, "highlight")
    assert set(hl.features["synapse_id"]) == {str(tiny.synapse_id(k)) for k in (1, 2, 3, 5)}
    assert "4 synapses" in adjw.summary.text()


def test_clear_removes_layers_and_rows(qtbot, viewer, query):
    partners = _partners(viewer)
    adjw = _adjacency(viewer)
    query.ids.value = str(tiny.A2)
    run_load(qtbot, query)
    qtbot.waitUntil(lambda: adjw.worker is None, timeout=30_000)
    query.clear_button.native.click()
    assert find_layer(viewer, "skeletons") is None
    assert partners.proxy.rowCount() == 0
    assert adjw.model.rowCount() == 0


def test_closed_docks_do_not_break_loading(qtbot, viewer, query):
    partners = _partners(viewer)
    adjw = _adjacency(viewer)
    viewer.window.remove_dock_widget(partners)
    viewer.window.remove_dock_widget(adjw)
    partners.deleteLater()
    adjw.deleteLater()
    qtbot.wait(50)
    query.ids.value = str(tiny.A2)
    run_load(qtbot, query)
    assert query.message.value.startswith("Loaded 1 neuron")


def test_selecting_synapse_points_selects_partner_rows(qtbot, viewer, query):
    partners = _partners(viewer)
    query.ids.value = str(tiny.A2)
    run_load(qtbot, query)
    pre = find_layer(viewer, "pre")
    i = list(pre.features["synapse_id"]).index(str(tiny.synapse_id(1)))  # A2 -> B2
    pre.selected_data = {i}
    rows = partners.selected_rows()
    assert list(rows["partner_id"].map(str)) == [str(tiny.B2)]
    assert list(rows["direction"]) == ["downstream"]
    # ... which in turn highlights all A2 -> B2 synapses
    assert set(find_layer(viewer, "highlight").features["synapse_id"]) == {
        str(tiny.synapse_id(k)) for k in (1, 2, 3, 5)}
