"""How many synapse dots to draw: a budget per frame, a stable subsample beyond it (Qt-free).

With software OpenGL (Mesa's llvmpipe: remote desktops, virtual machines, Xvfb), every drawn
synapse dot costs about 20 us of CPU per frame, so 300 Kenyon cells' 167,000 dots freeze the
window for seconds at each repaint. Like Neuroglancer's annotation layers at a coarse zoom,
the canvas then draws a stable subsample of the dots in view: each dot has a fixed rank in
[0, 1) (a hash of its position), and the dots whose rank is below the drawn *fraction* are
shown. Zooming in shows more of them (the fraction grows; every dot shown at a fraction stays
shown at a larger one), down to every dot once the dots in view fit the budget.

:class:`DotBudget` holds the limit (``None``: every dot, what a GPU gets by default) and the
fraction drawn now; it says so in :meth:`DotBudget.notice`. In 2D, dots far from the view (beyond
half a view on each side) are drawn at the fraction of all the dots, so a zoomed-in view does not
pay for every dot off screen, and panning shows a sparse preview until the camera rests. The
fractions move in steps of a factor :data:`LEVEL_STEP`, so small zooms do not re-send every dot
to the canvas.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from psygnal import Signal

#: renderers that rasterise on the CPU (``GL_RENDERER`` of Mesa's and Google's software drivers)
SOFTWARE_RENDERERS = ("llvmpipe", "softpipe", "swiftshader", "software rasterizer", "swrast", "lavapipe")
#: synapse dots drawn at most with a software renderer (``benchmarks/gui_stalls.py``: 300 Kenyon
#: cells then repaint within the 250 ms budget on 2 cores)
SOFTWARE_DOT_LIMIT = 8_000
#: the drawn fraction moves in steps of this factor
LEVEL_STEP = math.sqrt(2.0)


def is_software_renderer(renderer: str) -> bool:
    """Whether an OpenGL ``GL_RENDERER`` string names a software rasteriser."""
    text = (renderer or "").lower()
    return any(name in text for name in SOFTWARE_RENDERERS)


def dot_ranks(positions: Any) -> np.ndarray:
    """A fixed rank in [0, 1) per dot, from its position (N x D floats): the same dot always
    gets the same rank, and ranks are spread evenly whatever the positions' order or spacing."""
    pos = np.ascontiguousarray(np.asarray(positions, dtype=np.float64))
    if pos.size == 0:
        return np.zeros(len(pos), dtype=np.float64)
    bits = pos.reshape(len(pos), -1).view(np.uint64)
    h = np.full(len(pos), 0x9E3779B97F4A7C15, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for col in range(bits.shape[1]):
            h = _mix(h ^ bits[:, col])
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser (uint64 in, uint64 out; overflow wraps)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def level_fraction(in_view: int, limit: int | None) -> float:
    """The fraction of dots to draw when ``in_view`` dots are in view: 1 when they fit
    ``limit`` (or there is no limit), else the largest power of 1/:data:`LEVEL_STEP` that
    keeps the drawn dots within the limit."""
    if limit is None or in_view <= limit:
        return 1.0
    if limit <= 0:
        return 0.0
    steps = math.ceil(math.log(in_view / limit) / math.log(LEVEL_STEP) - 1e-12)
    return LEVEL_STEP ** -steps


def in_rect(positions: Any, low: Any, high: Any, axes: tuple[int, ...]) -> np.ndarray:
    """Which of ``positions`` (N x D) lie within ``[low, high]`` on ``axes`` (bool per row)."""
    pos = np.asarray(positions)
    inside = np.ones(len(pos), dtype=bool)
    for axis, lo, hi in zip(axes, low, high, strict=True):
        col = pos[:, axis]
        inside &= (col >= lo) & (col <= hi)
    return inside


def count_in_rect(positions: Any, low: Any, high: Any, axes: tuple[int, ...]) -> int:
    """How many of ``positions`` (N x D) lie within ``[low, high]`` on ``axes``."""
    return int(np.count_nonzero(in_rect(positions, low, high, axes))) if len(positions) else 0


class DotBudget:
    """The synapse dots drawn now: the limit, the fraction of the dots in view, the counts.

    Parameters
    ----------
    limit
        Most dots drawn at once; ``None`` draws every dot.

    Signals
    -------
    changed
        The limit or the fraction changed (re-read :attr:`fraction` and apply :meth:`mask`).
    """

    changed = Signal()

    def __init__(self, limit: int | None = None) -> None:
        self._limit = _checked_limit(limit)
        #: fraction of the dots around the view drawn (1: all)
        self.fraction = 1.0
        #: fraction of the dots farther away drawn (a sparse preview while panning; <= fraction)
        self.outside = 1.0
        #: dots around the view when the fraction was last set
        self.in_view = 0
        #: every dot (around the view or not) when the fractions were last set
        self.total = 0
        #: why there is a limit (shown in the notice), e.g. ``'software OpenGL'``
        self.reason = ""

    @property
    def limit(self) -> int | None:
        """Most dots drawn at once (``None``: every dot)."""
        return self._limit

    def set_limit(self, limit: int | None, reason: str = "") -> None:
        """Change the limit (``None``: every dot) and refit the fractions to the last counts."""
        self._limit = _checked_limit(limit)
        self.reason = reason
        self.fraction = level_fraction(self.in_view, self._limit)
        self.outside = level_fraction(self.total, self._limit)
        self.changed.emit()

    def update(self, in_view: int, total: int | None = None) -> bool:
        """The dots around the view are now ``in_view`` of ``total`` (default: all of them are
        around the view): set the fractions; whether they changed (then :attr:`changed` was
        emitted). Drawn: at most the limit around the view and the limit farther away."""
        self.in_view = int(in_view)
        self.total = self.in_view if total is None else max(int(total), self.in_view)
        fractions = (level_fraction(self.in_view, self._limit), level_fraction(self.total, self._limit))
        if fractions == (self.fraction, self.outside):
            return False
        self.fraction, self.outside = fractions
        self.changed.emit()
        return True

    def mask(self, ranks: np.ndarray, near: np.ndarray | None = None) -> np.ndarray | None:
        """Which dots of these ranks are drawn (``None``: all of them); ``near`` says which dots
        are around the view (``None``: all are), the others are drawn at :attr:`outside`."""
        ranks = np.asarray(ranks)
        if near is None or self.outside >= self.fraction:
            return None if self.fraction >= 1.0 else ranks < self.fraction
        return np.where(near, ranks < self.fraction, ranks < self.outside)

    def notice_characters(self) -> str:
        """Every character a notice can hold with the current reason (digits included), sorted:
        the canvas font's glyphs to make ahead of the first notice."""
        fixed = ("Synapse dots: 1 in  drawn (~ of  in view). Zoom in for all." + self.reason
                 + "0123456789,")
        return "".join(sorted(set(fixed)))

    def notice(self) -> str:
        """Two short lines for the canvas while dots are left out (``''`` when every dot is drawn):
        how many are drawn, then why and what to do (short enough for a narrow canvas)."""
        if self.fraction >= 1.0:
            return ""
        every = round(1.0 / self.fraction) if self.fraction > 0 else 0
        drawn = round(self.in_view * self.fraction)
        why = f"{self.reason}. " if self.reason else ""
        return (f"Synapse dots: 1 in {every} drawn (~{drawn:,} of {self.in_view:,} in view)\n"
                f"{why}Zoom in for all.")


def _checked_limit(limit: int | None) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
        raise ValueError(f"the synapse dot limit must be a positive whole number or None, not {limit!r}")
    return int(limit)
