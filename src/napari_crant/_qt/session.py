"""Per-viewer shared state of the napari-crant docks, and writing layers on the main thread."""

import contextlib
import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from psygnal import Signal

from napari_crant._qt.canvas_pick import CanvasPicker
from napari_crant.datasets import get_default_dataset
from napari_crant.scene.layer_data import METADATA_KEY, Scene
from napari_crant.scene.loading import LoadResult, update_messages
from napari_crant.scene.scene_model import NeuronEntry, SceneModel


@dataclass
class QueryParams:
    """What the query widget last asked for; reused by other docks (e.g. double-click a partner)."""

    dataset: Any = field(default_factory=get_default_dataset)
    materialization: Any = "latest"
    threshold: int = 1
    min_size: float | None = None
    clean: bool = True
    update_ids: bool = True
    max_distance: float = 10_000
    extra: dict = field(default_factory=dict)

    def load_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`napari_crant.scene.loading.load_neurons`."""
        return {
            "dataset": self.dataset, "materialization": self.materialization,
            "threshold": self.threshold, "min_size": self.min_size, "clean": self.clean,
            "update_ids": self.update_ids, "max_distance": self.max_distance,
        }


class Session:
    """What the docks of one viewer share: the loaded :class:`~napari_crant.scene.layer_data.Scene`
    and its :class:`~napari_crant.scene.scene_model.SceneModel` (legend, shown/hidden, selection).

    Signals
    -------
    changed
        Neurons were added or cleared.
    highlighted(synapse_ids)
        Synapses picked in a table (shown in the ``CRANT highlight`` layer).
    load_requested(ids)
        Another dock asks the query widget to load these IDs.
    """

    changed = Signal()
    highlighted = Signal(object)
    load_requested = Signal(object)

    def __init__(self, viewer: Any):
        self._viewer = weakref.ref(viewer)
        self.scene = Scene()
        self.params = QueryParams()
        self.color_by = "type"
        self._thickness: float | None = None
        self.model = SceneModel()
        self.model.visibility_changed.connect(self.apply_visibility)
        #: hover texts and click-to-select on the canvas
        self.picker = CanvasPicker(self)
        from napari_crant._qt.fit_screen import CameraFit

        self.camera_fit = CameraFit()
        from napari_crant._qt.worker_guard import guard_viewer

        guard_viewer(viewer)  # the docks' workers are stopped and waited on when the viewer closes

    @property
    def viewer(self) -> Any:
        """The viewer (or ``None`` once it is gone)."""
        return self._viewer()

    def add(self, result: LoadResult) -> list[str]:
        """Add a load's neurons and refresh the layers; returns the update messages.

        The camera is refitted to everything shown unless the user moved it since the last fit
        (:class:`~napari_crant._qt.fit_screen.CameraFit`).
        """
        was_empty = not self.scene.neurons
        self.scene.add(result)
        self.sync_model()
        self.refresh_layers()
        viewer = self.viewer
        if viewer is not None and result.neurons:
            self.camera_fit.after_load(viewer, was_empty)
        self.changed.emit()
        return update_messages(result.updated, result.split)

    def sync_model(self) -> None:
        """Give every loaded neuron its legend entry (colour, cell type)."""
        roots = self.scene.root_ids
        colors = self.scene.neuron_rgba()
        types = self.scene.cell_types(roots)
        self.model.set_entries(
            NeuronEntry(int(r), tuple(float(x) for x in c), t)  # type: ignore[arg-type]
            for r, c, t in zip(roots, colors, types, strict=True))

    def clear(self) -> None:
        """Remove every neuron and this package's layers."""
        self.scene.clear()
        self.model.set_entries([])
        viewer = self.viewer
        if viewer is not None:
            for layer in list(viewer.layers):
                if METADATA_KEY in layer.metadata:
                    viewer.layers.remove(layer)
        self.changed.emit()

    def set_color_by(self, color_by: str) -> None:
        """Recolour the synapse layers (``'type'``, ``'partner'`` or ``'neuron'``)."""
        self.color_by = color_by
        if self.scene.neurons and self.viewer is not None:
            write_layers(self.viewer, [self.scene.synapse_layer(kind, color_by) for kind in ("pre", "post")])

    def set_colors(self, colors: dict[int, Any]) -> None:
        """Give loaded neurons these RGBA colours (e.g. a reopened session's) and redraw them."""
        self.scene.set_colors(colors)
        if self.scene.neurons:
            self.sync_model()
            self.refresh_layers()

    def refresh_layers(self) -> None:
        """Write the scene into the viewer's layers (adding them the first time)."""
        viewer = self.viewer
        if viewer is None:
            return
        write_layers(viewer, self.scene.layers(self.color_by))
        self._project_z(viewer)
        if len(self.model.shown_roots()) < len(self.model.entries):
            self.apply_visibility()

    def prepare_layers(self) -> None:
        """Add this package's layers, empty, unless they exist (done when the query dock opens).

        The first load then only sets their data: napari's first layer of a kind, its visuals
        and layer controls are made ahead of it.
        """
        viewer = self.viewer
        if viewer is None or self.scene.neurons:
            return
        if any(METADATA_KEY in layer.metadata for layer in viewer.layers):
            return
        write_layers(viewer, Scene().layers(self.color_by))

    def apply_visibility(self) -> None:
        """Draw only the neurons the legend shows: hidden ones get transparent edges, unshown points."""
        viewer = self.viewer
        if viewer is None:
            return
        for kind in ("skeletons", "somata", "pre", "post", "highlight"):
            layer = find_layer(viewer, kind)
            if layer is None or len(layer.data) == 0:
                continue
            shown = self.model.shown_mask(layer.features["root_id"].to_numpy().astype(np.uint64))
            if kind == "skeletons":
                colors = np.array(layer.edge_color, dtype=np.float64, copy=True)
                colors[:, 3] = shown.astype(np.float64)
                layer.edge_color = colors
            else:
                layer.shown = shown

    def _project_z(self, viewer: Any) -> None:
        """In 2D, show the whole z range projected (layers use ``projection_mode='all'``).

        napari draws points and vectors within ``dims.thickness`` of the current z; a 1 nm
        slab would show almost nothing. The thickness is set to span the data unless the user
        changed it since it was last set here.
        """
        if viewer.dims.ndim < 3:
            return
        axis = viewer.dims.ndim - 3
        current = float(viewer.dims.thickness[axis])
        if current not in (0.0, 1.0) and current != self._thickness:
            return
        rng = viewer.dims.range[axis]
        span = float(rng.stop - rng.start) + 2.0
        middle = (rng.start + rng.stop) / 2
        point = float(viewer.dims.point[axis])
        covered = point - current / 2 <= rng.start and point + current / 2 >= rng.stop
        if current == self._thickness and covered:
            return  # the slab still spans the data: re-slicing every layer would cost a frame
        span = 2 * span  # room for neurons loaded later (no re-slice while the range grows a little)
        thickness = list(viewer.dims.thickness)
        thickness[axis] = span
        viewer.dims.set_point(axis, middle)
        viewer.dims.thickness = tuple(thickness)
        self._thickness = span

    def highlight(self, synapse_ids: Any) -> None:
        """Show these synapses in the highlight layer."""
        viewer = self.viewer
        if viewer is not None and self.scene.neurons:
            apply_layer(viewer, *self.scene.highlight_layer(synapse_ids))
        self.highlighted.emit(synapse_ids)


