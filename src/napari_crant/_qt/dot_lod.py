"""The synapse dots' level of detail on the canvas: a stable subsample while too many are in view.

One :class:`DotLevelOfDetail` per session holds a :class:`~napari_crant.scene.dot_budget.DotBudget`.
Its limit comes from napari-crant's Preferences page (*synapse dots drawn at most*: ``-1``
automatic, ``0`` every dot, ``N`` at most N) and, when automatic, from the OpenGL renderer: a
software rasteriser gets :data:`~napari_crant.scene.dot_budget.SOFTWARE_DOT_LIMIT`, a GPU every dot.

The fraction drawn is set before an arrival is written (from the loaded synapses, all in view
once the camera is refitted) and again :data:`SETTLE_MS` after the camera stops moving (from the
dots around the view: in 2D those within the visible rectangle widened by half of it on each side,
in 3D all). Dots farther away are drawn at the fraction of all the dots (a sparse preview while
panning; a zoomed-in view does not pay for every dot off screen); the region is made again once
the view leaves it. The session then shows each synapse layer's dots that the legend shows *and*
whose rank is below their fraction (:meth:`DotLevelOfDetail.mask_for`). While dots are left out,
the canvas's text overlay says so; the overlay's glyphs are made ahead once a limit is set
(:mod:`~napari_crant._qt.glyph_warmup`).
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from napari_crant._qt.glyph_warmup import GlyphWarmup, workers_running
from napari_crant.scene.dot_budget import (
    SOFTWARE_DOT_LIMIT,
    DotBudget,
    count_in_rect,
    dot_ranks,
    in_rect,
    is_software_renderer,
)

#: ms after the camera's last move at which the dots in view are counted again
SETTLE_MS = 200
#: the synapse layer kinds this applies to
DOT_KINDS = ("pre", "post")
#: the renderer of this process's OpenGL context (read once)
_RENDERER: list[str] = []


def renderer_name(viewer: Any) -> str:
    """``GL_RENDERER`` of the viewer's canvas (``''`` when it cannot be read)."""
    if _RENDERER:
        return _RENDERER[0]
    canvas = getattr(getattr(getattr(viewer, "window", None), "_qt_viewer", None), "canvas", None)
    native = getattr(canvas, "native", None)
    if native is None or not hasattr(native, "makeCurrent"):
        return ""
    try:
        from vispy.gloo import gl

        native.makeCurrent()
        name = str(gl.glGetParameter(gl.GL_RENDERER) or "")
    except Exception:  # no context yet (hidden window) or no GL: unknown, ask again later
        return ""
    _RENDERER.append(name)
    return name


def preferred_limit() -> int:
    """The Preferences page's *synapse dots drawn at most* (``-1``: automatic)."""
    try:
        from napari.settings import get_plugin_settings

        value = get_plugin_settings("napari-crant").drawing.synapse_dot_limit
    except (ImportError, KeyError, AttributeError):
        return -1
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


