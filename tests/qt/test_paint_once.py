"""One whole-window repaint per change, not one per layout level a label's new text climbs."""

from qtpy.QtCore import QEvent, QObject
from qtpy.QtWidgets import QLabel, QTableView, QTabWidget, QVBoxLayout, QWidget

from napari_crant._qt.paint_once import HintBarrier, LayoutsBeforePaint, barrier_layout, layouts_before_paint
from napari_crant._qt.session import get_session


class _Repaints(QObject):
    """Counts the window's repaints (UpdateRequest) and layout requests, and where the widget below
    the label was painted."""

    def __init__(self, window, below):
        super().__init__()
        self.count = 0
        self.window_layouts = 0
        self.below_painted_at: list[int] = []
        self._below = below
        window.installEventFilter(self)
        below.installEventFilter(self)

    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.UpdateRequest:
            self.count += 1
        elif event.type() == QEvent.Type.LayoutRequest and obj is not self._below:
            self.window_layouts += 1
        elif event.type() == QEvent.Type.Paint and obj is self._below:
            self.below_painted_at.append(obj.y())
        return False


def _nested_dock(viewer, barrier=True):
    """A dock like the QC dock: a word-wrapped label deep in tabs, a table below it (the rows
    behind a :class:`HintBarrier` as in the QC dock, or not)."""
    outer = QWidget()
    tabs = QTabWidget()
    page = QWidget()
    label = QLabel("one line")
    label.setWordWrap(True)
    table = QTableView()
    lay = QVBoxLayout(page)
    lay.addWidget(label)
    lay.addWidget(table, 1)
    tabs.addTab(page, "Review")
    QVBoxLayout(outer).addWidget(tabs)
    if barrier:
        outer.layout_barrier = barrier_layout(outer)
    viewer.window.add_dock_widget(outer, name="nested")
    return label, table, outer


def _pump(app, passes=40):
    """Deliver posted events pass by pass (a layout level each) without waiting on timers."""
    for _ in range(passes):
        app.processEvents()


def test_a_label_change_deep_in_a_dock_repaints_the_window_once(make_napari_viewer, qapp, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1600, 1000)
    get_session(viewer)  # every napari-crant dock makes the session, which installs the filter
    window = viewer.window._qt_window
    assert isinstance(layouts_before_paint(window), LayoutsBeforePaint)
    assert layouts_before_paint(window) is layouts_before_paint(window)  # once per window
    label, table, _dock = _nested_dock(viewer)
    qtbot.waitExposed(window)
    _pump(qapp)
    repaints = _Repaints(window, table)
    for n in (6, 1, 9):  # the label's height changes: the table below moves
        repaints.count = 0
        repaints.below_painted_at.clear()
        before = table.y()
        label.setText(" ".join(["a longer message that wraps over several lines"] * n))
        _pump(qapp)
        assert table.y() != before
        assert repaints.count == 1, f"{repaints.count} window repaints for one label change"
        assert repaints.window_layouts == 0  # napari's window was not laid out again
        # the one repaint already shows the table where the new layout put it
        assert repaints.below_painted_at and set(repaints.below_painted_at) == {table.y()}


def test_the_barrier_passes_on_a_change_of_the_rows_bounds(make_napari_viewer, qapp, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1600, 1000)
    get_session(viewer)
    label, table, outer = _nested_dock(viewer)
    barrier = outer.layout_barrier
    assert isinstance(barrier, HintBarrier) and barrier.parent() is outer
    qtbot.waitExposed(viewer.window._qt_window)
    _pump(qapp)
    assert label.window() is viewer.window._qt_window  # the rows are still in the dock, shown
    assert barrier.content.geometry() == barrier.rect()
    assert barrier.geometry() == outer.rect()  # the rows take the whole dock (napari adds a stretch below)
    stopped = barrier.stopped
    label.setText("another text of the same bounds")
    _pump(qapp)
    assert barrier.stopped > stopped
    width = outer.width()
    table.setMinimumWidth(width + 150)  # the rows need more room: the dock must widen
    _pump(qapp)
    qtbot.waitUntil(lambda: outer.width() >= width + 150, timeout=5000)
    assert barrier.content.width() == barrier.width()


def test_without_a_window_nothing_is_installed():
    assert layouts_before_paint(None) is None
