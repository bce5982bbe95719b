"""Message labels that never grow the window: at most a few lines, the rest elided into the tooltip.

A dock's message or status line can carry an error of any length (a traceback-like text from a
library, a list of failures). Shown in a word-wrapping ``QLabel`` such a text asked for as many
lines as it had: multiprocessing's 15-line "bootstrapping phase" error in the EM panel made the
window 1,131 px tall on a 1,000 px screen. :class:`ElidedLabel` wraps the text to its width
itself into its ``lines`` lines, the last one ending in "…" when text is left out; the whole
text is its tooltip and is copied by its context menu's *Copy message*. It asks for no width
(a long word or path is elided too, never widening the dock), and its size hints do not depend
on its text: it asks for ``lines`` lines and needs one (a message arriving, growing or going
away never changes the layout; a label whose minimum grew by lines, even a few, made a window
at its minimum height taller). Squeezed below ``lines`` lines it shows as many as fit.

:class:`ElidedMessage` is the same label as a magicgui widget (``.value``), for magicgui
containers such as the query dock.
"""

from __future__ import annotations

from typing import Any

from magicgui.backends._qtpy.widgets import QBaseStringWidget
from magicgui.widgets.bases import ValueWidget
from qtpy.QtCore import QEvent, QSize, Qt
from qtpy.QtGui import QAction, QFontMetrics, QGuiApplication
from qtpy.QtWidgets import QLabel, QSizePolicy, QWidget

__all__ = ["ELLIPSIS", "MAX_LINES", "ElidedLabel", "ElidedMessage", "wrap_lines"]

#: lines a message shows by default (the rest is in the tooltip)
MAX_LINES = 1
ELLIPSIS = "…"


def wrap_lines(text: str, metrics: QFontMetrics, width: int, max_lines: int) -> tuple[list[str], bool]:
    """Word-wrap ``text`` to ``width`` px in at most ``max_lines`` lines.

    Parameters
    ----------
    text
        The text; its own line breaks are kept.
    metrics
        The font's metrics.
    width
        Width available (px); a word longer than it is elided.
    max_lines
        Most lines returned (at least 1).

    Returns
    -------
    (lines, cut)
        The lines to show, and whether text was left out (the last line then ends in "…").
    """
    width = max(int(width), 1)
    max_lines = max(int(max_lines), 1)
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if line and metrics.horizontalAdvance(candidate) > width:
                lines.append(line)
                candidate = word
                if len(lines) > max_lines:
                    break
            line = candidate
        lines.append(line)
        if len(lines) > max_lines:
            break
    cut = len(lines) > max_lines
    lines = lines[:max_lines]

    def elide(line: str) -> str:
        return metrics.elidedText(line, Qt.TextElideMode.ElideRight, width)

    shown = [elide(line) for line in lines]
    if cut:  # ends in "…" whether or not the last line had room left
        shown[-1] = elide(f"{lines[-1]} {ELLIPSIS}")
    return shown, cut or shown != lines


class ElidedLabel(QLabel):
    """A plain-text message label of ``lines`` lines, one when squeezed (see the module notes).

    Parameters
    ----------
    text
        The message.
    lines
        Lines shown when there is room (the label's preferred height; its minimum is one line).
    parent
        Parent widget.
    """

    def __init__(self, text: str = "", lines: int = MAX_LINES, parent: QWidget | None = None):
        super().__init__(parent)
        self._full = ""
        self._lines = max(int(lines), 1)
        self._cut = False
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setWordWrap(False)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Maximum)
        self.setMinimumWidth(0)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        copy = QAction("Copy message", self)
        copy.triggered.connect(self.copy_message)
        self.addAction(copy)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.setText(text)

    # -- the message ------------------------------------------------------------------------------
    def text(self) -> str:  # the whole message, not the lines shown
        return self._full

    def setText(self, text: Any) -> None:  # QLabel's name: magicgui calls it
        """Show ``text`` (elided to the label's lines; the whole of it in the tooltip)."""
        self._full = "" if text is None else str(text)
        self._relayout()

    @property
    def lines(self) -> int:
        """Lines shown when there is room."""
        return self._lines

    def set_lines(self, lines: int) -> None:
        """Show ``lines`` lines when there is room (the label's new preferred height)."""
        self._lines = max(int(lines), 1)
        self.updateGeometry()
        self._relayout()

    def shown_text(self) -> str:
        """The lines shown (elided)."""
        return super().text()

    @property
    def elided(self) -> bool:
        """Whether part of the message is left out of the lines shown."""
        return self._cut

    def copy_message(self) -> None:
        """Put the whole message on the clipboard."""
        QGuiApplication.clipboard().setText(self._full)

    # -- layout -------------------------------------------------------------------------------------
    def _width(self, width: int | None = None) -> int:
        m = self.contentsMargins()
        w = self.contentsRect().width() if width is None else width - m.left() - m.right()
        return max(w - 2 * max(self.margin(), 0), 1)

    def lines_fitting(self) -> int:
        """Lines the label's height holds now (1 to :attr:`lines`)."""
        n = self._lines
        while n > 1 and self.lines_height(n) > self.height():
            n -= 1
        return n

    def _relayout(self) -> None:
        lines, cut = wrap_lines(self._full, self.fontMetrics(), self._width(), self.lines_fitting())
        self._cut = cut
        QLabel.setText(self, "\n".join(lines))
        self.setToolTip(self._full if cut else "")

    def lines_height(self, n_lines: int | None = None) -> int:
        """The height (px) of ``n_lines`` lines (default :attr:`lines`) in the label's font."""
        n = self._lines if n_lines is None else max(int(n_lines), 1)
        m = self.contentsMargins()
        fm = self.fontMetrics()
        frame = m.top() + m.bottom() + 2 * max(self.margin(), 0)
        return fm.lineSpacing() * (n - 1) + fm.height() + frame

    def sizeHint(self) -> QSize:
        return QSize(0, self.lines_height())

    def minimumSizeHint(self) -> QSize:
        return QSize(0, self.lines_height(1))

    def changeEvent(self, event: Any) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self.updateGeometry()  # a style sheet (the error colour, napari's theme) may change the font
            self._relayout()

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._relayout()


class _ElidedLabelBackend(QBaseStringWidget):
    """magicgui's Qt backend of a label, drawn by an :class:`ElidedLabel`."""

    _qwidget: ElidedLabel

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(ElidedLabel, "text", "setText", "", **kwargs)

    def _mgui_bind_change_callback(self, callback: Any) -> None:
        pass  # a label has no change signal


class ElidedMessage(ValueWidget[str]):
    """A magicgui label (``.value``) drawn by an :class:`ElidedLabel` (``.native``).

    Parameters
    ----------
    lines
        Lines shown (the label's height).
    **kwargs
        magicgui widget arguments (``value``, ``label``, ...).
    """

    def __init__(self, lines: int = MAX_LINES, **kwargs: Any):
        kwargs.setdefault("value", "")
        super().__init__(widget_type=_ElidedLabelBackend, **kwargs)
        self.native.set_lines(lines)
