"""One point's colour changed in the GL buffer of a Points layer, not the whole layer sent again.

A verdict key recolours one synapse of the QC verdict layer. napari answers the layer's
``face_color`` event by sending every point again (``VispyPointsLayer._on_data_change``: the
view's positions, sizes, colours and a Python list of symbols, one vispy ``set_data``, a new
vertex buffer). :func:`recolor_point` writes the one point's face colour into the layer's colour
array, into vispy's interleaved vertex array and into the vertex buffer (a sub-upload of one
vertex), in 2D and 3D alike: the next frame draws exactly what a full refresh would; the layer
list's thumbnail is redrawn as napari's colour setter would.
"""

from typing import Any

import numpy as np

from napari_crant._qt.qc.vispy_programs import layer_visual

#: the face colour's field in vispy's interleaved marker vertices (``MarkersVisual._upload_data``)
FACE_FIELD = "a_bg_color"
#: the border's (vispy's edge colour, also that of the antialiased rim)
BORDER_FIELD = "a_fg_color"


def same_color(a: Any, b: Any) -> bool:
    """Whether two RGBA colours are equal (within float32 rounding; ``np.allclose`` costs ~20 times
    more on four values, and a QC step compares a few)."""
    return float(np.max(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)))) <= 1e-6


def _markers(viewer: Any, layer: Any, field: str = FACE_FIELD) -> Any:
    """The vispy markers visual of a Points ``layer`` (``None``: no canvas or another visual)."""
    node = layer_visual(viewer, layer)
    markers = getattr(node, "points_markers", None)
    data = getattr(markers, "_data", None)
    if markers is None or getattr(markers, "_vbo", None) is None or data is None:
        return None
    if getattr(data, "dtype", None) is None or field not in (data.dtype.names or ()):
        return None
    return markers


def recolor_point(viewer: Any, layer: Any, index: int, color: Any, thumbnail: bool = True,
                  border: bool = False) -> bool:
    """Give point ``index`` (a data row) of ``layer`` the face colour ``color`` (RGBA), sending
    only that vertex to the GPU; whether it was done that way.

    ``False`` (nothing changed) when the layer's colours or its vispy visual are not what this
    expects (no canvas, the point not in view, a vispy or napari version with other internals): the
    caller then sets the colour napari's way. ``thumbnail=False``: the layer list's thumbnail is
    not redrawn (a change it would not show). ``border``: the border's colour instead of the face's
    (it also colours the marker's antialiased rim, drawn even at border width 0).
    """
    rgba = np.asarray(color, np.float32).reshape(4)
    colors = layer.border_color if border else layer.face_color
    field = BORDER_FIELD if border else FACE_FIELD
    markers = _markers(viewer, layer, field)
    view = np.asarray(getattr(layer, "_view_indices", ()), np.intp)
    if markers is None or not 0 <= index < len(colors) or len(view) != len(markers._data):
        return False
    rows = np.flatnonzero(view == index)  # the point's vertex (napari draws the view's points in order)
    if len(rows) != 1:
        return False
    colors[index] = rgba
    if not same_color((layer.border_color if border else layer.face_color)[index], rgba):  # a copy after all
        return False
    row = int(rows[0])
    markers._data[field][row] = rgba
    markers._vbo.set_subdata(markers._data[row:row + 1], offset=row)
    markers.update()
    update_thumbnail = getattr(layer, "_update_thumbnail", None)
    # the layer list's 32-px picture of the layer (napari's setter does it)
    if thumbnail and update_thumbnail is not None:
        update_thumbnail()
    return True
