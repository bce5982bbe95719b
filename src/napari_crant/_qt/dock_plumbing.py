"""Dock plumbing shared by napari-crant docks: scrolling contents, stopping workers on removal."""

from typing import Any

from qtpy.QtCore import QEvent, QObject


def scroll_contents(native: Any, pinned: tuple[Any, ...] = ()) -> None:
    """Move a container's rows into a vertical scroll area inside it, except the ``pinned`` ones.

    The dock then has no minimum height of its own (on a short screen it scrolls instead of
    making the window taller than the screen), while ``native`` stays the widget napari docks
    and finds (wrapping the dock's widget from outside would hide the container from napari).
    The container keeps its layout object, now on the inner widget. The ``pinned`` widgets
    (e.g. the Load row and the message) stay below the scroll area, in this order: reachable
    without scrolling on any screen. Rows inserted later go into the scroll area.
    """
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget

    inner = QWidget()
    inner.setLayout(native.layout())  # re-parents the rows' widgets to ``inner``
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setWidget(inner)
    own = QVBoxLayout(native)
    own.setContentsMargins(0, 0, 0, 0)
    own.addWidget(area)
    rows = inner.layout()
    for widget in pinned:
        row = widget
        while row.parentWidget() is not None and row.parentWidget() is not inner:
            row = row.parentWidget()  # the labelled row holding the widget
        rows.removeWidget(row)
        own.addWidget(row)


class DockCloseWatch(QObject):
    """Stops and waits on a dock widget's workers when napari removes the dock (unparents it)."""

    def __init__(self, widget: Any):
        super().__init__(widget.native)
        self._widget = widget
        widget.native.installEventFilter(self)

    def eventFilter(self, obj: Any, event: Any) -> bool:
        if event.type() == QEvent.Type.ParentChange and obj.parent() is None:
            from napari_crant._qt.worker_guard import stop_workers, widget_workers

            stop_workers(lambda: widget_workers(self._widget))
        return False
