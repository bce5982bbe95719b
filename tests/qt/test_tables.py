"""Partner table and adjacency docks, driven through the query dock."""

import numpy as np
import pandas as pd
import pytest
from qtpy.QtCore import QItemSelectionModel, QPoint, Qt

import napari_crant as nc
import tiny
from conftest import run_load
from napari_crant._qt.session import find_layer
from napari_crant.export_formats import read_table


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


def _mouse(widget, kind, pos, button=Qt.MouseButton.LeftButton):
    """Send a mouse event straight to ``widget`` (the viewer window is not shown in these tests)."""
    from qtpy.QtCore import QEvent, QPointF
    from qtpy.QtGui import QMouseEvent
    from qtpy.QtWidgets import QApplication

    types = {"move": QEvent.Type.MouseMove, "press": QEvent.Type.MouseButtonPress,
             "release": QEvent.Type.MouseButtonRelease}
    local = QPointF(pos)
    buttons = Qt.MouseButton.NoButton if kind == "move" else button
    event = QMouseEvent(types[kind], local, QPointF(widget.mapToGlobal(pos)),
                        Qt.MouseButton.NoButton if kind == "move" else button, buttons,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def _click(widget, pos):
    _mouse(widget, "press", pos)
    _mouse(widget, "release", pos)


def _cell_center(canvas, row, col):
    g = canvas.layout_for(canvas.width(), canvas.height())
    m, cell = g["matrix"], g["cell"]
    return QPoint(int(m.left() + (col + 0.5) * cell), int(m.top() + (row + 0.5) * cell))


def test_adjacency_heatmap_hover_and_click(qtbot, viewer, query, tiny_path):
    adjw = _adjacency(viewer)
    query.ids.value = f"{tiny.B2}\n{tiny.A2}"
    run_load(qtbot, query)
    qtbot.waitUntil(lambda: adjw.worker is None and not adjw.adjacency.empty, timeout=30_000)
    exp = nc.get_adjacency([int(tiny.A2), int(tiny.B2)], [int(tiny.A2), int(tiny.B2)], symmetric=True,
                           dataset=tiny_path)
    d = adjw.data
    assert d.row_keys.dtype == np.uint64
    shown = pd.DataFrame(d.values, index=d.row_keys, columns=d.col_keys)
    np.testing.assert_array_equal(shown.loc[exp.index, exp.columns].to_numpy(), exp.to_numpy())
    # sorted by cell type: KC_g (B2) before PN_DA1 (A2); labels: type and short ID
    assert list(d.row_keys) == [tiny.B2, tiny.A2]
    assert d.row_labels == [f"KC_g …{str(tiny.B2)[-6:]}", f"PN_DA1 …{str(tiny.A2)[-6:]}"]
    adjw.order.setCurrentText("root ID")
    assert list(adjw.data.row_keys) == [tiny.A2, tiny.B2]
    # hover A2 -> B2: pre, post with type and full ID, and the count
    _mouse(adjw.canvas, "move", _cell_center(adjw.canvas, 0, 1))
    assert adjw.hover.text() == f"pre PN_DA1 {tiny.A2} → post KC_g {tiny.B2}: 4 synapses"
    # click it: those synapses are highlighted
    _click(adjw.canvas, _cell_center(adjw.canvas, 0, 1))
    hl = find_layer(viewer, "highlight")
    assert set(hl.features["synapse_id"]) == {str(tiny.synapse_id(k)) for k in (1, 2, 3, 5)}
    assert adjw.hover.text().startswith("4 synapses highlighted")
    # the cell-type view: PN_DA1 -> KC_g sums the same synapses
    adjw.view.setCurrentText("cell types")
    t = adjw.data
    r, c = list(t.row_keys).index("PN_DA1"), list(t.col_keys).index("KC_g")
    assert t.values[r, c] == 4
    adjw.canvas.select(r, c)
    assert set(find_layer(viewer, "highlight").features["synapse_id"]) == {
        str(tiny.synapse_id(k)) for k in (1, 2, 3, 5)}


def test_clear_removes_layers_and_rows(qtbot, viewer, query):
    partners = _partners(viewer)
    adjw = _adjacency(viewer)
    query.ids.value = str(tiny.A2)
    run_load(qtbot, query)
    qtbot.waitUntil(lambda: adjw.worker is None, timeout=30_000)
    made = [id(layer) for layer in viewer.layers if "napari_crant" in layer.metadata]
    query.clear_button.native.click()
    # the neurons' layers are kept empty, one per kind (the next load fills them: no new layers,
    # visuals and shaders); nothing of the load is drawn
    kept = [layer for layer in viewer.layers if "napari_crant" in layer.metadata]
    assert sorted(layer.metadata["napari_crant"] for layer in kept) == ["post", "pre", "skeletons", "somata"]
    assert all(len(layer.data) == 0 for layer in kept)
    assert {id(layer) for layer in kept} <= set(made)
    query.ids.value = str(tiny.B2)
    run_load(qtbot, query)
    kinds = [layer.metadata["napari_crant"] for layer in kept]
    assert find_layer(viewer, "skeletons") is kept[kinds.index("skeletons")]
    assert set(find_layer(viewer, "skeletons").features["root_id"]) == {str(tiny.B2)}
    query.clear_button.native.click()
    assert partners.proxy.rowCount() == 0
    assert adjw.data is None and adjw.canvas.data is None


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


def test_partner_summary_counts_what_the_filter_shows(qtbot, viewer, query):
    partners = _partners(viewer)
    query.ids.value = f"{tiny.A2}, {tiny.B2}"
    run_load(qtbot, query)
    frame = partners.model.frame
    assert f"({int(frame['weight'].sum())} synapses)" in partners.summary.text()
    partners.filter.setText("PN_DA1")
    shown = partners.shown_rows()
    assert 0 < len(shown) < len(frame)
    up = int((shown["direction"] == "upstream").sum())
    down = int((shown["direction"] == "downstream").sum())
    assert partners.summary.text() == (
        f"{up} upstream, {down} downstream partner rows ({int(shown['weight'].sum())} synapses), "
        f"{len(shown)} of {len(frame)} rows match the filter")
    partners.filter.setText("")
    assert "match the filter" not in partners.summary.text()


def test_first_click_on_weight_sorts_heaviest_first(qtbot, viewer, query):
    partners = _partners(viewer)
    query.ids.value = f"{tiny.A2}, {tiny.B2}"
    run_load(qtbot, query)
    viewer.window.show()  # header clicks need laid-out, visible sections
    qtbot.waitExposed(partners.table)
    header = partners.table.horizontalHeader()

    def click(name):
        c = list(partners.model.frame.columns).index(name)
        x = header.sectionViewportPosition(c) + header.sectionSize(c) // 2
        _click(header.viewport(), QPoint(x, header.height() // 2))
        return c

    c = click("weight")
    assert header.sortIndicatorSection() == c
    assert header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
    w = [int(v) for v in _column(partners, "weight")]
    assert w == sorted(w, reverse=True) and w[0] > w[-1]
    click("weight")  # the second click flips it
    assert [int(v) for v in _column(partners, "weight")] == sorted(w)
    click("partner_id")  # IDs and text: ascending first
    assert header.sortIndicatorOrder() == Qt.SortOrder.AscendingOrder
    ids = _column(partners, "partner_id")
    assert ids == sorted(ids)


def _shown_order(widget):
    header = widget.table.horizontalHeader()
    names = list(widget.model.frame.columns)
    return [names[header.logicalIndex(v)] for v in range(header.count())]


def test_view_columns_put_the_neuron_after_the_weights_for_several():
    from napari_crant._qt.partners import view_columns

    cols = ["direction", "partner_id", "cell_type", "weight", "weight_qc", "percent", "side", "neuron_id"]
    assert view_columns(cols, True) == [
        "direction", "partner_id", "weight", "weight_qc", "percent", "neuron_id", "cell_type", "side"]
    assert view_columns(cols, False) == [
        "direction", "partner_id", "weight", "weight_qc", "percent", "cell_type", "side", "neuron_id"]
    assert view_columns(["direction", "partner_id", "weight"], True) == ["direction", "partner_id", "weight"]


def test_all_neurons_view_reads_neuron_then_partner(qtbot, viewer, query, tmp_path):
    partners = _partners(viewer)
    query.ids.value = f"{tiny.A2}, {tiny.B2}"
    run_load(qtbot, query)
    viewer.window.show()  # laid-out sections and header clicks
    qtbot.waitExposed(partners.table)
    assert partners.neuron.currentData() is None  # all loaded neurons
    order = _shown_order(partners)
    assert order[:5] == ["direction", "partner_id", "weight", "percent", "neuron_id"]
    # right after the partner's numbers, before the annotations: at most one column's scroll away
    header = partners.table.horizontalHeader()
    names = list(partners.model.frame.columns)
    c = names.index("neuron_id")
    assert header.sectionViewportPosition(c) == sum(header.sectionSize(names.index(n)) for n in order[:4])
    partners.table.scrollTo(partners.proxy.index(0, c))
    right = header.sectionViewportPosition(c) + header.sectionSize(c)
    assert header.sectionViewportPosition(c) >= 0 and right <= partners.table.viewport().width()
    assert partners.table.horizontalScrollBar().value() <= header.sectionSize(c)
    partners.table.horizontalScrollBar().setValue(0)
    # sorting by the neuron (a header click) groups each neuron's rows, IDs compared exactly
    x = header.sectionViewportPosition(c) + header.sectionSize(c) // 2
    _click(header.viewport(), QPoint(x, header.height() // 2))
    assert header.sortIndicatorSection() == c
    neurons = _column(partners, "neuron_id")
    assert neurons == sorted(neurons) and set(neurons) == {str(tiny.A2), str(tiny.B2)}
    # the filter finds a neuron's ID in either ID column; the summary counts what is shown
    partners.filter.setText(str(tiny.B2))
    shown = partners.shown_rows()
    frame = partners.model.frame
    ids = frame[["neuron_id", "partner_id"]].to_numpy(np.uint64)
    b2 = (ids == tiny.B2).any(axis=1)
    assert 0 < len(shown) == int(b2.sum()) < len(frame)
    assert f"{len(shown)} of {len(frame)} rows match the filter" in partners.summary.text()
    # exports: the rows and columns as shown, provenance, exact IDs
    assert list(shown.columns) == order
    partners.export(tmp_path / "all.csv")
    text = (tmp_path / "all.csv").read_text()
    assert "# dataset: tiny" in text
    back = pd.read_csv(tmp_path / "all.csv", comment="#", dtype={"partner_id": str, "neuron_id": str})
    assert list(back.columns) == order
    assert list(back["neuron_id"]) == _column(partners, "neuron_id")
    partners.export(tmp_path / "all.parquet")
    back = read_table(tmp_path / "all.parquet")
    assert list(back.columns) == order and back["neuron_id"].dtype == np.uint64
    assert back.attrs["dataset"] == "tiny"
    # one neuron: the same ID in every row, named in the box, so its column goes last
    partners.filter.setText("")
    partners.neuron.setCurrentIndex(partners.neuron.findData(str(tiny.B2)))
    order = _shown_order(partners)
    assert order[:5] == ["direction", "partner_id", "weight", "percent", "cell_type"]
    assert order[-1] == "neuron_id"
    partners.export(tmp_path / "b2.csv")
    back = pd.read_csv(tmp_path / "b2.csv", comment="#", dtype={"partner_id": str, "neuron_id": str})
    assert list(back.columns) == order and set(back["neuron_id"]) == {str(tiny.B2)}


def test_partner_export_to_unsupported_format_says_which_are(qtbot, viewer, query, tmp_path, monkeypatch):
    from qtpy.QtWidgets import QFileDialog

    from napari_crant.export_formats import ExportError

    partners = _partners(viewer)
    query.ids.value = str(tiny.A0)
    run_load(qtbot, query)
    with pytest.raises(ExportError, match=r"'\.xlsx'.*\.csv.*\.parquet"):
        partners.export(tmp_path / "partners.xlsx")
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(tmp_path / "partners.xlsx"), "")))
    partners.export_button.click()  # no exception escapes: the message lists the formats
    assert "supported formats: .csv" in partners.summary.text() and ".parquet" in partners.summary.text()
    assert list(tmp_path.iterdir()) == []
    partners.export(tmp_path / "partners.parquet")
    back = read_table(tmp_path / "partners.parquet")
    assert back["partner_id"].dtype == np.uint64 and back.attrs["dataset"] == "tiny"
