"""Per-viewer shared state of the napari-crant docks, and writing layers on the main thread."""

import weakref
from dataclasses import dataclass, field
from typing import Any

from psygnal import Signal

from napari_crant.datasets import get_default_dataset
from napari_crant.scene.layer_data import METADATA_KEY, Scene
from napari_crant.scene.loading import LoadResult, update_messages


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
    """What the docks of one viewer share: the loaded :class:`~napari_crant.scene.layer_data.Scene`.

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

    @property
    def viewer(self) -> Any:
        """The viewer (or ``None`` once it is gone)."""
        return self._viewer()

    def add(self, result: LoadResult) -> list[str]:
        """Add a load's neurons and refresh the layers; returns the update messages."""
        self.scene.add(result)
        self.refresh_layers()
        self.changed.emit()
        return update_messages(result.updated)

    def clear(self) -> None:
        """Remove every neuron and this package's layers."""
        self.scene.clear()
        viewer = self.viewer
        if viewer is not None:
            for layer in list(viewer.layers):
                if METADATA_KEY in layer.metadata:
                    viewer.layers.remove(layer)
        self.changed.emit()

    def set_color_by(self, color_by: str) -> None:
        """Recolour the synapse layers (``'type'``, ``'partner'`` or ``'neuron'``)."""
        self.color_by = color_by
        if self.scene.neurons:
            for kind in ("pre", "post"):
                apply_layer(self.viewer, *self.scene.synapse_layer(kind, color_by))

    def refresh_layers(self) -> None:
        """Write the scene into the viewer's layers (adding them the first time)."""
        viewer = self.viewer
        if viewer is None:
            return
        for data, kwargs, ltype in self.scene.layers(self.color_by):
            apply_layer(viewer, data, kwargs, ltype)
        self._project_z(viewer)

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
        thickness = list(viewer.dims.thickness)
        thickness[axis] = span
        viewer.dims.set_point(axis, (rng.start + rng.stop) / 2)
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
    _check_main_thread()
    kind = kwargs["metadata"][METADATA_KEY]
    layer = find_layer(viewer, kind)
    if layer is None:
        return getattr(viewer, f"add_{ltype}")(data, **kwargs)
    layer.data = data
    layer.features = kwargs["features"]
    if ltype == "vectors":
        layer.edge_color = kwargs["edge_color"]
    else:
        layer.face_color = kwargs["face_color"] if len(data) else "white"
        layer.size = kwargs["size"]
    return layer
