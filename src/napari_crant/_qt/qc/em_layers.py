"""The EM panel's layers: the EM Image and the segments Labels at a synapse, their plane, the ring.

Both layers live in the same (z, y, x) nm world as every other layer. Moving them to the next
synapse copies the cutout into the layer's own array (no data event: no Labels colormap rebuilt,
no shader recompiled), places it without a translate event and slices each once: vispy's transform
of each layer is rebuilt once per step, by the slice.
"""

import contextlib
from typing import Any

import numpy as np

from napari_crant._qt.qc.canvas import qc_layer_kwargs
from napari_crant._qt.session import find_layer
from napari_crant._qt.thumbnails import thumbnail_later
from napari_crant.qc.em_review import SynapseTissue

#: diameter (nm) of the ring marking the synapse while its EM is shown: the T-bar, the cleft
#: and the postsynaptic densities lie within about 200 nm of the synapse's point, inside it
RING_NM = 500.0
#: width of the ring's line, a fraction of its diameter (about 12 nm: a pixel or two at mip 0)
RING_LINE = 0.025
#: the ring's blending: no depth test. In 3D the ring is a disc facing the camera through the
#: synapse, and the EM plane through it is tilted: with the depth test the plane hid the part of
#: the ring behind it (half the ring, or all but an arc)
RING_BLENDING = "translucent_no_depth"
#: where the 3D plane lies past the section it shows, in sections (see :func:`plane_through`)
PLANE_OFFSET = 0.5


def same_plane(current: Any, plane: dict[str, Any]) -> bool:
    """Whether a layer's plane already has ``plane``'s position, normal and thickness."""
    try:
        return (np.allclose(current.position, plane["position"])
                and np.allclose(current.normal, plane["normal"])
                and float(current.thickness) == float(plane["thickness"]))
    except (AttributeError, TypeError, ValueError):
        return False


def plane_through(tissue: SynapseTissue, z: float, cutout: Any = None) -> dict[str, Any]:
    """The plane (data coordinates of ``cutout``, default the EM) showing the section at world ``z``,
    through the synapse.

    vispy samples a plane of thickness 1 half a voxel *before* the plane's position along its normal
    (``start_loc = intersection - step * nsteps / 2`` with one step): at a section's own z that is
    the border between two sections, and the nearest-voxel lookup then mixes both from pixel to
    pixel (a 2-voxel outline came out dashed). The plane lies :data:`PLANE_OFFSET` of a section
    further, so that the one sample falls on the centre of the section at ``z``.
    """
    cutout = tissue.em if cutout is None else cutout
    pos = (np.array([z, *tissue.center[1:]], np.float64) - np.asarray(cutout.translate, np.float64)) \
        / np.asarray(cutout.scale, np.float64)
    pos[0] += PLANE_OFFSET
    return {"position": tuple(float(v) for v in pos), "normal": (1.0, 0.0, 0.0), "thickness": 1.0}


def drawn_plane_z(tissue: SynapseTissue, z: float) -> float:
    """The world z at which :func:`plane_through` draws the section at world ``z`` (for picking)."""
    return float(z) + PLANE_OFFSET * float(tissue.em.scale[0])


def section_of(tissue: SynapseTissue, z: float) -> int:
    """The index of the cutout's section nearest world ``z``."""
    zs = tissue.section_z()
    return int(np.argmin(np.abs(zs - float(z)))) if len(zs) else 0


def thin_ring(viewer: Any) -> None:
    """Make the synapse's ring thin and hollow, so that it marks the synapse without hiding the EM,
    and drawn whole over the 3D plane (:data:`RING_BLENDING`)."""
    ring = find_layer(viewer, "qc_current")
    if ring is None:
        return
    if ring.blending != RING_BLENDING:
        ring.blending = RING_BLENDING
    if not len(ring.data) or float(ring.size[0]) == RING_NM:
        return
    with ring.events.blocker_all() if hasattr(ring.events, "blocker_all") else contextlib.nullcontext():
        ring.face_color = np.array([[1.0, 1.0, 0.0, 0.0]] * len(ring.data))
        ring.border_width = RING_LINE
        ring.size = RING_NM
        ring.canvas_size_limits = (2.0, 10000.0)  # its nm size: it encircles the T-bar and the cleft
    ring.refresh()


def no_contour_warning_in_3d(layer: Any) -> bool:
    """The segments Labels layer computes no contour in 3D, silently.

    napari draws no Labels contours in 3D: its ``_calculate_contour`` returns ``None`` there, and
    warns "Contours are not displayed during 3D rendering" first. At a switch to 3D napari slices
    the layers before any plugin hears of it (its own handlers of the dims' ``ndisplay`` event come
    first), so the layer still had its 2D ``contour=2`` (set to 0 right after, see
    :class:`~napari_crant._qt.qc.em_view.TissueView`) and a user saw that warning at every switch
    for nothing. 2D is napari's own code. Returns whether napari's method was found.
    """
    plain = getattr(type(layer), "_calculate_contour", None)
    if plain is None:
        return False

    def calculate_contour(labels: np.ndarray, data_slice: Any) -> np.ndarray | None:
        if labels.ndim > 2:
            return None  # napari's answer in 3D, without its warning
        return plain(layer, labels, data_slice)

    layer._calculate_contour = calculate_contour
    return True