class DotLevelOfDetail:
    """The drawn fraction of one session's synapse dots, kept up with the camera.

    Parameters
    ----------
    session
        The :class:`~napari_crant._qt.session.Session` (its viewer, scene, legend and layers).
    """

    def __init__(self, session: Any):
        self.session = session
        self.budget = DotBudget()
        self._resolved = False
        self._ranks: dict[int, tuple[int, int, np.ndarray]] = {}  # id(layer) -> (id(data), len, ranks)
        self._moves = 0  # camera moves seen (the last one's check recounts)
        #: (axes, low, high): the world region around the view the masks were made for (2D, while
        #: the far dots are drawn more sparsely), ``None``: every dot counts as around the view
        self._region: tuple | None = None
        self._notice = ""  # the overlay text this set (a user's own text is left alone)
        self._watching = False
        self.budget.changed.connect(self._show_notice)
        #: the notice's glyphs made ahead, so its first paint does not make them
        self.glyphs = GlyphWarmup(lambda: session.viewer,
                                  busy=lambda: bool(session.drawing) or workers_running())

    # -- the limit ------------------------------------------------------------------------------
    def resolve_limit(self, setting: int | None = None) -> None:
        """Set the limit from the Preferences (or ``setting``) and the renderer."""
        setting = preferred_limit() if setting is None else int(setting)
        if setting == 0:
            self.budget.set_limit(None)
        elif setting > 0:
            self.budget.set_limit(setting, "Preferences")
        else:
            name = renderer_name(self.session.viewer)
            if not name:
                return  # no OpenGL context yet: decided at the next load
            if is_software_renderer(name):
                self.budget.set_limit(SOFTWARE_DOT_LIMIT, f"software OpenGL: {name.split(' (')[0]}")
            else:
                self.budget.set_limit(None)
        self._resolved = True
        if self.budget.limit is not None:
            self.glyphs.start(self.budget.notice_characters())

    def set_limit(self, setting: int) -> None:
        """Change the limit now (``-1`` automatic, ``0`` every dot, ``N``) and redraw the dots."""
        before = (self.budget.fraction, self.budget.outside, self._region)
        self.resolve_limit(setting)
        self.recount()
        if (self.budget.fraction, self.budget.outside, self._region) != before:
            self.session.apply_visibility_kinds(DOT_KINDS)

    def warm_up(self) -> None:
        """Decide the limit now if the canvas can say its renderer (the query dock opened), so the
        notice's glyphs are made while the user types, not in the first big arrival's paint."""
        if not self._resolved:
            self.resolve_limit()

    # -- before a load is drawn -----------------------------------------------------------------
    def expect(self, dots: int) -> None:
        """A load brings the loaded synapse dots to ``dots`` (the camera will show them all)."""
        if not self._resolved:
            self.resolve_limit()
        self._watch()
        self._region = None  # the camera is refitted to the load: every dot is around the view
        self.budget.update(dots)

    # -- masks ------------------------------------------------------------------------------------
    def mask_for(self, layer: Any) -> np.ndarray | None:
        """Which of a synapse layer's dots the level of detail draws (``None``: all)."""
        budget = self.budget
        far_too = self._region is not None and budget.outside < budget.fraction
        if len(layer.data) == 0 or (budget.fraction >= 1.0 and not far_too):
            return None
        near = None
        if far_too:
            axes, low, high = self._region
            near = in_rect(self._world(layer), low, high, axes)
        return self.budget.mask(self._layer_ranks(layer), near)

    @staticmethod
    def _world(layer: Any) -> np.ndarray:
        data = np.asarray(layer.data, dtype=float)
        return data * np.asarray(layer.scale)[None, :] + np.asarray(layer.translate)[None, :]

    def _layer_ranks(self, layer: Any) -> np.ndarray:
        key = (id(layer.data), len(layer.data))
        known = self._ranks.get(id(layer))
        if known is None or known[:2] != key:
            known = (*key, dot_ranks(layer.data))
            self._ranks[id(layer)] = known
        return known[2]

    # -- the camera ---------------------------------------------------------------------------------
    def _watch(self) -> None:
        if self._watching or self.session.viewer is None:
            return
        viewer = self.session.viewer
        camera = _camera(viewer)
        camera.events.zoom.connect(self._camera_moved)
        camera.events.center.connect(self._camera_moved)
        viewer.dims.events.ndisplay.connect(self._camera_moved)
        self._watching = True

    def _camera_moved(self, event: Any = None) -> None:
        from qtpy.QtCore import QTimer

        # no timer object of its own (one outliving the QApplication crashes the interpreter's
        # exit): each move schedules a check, and only the last move's check counts
        self._moves += 1
        move = self._moves
        QTimer.singleShot(SETTLE_MS, lambda: self._settled(move))

    def _settled(self, move: int) -> None:
        if move != self._moves or self.session.viewer is None:
            return  # the camera moved again since
        if self.session.drawing:  # the arrival's last write recounts
            return
        if self.recount():
            self.session.apply_visibility_kinds(DOT_KINDS)

    def recount(self) -> bool:
        """Count the dots around the view again and set the fractions (and in 2D the region around
        the view); whether the dots to draw changed."""
        viewer = self.session.viewer
        if viewer is None:
            return False
        layers = [layer for kind in DOT_KINDS for layer in self.session.batches.layers(kind)
                  if layer.visible and len(layer.data)]
        worlds = [self._shown_world(layer) for layer in layers]
        total = sum(len(w) for w in worlds)
        view = self._view_rect(viewer)
        if view is None:  # 3D: every dot is around the view
            changed = self._region is not None
            self._region = None
            return self.budget.update(total) or changed
        axes, low, high = view
        span = [hi - lo for lo, hi in zip(low, high, strict=True)]
        region = (axes, [lo - s / 2 for lo, s in zip(low, span, strict=True)],
                  [hi + s / 2 for hi, s in zip(high, span, strict=True)])
        near = sum(count_in_rect(w, region[1], region[2], axes) for w in worlds)
        changed = self.budget.update(near, total)
        if self.budget.outside >= self.budget.fraction:  # the far dots are drawn like the near ones
            changed |= self._region is not None
            self._region = None
        elif self._region is None or changed or not _inside(view, self._region):
            self._region = region
            changed = True
        return changed

    def _shown_world(self, layer: Any) -> np.ndarray:
        """World positions of the layer's dots the legend shows."""
        world = self._world(layer)
        shown = self.session.legend_mask(layer)
        return world if shown is None else world[shown]

    @staticmethod
    def _view_rect(viewer: Any) -> tuple[tuple[int, ...], list[float], list[float]] | None:
        """The displayed axes and the world rectangle the 2D canvas shows (``None`` in 3D)."""
        if viewer.dims.ndisplay == 3:
            return None
        axes = tuple(viewer.dims.displayed)[-2:]
        camera = _camera(viewer)
        height, width = _canvas_size(viewer)
        zoom = float(camera.zoom) or 1.0
        center = [float(camera.center[-2]), float(camera.center[-1])]
        half = (height / 2 / zoom, width / 2 / zoom)
        return axes, [center[0] - half[0], center[1] - half[1]], [center[0] + half[0], center[1] + half[1]]

    # -- the notice ------------------------------------------------------------------------------
    def _show_notice(self) -> None:
        viewer = self.session.viewer
        overlay = _text_overlay(viewer)
        if overlay is None:
            return
        text = self.budget.notice()
        if overlay.visible and overlay.text and overlay.text != self._notice:
            return  # the user's own text
        with contextlib.suppress(AttributeError, ValueError):
            if text:
                overlay.text = text
                overlay.font_size = 9
                overlay.visible = True
            elif self._notice:
                overlay.visible = False
                overlay.text = ""
        self._notice = text


def _inside(view: tuple, region: tuple) -> bool:
    """Whether the view rectangle lies within the region (same axes)."""
    return view[0] == region[0] and all(
        r_lo <= v_lo and v_hi <= r_hi
        for v_lo, v_hi, r_lo, r_hi in zip(view[1], view[2], region[1], region[2], strict=True))


def _camera(viewer: Any) -> Any:
    scene = getattr(viewer, "scene", None)  # napari >= 0.9: viewer.scene.camera
    return scene.camera if scene is not None and hasattr(scene, "camera") else viewer.camera


def _canvas_size(viewer: Any) -> tuple[float, float]:
    canvas = getattr(viewer, "canvas", None)
    size = getattr(canvas, "size", None) if canvas is not None else None
    if size is None:
        size = getattr(viewer, "_canvas_size", (600, 800))
    return float(size[0]), float(size[1])


def _text_overlay(viewer: Any) -> Any:
    if viewer is None:
        return None
    canvas = getattr(viewer, "canvas", None)
    overlays = getattr(canvas, "overlays", None)
    if overlays is not None and hasattr(overlays, "text"):
        return overlays.text
    return getattr(viewer, "text_overlay", None)
