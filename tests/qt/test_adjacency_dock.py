"""The adjacency dock with a 300 x 300 matrix of the demo's Kenyon cells."""

import numpy as np
import pytest
from qtpy.QtCore import QEvent, QPoint, QPointF, Qt
from qtpy.QtGui import QImage, QMouseEvent
from qtpy.QtWidgets import QApplication

import napari_crant as nc
from napari_crant import datasets
from napari_crant._qt.session import get_session
from napari_crant.adjacency_view import read_matrix
from napari_crant.export_formats import ExportError
from napari_crant.queries.common import open_query
from napari_crant.queries.criteria import NeuronCriteria
from napari_crant.scene.loading import current_annotations


@pytest.fixture
def kc300():
    """Adjacency of 300 demo Kenyon cells and the demo's annotations (the demo is built once)."""
    datasets.ensure_demo()
    source, at = open_query("demo", "latest")
    ann = current_annotations(source, at)
    kcs = NeuronCriteria(cell_type="KC", exact=False, dataset="demo")
    every = nc.get_adjacency(kcs, kcs, symmetric=True, dataset="demo")  # roots as of now
    ids = np.sort(every.index.to_numpy(np.uint64))[:300]
    adj = nc.get_adjacency(ids, ids, symmetric=True, dataset="demo")
    assert adj.shape == (300, 300)
    return adj, ann


@pytest.fixture
def dock(qtbot, viewer, kc300):
    from napari_crant._qt.adjacency import AdjacencyWidget

    adj, ann = kc300
    w = AdjacencyWidget(viewer)
    viewer.window.add_dock_widget(w, name="Adjacency")
    get_session(viewer).scene.annotations = ann
    w._on_returned(adj)  # what the worker hands over after get_adjacency
    viewer.window.show()
    w.canvas.setMinimumSize(520, 520)  # a dock of about 560 px: 1.4 px a neuron
    qtbot.waitExposed(w.canvas)
    qtbot.waitUntil(lambda: w.canvas.width() >= 520, timeout=5000)
    return w


