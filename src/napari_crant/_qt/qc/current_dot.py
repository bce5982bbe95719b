"""The verdict dot of the synapse shown, hidden while the EM plane shows it in 3D.

In 2D the EM cutout lies above the neurons' layers: the verdict dots inside it, the shown
synapse's among them, are under the tissue, and the synapse is marked by its ring alone. In 3D the
EM is a plane through the synapse, and the verdict dot there (a disc facing the camera, cut by the
tilted plane) showed on the T-bar as a small dark ring (its antialiased rim, in the border's
colour, is drawn even at border width 0), or not at all, depending on the side the camera looked
from. :class:`CurrentDot` makes that one dot's face and border transparent while the 3D EM plane is
shown (one vertex sent to the GPU, :func:`~napari_crant._qt.qc.vispy_points.recolor_point`), and
gives them back when the review moves on, the EM goes, or the view is 2D again: the ring alone
marks the synapse, as in 2D.
"""

from typing import Any

import numpy as np

from napari_crant._qt.qc.canvas import verdict_color
from napari_crant._qt.qc.vispy_points import recolor_point, same_color
from napari_crant._qt.session import find_layer
from napari_crant.qc.review import ReviewModel


def _default_border(layer: Any) -> np.ndarray:
    """The border colour the layer gives new points (that of every verdict dot)."""
    from napari.utils.colormaps.standardize_color import transform_color

    return np.asarray(transform_color(layer.current_border_color)[0], np.float32)


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
        #: the hidden dot's border colour (given back with it)
        self._border: np.ndarray | None = None
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
        """Dot ``index`` in its verdict's colour and its border with ``alpha`` (``None``: as they were)."""
        layer = find_layer(self.viewer, "qc_verdicts")
        items = self.review.items
        if layer is None or not 0 <= index < len(items) or len(layer.data) != len(items):
            return False
        face = np.array(verdict_color(items["verdict"].iloc[index]), np.float32)
        if alpha is None:
            border = self._border if self._border is not None else _default_border(layer)
            self._border = None
        else:
            border = np.array(layer.border_color[index], np.float32)
            if border[3] > 0:
                self._border = border.copy()
            face[3] = border[3] = alpha
        for is_border, rgba in ((False, face), (True, border)):
            colors = layer.border_color if is_border else layer.face_color
            if same_color(colors[index], rgba) or recolor_point(self.viewer, layer, index, rgba,
                                                                 thumbnail=False, border=is_border):
                continue
            colors = np.array(colors, copy=True)  # napari's way (the point is not drawn now)
            colors[index] = rgba
            if is_border:
                layer.border_color = colors
            else:
                layer.face_color = colors
        return True
