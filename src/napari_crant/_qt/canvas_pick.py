"""Hover and click on the canvas: any skeleton or synapse, whatever layer is active.

:class:`CanvasPicker` adds a mouse-move and a mouse-drag callback to the viewer (once per
session). Moving the mouse shows the root ID, cell type and partner of what is under the
cursor in the status bar; a click (press and release without dragging) on a skeleton,
soma or synapse selects that neuron in the session's model, which the partner table, the
QC dock and the adjacency view follow.
"""

from typing import Any

import numpy as np

from napari_crant.scene.layer_conventions import METADATA_KEY
from napari_crant.scene.picking import SkeletonPicker, neuron_text, synapse_text

#: how close (screen pixels) the cursor must be to a skeleton node to pick it
PICK_PIXELS = 8.0
_POINT_KINDS = ("highlight", "pre", "post", "somata")


class CanvasPicker:
    """Hover text and click-to-select for one session's layers.

    Parameters
    ----------
    session
        The :class:`~napari_crant._qt.session.Session` whose layers and model are used.
    """

    def __init__(self, session: Any):
        self.session = session
        #: the text shown for the last hover (``''``: nothing under the cursor)
        self.text = ""
        self._skeletons: SkeletonPicker | None = None
        self._skeleton_data_id: tuple[int, ...] | None = None
        self._setting_status = False
        viewer = session.viewer
        viewer.mouse_move_callbacks.append(self.on_mouse_move)
        viewer.mouse_drag_callbacks.append(self.on_mouse_drag)
        viewer.events.status.connect(self._keep_status)

    # -- what is under the cursor ----------------------------------------------------------
    def _skeleton_picker(self, layers: list[Any]) -> SkeletonPicker:
        """One picker over the skeleton layers of every batch (made again when any data changed)."""
        key = tuple(id(layer.data) for layer in layers)
        if self._skeletons is None or self._skeleton_data_id != key:
            edges = np.concatenate([np.asarray(layer.data).reshape(-1, 2, 3) for layer in layers])
            roots = np.concatenate([layer.features["root_id"].to_numpy().astype(np.uint64)
                                    for layer in layers])
            self._skeletons = SkeletonPicker(edges, roots)
            self._skeleton_data_id = key
        return self._skeletons

    def pick(self, position: Any, view_direction: Any = None) -> tuple[int | None, str]:
        """The neuron under ``position`` (world coordinates) and its hover text.

        Synapses and somata first (napari's own picking, in 3D along ``view_direction``),
        then the nearest skeleton node within :data:`PICK_PIXELS` screen pixels.
        """
        viewer = self.session.viewer
        if viewer is None or not self.session.scene.neurons:
            return None, ""
        dims = list(viewer.dims.displayed)
        direction = view_direction if len(dims) == 3 else None
        # every layer of each kind (the loaded neurons have one per batch), the top one first
        layers: dict[str, list[Any]] = {}
        for layer in reversed(viewer.layers):
            if METADATA_KEY in layer.metadata and layer.visible and len(layer.data):
                layers.setdefault(layer.metadata[METADATA_KEY], []).append(layer)
        for kind in _POINT_KINDS:
            for layer in layers.get(kind, ()):
                index = layer.get_value(position, view_direction=direction, dims_displayed=dims,
                                        world=True)
                if index is None or not layer.shown[index]:
                    continue
                row = layer.features.iloc[int(index)].to_dict()
                if kind == "somata":
                    root = int(row["root_id"])
                    return root, "soma of " + neuron_text(root, self._cell_type(root))
                return int(row["root_id"]), synapse_text(row, self._cell_type)
        skeletons = layers.get("skeletons")
        if not skeletons:
            return None, ""
        scene = getattr(viewer, "scene", None)  # napari 0.9: viewer.scene.camera
        cam = scene.camera if scene is not None and hasattr(scene, "camera") else viewer.camera
        tolerance = PICK_PIXELS / max(float(cam.zoom), 1e-12)
        root = self._skeleton_picker(skeletons).pick(position, tolerance, dims, direction,
                                                 shown=self.session.model.shown_roots())
        if root is None:
            return None, ""
        return root, "skeleton of " + neuron_text(root, self._cell_type(root))

    def _cell_type(self, root: int) -> str:
        try:
            return self.session.model.entry(root).cell_type
        except KeyError:  # a partner, not loaded
            return self.session.scene.cell_types([root])[0]

    # -- mouse callbacks -------------------------------------------------------------------
    def on_mouse_move(self, viewer: Any, event: Any) -> None:
        """Show what is under the cursor in the status bar."""
        _root, text = self.pick(event.position, getattr(event, "view_direction", None))
        if text != self.text:
            self.text = text
            self._keep_status()

    def on_mouse_drag(self, viewer: Any, event: Any) -> Any:
        """A click (no drag) on a neuron selects it in the session's model."""
        if event.type != "mouse_press" or getattr(event, "button", 1) != 1:
            return
        start = np.asarray(viewer.cursor.position, dtype=float)
        press = event.position
        direction = getattr(event, "view_direction", None)
        yield
        dragged = False
        while event.type == "mouse_move":
            dragged = dragged or not np.allclose(np.asarray(viewer.cursor.position, float), start)
            yield
        if not dragged:
            self.click(press, direction)

    def click(self, position: Any, view_direction: Any = None) -> int | None:
        """Select the neuron under ``position`` (nothing under it: the selection stays)."""
        root, _text = self.pick(position, view_direction)
        if root is not None and root in self.session.scene.neurons:
            self.session.model.select(root)
        return root

    def _keep_status(self, *_: Any) -> None:
        """Put the hover text into napari's status (which napari rewrites on every move)."""
        viewer = self.session.viewer
        if viewer is None or self._setting_status or not self.text:
            return
        status = viewer.status
        if isinstance(status, dict):
            if self.text in str(status.get("coordinates", "")):
                return
            status = {**status, "coordinates": f"{status.get('coordinates', '')} | {self.text}"}
        else:
            if self.text in str(status):
                return
            status = self.text if status in ("", "Ready") else f"{status} | {self.text}"
        self._setting_status = True
        try:
            viewer.status = status
        finally:
            self._setting_status = False
