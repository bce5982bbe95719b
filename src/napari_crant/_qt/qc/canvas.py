"""What the review shows on the canvas: verdict colours, the current synapse, its partner, the camera.

:class:`ReviewCanvas` listens to a :class:`~napari_crant.qc.review.ReviewModel` and draws; a verdict
recolours one point of the verdict layer (one vertex sent to the GPU), it never rebuilds the layer.
"""

import contextlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from napari_crant._qt.dot_depth import SYNAPSE_DOTS, lift_dots
from napari_crant._qt.layer_writes import hide_empty_text
from napari_crant._qt.qc.ring import move_ring
from napari_crant._qt.qc.slicing import set_z_point
from napari_crant._qt.qc.vispy_points import recolor_point
from napari_crant._qt.qc.vispy_programs import keep_mesh_program
from napari_crant._qt.qc.workers import WorkerRunner, partner_skeleton
from napari_crant._qt.session import Session, find_layer
from napari_crant.qc.review import ReviewModel
from napari_crant.scene.layer_conventions import (
    AXES,
    MAX_POINT_PIXELS,
    METADATA_KEY,
    MIN_POINT_PIXELS,
    SCALE,
    UNITS,
)
from napari_crant.scene.neuron_data import id_strings

#: RGBA of synapse points by verdict (None: not reviewed yet)
VERDICT_COLORS = {
    None: (0.65, 0.65, 0.65, 0.6),
    "correct": (0.2, 0.85, 0.3, 1.0),
    "false_positive": (0.95, 0.2, 0.2, 1.0),
    "wrong_partner": (1.0, 0.6, 0.1, 1.0),
    "unsure": (0.7, 0.45, 1.0, 1.0),
}
#: on-screen diameter limits (pixels) of the current synapse's ring without EM: 1,400 nm when far,
#: at most a marker of 48 px when zoomed in (its nm size would cover the view around the synapse)
RING_PIXELS = (12.0, 48.0)
DIFF_COLORS = {"gained": (0.2, 0.9, 0.3, 1.0), "lost": (1.0, 0.1, 0.8, 1.0)}
#: layer kind (metadata value) -> layer name; the session's Clear removes them with the others
QC_LAYERS = {
    "qc_verdicts": "CRANT QC verdicts",
    "qc_current": "CRANT QC current",
    "qc_partner": "CRANT QC partner",
    "qc_diff": "CRANT QC edit diff",
    "qc_em": "CRANT QC EM",
    "qc_segments": "CRANT QC segments",
}
#: partners' skeletons kept for when the review comes back to them (least recently used out)
MAX_PARTNER_SKELETONS = 48
#: bytes of partners' skeleton vectors kept at most
MAX_PARTNER_BYTES = 64 * 2**20
#: the camera is not moved while the next synapse lies this close to the view's centre
#: (fraction of the field of view): panning re-draws every layer for nothing
RECENTRE_FRACTION = 0.15
#: layer events after which napari recomputes the world's extent and the dims (one layer at a time)
_EXTENT_EVENTS = ("data", "translate", "scale")


def verdict_color(verdict: Any) -> tuple[float, float, float, float]:
    """RGBA of a verdict (grey when unreviewed)."""
    return VERDICT_COLORS.get(verdict if isinstance(verdict, str) else None, VERDICT_COLORS[None])


def qc_layer_kwargs(kind: str, **extra: Any) -> dict[str, Any]:
    """Keyword arguments of a QC layer (same axes, units and metadata scheme as the others)."""
    return {"name": QC_LAYERS[kind], "scale": SCALE, "units": UNITS, "axis_labels": AXES,
            "metadata": {METADATA_KEY: kind}, "projection_mode": "all", **extra}


@contextlib.contextmanager
def kept_dims_point(viewer: Any) -> Iterator[None]:
    """Keep the viewer's slider position through layer changes.

    A layer whose data moves changes the world's range, and napari may then move the
    slider (in 2D the z of the section shown): the EM at the synapse would vanish.
    """
    point = tuple(viewer.dims.point)
    try:
        yield
    finally:
        if tuple(viewer.dims.point) != point and len(viewer.dims.point) == len(point):
            viewer.dims.point = point


