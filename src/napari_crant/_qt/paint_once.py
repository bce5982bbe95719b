"""One window repaint per change: layouts settled before the window paints.

With vispy's canvas (a ``QOpenGLWidget``) in napari's window, Qt composes the **whole window**
through OpenGL at every flush of its backing store, whatever changed: under Xvfb (Mesa's
software rasteriser) that is 30-100 ms for a 1600 x 1000 window even when one label changed.

A label whose text changes (a QC step changes four) asks its parent to lay out again, and that
request climbs one widget per event-loop pass (panel, tab, dock, main window), each level
posted after the window's pending repaint: the window painted the label first, then again once
per level whose layout moved something, two to five whole-window flushes for one key press.
:class:`LayoutsBeforePaint` handles the posted layout requests first when the window is about
to repaint, so what they move is painted in the same, single flush. A request that reaches the
main window still costs a second flush: the main window's relayout repaints everything beside
the docks in a queued call. :class:`HintBarrier` stops a dock's requests below the main window
unless the dock's size hints really changed (:func:`barrier_layout` puts one in a dock widget).
"""

from typing import Any

from qtpy.QtCore import QEvent, QObject
from qtpy.QtWidgets import QApplication, QSizePolicy, QVBoxLayout, QWidget

#: passes over the posted layout requests before a repaint: each pass handles those posted before
#: it, and a level's handling posts the request of the level above (a label in a QC tab is seven
#: levels below napari's main window); a pass with nothing to do costs microseconds
LAYOUT_PASSES = 12
#: attribute of the main window holding its filter (installed once per window)
_FILTER_ATTRIBUTE = "_napari_crant_layouts_before_paint"


class LayoutsBeforePaint(QObject):
    """Event filter of a top-level window: pending layout requests are handled before its repaint.

    Parameters
    ----------
    window
        The top-level window (napari's main window).
    """

    def __init__(self, window: Any):
        super().__init__(window)
        #: the window's repaints (UpdateRequest events) seen; tests and benchmarks count them
        self.repaints = 0
        window.installEventFilter(self)

    def eventFilter(self, obj: Any, event: Any) -> bool:
        if event.type() == QEvent.Type.UpdateRequest:
            self.repaints += 1
            # the layout requests posted so far, then those their handling posted (the levels above)
            for _ in range(LAYOUT_PASSES):
                QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
        return False


def layouts_before_paint(window: Any) -> LayoutsBeforePaint | None:
    """Install :class:`LayoutsBeforePaint` on ``window`` (once); the filter, ``None`` without a window."""
    if window is None:
        return None
    existing = getattr(window, _FILTER_ATTRIBUTE, None)
    if existing is not None:
        return existing
    installed = LayoutsBeforePaint(window)
    setattr(window, _FILTER_ATTRIBUTE, installed)
    return installed


class HintBarrier(QWidget):
    """A widget holding ``content`` (filling it) that passes its layout requests on only when
    ``content``'s size bounds changed (minimum size hint, minimum and maximum size, policy).

    Without a layout of its own, the barrier receives ``content``'s layout requests itself (Qt
    posts them to a parent without a layout): when the hints are those it last passed on, the
    request stops here (nothing around it would move) instead of laying out every widget up to
    napari's main window.
    """

    def __init__(self, content: QWidget):
        super().__init__()
        self.content = content
        content.setParent(self)
        self._follow_policy(content.sizePolicy())
        self._hints = self._current_hints()
        #: layout requests stopped here (tests count them)
        self.stopped = 0

    def _current_hints(self) -> tuple:
        c = self.content
        # not the preferred size: a placed dock keeps its size, only its bounds can move it
        return (c.minimumSizeHint(), c.minimumSize(), c.maximumSize(), c.sizePolicy())

    def _follow_policy(self, policy: Any) -> None:
        """The content's size policy, but growing in height: the rows (a table) take the dock's
        height, and napari adds no stretch below them (it does below a widget that does not grow)."""
        own = QSizePolicy(policy.horizontalPolicy(), QSizePolicy.Policy.Expanding)
        own.setHorizontalStretch(policy.horizontalStretch())
        own.setVerticalStretch(policy.verticalStretch())
        self.setSizePolicy(own)

    def sizeHint(self) -> Any:
        return self.content.sizeHint()

    def minimumSizeHint(self) -> Any:
        return self.content.minimumSizeHint()

    def resizeEvent(self, event: Any) -> None:
        self.content.setGeometry(self.rect())
        super().resizeEvent(event)

    def event(self, event: Any) -> bool:
        if event.type() == QEvent.Type.LayoutRequest:
            hints = self._current_hints()
            if hints != self._hints:
                self._hints = hints
                self._follow_policy(hints[-1])
                self.updateGeometry()
            else:
                self.stopped += 1
            return True
        return super().event(event)


def barrier_layout(widget: QWidget) -> HintBarrier:
    """Move ``widget``'s layout (and its rows) into a :class:`HintBarrier` filling ``widget``.

    ``widget`` stays what napari docks and finds; its rows' layout requests reach the dock (and
    napari's main window) only when the rows' size hints changed.
    """
    inner = QWidget()
    inner.setLayout(widget.layout())  # re-parents the rows' widgets to ``inner``
    barrier = HintBarrier(inner)
    own = QVBoxLayout(widget)
    own.setContentsMargins(0, 0, 0, 0)
    own.addWidget(barrier)
    return barrier
