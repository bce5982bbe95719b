"""The ring marking the current synapse: one point at the layer's origin, moved by its translate.

Moving the ring with ``layer.data = ...`` (or the public ``layer.translate = ...``) runs napari's
whole data path at every step: the point's features, sizes and colours checked again, the layer
re-sliced and its vispy markers rebuilt. The ring is a fixed-size marker, so
:func:`move_ring` keeps its one point at ``(0, 0, 0)`` and moves the layer's data-to-world
translation instead: vispy moves the node (a new transform matrix, no new vertex data) and no
re-slice is needed while the point's slice stays the same (in 3D always; in 2D when the z slab of
the projected layers covers it, as it covers the reviewed neuron). Otherwise the layer is
re-sliced, as napari would.
"""

from typing import Any

import numpy as np

__all__ = ["is_ring_at_origin", "move_ring", "ring_position"]


def is_ring_at_origin(layer: Any) -> bool:
    """Whether ``layer`` holds one point at ``(0, 0, 0)`` (a ring :func:`move_ring` can move)."""
    data = np.asarray(layer.data)
    return data.shape == (1, 3) and not np.any(data)


def ring_position(layer: Any) -> np.ndarray:
    """The world (z, y, x) position of the ring's point (``(0, 3)`` when it has none)."""
    data = np.asarray(layer.data, np.float64)
    if not len(data):
        return np.zeros((0, 3))
    return np.asarray(layer.data_to_world(data[0]), np.float64)[-3:]


def _slab_covers(layer: Any, viewer: Any) -> bool:
    """Whether, in 2D, the slab of every non-displayed axis holds the ring's (new) position, so its
    projected slice is its one point whatever the slider's position."""
    dims = viewer.dims
    position = ring_position(layer)
    first = dims.ndim - len(position)
    for axis in range(dims.ndim):
        if axis in dims.displayed or axis < first:
            continue
        point = float(dims.point[axis])
        value = float(position[axis - first])
        if not point - float(dims.margin_left[axis]) <= value <= point + float(dims.margin_right[axis]):
            return False
    return True


def move_ring(viewer: Any, layer: Any, zyx: Any, synapse_id: str) -> bool:
    """Move the ring ``layer`` to world ``zyx`` (nm) and name its synapse, without new data.

    Parameters
    ----------
    viewer
        The napari viewer holding ``layer``.
    layer
        A Points layer whose one point is at ``(0, 0, 0)`` (see :func:`is_ring_at_origin`).
    zyx
        The synapse's (z, y, x) position in nm.
    synapse_id
        The synapse's ID as a string (the ring's ``synapse_id`` feature, shown on hover).

    Returns
    -------
    bool
        ``False`` (nothing changed) when ``layer`` is not such a ring: make it anew.
    """
    if not is_ring_at_origin(layer):
        return False
    target = np.asarray(zyx, np.float64).reshape(3)
    layer.features.loc[0, "synapse_id"] = synapse_id
    was_drawn = len(np.asarray(layer._view_data)) == 1
    transform = layer._transforms["data2physical"]
    transform.translate = np.concatenate([np.zeros(len(transform.translate) - 3), target])
    layer._clear_extent()
    if not (was_drawn and (viewer.dims.ndisplay == 3 or _slab_covers(layer, viewer))):
        layer.refresh(extent=False)
    layer.events.translate()  # vispy moves the node; the viewer updates its extent (if not held back)
    return True
