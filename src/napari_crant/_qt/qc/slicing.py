"""Moving the z slider to a synapse without re-slicing the layers whose slice cannot change.

napari answers ``Dims.set_point`` by re-slicing **every** layer (``ViewerModel._update_layers``,
run twice: once for ``dims.point``, once for ``dims.current_step``). In 2D the QC review moves
the z slider at each synapse; the loaded neurons' Points and Vectors layers and the QC's own
are drawn with ``projection_mode='all'`` inside a slab that spans the whole data
(``Session.project_z``), so their slice, the set of points or vectors shown, is the same at
every z of the slab. Re-slicing them rebuilt their vispy data (for a Vectors layer a new mesh
and a relinked shader program) for nothing.

:func:`set_z_point` moves the slider with napari's slicing held back, then slices only the
layers whose view can change (images, labels, surfaces, anything not projected, a layer that
the slab does not cover before or after). The others get the new slice input without being
sliced again, so their state is the same as napari would leave it.
"""

import contextlib
from typing import Any

import numpy as np

#: layer types whose slice with ``projection_mode='all'`` is every shown item inside the slab
_PROJECTED_TYPES = ("points", "vectors")


def _covers(layer: Any, dims: Any, axis: int) -> bool:
    """Whether the dims' slab (point - margin_left, point + margin_right) along world ``axis``
    holds the layer's whole extent, so that its projected slice is everything it has."""
    try:
        extent = np.asarray(layer.extent.world, np.float64)
        first = dims.ndim - extent.shape[1]
        if axis < first:
            return True  # the layer has no such axis: it does not depend on it
        low, high = float(extent[0, axis - first]), float(extent[1, axis - first])
        point = float(dims.point[axis])
        return bool(point - float(dims.margin_left[axis]) <= low
                    and point + float(dims.margin_right[axis]) >= high)
    except (AttributeError, IndexError, TypeError, ValueError):
        return False


def slice_is_z_independent(layer: Any, dims: Any, axis: int) -> bool:
    """Whether ``layer``'s slice stays the same while the slider of ``axis`` moves inside the slab:
    a Points or Vectors layer drawn with ``projection_mode='all'`` whose extent the slab covers."""
    kind = getattr(layer, "_type_string", "")
    return (kind in _PROJECTED_TYPES and str(getattr(layer, "projection_mode", "")) == "all"
            and _covers(layer, dims, axis))


def _keep_slice(layer: Any, dims: Any) -> bool:
    """Give ``layer`` the slice input of ``dims`` without slicing it again (its view cannot change);
    whether that was possible (napari's slicing state as this module knows it)."""
    state = getattr(layer, "_slicing_state", None)
    if state is None or not hasattr(state, "make_slice_input") or not hasattr(state, "_slice_input"):
        return False
    state._slice_input = state.make_slice_input(dims)
    state._units = dims.units
    return True


def set_z_point(viewer: Any, axis: int, value: float, skip: Any = ()) -> list[Any]:
    """Move the slider of world ``axis`` to ``value``, re-slicing only the layers that need it.

    Parameters
    ----------
    viewer
        The napari viewer.
    axis
        The world axis of the slider (not displayed).
    value
        The new position (world units).
    skip
        Layers the caller slices itself right after (e.g. the EM panel's, which it has just
        moved): neither sliced nor given the new slice input here.

    Returns
    -------
    list
        The layers re-sliced (all of them when napari's internals are not as expected, or
        its asynchronous slicing is on: then this is plain ``dims.set_point``).
    """
    dims = viewer.dims
    if _already_at(dims, axis, float(value)):
        return []
    update = getattr(viewer, "_update_layers", None)
    slicer = getattr(viewer, "_layer_slicer", None)
    layers = list(viewer.layers)
    if update is None or not getattr(slicer, "_force_sync", False) or axis in dims.displayed:
        dims.set_point(axis, value)
        return layers
    skipped = {id(layer) for layer in skip}
    before = {id(layer) for layer in layers if slice_is_z_independent(layer, dims, axis)}
    with contextlib.ExitStack() as held:
        for emitter in (dims.events.point, dims.events.current_step):
            held.enter_context(emitter.blocker(update))
        dims.set_point(axis, value)
    sliced = [layer for layer in layers if id(layer) not in skipped
              and not (id(layer) in before and slice_is_z_independent(layer, dims, axis)
                      and _keep_slice(layer, dims))]
    if sliced:
        update(layers=sliced)
    else:
        _cursor_to_point(viewer)
    return sliced


def _already_at(dims: Any, axis: int, value: float) -> bool:
    """Whether the slider of ``axis`` already shows ``value``: the same point, or the same step of
    the slider (napari's slider puts the point on its steps: a second move to the same synapse
    would otherwise move it off the step and back, re-slicing twice)."""
    point = float(dims.point[axis])
    if point == value:
        return True
    rng = dims.range[axis]
    step = float(rng.step or 0.0)
    if step <= 0 or abs(point - value) >= step:
        return False
    return round((point - float(rng.start)) / step) == round((value - float(rng.start)) / step)


def _cursor_to_point(viewer: Any) -> None:
    """What ``ViewerModel._update_layers`` does besides slicing: the cursor's non-displayed
    coordinates follow the sliders."""
    dims = viewer.dims
    position = list(viewer.cursor.position)
    if len(position) < dims.ndim:
        position = [0.0] * dims.ndim
    for ind in dims.order[: -dims.ndisplay]:
        position[ind] = dims.point[ind]
    viewer.cursor.position = tuple(position)

