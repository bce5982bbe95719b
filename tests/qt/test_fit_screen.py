"""Every dock open: the window fits 1600 x 1000 and 1280 x 800 and the tables show >= 8 rows."""

import os
from pathlib import Path

import pytest
from qtpy.QtWidgets import QApplication, QDockWidget, QTableView

import tiny
from conftest import run_load  # tests/qt/conftest.py

SHOTS = os.environ.get("NAPARI_CRANT_DOCS_IMAGES")


def _dock_of(widget):
    while widget is not None and not isinstance(widget, QDockWidget):
        widget = widget.parent()
    return widget


@pytest.mark.parametrize("qc", [True, False])
@pytest.mark.parametrize("size", [(1600, 1000), (1280, 800)])
def test_every_dock_fits_the_screen(qtbot, make_napari_viewer, tiny_path, size, qc):
    from napari_crant._qt.fit_screen import TABLE_DOCKS, plugin_docks
    from napari_crant._qt.view import open_docks

    viewer = make_napari_viewer(show=True)
    window = viewer.window._qt_window
    window.resize(*size)
    widgets = open_docks(viewer)
    if qc:
        viewer.window.add_plugin_dock_widget("napari-crant", "Synapse QC")
    widgets["Query neurons"].dataset.value = tiny_path
    widgets["Query neurons"].ids.value = f"{tiny.A2}\n{tiny.B2}"
    run_load(qtbot, widgets["Query neurons"], timeout=180_000)  # the first load imports the core
    qtbot.wait(200)
    screen = window.screen().availableGeometry()
    width, height = min(size[0], screen.width()), min(size[1], screen.height())
    frame = window.frameGeometry()
    assert frame.width() <= width and frame.height() <= height, (frame, size)
    docks = plugin_docks(window)
    assert set(docks) == {"Query neurons", *TABLE_DOCKS[: 3 if qc else 2]}
    query_dock = docks["Query neurons"]
    if query_dock not in window.tabifiedDockWidgets(docks["Partners"]):
        # above the tables only with its whole form in view: a form cut to two rows is no use
        from qtpy.QtWidgets import QScrollArea

        area = query_dock.findChild(QScrollArea)
        assert area.verticalScrollBar().maximum() == 0, (size, area.verticalScrollBar().maximum())
    for name in TABLE_DOCKS[: 3 if qc else 2]:  # each table dock in turn (they share a tab group)
        docks[name].raise_()
        qtbot.wait(100)
        QApplication.processEvents()
        tables = [t for t in docks[name].findChildren(QTableView) if t.isVisible()]
        if name == "Adjacency":
            continue  # a heat map, no table view
        assert tables, name
        for t in tables:
            rows = t.viewport().height() // t.verticalHeader().defaultSectionSize()
            assert rows >= 8, (name, size, rows)
        if name == "Partners":  # the weights and shares are read first: never cut at the dock's edge
            import pandas as pd

            partners = widgets["Partners"]
            table = partners.table
            header = table.horizontalHeader()
            # as for a neuron with a thousand partner rows: a vertical scroll bar, 4-digit row numbers
            rows = partners.model.frame
            partners.model.set_frame(pd.concat([rows] * (1000 // len(rows) + 1), ignore_index=True))
            table.resizeColumnsToContents()
            qtbot.waitUntil(table.verticalScrollBar().isVisible, timeout=10_000)
            for column in ("direction", "partner_id", "weight", "percent"):
                c = list(partners.model.frame.columns).index(column)
                right = header.sectionViewportPosition(c) + header.sectionSize(c)
                assert header.sectionViewportPosition(c) >= 0 and right <= table.viewport().width(), \
                    (column, size, right, table.viewport().width())
            partners.refresh()
        frame = window.frameGeometry()
        assert frame.width() <= width and frame.height() <= height
    if SHOTS and qc:
        out = Path(SHOTS)
        out.mkdir(parents=True, exist_ok=True)
        docks["Synapse QC"].raise_()
        qtbot.wait(200)
        window.grab().save(str(out / f"every-dock-{size[0]}x{size[1]}.png"))


def test_a_long_message_does_not_widen_the_dock(qtbot, viewer, query):
    from napari_crant._qt.fit_screen import fit_docks

    fit_docks(query.native)
    dock = _dock_of(query.native)
    before = dock.width()
    query.set_message("x" * 2000 + " " + "576460752400000001 " * 50)
    qtbot.wait(100)
    assert dock.width() <= before + 2


def test_the_view_is_refitted_after_a_load_unless_moved(qtbot, viewer, query):
    from napari_crant._qt.view import camera

    query.ids.value = str(tiny.A2)
    run_load(qtbot, query)
    fitted = tuple(camera(viewer).center)
    query.ids.value = str(tiny.B2)  # elsewhere: the fitted view follows
    run_load(qtbot, query)
    refitted = tuple(camera(viewer).center)
    assert refitted != fitted
    camera(viewer).zoom = camera(viewer).zoom * 3  # the user zooms in
    chosen = (tuple(camera(viewer).center), camera(viewer).zoom)
    query.ids.value = str(tiny.CD)
    run_load(qtbot, query)
    assert (tuple(camera(viewer).center), camera(viewer).zoom) == chosen  # kept


def test_substring_search_counts_as_you_type(qtbot, query):
    assert not query.exact.value  # "KC" finds KC_g
    query.search["cell_type"].value = "K"
    query.search["cell_type"].value = "KC"
    assert query.match_label.value == "counting…"
    qtbot.waitUntil(lambda: query.match_label.value == "1 neuron match", timeout=10_000)


def test_a_lone_word_is_named(qtbot, viewer, query):
    query.ids.value = "abc"
    assert run_load(qtbot, query) is None
    assert query.message.value == "Nothing loaded: not neuron IDs: 'abc'"


def test_a_split_neuron_is_said_and_its_other_pieces_offered(qtbot, viewer, query):
    from napari_crant._qt.session import get_session

    query.ids.value = str(tiny.B0)  # split since: B2 (most of it) + X
    run_load(qtbot, query)
    assert f"{tiny.B0} was split since; showing the piece {tiny.B2}; 1 other piece: {tiny.X}" \
        in query.message.value
    notice = query.split_notice
    assert not notice.native.isHidden() and str(tiny.B0) in notice.text.value
    assert notice.load_button.text == "Load the 1 other piece"
    notice.load_button.native.click()
    qtbot.waitUntil(lambda: query.worker is None and int(tiny.X) in get_session(viewer).scene.neurons,
                    timeout=30_000)
    assert list(get_session(viewer).scene.neurons) == [int(tiny.B2), int(tiny.X)]
    assert notice.native.isHidden()


def _fully_visible(widget):
    """Whether every pixel of ``widget`` is shown (not clipped by a scroll area or the window)."""
    region = widget.visibleRegion().boundingRect()
    return widget.isVisible() and region.width() == widget.width() and region.height() == widget.height()


@pytest.mark.parametrize("above", [False, True])
@pytest.mark.parametrize("size", [(1600, 1000), (1280, 800)])
def test_load_is_reachable_without_scrolling(qtbot, make_napari_viewer, tiny_path, size, above):
    """Every dock open, the query dock tabbed with the tables or above them (a quarter of the
    height), at the top of its scroll area: Load, Cancel and the message line are fully visible
    (pinned below the scroll area), also after a long message."""
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QScrollArea

    from napari_crant._qt.fit_screen import plugin_docks
    from napari_crant._qt.view import open_docks

    viewer = make_napari_viewer(show=True)
    window = viewer.window._qt_window
    window.resize(*size)
    widgets = open_docks(viewer)
    viewer.window.add_plugin_dock_widget("napari-crant", "Synapse QC")
    query = widgets["Query neurons"]
    query.dataset.value = tiny_path
    query.ids.value = str(tiny.A2)
    run_load(qtbot, query, timeout=180_000)
    query.set_message("Loaded 1 neuron. " + "576460752400000001 was edited; showing another " * 6)
    docks = plugin_docks(window)
    qd = docks["Query neurons"]
    if above:  # the query dock above the tables with a quarter of the height (a tall screen's layout)
        window.removeDockWidget(qd)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, qd, Qt.Orientation.Vertical)
        qd.show()
        window.resizeDocks([qd, docks["Partners"]], [window.height() // 4, window.height() // 2],
                           Qt.Orientation.Vertical)
        assert qd not in window.tabifiedDockWidgets(docks["Partners"])
    qd.raise_()
    qtbot.wait(200)
    QApplication.processEvents()
    area = query.native.findChild(QScrollArea)
    assert area.verticalScrollBar().value() == 0
    if above:
        assert area.verticalScrollBar().maximum() > 0, "the rows fit anyway: the test shows nothing"
    for widget in (query.load_button.native, query.cancel_button.native, query.message.native):
        assert not area.isAncestorOf(widget)
        assert _fully_visible(widget), (widget, size, widget.visibleRegion().boundingRect())
