"""Keep the napari-crant docks within the screen, and the view fitted to what was loaded.

With every dock open the docks stacked in napari's right area used to need 1,400 px of
height. :func:`fit_docks` arranges them so the window fits its screen: the query dock
scrolls, the table docks (partners, adjacency, synapse QC) share one tab group; in a window
at least :data:`TALL_SCREEN` px tall (once fitted into its screen) the query dock stays above
them at the height its whole form needs if that is at most half the height, otherwise it joins
the tab group. Tables get
compact rows, wrapping messages never widen a dock, and a window taller or wider than its
screen is shrunk into it.

:class:`CameraFit` refits the camera after a load when the user has not moved it since the
last fit (or nothing was shown before): a load then shows everything that is loaded, and a
view the user chose is never taken away.
"""

from __future__ import annotations

from typing import Any

from qtpy.QtCore import Qt
from qtpy.QtWidgets import QDockWidget, QFrame, QLabel, QScrollArea, QSizePolicy, QTableView

#: dock titles (napari adds " (napari-crant)") in the order they are tabbed
TABLE_DOCKS = ("Partners", "Adjacency", "Synapse QC")
QUERY_DOCK = "Query neurons"
PLUGIN_SUFFIX = " (napari-crant)"
#: available screen height (px) from which the query dock stays above the tables
TALL_SCREEN = 900
#: largest share of the dock area's height the query dock may take above the tables (its whole
#: form must fit in it, else it joins the tab group: a form cut to two rows is no use)
QUERY_MAX_SHARE = 0.5


def plugin_docks(window: Any) -> dict[str, QDockWidget]:
    """The main window's napari-crant dock widgets by display name (visible or not)."""
    out = {}
    for dock in window.findChildren(QDockWidget):
        title = dock.windowTitle()
        if title.endswith(PLUGIN_SUFFIX):
            out[title[: -len(PLUGIN_SUFFIX)]] = dock
    return out


def compact_tables(widget: Any) -> None:
    """Rows as tall as the font needs (not Qt's 30 px) in every table under ``widget``."""
    for table in widget.findChildren(QTableView):
        height = table.fontMetrics().height() + 6
        table.verticalHeader().setMinimumSectionSize(height)
        table.verticalHeader().setDefaultSectionSize(height)


def wrap_messages(widget: Any) -> None:
    """Word-wrapping labels under ``widget`` follow the dock's width instead of widening it."""
    for label in widget.findChildren(QLabel):
        if label.wordWrap():
            policy = label.sizePolicy()
            label.setSizePolicy(QSizePolicy.Policy.Ignored, policy.verticalPolicy())
            label.setMinimumWidth(0)


def scroll_dock(dock: QDockWidget) -> None:
    """Put the dock's content in a vertical scroll area (once): its height no longer sets a minimum."""
    inner = dock.widget()
    if inner is None or isinstance(inner, QScrollArea):
        return
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setWidget(inner)
    dock.setWidget(area)


def fit_docks(anchor: Any) -> None:
    """Arrange the napari-crant docks to fit the screen (see the module notes).

    Parameters
    ----------
    anchor
        Any widget docked in the viewer's main window (its ``window()`` is arranged).
    """
    window = anchor.window()
    if window is anchor or not hasattr(window, "tabifyDockWidget"):
        return  # not docked (yet)
    docks = plugin_docks(window)
    for dock in docks.values():
        compact_tables(dock)
        wrap_messages(dock)
    screen = window.screen().availableGeometry() if window.screen() is not None else None
    if screen is not None:
        _into_screen(window, screen)
    tall = window.frameGeometry().height() >= TALL_SCREEN
    group = [docks[name] for name in TABLE_DOCKS if name in docks and not docks[name].isFloating()]
    query = docks.get(QUERY_DOCK)
    if query is not None and query.isFloating():
        query = None
    query_height = 0
    if query is not None:  # above the tables only if its whole form fits in its share
        query_height = _full_height(query)
        tables = max((d.minimumSizeHint().height() for d in group), default=0)
        area = max(200, window.height() - 60)
        tall = tall and query_height <= area * QUERY_MAX_SHARE and area - query_height >= tables
    if query is not None and not tall:
        group.insert(0, query)
    for other in group[1:]:
        if other not in window.tabifiedDockWidgets(group[0]):
            window.tabifyDockWidget(group[0], other)
    if group:
        group[-1 if not tall or query is None else 0].raise_()
    if tall and query is not None and group:
        height = max(200, window.height() - 60)
        window.resizeDocks([query, group[0]], [query_height, height - query_height],
                           Qt.Orientation.Vertical)


def _full_height(dock: QDockWidget) -> int:
    """The height a dock needs to show all of its rows: the scrolled ones and any pinned below."""
    area = dock.findChild(QScrollArea)
    inner = area.widget() if area is not None else None
    if inner is None:
        return dock.minimumSizeHint().height()
    outside = dock.widget().minimumSizeHint().height() - area.minimumSizeHint().height()
    title = dock.height() - dock.widget().height() if dock.widget().height() else 30
    return inner.minimumSizeHint().height() + max(0, outside) + max(0, title) + 8


def _into_screen(window: Any, screen: Any) -> None:
    """Shrink and move the window so its frame lies within ``screen`` (a QRect)."""
    frame, geom = window.frameGeometry(), window.geometry()
    extra_w, extra_h = frame.width() - geom.width(), frame.height() - geom.height()
    width = min(geom.width(), screen.width() - extra_w)
    height = min(geom.height(), screen.height() - extra_h)
    if (width, height) != (geom.width(), geom.height()):
        window.resize(width, height)
    frame = window.frameGeometry()
    x = min(max(frame.x(), screen.x()), screen.x() + screen.width() - frame.width())
    y = min(max(frame.y(), screen.y()), screen.y() + screen.height() - frame.height())
    if (x, y) != (frame.x(), frame.y()):
        window.move(x, y)


class CameraFit:
    """Refit the camera after a load unless the user moved it since the last fit."""

    def __init__(self) -> None:
        self._fitted: tuple | None = None

    @staticmethod
    def _state(viewer: Any) -> tuple:
        scene = getattr(viewer, "scene", None)  # napari 0.9: viewer.scene.camera
        cam = scene.camera if scene is not None and hasattr(scene, "camera") else viewer.camera
        return (tuple(round(float(v), 6) for v in cam.center), round(float(cam.zoom), 9),
                tuple(round(float(v), 6) for v in cam.angles), viewer.dims.ndisplay)

    def after_load(self, viewer: Any, was_empty: bool) -> bool:
        """Call after a load's layers were drawn; returns whether the view was refitted.

        Parameters
        ----------
        viewer
            The viewer.
        was_empty
            Nothing of this package was shown before the load.
        """
        if not (was_empty or self._fitted is None or self._state(viewer) == self._fitted):
            return False  # the user moved the camera: keep their view
        viewer.reset_view()
        self._fitted = self._state(viewer)
        return True
