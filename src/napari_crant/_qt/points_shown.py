"""A Points layer's ``shown`` honoured when every data axis is displayed (the 3D view).

napari (0.9.2) slices a Points layer with a ``_PointSliceRequest``; when no axis is sliced away
(the 3D view of 3D data) it returns every point (``np.arange(len(data))``) and ignores ``shown``,
so the legend's hidden neurons and the dots the level of detail leaves out were still drawn in
3D (and picked: the front-most point along the ray could be a hidden one). :func:`honour_shown`
makes one layer's slice requests keep only its shown points in that case: the layer's slicing
state builds its requests through ``make_slice_request_internal`` (the synchronous slice, a
``shown`` refresh and the asynchronous slicer alike), which this wraps so each request is a
:class:`ShownPointSliceRequest`. Everything downstream reads the slice's ``indices`` (vispy's
``_view_data``, sizes and colours; ``get_value`` in 2D and along a 3D ray; the highlight;
:func:`~napari_crant._qt.qc.vispy_points.recolor_point`), so what is drawn and what is picked are
the shown points, in the layer's row order.

The filter is idempotent: a napari that honours ``shown`` itself gets the same slice. When the
internals are not as expected (no such method, another request type or fields) the layer is left
to napari's own slicing and :func:`honour_shown` says so (``False``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

#: marks a wrapped ``make_slice_request_internal`` (a layer is wrapped once)
_MARK = "_napari_crant_honours_shown"


def _request_class() -> type | None:
    """napari's Points slice request class (``None`` when it is not where this expects it)."""
    try:
        from napari.layers.points._slice import _PointSliceRequest
    except ImportError:
        return None
    if not dataclasses.is_dataclass(_PointSliceRequest):
        return None
    names = {f.name for f in dataclasses.fields(_PointSliceRequest)}
    if not {"slice_input", "data", "shown", "size", "id"} <= names:
        return None
    return _PointSliceRequest


def shown_slice(indices: np.ndarray, size: np.ndarray, shown: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The slice's ``indices`` and ``size`` (one per index) kept where ``shown`` is true.

    Parameters
    ----------
    indices
        Rows of the layer's data in the slice (ints).
    size
        The size of each of them (same length as ``indices``).
    shown
        One boolean per row of the layer's data.

    Returns
    -------
    tuple of numpy.ndarray
        The shown rows among ``indices`` (in the same order) and their sizes.
    """
    indices = np.asarray(indices)
    keep = np.asarray(shown, dtype=bool)[indices]
    if keep.all():
        return indices, size
    return indices[keep], np.asarray(size)[keep]


def _make_request_class(base: type) -> type:
    @dataclasses.dataclass(frozen=True)
    class ShownPointSliceRequest(base):  # type: ignore[misc, valid-type]
        """napari's Points slice request that also drops the points not shown when no axis is
        sliced away (napari then returns every point; with an axis sliced away it already drops
        them, and this changes nothing)."""

        def __call__(self) -> Any:
            response = super().__call__()
            shown = np.asarray(self.shown)
            indices = getattr(response, "indices", None)
            size = getattr(response, "size", None)
            if (len(self.slice_input.not_displayed) or not dataclasses.is_dataclass(response)
                    or indices is None or size is None
                    or len(size) != len(indices) or len(shown) != len(self.data) or shown.all()):
                return response
            kept, kept_size = shown_slice(indices, size, shown)
            return dataclasses.replace(response, indices=kept, size=kept_size)

    return ShownPointSliceRequest


_CLASSES: list[type] = []


def request_class() -> type | None:
    """:class:`ShownPointSliceRequest` for the napari installed (``None``: its internals differ)."""
    if not _CLASSES:
        base = _request_class()
        if base is None:
            return None
        _CLASSES.append(_make_request_class(base))
    return _CLASSES[0]


def honour_shown(layer: Any) -> bool:
    """Make a Points ``layer`` draw (and pick) only its ``shown`` points also when every data axis
    is displayed.

    The layer is sliced again now if it is displayed in 3D with points hidden (its current slice
    holds them). Calling it again on the same layer changes nothing.

    Parameters
    ----------
    layer
        A napari Points layer (main thread).

    Returns
    -------
    bool
        Whether its slices honour ``shown`` now (``False``: napari's own slicing, its internals
        not as expected).
    """
    state = getattr(layer, "_slicing_state", None)
    make = getattr(state, "make_slice_request_internal", None)
    if make is None:
        return False
    if getattr(make, _MARK, False):
        return True
    cls = request_class()
    if cls is None:
        return False
    base = cls.__bases__[0]
    names = [f.name for f in dataclasses.fields(base) if f.init]

    def make_slice_request_internal(*args: Any, **kwargs: Any) -> Any:
        request = make(*args, **kwargs)
        if type(request) is not base:  # another napari's request: its own slicing
            return request
        return cls(**{name: getattr(request, name) for name in names})

    setattr(make_slice_request_internal, _MARK, True)
    state.make_slice_request_internal = make_slice_request_internal
    slice_input = getattr(layer, "_slice_input", None)
    if (slice_input is not None and not len(slice_input.not_displayed) and len(layer.data)
            and not np.all(layer.shown)):
        layer.refresh(extent=False, highlight=False)
    return True