def put_cutout_layer(viewer: Any, kind: str, data: np.ndarray, cutout: Any, plane: dict[str, Any],
                     refresh: bool = True, **style: Any) -> tuple[Any, bool]:
    """Add the Image (``qc_em``) or Labels layer of ``kind``, or move it to ``cutout``: one refresh
    (the caller updates the world's extent: see :func:`~napari_crant._qt.qc.canvas.one_extent_update`;
    a moved layer emits no translate event).

    Parameters
    ----------
    viewer
        The napari viewer.
    kind
        ``'qc_em'`` (an Image) or ``'qc_segments'`` (Labels).
    data
        The cutout's array in napari order (copied: the cached cutouts stay intact).
    cutout
        Its placement (``scale``, ``translate``).
    plane
        The layer's plane (3D depiction, data coordinates).
    refresh
        Slice the moved layer now (and show it). ``False``: the caller does, e.g. by moving the z
        slider (:func:`show_moved`).
    **style
        Layer keywords used when the layer is made (colormap, opacity...).

    Returns
    -------
    tuple
        The layer, and whether it still needs its slice (an existing layer moved with
        ``refresh=False``).
    """
    scale = tuple(float(v) for v in cutout.scale)
    translate = tuple(float(v) for v in cutout.translate)
    layer = find_layer(viewer, kind)
    if layer is None:
        kw = qc_layer_kwargs(kind, scale=scale, translate=translate, depiction="plane", plane=plane,
                             **{"blending": "translucent", **style})
        # one section at the z slider: napari's default for images is the mean over the z slab, and
        # the session's slab spans the data (the EM showed the mean of all its sections in 2D)
        kw["projection_mode"] = "none"
        add = viewer.add_image if kind == "qc_em" else viewer.add_labels
        # the layer owns its array: the next cutouts are copied into it (the cached ones stay intact)
        layer = add(np.array(data, copy=True), **kw)
        if kind == "qc_segments":
            no_contour_warning_in_3d(layer)
        viewer.layers.move(viewer.layers.index(layer), 0 if kind == "qc_em" else 1)
        return layer, False
    # one re-slice for the new data, place and plane, not one per property
    block = getattr(layer, "_block_refresh", None)
    with block() if block is not None else contextlib.nullcontext():
        if tuple(float(v) for v in layer.scale) != scale:
            layer.scale = scale
        if tuple(float(v) for v in layer.translate) != translate:
            # no translate event: vispy would rebuild the node's transform (and its overlays') here
            # and again when the layer is sliced, which every move ends with (``refresh`` or the
            # caller's slice); the extent is cleared all the same (the caller updates the world's)
            with layer.events.translate.blocker():
                layer.translate = translate
        if not same_plane(layer.plane, plane):
            layer.plane = plane
        current = layer.data
        same = isinstance(current, np.ndarray) and current.shape == data.shape
        if same and current.dtype == data.dtype and current.flags.writeable:
            # in place: no data event, so napari neither rebuilds the Labels colormap (a shader
            # recompiled at the next paint) nor recomputes the Image's contrast or the extent
            np.copyto(current, data)
        else:
            layer.data = np.array(data, copy=True)
    if not refresh:
        return layer, True
    show_moved(layer, ())
    return layer, False


def show_moved(layer: Any, sliced: Any, dims: Any = None, show: bool = True) -> None:
    """Slice a moved layer once and show it: nothing when it is among ``sliced`` (the layers just
    re-sliced, e.g. by :func:`~napari_crant._qt.qc.slicing.set_z_point`); with the viewer's
    ``dims``, its slice for the canvas only (:func:`slice_for_canvas`). ``show=False``: a hidden
    layer stays hidden (napari slices it when it is shown)."""
    if not layer.visible:
        if show:
            layer.visible = True  # napari slices a layer that becomes visible
    elif not any(layer is other for other in sliced) and (dims is None or not slice_for_canvas(layer, dims)):
        layer.refresh()


def slice_for_canvas(layer: Any, dims: Any) -> bool:
    """Slice a visible layer at ``dims`` as napari's ``refresh`` does, less what a moved EM layer
    does not need before the canvas paints it: its extent is not cleared again (a slice does not
    change it; the move did) and the layer list's thumbnail is drawn later
    (:func:`~napari_crant._qt.thumbnails.thumbnail_later`). Whether it was done that way
    (``False``: napari's internals are not as expected, its asynchronous slicing is on, or its
    refresh is held back: nothing was done).
    """
    state = getattr(layer, "_slicing_state", None)
    refresh_sync = getattr(layer, "_refresh_sync", None)
    if (state is None or refresh_sync is None or not hasattr(state, "set_slice_input_from_dims")
            or getattr(layer, "_refresh_blocked", True) or not layer.visible or _async_slicing()):
        return False
    # forced: the input is set without slicing (napari slices an unforced, changed input itself)
    state.set_slice_input_from_dims(dims, True)
    state.set_view_slice()
    refresh_sync(data_displayed=True, highlight=True)
    thumbnail_later(layer)
    return True


def _async_slicing() -> bool:
    try:
        from napari.settings import get_settings

        return bool(get_settings().experimental.async_)
    except (ImportError, AttributeError):
        return True


def ray_meets_plane(position: np.ndarray, direction: Any, z: float) -> np.ndarray | None:
    """Where the view ray through world ``position`` along ``direction`` meets the plane at world
    ``z`` (3D picking on the EM plane); ``None`` for a ray parallel to it."""
    if direction is None:
        return None
    d = np.asarray(direction, np.float64)[-3:]
    p = np.asarray(position, np.float64)[-3:]
    if abs(d[0]) < 1e-9:
        return None
    return p + (z - p[0]) / d[0] * d
