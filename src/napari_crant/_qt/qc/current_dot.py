"""The verdict dot of the synapse shown, hidden while the EM plane shows it in 3D.

In 2D the EM cutout lies above the neurons' layers: the verdict dots inside it, the shown
synapse's among them, are under the tissue, and the synapse is marked by its ring alone. In 3D the
EM is a plane through the synapse, and the verdict dot there (a disc facing the camera, cut by the
tilted plane) showed on the T-bar as a small dark ring, or not at all, depending on the side the
camera looked from. :class:`CurrentDot` gives that one dot a transparent face while the 3D EM plane
is shown (one vertex sent to the GPU, :func:`~napari_crant._qt.qc.vispy_points.recolor_point`), and
its verdict's colour back when the review moves on, the EM goes, or the view is 2D again: the ring
alone marks the synapse, as in 2D.
"""

from typing import Any

import numpy as np

from napari_crant._qt.qc.canvas import verdict_color
from napari_crant._qt.qc.vispy_points import recolor_point
from napari_crant._qt.session import find_layer
from napari_crant.qc.review import ReviewModel


class CurrentDot:
    """Hides the verdict dot of one synapse of a review (see the module's docstring).

    Parameters
    ----------
    viewer
        The napari viewer.
    review
        The review whose verdict dots the ``qc_verdicts`` layer draws (one point per item, in order).
    """

    def __init__(self, viewer: Any, review: ReviewModel):
        self.viewer = viewer
        self.review = review
        #: the item whose dot is hidden (``None``: none)
        self.hidden: int | None = None
        # after the canvas has recoloured the dot or redrawn the layer (it connects at priority 0)
        review.verdict_changed.connect(self._again, priority=-10)
        review.items_changed.connect(self._on_items, priority=-10)

    def disconnect(self) -> None:
        """Stop following the review (the dot shown again)."""
        self.show()
        self.review.verdict_changed.disconnect(self._again)
        self.review.items_changed.disconnect(self._on_items)

    def hide(self, index: int | None) -> None:
        """Hide the dot of item ``index`` (and show the one hidden before)."""
        if index != self.hidden:
            self.show()
        if index is not None and self._set_alpha(index, 0.0):
            self.hidden = index

    def show(self) -> None:
        """Give the hidden dot its verdict's colour back."""
        index, self.hidden = self.hidden, None
        if index is not None and index < len(self.review.items):
            self._set_alpha(index, None)

    def _again(self, index: int) -> None:
        """The canvas recoloured item ``index``: hidden again if it is the hidden one."""
        if index == self.hidden:
            self._set_alpha(index, 0.0)

    def _on_items(self) -> None:
        """The canvas redrew every dot: the hidden one again, if it is still the review's current."""
        index, self.hidden = self.hidden, None
        if index is not None and index == self.review.current:
            self.hide(index)

    def _set_alpha(self, index: int, alpha: float | None) -> bool:
        """Dot ``index`` in its verdict's colour with ``alpha`` (``None``: the colour's own)."""
        layer = find_layer(self.viewer, "qc_verdicts")
        items = self.review.items
        if layer is None or not 0 <= index < len(items) or len(layer.data) != len(items):
            return False
        rgba = np.array(verdict_color(items["verdict"].iloc[index]), np.float32)
        if alpha is not None:
            rgba[3] = alpha
        if np.allclose(layer.face_color[index], rgba):
            return True
        if recolor_point(self.viewer, layer, index, rgba, thumbnail=False):
            return True
        colors = np.array(layer.face_color, copy=True)  # napari's way (the point is not drawn now)
        colors[index] = rgba
        layer.face_color = colors
        return True