def _move(canvas, row, col):
    g = canvas.layout_for(canvas.width(), canvas.height())
    m, cell = g["matrix"], g["cell"]
    pos = QPointF(m.left() + (col + 0.5) * cell, m.top() + (row + 0.5) * cell)
    event = QMouseEvent(QEvent.Type.MouseMove, pos, QPointF(canvas.mapToGlobal(pos.toPoint())),
                        Qt.MouseButton.NoButton, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(canvas, event)


def test_renders_300_by_300_as_a_heat_map(dock):
    assert dock.data.shape == (300, 300)
    image = dock.canvas.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    g = dock.canvas.layout_for(dock.canvas.width(), dock.canvas.height())
    m = g["matrix"]
    assert m.width() >= 300 * 1.0 and g["cell"] >= 1.0  # every cell gets at least a pixel
    ptr = image.constBits()
    ptr.setsize(image.sizeInBytes())
    px = np.frombuffer(ptr, np.uint8).reshape(image.height(), image.bytesPerLine() // 4, 4)
    inner = px[int(m.top()) + 2:int(m.bottom()) - 2, int(m.left()) + 2:int(m.right()) - 2, :3]
    colours = {tuple(c) for c in inner.reshape(-1, 3)[::7]}
    assert len(colours) > 20  # a colour map, not a flat picture
    # cells of the same count have the same colour: the colour of the largest count is viridis' top
    r, c = np.unravel_index(np.argmax(dock.data.values), dock.data.shape)
    cell = g["cell"]
    top = px[int(m.top() + (r + 0.5) * cell), int(m.left() + (c + 0.5) * cell), :3]
    assert tuple(int(v) for v in top[::-1]) == tuple(int(v) for v in dock.canvas.lut[-1, :3])
    assert "300 × 300 neurons" in dock.summary.text()


def test_hover_shows_pre_post_and_count(dock):
    d = dock.data
    r, c = np.argwhere(d.values > 0)[17]
    _move(dock.canvas, r, c)
    text = dock.hover.text()
    assert text == d.describe(r, c)
    pre, post = str(int(d.row_keys[r])), str(int(d.col_keys[c]))
    assert f"pre {d.row_types[r]} {pre} → post {d.col_types[c]} {post}: {d.values[r, c]} synapses" == text
    assert len(pre) == 18


def test_ordering_changes_label_order(dock):
    by_type = list(dock.data.row_labels)
    types = list(dock.data.row_types)
    assert types == sorted(types)
    dock.order.setCurrentText("root ID")
    assert list(dock.data.row_keys) == sorted(dock.data.row_keys)
    dock.order.setCurrentText("clustering")
    clustered = list(dock.data.row_labels)
    assert sorted(clustered) == sorted(by_type) and clustered != by_type
    assert list(dock.data.row_keys) == list(dock.data.col_keys)
    dock.view.setCurrentText("cell types")
    assert sorted(dock.data.row_labels) == ["KC_ab", "KC_apbp", "KC_g"]
    assert int(dock.data.values.sum()) == int(dock.adjacency.to_numpy().sum())


def test_zoom_to_labels_makes_every_label_fit(dock):
    dock.zoom.setCurrentText("labels")
    size = dock.canvas.minimumSize()
    g = dock.canvas.layout_for(size.width(), size.height())
    assert g["per_label"] and g["cell"] >= g["line"] * 0.9
    dock.zoom.setCurrentText("fit")
    assert dock.canvas.minimumSize().width() < 300


@pytest.mark.parametrize("ext", [".csv", ".parquet"])
def test_export_table_round_trips_with_provenance(dock, tmp_path, ext):
    dock.order.setCurrentText("clustering")
    path = tmp_path / f"kc{ext}"
    dock.export(path)
    back = read_matrix(path)
    np.testing.assert_array_equal(back.index.to_numpy(), dock.data.row_keys)
    np.testing.assert_array_equal(back.columns.to_numpy(), dock.data.col_keys)
    np.testing.assert_array_equal(back.to_numpy(), dock.data.values)
    assert back.attrs["dataset"] == "demo" and back.attrs["order"] == "clustering"
    assert str(back.attrs["materialization_version"]) == str(dock.adjacency.attrs["materialization_version"])


def test_export_pictures(dock, tmp_path):
    dock.export(tmp_path / "kc.png")
    image = QImage(str(tmp_path / "kc.png"))
    assert not image.isNull()
    assert image.width() >= 300 * 13 and image.height() >= 300 * 13  # room for every label
    dock.export(tmp_path / "kc.svg")
    svg = (tmp_path / "kc.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert dock.data.row_labels[0] in svg  # labels are text in the SVG


def test_export_to_unsupported_format_lists_the_formats(dock, tmp_path, monkeypatch):
    from qtpy.QtWidgets import QFileDialog

    with pytest.raises(ExportError, match=r"\.csv.*\.parquet.*\.png.*\.svg"):
        dock.export(tmp_path / "kc.pdf")
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(tmp_path / "kc.pdf"), "")))
    dock.export_button.click()
    assert "supported formats" in dock.hover.text()
    assert list(tmp_path.iterdir()) == []


def test_click_selects_the_pair(dock):
    d = dock.data
    r, c = np.argwhere(d.values > 0)[3]
    g = dock.canvas.layout_for(dock.canvas.width(), dock.canvas.height())
    m, cell = g["matrix"], g["cell"]
    pos = QPoint(int(m.left() + (c + 0.5) * cell), int(m.top() + (r + 0.5) * cell))
    for kind in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease):
        left = Qt.MouseButton.LeftButton
        event = QMouseEvent(kind, QPointF(pos), QPointF(dock.canvas.mapToGlobal(pos)), left, left,
                            Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(dock.canvas, event)
    assert dock.canvas.selected == (r, c)
    assert d.describe(r, c) in dock.hover.text()
