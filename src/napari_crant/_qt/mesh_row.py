"""The query dock's mesh row: loaded neurons as skeletons, meshes or both; a brain or neuropil context.

Meshes are fetched in a worker (:func:`~napari_crant.scene.meshes.fetch_neuron_meshes`, at the
query's materialization), cached per dataset and root, and drawn on the main thread as ONE
Surface layer in the neurons' colours (:func:`~napari_crant.scene.meshes.neuron_surface_layer`);
the context is a second, translucent Surface. A dataset or server without meshes is a message
in the row; skeletons stay as they are.
"""

from typing import Any

import numpy as np
from magicgui.widgets import ComboBox, Container
from napari.qt.threading import create_worker

from napari_crant._qt.elided_label import ElidedMessage
from napari_crant._qt.session import find_layer, find_layers, get_session
from napari_crant._qt.utils import is_alive
from napari_crant.scene.meshes import (
    CONTEXTS,
    NEURON_DISPLAYS,
    context_surface_layer,
    fetch_context,
    fetch_neuron_meshes,
    neuron_surface_layer,
)


class MeshRow(Container):
    """*neurons as* (skeletons / meshes / both) and *context* (none / brain / neuropils).

    Parameters
    ----------
    viewer
        The viewer whose session's neurons are drawn.
    """

    def __init__(self, viewer: Any):
        self.display = ComboBox(choices=list(NEURON_DISPLAYS), value="skeletons", label="neurons as",
                                tooltip="draw loaded neurons as skeletons, meshes (their segmentation's "
                                        "surface) or both")
        self.context = ComboBox(choices=list(CONTEXTS), value="none", label="context",
                                tooltip="a translucent brain or neuropil surface around the neurons")
        self.message = ElidedMessage(label="")
        row = Container(widgets=[self.display, self.context], layout="horizontal", labels=True, label="")
        super().__init__(widgets=[row, self.message], labels=False, label="")
        self.session = get_session(viewer)
        #: (dataset, root) -> surface arrays of fetched meshes
        self.cache: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
        #: running workers (tests wait for it to empty)
        self.workers: set[Any] = set()
        self._wanted: tuple | None = None
        self.display.changed.connect(lambda *_: self.refresh())
        self.context.changed.connect(lambda *_: self.refresh_context())
        self.session.changed.connect(self._on_scene_changed)

    def disconnect_session(self) -> None:
        """Stop following the session (the dock is closing)."""
        self.session.changed.disconnect(self._on_scene_changed)

    def set_message(self, text: str, error: bool = False) -> None:
        """Show ``text`` under the row (red for errors)."""
        self.message.value = text
        self.message.native.setStyleSheet("color: #ff6b6b;" if error else "")

    def _start(self, func: Any, *args: Any, returned: Any, errored: Any) -> Any:
        worker = create_worker(func, *args, _start_thread=False, _ignore_errors=True)
        worker.returned.connect(lambda v: is_alive(self) and returned(v))
        worker.errored.connect(lambda e: is_alive(self) and errored(str(e) or type(e).__name__))
        worker.finished.connect(lambda: self.workers.discard(worker))
        self.workers.add(worker)
        worker.start()
        return worker

    def _dataset_key(self) -> str:
        return str(self.session.params.dataset)

    def _on_scene_changed(self) -> None:
        if is_alive(self):
            self.refresh()
            if self.context.value != "none" and find_layer(self.session.viewer, "context") is None:
                self.refresh_context()

    # -- neurons ---------------------------------------------------------------------------------
    def refresh(self) -> Any:
        """Draw the loaded neurons as chosen; fetches missing meshes in a worker (returned, or ``None``)."""
        viewer = self.session.viewer
        if viewer is None:
            return None
        mode = self.display.value
        for skeletons in find_layers(viewer, "skeletons"):  # one per batch of loaded neurons
            if skeletons.visible != (mode != "meshes"):
                # only on a change: napari refreshes (re-slices) a layer at each ``visible = True``
                skeletons.visible = mode != "meshes"
        if mode == "skeletons":
            layer = find_layer(viewer, "meshes")
            if layer is not None and layer.visible:
                layer.visible = False
            self.set_message("")
            return None
        scene = self.session.scene
        key = self._dataset_key()
        missing = [r for r in scene.neurons if (key, r) not in self.cache]
        if not missing:
            self._draw_meshes()
            return None
        wanted = (key, tuple(missing))
        if self._wanted == wanted:
            return None  # already being fetched
        self._wanted = wanted
        self.set_message(f"Loading the meshes of {len(missing)} neuron{'s' if len(missing) != 1 else ''}…")
        p = self.session.params
        return self._start(fetch_neuron_meshes, np.array(missing, np.uint64), p.materialization, p.dataset,
                           returned=lambda m, k=key: self._on_meshes(k, m), errored=self._on_mesh_error)

    def _on_meshes(self, key: str, meshes: dict[int, tuple[np.ndarray, np.ndarray]]) -> None:
        self._wanted = None
        for root, arrays in meshes.items():
            self.cache[(key, int(root))] = arrays
        self.set_message("")
        if self.display.value != "skeletons":
            self._draw_meshes()
            self.refresh()  # neurons loaded meanwhile

    def _on_mesh_error(self, message: str) -> None:
        self._wanted = None
        self.set_message(f"No meshes: {message}. Skeletons are shown instead.", error=True)
        for skeletons in find_layers(self.session.viewer, "skeletons"):
            skeletons.visible = True

    def _draw_meshes(self) -> None:
        viewer = self.session.viewer
        scene = self.session.scene
        key = self._dataset_key()
        roots = [r for r in scene.neurons if (key, r) in self.cache]
        layer = find_layer(viewer, "meshes")
        if not roots:
            if layer is not None:
                viewer.layers.remove(layer)
            return
        data, kwargs, _ = neuron_surface_layer({r: self.cache[(key, r)] for r in roots},
                                               {r: scene.color_of(r) for r in roots})
        if layer is None:
            viewer.add_surface(data, **kwargs)
            return
        layer.data = data
        layer.vertex_colors = kwargs["vertex_colors"]
        layer.metadata = {**layer.metadata, **kwargs["metadata"]}
        layer.visible = True

    # -- context ---------------------------------------------------------------------------------
    def refresh_context(self) -> Any:
        """Show the chosen context surface (fetched in a worker: returned), or remove it."""
        viewer = self.session.viewer
        if viewer is None:
            return None
        what = self.context.value
        layer = find_layer(viewer, "context")
        if what == "none":
            if layer is not None:
                viewer.layers.remove(layer)
            return None
        if layer is not None and layer.metadata.get("context") == what:
            return None
        self.set_message(f"Loading the {what} mesh…")
        return self._start(fetch_context, what, self.session.params.dataset,
                           returned=lambda m, w=what: self._on_context(w, m), errored=self._on_context_error)

    def _on_context(self, what: str, meshes: list) -> None:
        if self.context.value != what:
            return
        viewer = self.session.viewer
        data, kwargs, _ = context_surface_layer(meshes, what)
        layer = find_layer(viewer, "context")
        if layer is not None:
            viewer.layers.remove(layer)
        layer = viewer.add_surface(data, **kwargs)
        viewer.layers.move(viewer.layers.index(layer), 0)
        self.set_message("")

    def _on_context_error(self, message: str) -> None:
        self.set_message(f"No {self.context.value} mesh: {message}", error=True)
