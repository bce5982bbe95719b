"""Per-viewer shared state of the napari-crant docks: the scene, its model and its layers."""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from psygnal import Signal

from napari_crant._qt.canvas_pick import CanvasPicker
from napari_crant._qt.dot_lod import DotLevelOfDetail
from napari_crant._qt.layer_batches import LayerBatches
from napari_crant._qt.layer_writes import apply_layer, find_layer, find_layers, write_layers
from napari_crant.datasets import get_default_dataset
from napari_crant.scene.layer_conventions import AXES, METADATA_KEY
from napari_crant.scene.scene_model import NeuronEntry, SceneModel

if TYPE_CHECKING:
    from napari_crant.scene.layer_data import Scene
    from napari_crant.scene.loading import LoadResult

__all__ = ["QueryParams", "Session", "apply_layer", "find_layer", "find_layers", "get_session",
           "write_layers"]


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
        self._scene: Scene | None = None  # made on first use (``scene``: it imports pandas)
        self.params = QueryParams()
        self.color_by = "type"
        self._thickness: float | None = None
        self.model = SceneModel()
        self.model.visibility_changed.connect(self.apply_visibility)
        #: hover texts and click-to-select on the canvas
        self.picker = CanvasPicker(self)
        #: how many synapse dots are drawn (a stable subsample while too many are in view)
        self.dots = DotLevelOfDetail(self)
        from napari_crant._qt.fit_screen import CameraFit

        self.camera_fit = CameraFit()
        #: the loaded neurons' layers, one set per batch of neurons, written a few per event-loop turn
        self.batches = LayerBatches(self, on_drawn=self._on_drawn)
        self._fit_after_drawing: bool | None = None  # ``was_empty`` of the load being drawn
        viewer.layers.events.removed.connect(lambda event: self.batches.forget_layer(event.value))
        from napari_crant._qt.worker_guard import guard_viewer, import_before_workers

        guard_viewer(viewer)  # the docks' workers are stopped and waited on when the viewer closes
        # not half imported by a worker when napari.run() reads it: in the next turn (~30 ms, not in
        # the opening dock's), and by the query dock itself before it starts a worker
        from qtpy.QtCore import QTimer

        QTimer.singleShot(1, import_before_workers)
        from napari_crant._qt.paint_once import layouts_before_paint

        # one whole-window repaint per change, not one per layout level a label's new text moves
        layouts_before_paint(getattr(getattr(viewer, "window", None), "_qt_window", None))

    @property
    def viewer(self) -> Any:
        """The viewer (or ``None`` once it is gone)."""
        return self._viewer()

    @property
    def scene(self) -> Scene:
        """The loaded neurons and their layer data (made on first use: opening a dock makes the
        session, and importing pandas for the scene would stall it)."""
        if self._scene is None:
            from napari_crant.scene.layer_data import Scene

            self._scene = Scene()
        return self._scene

    def add(self, result: LoadResult) -> list[str]:
        """Add a load's neurons and refresh the layers; returns the update messages.

        The camera is refitted to everything shown unless the user moved it since the last fit
        (:class:`~napari_crant._qt.fit_screen.CameraFit`).
        """
        was_empty = not self.scene.neurons
        self.scene.add(result)
        self.sync_model()
        viewer = self.viewer
        if viewer is not None:
            if result.neurons:  # refitted once the arrival is drawn (see _on_drawn)
                self._fit_after_drawing = was_empty or bool(self._fit_after_drawing)
                # the dots drawn, decided before the first write (all in view once refitted)
                self.dots.expect(sum(len(n.synapses) for n in self.scene.neurons.values()
                                     if self.model.is_shown(n.root_id)))
            self.batches.add([n.root_id for n in result.neurons],
                             [len(n.synapses) for n in result.neurons])
            if self.batches.drawing and self._fit_after_drawing is not None:
                self.camera_fit.after_load(viewer, self._fit_after_drawing)  # the first batch in view
                # once drawn: refitted only if the camera was not moved meanwhile (by the user, or
                # by a reopened session setting its saved camera)
                self._fit_after_drawing = False
        self.changed.emit()
        from napari_crant.scene.loading import update_messages

        return update_messages(result.updated, result.split)

    @property
    def drawing(self) -> bool:
        """Whether loaded neurons are still being written into their layers (later event-loop turns)."""
        return self.batches.drawing

    def _on_drawn(self) -> None:
        """The queued layer writes are done: refit the camera to the load (unless the user moved
        it), then count the synapse dots in view (the user's view may show fewer than were loaded)."""
        viewer = self.viewer
        if viewer is not None and self._fit_after_drawing is not None:
            self.camera_fit.after_load(viewer, self._fit_after_drawing)
        self._fit_after_drawing = None
        if viewer is not None and self.dots.recount():
            self.apply_visibility_kinds(("pre", "post"))

    def sync_model(self) -> None:
        """Give every loaded neuron its legend entry (colour, cell type)."""
        roots = self.scene.root_ids
        colors = self.scene.neuron_rgba()
        types = self.scene.cell_types(roots)
        self.model.set_entries(
            NeuronEntry(int(r), tuple(float(x) for x in c), t)  # type: ignore[arg-type]
            for r, c, t in zip(roots, colors, types, strict=True))

    def clear(self) -> None:
        """Remove every neuron and this package's layers (the first batch's are kept, emptied: the
        next load does not make napari's layers again)."""
        self.scene.clear()
        self.model.set_entries([])
        self.dots.budget.update(0)  # nothing in view: the notice goes
        self._fit_after_drawing = None
        viewer = self.viewer
        if viewer is not None:
            self.batches.clear()
            kept = set(map(id, self.batches.layers_of_all()))
            for layer in list(viewer.layers):
                if METADATA_KEY in layer.metadata and id(layer) not in kept:
                    viewer.layers.remove(layer)
        self.changed.emit()

    def set_color_by(self, color_by: str) -> None:
        """Recolour the synapse layers (``'type'``, ``'partner'`` or ``'neuron'``)."""
        self.color_by = color_by
        if self.scene.neurons and self.viewer is not None:
            self.batches.rewrite(("pre", "post"))

    def set_colors(self, colors: dict[int, Any]) -> None:
        """Give loaded neurons these RGBA colours (e.g. a reopened session's) and redraw them."""
        self.scene.set_colors(colors)
        if self.scene.neurons:
            self.sync_model()
            self.refresh_layers()

    def refresh_layers(self) -> None:
        """Write the scene into the viewer's layers again (every batch; adding them the first time)."""
        if self.viewer is not None:
            self.batches.rewrite()

    def prepare_layers(self) -> None:
        """Add this package's layers, empty, unless they exist (done when the query dock opens).

        The first load then only sets their data: napari's first layer of a kind, its visuals
        and layer controls are made ahead of it. This turn makes the scene, decides the synapse
        dots' limit and gives the viewer its third axis (napari makes the dims slider, and the
        canvas shrinks for it: ~30 ms); the layers follow, one a turn (``LayerBatches.prepare``).
        """
        viewer = self.viewer
        if viewer is None:
            return
        self.dots.warm_up()  # the dot notice's glyphs, made while the user types
        if self._layers_not_needed(viewer):
            return
        if viewer.dims.ndim < len(AXES):
            viewer.dims.ndim = len(AXES)  # as the first layer would (the same dims once it is added)
        from qtpy.QtCore import QTimer

        QTimer.singleShot(1, self._prepare_batches)

    def _prepare_batches(self) -> None:
        viewer = self.viewer
        if viewer is not None and not self._layers_not_needed(viewer):
            self.batches.prepare()

    def _layers_not_needed(self, viewer: Any) -> bool:
        """Whether the empty layers are not needed: neurons are loaded, or this package's layers exist."""
        return bool(self.scene.neurons) or any(METADATA_KEY in layer.metadata for layer in viewer.layers)

    def apply_visibility(self) -> None:
        """Draw only the neurons the legend shows: hidden ones get transparent edges, unshown points."""
        if self.viewer is not None:
            self.dots.recount()  # hidden neurons' dots are not in view
        self.apply_visibility_kinds(("skeletons", "somata", "pre", "post", "highlight"))

    def apply_visibility_kinds(self, kinds: tuple[str, ...]) -> None:
        """Apply the legend and the synapse dots' level of detail to every layer of ``kinds``."""
        viewer = self.viewer
        if viewer is None:
            return
        for kind in kinds:
            for layer in find_layers(viewer, kind):
                self.apply_visibility_to(layer, kind, always=True)

    def apply_visibility_to(self, layer: Any, kind: str, always: bool = False) -> None:
        """Hide the neurons the legend hides in one layer, and in a synapse layer the dots the level
        of detail leaves out (``always``: also when all are shown, to show them again; else a
        freshly written layer, all shown, is left as it is when nothing is hidden)."""
        if len(layer.data) == 0:
            return
        dots = self.dots.mask_for(layer) if kind in ("pre", "post") else None
        legend = self.legend_mask(layer)
        if not always and legend is None and dots is None:
            return
        shown = np.ones(len(layer.data), dtype=bool) if legend is None else legend
        if dots is not None:
            shown &= dots
        # the same mask again (e.g. the recount after an arrival's refit) is not set again: napari
        # would slice and colour the whole layer once more for nothing
        if kind == "skeletons":
            colors = np.array(layer.edge_color, dtype=np.float64, copy=True)
            if np.array_equal(colors[:, 3], shown.astype(np.float64)):
                return
            colors[:, 3] = shown.astype(np.float64)
            layer.edge_color = colors
        elif not np.array_equal(np.asarray(layer.shown), shown):
            layer.shown = shown

    def legend_mask(self, layer: Any) -> np.ndarray | None:
        """Which of a layer's rows belong to neurons the legend shows (``None``: every neuron is shown)."""
        if len(self.model.shown_roots()) == len(self.model.entries):
            return None
        return self.model.shown_mask(layer.features["root_id"].to_numpy().astype(np.uint64))

    def project_z(self, viewer: Any) -> None:
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
        start, stop = float(rng.start), float(rng.stop)
        loaded = self.scene.z_range()  # every loaded neuron, also those of batches not written yet
        if loaded is not None:  # (the slab then spans a whole arrival: its later batches re-slice nothing)
            start, stop = min(start, loaded[0]), max(stop, loaded[1])
        span = stop - start + 2.0
        middle = (start + stop) / 2
        point = float(viewer.dims.point[axis])
        covered = point - current / 2 <= start and point + current / 2 >= stop
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


_sessions: weakref.WeakKeyDictionary[Any, Session] = weakref.WeakKeyDictionary()


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


