"""Saving and reopening a napari-crant session: the npe2 reader and writer, and their glue.

The file format lives in :mod:`napari_crant.session_file` (no Qt). Here: reading the state
out of a viewer (:func:`capture`) and putting it back (:func:`restore`: the neurons load in
the query dock's worker, then the camera and the QC position are set).
"""

from typing import Any

import numpy as np

from napari_crant._qt.session import get_session
from napari_crant._qt.utils import is_alive
from napari_crant._qt.view import ViewError, camera, start_view
from napari_crant.session_file import (
    CameraState,
    QCPosition,
    SessionFileError,
    SessionState,
    is_session_path,
    read_session,
    write_session,
)


def qc_dock(viewer: Any) -> Any:
    """The synapse QC dock of ``viewer`` if it is open (else ``None``)."""
    for widget in getattr(viewer.window, "dock_widgets", {}).values():
        if type(widget).__name__ == "QCWidget":
            return widget
    return None


def _qc_position(viewer: Any) -> QCPosition | None:
    """Where the QC dock stands: its review model's neuron and the synapse shown."""
    qc = qc_dock(viewer)
    if qc is None or qc.review.root is None:
        return None
    root = qc.review.root
    row = qc.review.current_row()
    sid = None
    if row is not None and "synapse_id" in row.index:
        sid = int(np.uint64(row["synapse_id"]))
    return QCPosition(int(root), sid)


def capture(viewer: Any) -> SessionState:
    """The session of ``viewer``: dataset, materialization, filters, neurons, camera, QC position."""
    session = get_session(viewer)
    p = session.params
    scene = session.scene
    cam = camera(viewer)
    mat = p.materialization
    return SessionState(
        dataset=str(p.dataset),
        materialization=mat.isoformat() if hasattr(mat, "isoformat") else mat,
        neurons=[(int(r), tuple(float(c) for c in scene.color_of(int(r)))) for r in scene.root_ids],
        filters={"threshold": int(p.threshold), "min_size": p.min_size, "clean": bool(p.clean),
                 "update_ids": bool(p.update_ids), "max_distance": float(p.max_distance)},
        color_by=session.color_by,
        camera=CameraState(center=tuple(float(v) for v in cam.center), zoom=float(cam.zoom),
                           angles=tuple(float(v) for v in cam.angles),
                           perspective=float(getattr(cam, "perspective", 0.0)),
                           ndisplay=int(viewer.dims.ndisplay)),
        qc=_qc_position(viewer),
    )


def save_session(viewer: Any, path: Any) -> str:
    """Write the session of ``viewer`` to ``path`` (atomically); returns the file written."""
    return str(write_session(path, capture(viewer)))


def apply_camera(viewer: Any, cam: CameraState) -> None:
    """Set the viewer's 2D/3D mode and camera."""
    viewer.dims.ndisplay = cam.ndisplay
    c = camera(viewer)
    center = tuple(cam.center)
    c.center = center[-2:] if cam.ndisplay == 2 and len(center) == 3 else center
    c.zoom = cam.zoom
    if cam.ndisplay == 3:
        c.angles = cam.angles
        if hasattr(c, "perspective"):
            c.perspective = cam.perspective


def _restore_qc(viewer: Any, qc_pos: QCPosition, query: Any) -> Any:
    """Build the QC list of the saved neuron and go to the saved synapse (if the QC dock is open).

    Returns the QC build worker, or ``None`` (the reason is shown in the query dock).
    """
    qc = qc_dock(viewer)
    if qc is None:
        return None
    box = qc.review_panel.neuron
    index = -1
    for i in range(box.count()):
        data = box.itemData(i)
        if data is not None and int(data) == qc_pos.root_id:
            index = i
    if index < 0:
        query.set_message(f"{query.message.value}\nQC position not restored: {qc_pos.root_id} is not in "
                          "the QC dock's neuron list.")
        return None
    box.setCurrentIndex(index)
    worker = qc.build()
    if worker is None or qc_pos.synapse_id is None:
        return worker

    def go() -> None:
        items = qc.review.items if is_alive(qc) else None
        if items is None or "synapse_id" not in items.columns:
            return
        hits = np.flatnonzero(items["synapse_id"].to_numpy(np.uint64) == np.uint64(qc_pos.synapse_id))
        if len(hits):
            qc.review.go_to(int(hits[0]))
        else:
            qc.set_message(f"Synapse {qc_pos.synapse_id} of the saved session is not in this review set.")

    from qtpy.QtCore import QTimer

    worker.returned.connect(lambda _r: QTimer.singleShot(0, go))  # after the dock's own handler
    return worker


def restore(viewer: Any, state: SessionState) -> Any:
    """Clear napari-crant's neurons in ``viewer`` and load the session's (in a worker).

    The camera is set and the QC position restored once the neurons are drawn. With no
    neurons, only the docks, settings and camera are restored.

    Returns
    -------
    The load's worker, or ``None`` when the session has no neurons.
    """
    from napari_crant._qt.view import open_docks, set_query

    session = get_session(viewer)
    query = open_docks(viewer)["Query neurons"]
    if query.worker is not None:  # refuse before clearing anything
        raise ViewError("napari-crant: a load is still running in this viewer; wait for it or cancel it")
    filters = dict(state.filters)
    if "min_size" in filters:
        filters["min_size"] = filters["min_size"] or 0
    session.clear()
    if not state.neurons:
        set_query(query, None, state.dataset, state.materialization, 0, state.color_by, **filters)
        if state.camera is not None:
            apply_camera(viewer, state.camera)
        return None
    colors = {root: color for root, color in state.neurons if color is not None}
    session.scene.set_colors(colors)  # the saved colours, not the palette's (drawn with the load)
    _, worker = start_view(viewer, state.root_ids, state.dataset, state.materialization, 0,
                           state.color_by, **filters)

    def loaded(result: Any) -> None:
        moved = {int(new): colors[int(old)] for old, new in getattr(result, "updated", {}).items()
                 if int(old) in colors}
        if moved:  # a saved neuron edited since shows as its current root: keep its colour
            session.set_colors(moved)
        if state.camera is not None:
            apply_camera(viewer, state.camera)
        if state.qc is not None and is_alive(query):
            _restore_qc(viewer, state.qc, query)

    worker.returned.connect(loaded)  # after the query dock drew the neurons (connected first)
    return worker


# -- npe2 reader and writer ------------------------------------------------------------------
def get_reader(path: Any) -> Any:
    """npe2 reader: a function opening a ``*.crant-session.json`` file (else ``None``)."""
    if isinstance(path, list | tuple):
        if len(path) != 1:
            return None
        path = path[0]
    return read_session_file if is_session_path(path) else None


def read_session_file(path: Any) -> list[tuple[None]]:
    """Open a session in the current napari viewer; its layers are made by the query dock.

    Returns napari's "nothing to add" sentinel ``[(None,)]``.
    """
    import napari

    if isinstance(path, list | tuple):
        path = path[0]
    state = read_session(path)  # SessionFileError names the file and the problem
    viewer = napari.current_viewer()
    if viewer is None:
        raise SessionFileError(f"{path}: no napari viewer to open the session in")
    restore(viewer, state)
    return [(None,)]


def write_session_file(path: str, layer_data: list[Any]) -> list[str]:
    """npe2 writer: save the current viewer's napari-crant session (``layer_data`` is not needed)."""
    import napari

    viewer = napari.current_viewer()
    if viewer is None:
        raise SessionFileError(f"{path}: no napari viewer whose session to save")
    return [save_session(viewer, path)]