_sessions: "weakref.WeakKeyDictionary[Any, Session]" = weakref.WeakKeyDictionary()


def _unwrap(viewer: Any) -> Any:
    """The viewer behind napari's ``PublicOnlyProxy`` (each injection makes a new proxy)."""
    return getattr(viewer, "__wrapped__", viewer)


def get_session(viewer: Any) -> Session:
    """The session of ``viewer`` (created on first use), shared by all docks of that viewer."""
    viewer = _unwrap(viewer)
    session = _sessions.get(viewer)
    if session is None:
        session = _sessions[viewer] = Session(viewer)
    return session


def _check_main_thread() -> None:
    from qtpy.QtCore import QCoreApplication, QThread

    app = QCoreApplication.instance()
    if app is not None and QThread.currentThread() is not app.thread():
        raise RuntimeError("napari-crant: layers must be changed on the main thread")


def find_layer(viewer: Any, kind: str) -> Any:
    """This package's layer of ``kind`` in ``viewer`` (``None`` if absent)."""
    for layer in viewer.layers:
        if layer.metadata.get(METADATA_KEY) == kind:
            return layer
    return None


def apply_layer(viewer: Any, data: Any, kwargs: dict[str, Any], ltype: str) -> Any:
    """Add a layer from a LayerData tuple, or replace the data of the existing one of its kind.

    Must run on the main thread (raises ``RuntimeError`` otherwise).
    """
    return write_layers(viewer, [(data, kwargs, ltype)])[0]


def write_layers(viewer: Any, layer_data: list[tuple[Any, dict[str, Any], str]]) -> list[Any]:
    """Write LayerData tuples into the viewer's layers of their kinds (added the first time).

    Every existing layer gets its data, features and colours with its events and slicing held
    (:func:`_set_layer_data`); then the viewer hears once per layer and each layer is sliced
    once: by the viewer when the data's range changed, else by its own refresh. Setting each
    layer on its own would re-slice every layer of the viewer for each of them (the range
    changes), and napari's per-point work (symbols, colours) would run several times.

    Must run on the main thread (raises ``RuntimeError`` otherwise). Returns the layers.
    """
    from napari.layers.base import ActionType

    _check_main_thread()
    layers: list[Any] = []
    changed = []
    for data, kwargs, ltype in layer_data:
        layer = find_layer(viewer, kwargs["metadata"][METADATA_KEY])
        if layer is None:
            if len(data) == 0:  # napari refuses empty colour arrays
                kwargs = {**kwargs, **{k: "white" for k in ("edge_color", "face_color", "border_color")
                                       if k in kwargs}}
            layer = getattr(viewer, f"add_{ltype}")(data, **kwargs)
        else:
            _set_layer_data(layer, data, kwargs, ltype)
            changed.append(layer)
        layers.append(layer)
    if changed:
        before = tuple(viewer.dims.range)
        for layer in changed:
            layer._clear_extent()  # the extents were cached before the data changed
        # the viewer updates its dims once for all the layers (``_on_layers_change`` after each
        # layer's data event recomputed the extents and re-validated the dims every time), and
        # re-slices every layer when the range changed
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
        resliced = tuple(viewer.dims.range) != before
        for layer in changed:
            if not resliced:
                layer.refresh()
    return layers


def _set_layer_data(layer: Any, data: Any, kwargs: dict[str, Any], ltype: str) -> None:
    """Set a layer's data, features and colours with its events and slicing held (no refresh).

    Each property set alone re-slices the layer and re-sends every point to the GPU;
    :func:`write_layers` lets the canvas and the viewer's dims hear once, at the end.
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
            layer.edge_color = kwargs["edge_color"]
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
