"""Writing layer data into napari layers on the main thread, each written layer sliced once.

napari re-slices *every* layer of the viewer whenever the dims change (a layer's data range
grows, the z slab or the point moves), and its Points layers do Python work per point at each
slice. :func:`write_into` writes a set of layers with their events held, updates the dims once,
and slices only the layers written unless the dims' point, slab, order or displayed axes
changed (then every layer, as napari would): the other layers' slices are the same.
"""

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from napari_crant._qt.dot_depth import SYNAPSE_DOTS, lift_dots
from napari_crant._qt.points_shown import honour_shown
from napari_crant._qt.thumbnails import refresh_thumbnail_later
from napari_crant.scene.layer_conventions import METADATA_KEY

LayerData = tuple[Any, dict[str, Any], str]


def check_main_thread() -> None:
    """Raise ``RuntimeError`` unless called on the Qt main thread."""
    from qtpy.QtCore import QCoreApplication, QThread

    app = QCoreApplication.instance()
    if app is not None and QThread.currentThread() is not app.thread():
        raise RuntimeError("napari-crant: layers must be changed on the main thread")


def find_layer(viewer: Any, kind: str) -> Any:
    """This package's (first) layer of ``kind`` in ``viewer`` (``None`` if absent)."""
    for layer in viewer.layers:
        if layer.metadata.get(METADATA_KEY) == kind:
            return layer
    return None


def find_layers(viewer: Any, kind: str) -> list[Any]:
    """Every layer of ``kind`` of this package in ``viewer`` (the loaded neurons have one per
    batch, see :mod:`~napari_crant._qt.layer_batches`), in the layer list's order."""
    return [layer for layer in viewer.layers if layer.metadata.get(METADATA_KEY) == kind]


def apply_layer(viewer: Any, data: Any, kwargs: dict[str, Any], ltype: str) -> Any:
    """Add a layer from a LayerData tuple, or replace the data of the existing one of its kind.

    Must run on the main thread (raises ``RuntimeError`` otherwise).
    """
    return write_layers(viewer, [(data, kwargs, ltype)])[0]


def write_layers(viewer: Any, layer_data: list[LayerData]) -> list[Any]:
    """Write LayerData tuples into the viewer's (first) layers of their kinds, added the first time.

    Must run on the main thread (raises ``RuntimeError`` otherwise). Returns the layers.
    """
    return write_into(viewer, [(find_layer(viewer, kw["metadata"][METADATA_KEY]), (d, kw, t))
                               for d, kw, t in layer_data])


def hide_empty_text(viewer: Any, layer: Any) -> None:
    """Keep a Points layer's text hidden, and its *display text* box unticked, while it has no text.

    napari gives the text visual of a layer without text one empty string, and vispy still draws
    it: a font atlas rendered at the layer's first paint (~30 ms) and a draw at every paint. Its
    layer controls tick *display text* from ``layer.text.visible`` (``True`` by default), so the
    box said there was text. While the layer's text is the empty constant, ``text.visible`` is
    set back to ``False`` (a user's tick is undone and the status bar says how to give the layer
    text: there is nothing to show); the visual is shown again, and the box ticked, as soon as
    the layer gets text (``layer.text = ...`` makes it visible, as napari does).
    """
    text = getattr(layer, "text", None)
    if text is None or not hasattr(text, "events"):
        return
    canvas = getattr(getattr(getattr(viewer, "window", None), "_qt_viewer", None), "canvas", None)
    visual = getattr(canvas, "layer_to_visual", {}).get(layer) if canvas is not None else None
    node = getattr(getattr(visual, "node", None), "text", None)

    def sync(event: Any = None) -> None:
        empty = getattr(getattr(text, "string", None), "constant", None) == ""
        if empty and text.visible:
            if getattr(event, "type", None) == "visible":  # someone ticked it
                viewer.status = (f"{layer.name} has no text to display (give it some, e.g. "
                                 f"viewer.layers[{layer.name!r}].text = 'partner_id')")
            text.visible = False
        if node is not None:
            node.visible = text.visible and not empty

    sync()
    text.events.connect(sync)


def _slice_state(viewer: Any) -> tuple:
    """What every layer's slice depends on besides its own data: the dims' order and displayed
    axes, and the point and slab thickness on the sliced (not displayed) axes."""
    dims = viewer.dims
    sliced = [a for a in range(dims.ndim) if a not in tuple(dims.displayed)]
    return (dims.ndim, dims.ndisplay, tuple(dims.order), tuple(float(dims.point[a]) for a in sliced),
            tuple(float(dims.thickness[a]) for a in sliced))


@contextlib.contextmanager
def _slicing_held(viewer: Any) -> Iterator[None]:
    """The viewer does not re-slice its layers on dims events inside this block."""
    update_layers = getattr(viewer, "_update_layers", None)
    with contextlib.ExitStack() as held:
        if update_layers is not None:
            for emitter in viewer.dims.events.emitters.values():
                held.enter_context(emitter.blocker(update_layers))
        yield


