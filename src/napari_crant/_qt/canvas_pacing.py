"""When the canvas may paint while the loaded neurons' layers are written (``layer_batches.py``).

With software OpenGL a repaint of the whole scene costs more than a write turn, and a write
followed at once by the paint it causes is one long stall. :class:`CanvasPacing` holds the
canvas's repaints while a turn writes and lets it paint on a timer after the turn (input and due
timers run between the write and the paint: two stalls, not one); it also asks for one paint of
a new batch's layers before the next batch is written (their shaders are built and their data
uploaded in that paint, not all in the last one) and tells the writes whether it is still
awaited (at most :data:`PAINT_WAIT_MS`: a hidden or minimised canvas does not paint).
"""

from __future__ import annotations

import time
from typing import Any

#: ms the writes wait for the canvas to paint a new batch's layers (a canvas that does not paint,
#: hidden or minimised, holds them no longer); checked every :data:`PAINT_POLL_MS`
PAINT_WAIT_MS, PAINT_POLL_MS = 500, 2
#: ms after a write at which the canvas is let paint again
RELEASE_MS = 1


class CanvasPacing:
    """Holds and releases one session's canvas, and counts the frames vispy draws on it.

    Parameters
    ----------
    session
        The :class:`~napari_crant._qt.session.Session` (its viewer's canvas).

    Attributes
    ----------
    paint_asked
        ``(frames drawn when asked, when asked)`` while the writes wait for a batch's paint.
    release_pending
        Whether a release of the canvas is due (the arrival is not drawn until it ran).
    """

    def __init__(self, session: Any):
        self.session = session
        self.paint_asked: tuple[int, float] | None = None
        self.release_pending = False
        self._frames = 0  # frames the canvas painted (counted once it is watched)
        self._watched_canvas: Any = None
        self._holds = 0  # canvas holds and releases asked (a release ends only the latest hold)

    def release_later(self) -> None:
        """Let the canvas paint once the event loop has had a turn: a timer due after those that
        came due during the write (input, other timers), so the write and the paint are two
        stalls, not one. A turn writing meanwhile keeps the canvas held (the generation)."""
        from qtpy.QtCore import QTimer

        self._holds += 1
        hold = self._holds
        self.release_pending = True
        QTimer.singleShot(RELEASE_MS, lambda: self._release(hold))

    def _release(self, hold: int) -> None:
        if hold == self._holds:
            self.release_pending = False
            self.hold(False)

    def hold(self, hold: bool) -> None:
        """Hold (``True``) or let go of the canvas's repaints (its updates disabled; the rest of the
        window and input go on): while turns are written no repaint of the whole scene is spent
        between them (with software OpenGL each costs more than a turn), and the arrival is drawn
        when written (and once per new batch)."""
        canvas = self.canvas()
        if hold:
            self._holds += 1  # a release asked before this hold does not end it
        if canvas is None or canvas.updatesEnabled() != hold:
            return
        canvas.setUpdatesEnabled(not hold)
        if not hold:
            canvas.update()

    def ask_paint(self) -> bool:
        """Let the canvas paint before the next write (whether it can: a shown canvas)."""
        canvas = self.canvas()
        # vispy's draw event: the scene drawn (Qt's frameSwapped also follows every composition
        # of the window, which shows the canvas's last frame again while it is held)
        scene = getattr(getattr(getattr(getattr(self.session.viewer, "window", None), "_qt_viewer", None),
                                "canvas", None), "_scene_canvas", None)
        draw = getattr(getattr(scene, "events", None), "draw", None)
        if canvas is None or not canvas.isVisible() or draw is None:
            return False
        if self._watched_canvas is not scene:
            draw.connect(self._frame_painted)
            self._watched_canvas = scene
        self.paint_asked = (self._frames, time.perf_counter())
        return True

    def _frame_painted(self, event: Any = None) -> None:
        self._frames += 1

    def waiting_for_paint(self) -> bool:
        """Whether the writes still wait for the paint asked by :meth:`ask_paint`."""
        if self.paint_asked is None:
            return False
        frames, asked = self.paint_asked
        if self._frames > frames or (time.perf_counter() - asked) * 1000 >= PAINT_WAIT_MS:
            self.paint_asked = None
            return False
        return True

    def canvas(self) -> Any:
        """The canvas's Qt widget (``None`` without a window)."""
        viewer = self.session.viewer
        qt_viewer = getattr(getattr(viewer, "window", None), "_qt_viewer", None)
        return getattr(getattr(qt_viewer, "canvas", None), "native", None)