@contextlib.contextmanager
def one_extent_update(viewer: Any, layers: Iterable[Any]) -> Iterator[None]:
    """Move several layers with one recomputation of the world's extent and the dims.

    napari recomputes every layer's extent and re-validates the dims after *each* data,
    translate or scale event of *each* layer (``ViewerModel._on_layers_change``): moving the
    EM, the segments, the ring and the partner to the next synapse did it five times. Inside
    this block those calls are held back for ``layers``; it is done once at the end.
    """
    handler = getattr(viewer, "_on_layers_change", None)
    layers = [layer for layer in layers if layer is not None]
    if handler is None or not layers:
        yield
        return
    with contextlib.ExitStack() as stack:
        for layer in layers:
            for name in _EXTENT_EVENTS:
                emitter = getattr(layer.events, name, None)
                if emitter is not None:
                    stack.enter_context(emitter.blocker(handler))
        try:
            yield
        finally:
            stack.close()
            if _world_changed(viewer):
                handler()


def _world_changed(viewer: Any) -> bool:
    """Whether the layers' world ranges differ from the dims' (else updating the dims, a few ms
    of pydantic validation per step, changes nothing: the ring and the partner move inside the
    neuron's extent)."""
    try:
        ranges = tuple(tuple(float(v) for v in r) for r in viewer.layers._ranges)
        dims = tuple(tuple(float(v) for v in r) for r in viewer.dims.range)
    except (AttributeError, TypeError, ValueError):
        return True
    return ranges != dims


def set_points(viewer: Any, kind: str, data: np.ndarray, features: pd.DataFrame, colors: np.ndarray,
               size: float, **extra: Any) -> Any:
    """Add or update a QC Points layer (main thread); ``None`` without a viewer."""
    if viewer is None:
        return None
    layer = find_layer(viewer, kind)
    data = np.asarray(data, np.float64).reshape(-1, 3)
    if layer is None:
        kw = qc_layer_kwargs(kind, features=features, size=size, border_width=0.0, **extra)
        if len(data):
            kw["face_color"] = colors
        layer = viewer.add_points(data, **kw)
        hide_empty_text(viewer, layer)  # no text visual drawn, *display text* unticked
        if kind in SYNAPSE_DOTS:
            lift_dots(viewer, layer)  # whole where the 3D EM plane passes through them
        return layer
    layer.data = data
    layer.features = features
    if len(data):
        layer.face_color = colors
    layer.size = size
    return layer