def write_into(viewer: Any, items: list[tuple[Any, LayerData]],
               on_slab: Callable[[Any], None] | None = None) -> list[Any]:
    """Write LayerData tuples into given layers (``None``: add a new layer); returns the layers.

    Every existing layer gets its data, features and colours with its events and slicing held
    (:func:`_set_layer_data`); then the viewer hears once per layer and updates its dims once;
    ``on_slab(viewer)`` may then set the dims' z slab. Then only the written layers are sliced,
    unless the dims' point, slab, order or displayed axes changed (then every layer is).

    Must run on the main thread (raises ``RuntimeError`` otherwise).
    """
    from napari.layers.base import ActionType

    check_main_thread()
    before = _slice_state(viewer)
    layers: list[Any] = []
    changed: list[Any] = []
    with _slicing_held(viewer):
        for layer, (data, kwargs, ltype) in items:
            if layer is None or layer not in viewer.layers:
                if len(data) == 0:  # napari refuses empty colour arrays
                    kwargs = {**kwargs, **{k: "white" for k in ("edge_color", "face_color", "border_color")
                                           if k in kwargs}}
                layer = getattr(viewer, f"add_{ltype}")(data, **kwargs)
                hide_empty_text(viewer, layer)
                if kwargs.get("metadata", {}).get(METADATA_KEY) in SYNAPSE_DOTS:
                    lift_dots(viewer, layer)
                if ltype == "points":  # the legend's and the level of detail's ``shown`` in 3D too
                    honour_shown(layer)
            else:
                _set_layer_data(layer, data, kwargs, ltype)
                if layer.name != kwargs["name"]:
                    layer.name = kwargs["name"]
                changed.append(layer)
            layers.append(layer)
        if changed:
            for layer in changed:
                layer._clear_extent()  # the extents were cached before the data changed
            # the viewer updates its dims once for all the layers (``_on_layers_change`` after each
            # layer's data event recomputed the extents and re-validated the dims every time)
            update_dims = getattr(viewer, "_on_layers_change", None)
            with contextlib.ExitStack() as held:
                if update_dims is not None:
                    for layer in changed:
                        held.enter_context(layer.events.data.blocker(update_dims))
                for layer in changed:
                    layer.events.data(value=layer.data, action=ActionType.CHANGED, data_indices=(),
                                      vertex_indices=((),))
                    layer.events.features()
            if update_dims is not None:
                update_dims()
        if on_slab is not None:
            on_slab(viewer)
    others: list[Any] = []
    if _slice_state(viewer) != before:  # the slab or the point moved: slices may change
        others, kept = _slices_that_change(viewer, before, changed)
        for layer in kept + changed:  # the slice input follows the dims; slicing as below
            layer._slicing_state.set_slice_input_from_dims(viewer.dims, True)
    for layer in changed:  # the canvas first, the layer list's thumbnail after its paint
        refresh_thumbnail_later(layer)
    if others:
        viewer._update_layers(layers=others)
    return layers


def _slices_that_change(viewer: Any, before: tuple, changed: list[Any]) -> tuple[list[Any], list[Any]]:
    """After the dims' point or slab moved from ``before`` (:func:`_slice_state`): the layers not
    in ``changed`` whose slice may differ, and those whose slice cannot (only their slice input
    needs the new dims).

    A slice cannot differ for this package's Points and Vectors layers projected through the slab
    whose data lie, on every sliced axis, inside the slab before and after (a neuron arriving moves
    the dims' point by a fraction of a nm as the range grows; the slab spans twice the data). Every
    other layer (the user's, an image) is sliced again as napari would. With the dims' order or
    displayed axes changed, every layer.
    """
    dims = viewer.dims
    now = _slice_state(viewer)
    rest = [layer for layer in viewer.layers if not any(layer is c for c in changed)]
    if now[:3] != before[:3]:
        return rest, []
    sliced = [a for a in range(dims.ndim) if a not in tuple(dims.displayed)]
    slabs = [(before[3][i] - before[4][i] / 2, before[3][i] + before[4][i] / 2,
              now[3][i] - now[4][i] / 2, now[3][i] + now[4][i] / 2) for i in range(len(sliced))]
    others, kept = [], []
    for layer in rest:
        inside = (METADATA_KEY in layer.metadata and layer._type_string in ("points", "vectors")
                  and str(getattr(layer, "projection_mode", "none")) != "none"
                  and hasattr(getattr(layer, "_slicing_state", None), "set_slice_input_from_dims"))
        if inside:
            extent = np.asarray(layer.extent.world, dtype=float)
            for axis, (lo0, hi0, lo1, hi1) in zip(sliced, slabs, strict=True):
                lo, hi = extent[0, axis], extent[1, axis]
                inside &= bool(max(lo0, lo1) < lo and hi < min(hi0, hi1))
        (kept if inside else others).append(layer)
    return others, kept


def _set_layer_data(layer: Any, data: Any, kwargs: dict[str, Any], ltype: str) -> None:
    """Set a layer's data, features and colours with its events and slicing held (no refresh).

    Each property set alone re-slices the layer and re-sends every point to the GPU;
    :func:`write_into` lets the canvas and the viewer's dims hear once, at the end.
    """
    emitters = [layer.events]
    if ltype == "points":
        emitters += [layer._face.events, layer._border.events]
    with contextlib.ExitStack() as stack:
        for e in emitters:
            stack.enter_context(e.blocker_all())
        stack.enter_context(layer._block_refresh())
        if ltype == "points":
            layer._set_data(data)  # ``data =`` also builds event payloads listing every point
        else:
            layer.data = data
        layer.features = kwargs["features"]
        if ltype == "vectors":
            layer.edge_color = kwargs["edge_color"] if len(data) else "white"
        else:
            layer.face_color = kwargs["face_color"] if len(data) else "white"
            layer.border_color = kwargs["border_color"] if len(data) else "white"
            layer.size = kwargs["size"]
            layer.shown = np.ones(len(data), dtype=bool)
    if ltype == "points" and len(data) and not layer.selected_data:
        # the layer controls show the "current" size and colours, as for a layer made with data
        layer.current_size = kwargs["size"]
        layer.current_face_color = np.asarray(kwargs["face_color"])[-1]
        layer.current_border_color = np.asarray(kwargs["border_color"])[-1]
