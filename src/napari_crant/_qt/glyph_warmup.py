"""The canvas font's glyphs made ahead of the text that needs them, one glyph per idle moment.

napari draws canvas text (the text overlay, layer text) from a signed-distance-field atlas. A
character's glyph is made on the main thread the first time it is drawn, in the paint itself:
the glyph is rendered by Qt at 256 pt and its distance field computed in Python, ~10 ms each.
The synapse dots' notice (:mod:`~napari_crant._qt.dot_lod`) first appears in the paint that
draws a big arrival, and its ~40 new characters added ~0.5 s to that paint.

:class:`GlyphWarmup` makes the glyphs of given characters beforehand, one every
:data:`GAP_MS` while the session is neither drawing an arrival nor running a worker (the gap
lets input and repaints through), so the paint that shows the notice finds them made. The atlas
is napari's own (the canvas's font manager): the glyphs are exactly those the paint would make.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: characters vispy's text layout measures for every text (ascender and descender), whatever it says
LAYOUT_CHARACTERS = "ÅÉÑŐjgpqy"
#: ms between two glyphs (each ~10 ms of main-thread work)
GAP_MS = 15
#: ms to wait while the session draws an arrival before trying again
BUSY_WAIT_MS = 100


def canvas_font(viewer: Any) -> Any:
    """The font napari's canvas text is drawn with (``None`` without a canvas or font manager)."""
    canvas = getattr(getattr(getattr(viewer, "window", None), "_qt_viewer", None), "canvas", None)
    info = getattr(canvas, "_font_info", None)
    manager = getattr(info, "font_manager", None)
    if manager is None or not hasattr(manager, "get_font"):
        return None
    try:
        return manager.get_font(info.face)
    except Exception:  # a font manager of another napari: the glyphs are made when drawn
        return None


def workers_running() -> bool:
    """Whether a worker thread is running (napari's ``thread_worker``s run in Qt's global thread
    pool: a load, the dock's warm-up): the glyphs then wait, so they never slow what the user asked."""
    from qtpy.QtCore import QThreadPool

    return QThreadPool.globalInstance().activeThreadCount() > 0


def missing_glyphs(font: Any, chars: str) -> list[str]:
    """The characters of ``chars`` (once each, in order) whose glyph ``font`` has not made yet."""
    made = getattr(font, "_glyphs", None)
    if made is None:
        return []
    return [c for c in dict.fromkeys(chars) if c not in made]


class GlyphWarmup:
    """Makes the canvas font's glyphs of some characters, one per idle moment.

    Parameters
    ----------
    viewer
        Returns the napari viewer whose canvas font is warmed (``None`` once it is gone; the
        warm-up does not keep the viewer alive).
    busy
        Called before each glyph: while it returns true (an arrival is being drawn), the glyph
        waits :data:`BUSY_WAIT_MS`.
    """

    def __init__(self, viewer: Callable[[], Any], busy: Callable[[], bool] | None = None):
        self.viewer = viewer
        self.busy = busy
        self._pending: list[str] = []
        self._generation = 0  # a restart or stop makes the scheduled steps of before do nothing
        #: glyphs made by this warm-up (tests read it)
        self.made = 0

    @property
    def pending(self) -> list[str]:
        """Characters still to be made."""
        return list(self._pending)

    def start(self, chars: str) -> None:
        """Make the glyphs of ``chars`` (and of :data:`LAYOUT_CHARACTERS`) that the canvas font
        lacks, from the next idle moment on."""
        font = canvas_font(self.viewer())
        if font is None:
            return
        missing = missing_glyphs(font, LAYOUT_CHARACTERS + chars)
        self._pending = [c for c in dict.fromkeys(self._pending + missing)]
        if self._pending:
            self._generation += 1
            self._schedule(GAP_MS)

    def stop(self) -> None:
        """Make no more glyphs."""
        self._pending = []
        self._generation += 1

    def step(self) -> bool:
        """Make one pending glyph now (skipping any made meanwhile); whether one was made."""
        font = canvas_font(self.viewer())
        if font is None:
            self._pending = []
            return False
        while self._pending:
            char = self._pending.pop(0)
            if missing_glyphs(font, char):
                try:
                    font[char]  # napari's font makes and keeps the glyph (in its atlas)
                except (RuntimeError, TypeError, ValueError):  # e.g. a full atlas: drawn as before
                    self._pending = []
                    return False
                self.made += 1
                return True
        return False

    def _schedule(self, delay_ms: int) -> None:
        from qtpy.QtCore import QTimer

        generation = self._generation
        # no timer object of its own (one outliving the QApplication crashes the interpreter's exit)
        QTimer.singleShot(delay_ms, lambda: self._tick(generation))

    def _tick(self, generation: int) -> None:
        if generation != self._generation or not self._pending:
            return
        if self.busy is not None and self.busy():
            self._schedule(BUSY_WAIT_MS)
            return
        self.step()
        if self._pending:
            self._schedule(GAP_MS)