class ReviewCanvas:
    """Draws a review model in the session's viewer.

    Parameters
    ----------
    model
        The review.
    session
        The viewer's session (loaded neurons, labels, the dataset).
    runner
        Runs the partner-skeleton worker.
    field_of_view
        Returns the width (nm) of the view around the current synapse.
    on_error
        Shows an error message.
    """

    def __init__(self, model: ReviewModel, session: Session, runner: WorkerRunner,
                 field_of_view: Callable[[], float], on_error: Callable[[str], None]):
        self.model = model
        self.session = session
        self.runner = runner
        self.field_of_view = field_of_view
        self.on_error = on_error
        #: partner root -> skeleton vectors, least recently used first (bounded)
        self._skeletons: OrderedDict[int, np.ndarray] = OrderedDict()
        #: the partner whose skeleton the partner layer shows (not redrawn while it stays)
        self._partner_shown: tuple | None = None
        model.worklist_changed.connect(self._forget_skeletons)
        model.items_changed.connect(self.draw_verdicts)
        model.verdict_changed.connect(self.recolor)
        model.position_changed.connect(self.show)

    def disconnect(self) -> None:
        """Stop following the model."""
        self.model.worklist_changed.disconnect(self._forget_skeletons)
        self.model.items_changed.disconnect(self.draw_verdicts)
        self.model.verdict_changed.disconnect(self.recolor)
        self.model.position_changed.disconnect(self.show)

    def _forget_skeletons(self) -> None:
        self._skeletons.clear()

    @property
    def viewer(self) -> Any:
        return self.session.viewer

    # -- verdict layer ---------------------------------------------------------------------
    def draw_verdicts(self) -> None:
        """Every synapse of the chosen set, coloured by verdict."""
        items = self.model.items
        if items.empty:
            data, colors = np.zeros((0, 3)), np.zeros((0, 4))
            features = pd.DataFrame({c: np.array([], object)
                                     for c in ("synapse_id", "partner_id", "verdict", "reason")})
        else:
            data = items[["z", "y", "x"]].to_numpy(np.float64)
            verdict = items["verdict"].to_numpy(object)
            colors = np.array([verdict_color(v) for v in verdict]).reshape(-1, 4)
            features = pd.DataFrame({
                "synapse_id": id_strings(items["synapse_id"]),
                "partner_id": id_strings(items["partner_id"]),
                "verdict": np.array([v if isinstance(v, str) else "unreviewed" for v in verdict], object),
                "reason": items["reason"].to_numpy(object),
            })
        set_points(self.viewer, "qc_verdicts", data, features, colors, 600.0,
                   canvas_size_limits=(MIN_POINT_PIXELS, MAX_POINT_PIXELS))

    def recolor(self, index: int) -> None:
        """Recolour point ``index`` of the verdict layer (one synapse's verdict changed)."""
        viewer = self.viewer
        layer = None if viewer is None else find_layer(viewer, "qc_verdicts")
        if layer is None or len(layer.data) != len(self.model.items):
            self.draw_verdicts()
            return
        verdict = self.model.items["verdict"].iloc[index]
        layer.features.loc[index, "verdict"] = verdict if isinstance(verdict, str) else "unreviewed"
        colors = layer.face_color
        color = verdict_color(verdict)
        if np.allclose(colors[index], color):
            return  # the same colour (e.g. one verdict changed for another of that colour): no redraw
        # the one vertex's colour sent to the GPU (napari's colour event would send every point again)
        if recolor_point(viewer, layer, index, color):
            return
        # else in place, one refresh of the points visual (the face_color setter refreshes it twice
        # and checks every colour again)
        colors[index] = color
        if not np.allclose(layer.face_color[index], color):  # not the layer's own array after all
            colors = np.array(layer.face_color, copy=True)
            colors[index] = color
            layer.face_color = colors
            return
        layer.events.face_color()

    # -- the current synapse ---------------------------------------------------------------
    def show(self, index: int | None) -> None:
        """Ring the current synapse, centre the camera on it and draw its partner."""
        viewer = self.viewer
        if viewer is None:
            return
        if index is None:
            set_points(viewer, "qc_current", np.zeros((0, 3)), pd.DataFrame({"synapse_id": []}),
                       np.zeros((0, 4)), 1200.0, blending="translucent_no_depth",
                       canvas_size_limits=RING_PIXELS)
            return
        row = self.model.items.iloc[index]
        zyx = np.array([row["z"], row["y"], row["x"]], np.float64)
        layer = find_layer(viewer, "qc_current")
        with one_extent_update(viewer, (layer, find_layer(viewer, "qc_partner"))):
            # the ring is one point at the origin moved by its translate (ring.py): no new data per step
            name = id_strings([row["synapse_id"]])
            if layer is None or not move_ring(viewer, layer, zyx, name[0]):
                layer = set_points(viewer, "qc_current", np.zeros((1, 3)), pd.DataFrame({"synapse_id": name}),
                                   np.array([[1.0, 1.0, 0.0, 0.35]]), 1400.0, blending="translucent_no_depth",
                                   canvas_size_limits=RING_PIXELS)
                layer.border_color = "yellow"
                layer.border_width = 0.15
                move_ring(viewer, layer, zyx, name[0])
            self.show_partner(int(row["partner_id"]))
        self._project_partner()
        self.center_on(zyx)

    def center_on(self, zyx: np.ndarray, always: bool = False) -> None:
        """Centre the camera on a (z, y, x) nm position and zoom to the field of view.

        The camera stays where it is when the position is already near the centre of the view
        at this zoom (within :data:`RECENTRE_FRACTION` of the field of view): a pan re-draws
        every layer. ``always``: centre it anyway.
        """
        viewer = self.viewer
        if viewer is None:
            return
        cam = viewer.scene.camera if hasattr(getattr(viewer, "scene", None), "camera") else viewer.camera
        ndim = viewer.dims.ndim
        z_axis = ndim - 3
        # the z slider matters only when z is not displayed (2D); moving it re-slices the layers whose
        # slice depends on z (not the projected points and vectors)
        if ndim >= 3 and z_axis not in viewer.dims.displayed:
            set_z_point(viewer, z_axis, float(zyx[0]))
        width = 600.0
        try:
            size = viewer.window._qt_viewer.canvas.native.size()
            width = float(max(min(size.width(), size.height()), 100))
        except (AttributeError, RuntimeError):
            pass
        fov = float(self.field_of_view())
        zoom = width / fov
        if always or not self._near_centre(viewer, cam, zyx, fov) or not np.isclose(cam.zoom, zoom):
            cam.center = tuple(float(v) for v in zyx)
        if not np.isclose(cam.zoom, zoom):
            cam.zoom = zoom

    @staticmethod
    def _near_centre(viewer: Any, cam: Any, zyx: np.ndarray, fov: float) -> bool:
        """Whether ``zyx`` is within :data:`RECENTRE_FRACTION` x ``fov`` of the camera's centre
        along the displayed axes."""
        first = viewer.dims.ndim - 3
        displayed = [int(a) - first for a in viewer.dims.displayed]
        centre = np.asarray(cam.center, np.float64)[-len(displayed):]
        if first < 0 or min(displayed) < 0 or len(centre) != len(displayed):
            return False
        offset = np.asarray(zyx, np.float64)[displayed] - centre
        return bool(np.linalg.norm(offset) <= RECENTRE_FRACTION * fov)

    def show_partner(self, partner: int) -> None:
        """Draw the partner's skeleton (loaded neuron, cached, or fetched in a worker)."""
        if partner == 0 or partner == self.model.root:
            self._set_partner_vectors(np.zeros((0, 2, 3)), partner)
        elif partner in self.session.scene.neurons:
            self._set_partner_vectors(self.session.scene.neurons[partner].edges, partner)
        elif partner in self._skeletons:
            self._skeletons.move_to_end(partner)
            self._set_partner_vectors(self._skeletons[partner], partner)
        else:
            self.runner.start(partner_skeleton, partner, self.session.params.dataset,
                              returned=self._on_skeleton,
                              errored=lambda m: self.on_error(f"partner skeleton: {m}"))

    def _on_skeleton(self, result: tuple[int, np.ndarray]) -> None:
        pid, vectors = result
        self.keep_skeleton(pid, vectors)
        row = self.model.current_row()
        if row is not None and int(row["partner_id"]) == pid:
            layer = find_layer(self.viewer, "qc_partner") if self.viewer is not None else None
            with one_extent_update(self.viewer, (layer,)):
                self._set_partner_vectors(vectors, pid)
            with kept_dims_point(self.viewer):
                self._project_partner()

    def _project_partner(self) -> None:
        """In 2D, widen the session's z slab to the partner's skeleton when it reaches beyond it
        (the slab spans the loaded neurons; a partner drawn only within it was cut off, and the
        layer then had to be re-sliced at every z)."""
        if self.viewer is not None:
            self.session.project_z(self.viewer)

    def keep_skeleton(self, partner: int, vectors: np.ndarray) -> None:
        """Keep a partner's skeleton vectors, dropping the least recently used beyond the bounds
        (:data:`MAX_PARTNER_SKELETONS`, :data:`MAX_PARTNER_BYTES`)."""
        self._skeletons[int(partner)] = vectors
        self._skeletons.move_to_end(int(partner))
        while len(self._skeletons) > 1 and (len(self._skeletons) > MAX_PARTNER_SKELETONS
                                            or self.skeleton_bytes > MAX_PARTNER_BYTES):
            self._skeletons.popitem(last=False)

    @property
    def skeleton_bytes(self) -> int:
        """Bytes held by the kept partner skeletons."""
        return sum(int(np.asarray(v).nbytes) for v in self._skeletons.values())

    def _set_partner_vectors(self, vectors: np.ndarray, partner: int) -> None:
        viewer = self.viewer
        if viewer is None:
            return
        layer = find_layer(viewer, "qc_partner")
        shown = (partner, self.model.root, len(vectors))
        if layer is not None and shown == self._partner_shown:
            return
        self._partner_shown = shown
        vectors = np.asarray(vectors, np.float64).reshape(-1, 2, 3)
        features = pd.DataFrame({"root_id": np.full(len(vectors), str(partner), dtype=object)})
        with kept_dims_point(viewer):
            if layer is None:
                layer = viewer.add_vectors(vectors, **qc_layer_kwargs(
                    "qc_partner", features=features, edge_color="magenta", vector_style="line",
                    edge_width=250.0, opacity=0.8))
                # the next partners' skeletons upload their vertices without relinking the GL program
                keep_mesh_program(viewer, layer)
            else:
                layer.data = vectors
                layer.features = features
