"""The query dock's "share" row: open the loaded neurons in Neuroglancer, save or open a session."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import Container, PushButton
from napari.qt.threading import create_worker

from napari_crant._qt.session import find_layers, get_session
from napari_crant._qt.utils import is_alive
from napari_crant.session_file import SUFFIX

if TYPE_CHECKING:
    import pandas as pd

#: the file-dialog filter of session files
SESSION_FILTER = f"napari-crant session (*{SUFFIX})"


def chosen_synapses(viewer: Any) -> pd.DataFrame:
    """Synapses the user picked: the highlight layer's, plus points selected in the synapse layers.

    Columns ``synapse_id, root_id, partner_id, type`` (uint64 IDs) and ``x, y, z`` (nm).
    """
    import pandas as pd  # (not when the dock opens: ~0.25 s)

    parts = []
    layers = [(only_selected, layer)
              for kind, only_selected in (("highlight", False), ("pre", True), ("post", True))
              for layer in find_layers(viewer, kind)]  # the loaded neurons' layers: one per batch
    for only_selected, layer in layers:
        if len(layer.data) == 0:
            continue
        rows = sorted(layer.selected_data) if only_selected else list(range(len(layer.data)))
        if not rows:
            continue
        feats = layer.features.iloc[rows]
        zyx = np.asarray(layer.data, np.float64)[rows]
        parts.append(pd.DataFrame({
            "synapse_id": feats["synapse_id"].map(int).to_numpy(np.uint64),
            "root_id": feats["root_id"].map(int).to_numpy(np.uint64),
            "partner_id": feats["partner_id"].map(int).to_numpy(np.uint64),
            "type": feats["type"].to_numpy(object),
            "x": zyx[:, -1], "y": zyx[:, -2], "z": zyx[:, -3],
        }))
    if not parts:
        return pd.DataFrame({"synapse_id": np.array([], np.uint64), "root_id": np.array([], np.uint64),
                             "partner_id": np.array([], np.uint64), "type": [], "x": [], "y": [], "z": []})
    out = pd.concat(parts, ignore_index=True).drop_duplicates(["synapse_id", "type"]).reset_index(drop=True)
    for c in ("synapse_id", "root_id", "partner_id"):
        out[c] = out[c].astype(np.uint64)
    return out


def _link_worker(neurons: list[tuple[int, tuple[float, ...]]], synapses: pd.DataFrame,
                 center: tuple[float, ...] | None, datastack: str) -> str:
    """Build the Neuroglancer link (worker thread: importing nglui takes seconds)."""
    from napari_crant.neuroglancer import neuroglancer_url

    return neuroglancer_url(neurons, synapses, center_zyx_nm=center, datastack=datastack)


class ShareRow(Container):
    """Buttons: *Open in Neuroglancer* (link copied to the clipboard), *Save session…*, *Open session…*.

    Parameters
    ----------
    query
        The query dock this row belongs to (for its viewer and message line).
    """

    def __init__(self, query: Any):
        self.neuroglancer_button = PushButton(
            text="Open in Neuroglancer",
            tooltip="A Spelunker link with the loaded neurons (their colours) and the picked synapses; "
                    "copied to the clipboard and opened in the browser")
        self.save_button = PushButton(text="Save session…",
                                      tooltip=f"dataset, neurons, colours, camera, QC position (*{SUFFIX})")
        self.open_button = PushButton(text="Open session…")
        super().__init__(widgets=[self.neuroglancer_button, self.save_button, self.open_button],
                         layout="horizontal", labels=False, label="")
        self._query = query
        #: the last Neuroglancer link made
        self.link: str | None = None
        self.link_worker: Any = None
        self.neuroglancer_button.changed.connect(lambda: self.make_link(open_browser=True))
        self.save_button.changed.connect(self._on_save)
        self.open_button.changed.connect(self._on_open)

    @property
    def viewer(self) -> Any:
        """The query dock's viewer."""
        return self._query.viewer

    def make_link(self, open_browser: bool = False) -> Any:
        """Build the link in a worker; then copy it to the clipboard (and open it). Returns the worker."""
        from napari_crant._qt.view import camera
        from napari_crant.neuroglancer import datastack_of

        session = get_session(self.viewer)
        scene = session.scene
        if not scene.neurons:
            self._query.set_message("Load neurons first: the Neuroglancer link shows the loaded ones.",
                                    error=True)
            return None
        neurons = [(int(r), tuple(float(c) for c in scene.color_of(int(r)))) for r in scene.root_ids]
        synapses = chosen_synapses(self.viewer)
        center = tuple(float(v) for v in camera(self.viewer).center)
        worker = create_worker(_link_worker, neurons, synapses, center if len(center) == 3 else None,
                               datastack_of(session.params.dataset), _start_thread=False,
                               _ignore_errors=True)
        worker.returned.connect(lambda url: self._on_link(url, len(neurons), len(synapses), open_browser))
        worker.errored.connect(lambda e: is_alive(self._query) and self._query.set_message(
            f"No Neuroglancer link: {e}", error=True))
        self.link_worker = worker
        self._query._track(worker)
        self._query.set_message("Building the Neuroglancer link…")
        worker.start()
        return worker

    def _on_link(self, url: str, n_neurons: int, n_synapses: int, open_browser: bool) -> None:
        self.link = url
        if not is_alive(self._query):
            return
        from qtpy.QtGui import QGuiApplication

        QGuiApplication.clipboard().setText(url)
        text = (f"Neuroglancer link copied to the clipboard: {n_neurons} "
                f"neuron{'s' if n_neurons != 1 else ''}, "
                f"{n_synapses} picked synapse{'s' if n_synapses != 1 else ''}.")
        if str(get_session(self.viewer).params.dataset) not in ("latest", "sandbox"):
            text += " (Neuroglancer shows CRANTb: IDs of other datasets, like the demo's, show nothing.)"
        self._query.set_message(text)
        if open_browser:
            from qtpy.QtCore import QUrl
            from qtpy.QtGui import QDesktopServices

            QDesktopServices.openUrl(QUrl(url))

    def _on_save(self) -> None:
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getSaveFileName(self._query.native, "Save napari-crant session",
                                              f"session{SUFFIX}", SESSION_FILTER)
        if path:
            self.save(path)

    def save(self, path: Any) -> str | None:
        """Save the viewer's session to ``path``; returns the file written (``None`` on error)."""
        from napari_crant._qt.session_io import save_session
        from napari_crant.session_file import SessionFileError

        try:
            written = save_session(self.viewer, path)
        except SessionFileError as e:
            self._query.set_message(str(e), error=True)
            return None
        self._query.set_message(f"Session saved to {written}.")
        return written

    def _on_open(self) -> None:
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(self._query.native, "Open napari-crant session", "",
                                              SESSION_FILTER)
        if path:
            self.open(path)

    def open(self, path: Any) -> Any:
        """Reopen a session file in this viewer; returns the load's worker (``None`` on error)."""
        from napari_crant._qt.session_io import restore
        from napari_crant._qt.view import ViewError
        from napari_crant.session_file import SessionFileError, read_session

        try:
            return restore(self.viewer, read_session(path))
        except (SessionFileError, ViewError) as e:
            self._query.set_message(str(e), error=True)
            return None
