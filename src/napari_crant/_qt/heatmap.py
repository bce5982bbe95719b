"""A Qt-native heat map: a colour-mapped QImage of the matrix, labels and a colour bar drawn with QPainter.

Chosen over a matplotlib canvas by speed (``benchmarks/adjacency_render.py``). All the numbers
come from :class:`napari_crant.adjacency_view.HeatmapData`; this widget only draws them and
reports the cell under the mouse.
"""

from typing import Any

import numpy as np
from psygnal import Signal
from qtpy.QtCore import QPointF, QRectF, QSize, Qt
from qtpy.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPen
from qtpy.QtWidgets import QSizePolicy, QToolTip, QWidget

from napari_crant.adjacency_view import (
    NO_TYPE,
    HeatmapData,
    color_image,
    colorbar_ticks,
    normalized,
    type_runs,
)

#: colours of the default napari dark theme (replaced by :meth:`HeatmapCanvas.set_theme`).
DARK = {"background": (35, 36, 43), "text": (240, 241, 242), "secondary": (86, 95, 108),
        "current": (69, 96, 196), "highlight": (255, 230, 0)}
COLORBAR_W = 14
STRIP = 5  # cell-type colour strip beside the matrix (px)
GAP = 4
#: smallest size in the "fit" zoom (the matrix shrinks to the dock rather than scroll).
MIN_SIZE = QSize(160, 120)


#: distinct colours for the cell-type strips (Okabe-Ito, then Tableau), in sorted type order.
TYPE_PALETTE = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
                "#9467BD", "#8C564B", "#BCBD22", "#17BECF", "#FF9896", "#98DF8A", "#C5B0D5")


def type_colors(types: Any) -> dict[str, QColor]:
    """A distinct colour per cell type (sorted names take the palette in turn; no type: grey)."""
    names = sorted({str(t) for t in types} - {NO_TYPE})
    out = {t: QColor(TYPE_PALETTE[k % len(TYPE_PALETTE)]) for k, t in enumerate(names)}
    out[NO_TYPE] = QColor(128, 128, 128)
    return out


class HeatmapCanvas(QWidget):
    """Draws a :class:`HeatmapData`; rows and columns keep square cells that fill the widget.

    Labels: one per row/column when the cells are tall enough for text, else one per run of
    the same cell type (with separator lines), elided in the middle; hover a label for the
    full ID. A colour bar on the right.

    Signals
    -------
    hovered(row, col)
        The cell under the mouse (``-1, -1`` outside the matrix); ``row`` or ``col`` alone for a label.
    clicked(row, col)
        A cell was clicked.
    """

    hovered = Signal(int, int)
    clicked = Signal(int, int)

    def __init__(self, parent: Any = None):
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(MIN_SIZE)
        self.data: HeatmapData | None = None
        self.scale = "log"
        self.colors = dict(DARK)
        self.lut = _viridis_lut()
        self.selected: tuple[int, int] | None = None
        #: The row and column of the neuron selected elsewhere (canvas, legend), outlined; -1: none.
        self.marked: tuple[int, int] = (-1, -1)
        self._image: QImage | None = None
        self._buffer: np.ndarray | None = None
        self._layouts: dict[tuple[float, float], dict[str, Any]] = {}
        self._widest: dict[bool, float] = {}
        self.font_px = 11

    # -- state ------------------------------------------------------------------------------
    def set_theme(self, colors: dict[str, tuple[int, int, int]], lut: np.ndarray | None = None) -> None:
        """Use these theme colours (``background``, ``text``, ``secondary``, ``current``) and colour map."""
        self.colors.update(colors)
        if lut is not None:
            self.lut = np.asarray(lut, np.uint8)
        self._rebuild()

    def set_data(self, data: HeatmapData | None, scale: str = "log") -> None:
        """Show ``data`` with a ``'log'`` or ``'linear'`` colour scale."""
        self.data, self.scale = data, scale
        self.selected = None
        self.marked = (-1, -1)
        self._rebuild()

    def _rebuild(self) -> None:
        self._image = None
        self._layouts: dict[tuple[float, float], dict[str, Any]] = {}
        self._widest: dict[bool, float] = {}
        if self.data is not None and self.data.values.size:
            zero = (*self.colors["background"], 255)
            rgba = color_image(self.data.values, self.lut, zero, self.data.vmax, self.scale, self.data.vmin)
            self._buffer = rgba
            h, w = rgba.shape[:2]
            self._image = QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888)
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(420, 420)

    # -- geometry -----------------------------------------------------------------------------
    def _font(self) -> QFont:
        font = QFont(self.font())
        font.setPixelSize(self.font_px)
        return font

    def layout_for(self, width: float, height: float) -> dict[str, Any]:
        """Geometry of the parts at this size: matrix rect, cell size, label margins, label mode.

        ``per_label`` is true when every row and column gets its own label (the cells are as
        tall as a line of text); else labels are per run of a cell type and the margins fit those.
        """
        fm = QFontMetrics(self._font())
        d = self.data
        assert d is not None
        rows, cols = d.shape
        line = fm.height()
        cb_w = COLORBAR_W + GAP + fm.horizontalAdvance(str(d.vmax)) + 8

        key = (float(width), float(height))
        if key in self._layouts:
            return self._layouts[key]

        def geometry(labels: list[str], per_label: bool) -> dict[str, Any]:
            if per_label not in self._widest:  # text widths: once per matrix
                self._widest[per_label] = max((fm.horizontalAdvance(s) for s in set(labels)), default=40)
            widest = self._widest[per_label]
            label_w = min(widest + 6, max(60.0, 0.3 * width), 180.0)
            label_h = min(widest + 6, max(50.0, 0.3 * height), 180.0)
            left, top = label_w + STRIP + GAP, label_h + STRIP + GAP
            cell = max(min((width - left - cb_w - GAP) / max(cols, 1), (height - top - GAP) / max(rows, 1)),
                       0.25)
            matrix = QRectF(left, top, cell * cols, cell * rows)
            return {"matrix": matrix, "cell": cell, "label_w": label_w, "label_h": label_h, "line": line,
                    "per_label": per_label,
                    "colorbar": QRectF(matrix.right() + 2 * GAP, top, COLORBAR_W,
                                       max(matrix.height(), 2.0 * line))}

        g = geometry([*d.row_labels, *d.col_labels], True)
        if g["cell"] < 0.9 * line:
            g = geometry([str(t) for t in (*d.row_types, *d.col_types)], False)
        if len(self._layouts) > 8:
            self._layouts.clear()
        self._layouts[key] = g
        return g

    def cell_at(self, x: float, y: float) -> tuple[int, int]:
        """``(row, col)`` under widget coordinates; -1 where outside (a label gives its row or col)."""
        if self.data is None or not self.data.values.size:
            return -1, -1
        g = self.layout_for(self.width(), self.height())
        m, cell = g["matrix"], g["cell"]
        rows, cols = self.data.shape
        r = int((y - m.top()) // cell) if m.top() <= y < m.bottom() else -1
        c = int((x - m.left()) // cell) if m.left() <= x < m.right() else -1
        r, c = min(r, rows - 1), min(c, cols - 1)
        if x >= m.right() and r >= 0:  # right of the matrix: nothing
            return -1, -1
        return r, c

    # -- drawing ------------------------------------------------------------------------------
    def paintEvent(self, event: Any) -> None:
        painter = QPainter(self)
        try:
            self.paint(painter, self.width(), self.height())
        finally:
            painter.end()

    def paint(self, painter: QPainter, width: float, height: float) -> None:
        """Draw everything on ``painter`` (a widget, an image or an SVG generator) at this size."""
        c = self.colors
        painter.fillRect(QRectF(0, 0, width, height), QColor(*c["background"]))
        d = self.data
        if d is None or self._image is None:
            painter.setPen(QColor(*c["text"]))
            painter.drawText(QRectF(0, 0, width, height), int(Qt.AlignmentFlag.AlignCenter),
                             "No synapses among the loaded neurons." if d is not None else "")
            return
        g = self.layout_for(width, height)
        m, cell = g["matrix"], g["cell"]
        painter.setFont(self._font())
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.drawImage(m, self._image)
        self._draw_numbers(painter, g)
        self._draw_strips(painter, g)
        self._draw_labels(painter, g)
        self._draw_colorbar(painter, g)
        mark_row, mark_col = self.marked
        if mark_row >= 0 or mark_col >= 0:
            painter.setPen(QPen(QColor(*c["highlight"]), 1, Qt.PenStyle.DashLine))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            if mark_row >= 0:
                painter.drawRect(QRectF(m.left(), m.top() + mark_row * cell, m.width(), max(cell, 1)))
            if mark_col >= 0:
                painter.drawRect(QRectF(m.left() + mark_col * cell, m.top(), max(cell, 1), m.height()))
        if self.selected is not None:
            r, col = self.selected
            painter.setPen(QPen(QColor(*c["highlight"]), 2))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(QRectF(m.left() + col * cell, m.top() + r * cell, max(cell, 3), max(cell, 3)))

    def _draw_numbers(self, painter: QPainter, g: dict[str, Any]) -> None:
        """The count in each cell, where cells are wide enough for it."""
        d, m, cell = self.data, g["matrix"], g["cell"]
        fm = QFontMetrics(self._font())
        if cell < max(fm.horizontalAdvance(str(d.vmax)) + 4, g["line"]) or d.values.size > 2500:
            return
        bright = normalized(d.values, d.vmax, self.scale, d.vmin) > 0.6  # viridis is light at the top
        center = int(Qt.AlignmentFlag.AlignCenter)
        for (r, c), v in np.ndenumerate(d.values):
            if v:
                painter.setPen(QColor(0, 0, 0) if bright[r, c] else QColor(*self.colors["text"]))
                painter.drawText(QRectF(m.left() + c * cell, m.top() + r * cell, cell, cell), center, str(v))

    def _draw_strips(self, painter: QPainter, g: dict[str, Any]) -> None:
        d, m, cell = self.data, g["matrix"], g["cell"]
        type_color = type_colors([*d.row_types, *d.col_types]).__getitem__
        for start, stop, t in type_runs(d.row_types):
            span = (stop - start) * cell
            painter.fillRect(QRectF(m.left() - STRIP - 1, m.top() + start * cell, STRIP, span), type_color(t))
        for start, stop, t in type_runs(d.col_types):
            span = (stop - start) * cell
            painter.fillRect(QRectF(m.left() + start * cell, m.top() - STRIP - 1, span, STRIP), type_color(t))

    def _draw_labels(self, painter: QPainter, g: dict[str, Any]) -> None:
        d, m, cell, line = self.data, g["matrix"], g["cell"], g["line"]
        fm = QFontMetrics(self._font())
        painter.setPen(QColor(*self.colors["text"]))
        mid = Qt.TextElideMode.ElideMiddle
        right_v = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        left_v = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        x_lab = m.left() - STRIP - GAP - g["label_w"]
        if g["per_label"]:  # one label per row / column
            rows = [(i, i + 1, s) for i, s in enumerate(d.row_labels)]
            cols = [(i, i + 1, s) for i, s in enumerate(d.col_labels)]
        else:  # one label per run of a cell type, separated by lines where the runs are long
            rows, cols = type_runs(d.row_types), type_runs(d.col_types)
        if len(rows) + len(cols) <= 60 and (m.height() + m.width()) / max(len(rows) + len(cols), 1) >= 6:
            painter.save()
            painter.setPen(QPen(QColor(*self.colors["secondary"]), 1))
            for start, _, _ in rows[1:]:
                y = m.top() + start * cell
                painter.drawLine(QPointF(m.left(), y), QPointF(m.right(), y))
            for start, _, _ in cols[1:]:
                x = m.left() + start * cell
                painter.drawLine(QPointF(x, m.top()), QPointF(x, m.bottom()))
            painter.restore()
        for start, stop, text in rows:
            span = (stop - start) * cell
            if span < line * 0.9:
                continue
            painter.drawText(QRectF(x_lab, m.top() + start * cell, g["label_w"], span), right_v,
                             fm.elidedText(text, mid, int(g["label_w"])))
        painter.save()
        painter.translate(m.left(), m.top() - STRIP - GAP)
        painter.rotate(-90)
        for start, stop, text in cols:  # drawn upwards from the matrix, rotated
            span = (stop - start) * cell
            if span < line * 0.9:
                continue
            painter.drawText(QRectF(0, start * cell, g["label_h"], span), left_v,
                             fm.elidedText(text, mid, int(g["label_h"])))
        painter.restore()

    def _draw_colorbar(self, painter: QPainter, g: dict[str, Any]) -> None:
        d, bar = self.data, g["colorbar"]
        ramp = np.ascontiguousarray(self.lut[::-1][:, None, :].repeat(2, axis=1))
        img = QImage(ramp.data, 2, len(ramp), 8, QImage.Format.Format_RGBA8888)
        painter.drawImage(bar, img)
        painter.setPen(QColor(*self.colors["text"]))
        fm = QFontMetrics(self._font())
        last_y = None
        for tick in reversed(colorbar_ticks(d.vmax, self.scale, d.vmin)):  # from the top down
            t = float(normalized(np.array([tick]), d.vmax, self.scale, d.vmin)[0])
            y = bar.bottom() - t * bar.height()
            if last_y is not None and y - last_y < fm.height():
                continue  # no overlapping tick labels on a short bar
            last_y = y
            painter.drawLine(QPointF(bar.right(), y), QPointF(bar.right() + 3, y))
            painter.drawText(QPointF(bar.right() + 5, y + fm.ascent() / 2 - 1), str(tick))

    # -- mouse --------------------------------------------------------------------------------
    def mouseMoveEvent(self, event: Any) -> None:
        pos = event.position() if hasattr(event, "position") else event.pos()
        r, c = self.cell_at(pos.x(), pos.y())
        self.hovered.emit(r, c)
        text = self.hover_text(r, c)
        if text:
            QToolTip.showText(event.globalPosition().toPoint() if hasattr(event, "globalPosition")
                              else event.globalPos(), text, self)
        else:
            QToolTip.hideText()

    def hover_text(self, row: int, col: int) -> str:
        """Tooltip of a cell (``pre → post: n synapses``) or of a row / column label (full label)."""
        d = self.data
        if d is None or not d.values.size:
            return ""
        if row >= 0 and col >= 0:
            return d.describe(row, col)
        if row >= 0:
            return f"pre {d.row_full[row]}"
        if col >= 0:
            return f"post {d.col_full[col]}"
        return ""

    def leaveEvent(self, event: Any) -> None:
        self.hovered.emit(-1, -1)

    def mousePressEvent(self, event: Any) -> None:
        pos = event.position() if hasattr(event, "position") else event.pos()
        r, c = self.cell_at(pos.x(), pos.y())
        if r >= 0 and c >= 0 and event.button() == Qt.MouseButton.LeftButton:
            self.select(r, c)

    def mark(self, row: int, col: int) -> None:
        """Outline a row and a column (-1: none), e.g. the neuron selected on the canvas."""
        self.marked = (row, col)
        self.update()

    def select(self, row: int, col: int) -> None:
        """Mark a cell as selected and emit :attr:`clicked`."""
        self.selected = (row, col)
        self.update()
        self.clicked.emit(row, col)

    # -- export -------------------------------------------------------------------------------
    def readable_size(self) -> QSize:
        """The size at which every row and column gets its own label (at most 8000 px a side)."""
        d = self.data
        if d is None:
            return QSize(240, 200)
        fm = QFontMetrics(self._font())
        widest = max((fm.horizontalAdvance(s) for s in (*d.row_labels, *d.col_labels)), default=40)
        margin = min(widest + 6, 180) + STRIP + 2 * GAP
        cell = fm.height() + 1
        rows, cols = d.shape
        width = margin + cell * cols + COLORBAR_W + 3 * GAP + fm.horizontalAdvance(str(d.vmax)) + 8
        height = margin + cell * rows
        return QSize(int(min(width, 8000)), int(min(max(height, 200), 8000)))

    def export_size(self) -> QSize:
        """Size of exported pictures: readable labels, and at least the size shown."""
        return self.readable_size().expandedTo(self.size())

    def save_image(self, path: str) -> None:
        """Write the heat map (all labels readable) to a ``.png`` or ``.svg`` file."""
        size = self.export_size()
        if str(path).lower().endswith(".svg"):
            from qtpy.QtSvg import QSvgGenerator

            gen = QSvgGenerator()
            gen.setFileName(str(path))
            gen.setSize(size)
            gen.setViewBox(QRectF(0, 0, size.width(), size.height()))
            gen.setTitle("napari-crant adjacency")
            painter = QPainter(gen)
        else:
            image = QImage(size, QImage.Format.Format_ARGB32)
            painter = QPainter(image)
        try:
            self.paint(painter, size.width(), size.height())
        finally:
            painter.end()
        if not str(path).lower().endswith(".svg") and not image.save(str(path)):
            raise OSError(f"could not write {path}")


def _viridis_lut() -> np.ndarray:
    """napari's viridis colour map as a 256 x 4 uint8 table."""
    from napari.utils.colormaps import ensure_colormap

    rgba = ensure_colormap("viridis").map(np.linspace(0.0, 1.0, 256))
    return np.round(np.asarray(rgba) * 255).astype(np.uint8)
