"""Open napari with the napari-crant docks and start loading neurons: ``napari_crant.view``.

Shared by ``napari_crant.view``, the ``napari-crant view`` and ``napari-crant demo`` commands,
and reopening a session file: they all dock the widgets here and hand the IDs to the query
dock, whose worker loads them (nothing is loaded on the main thread).
"""

from typing import Any

PLUGIN = "napari-crant"
#: dock widget display names (as in napari.yaml); Adjacency is tabbed with Partners
DOCKS = ("Query neurons", "Partners", "Adjacency")
#: query filters :func:`view` takes, and the query dock widget that holds each
FILTER_WIDGETS = {"threshold": "threshold", "min_size": "min_size", "clean": "clean",
                  "update_ids": "update_ids", "max_distance": "max_distance"}


class ViewError(RuntimeError):
    """The viewer cannot start this load (e.g. another load is still running)."""


def camera(viewer: Any) -> Any:
    """The viewer's camera (``viewer.scene.camera`` from napari 0.9, ``viewer.camera`` before)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None and hasattr(scene, "camera") else viewer.camera


def open_docks(viewer: Any) -> dict[str, Any]:
    """Dock (or find the already docked) query, partner and adjacency widgets of ``viewer``.

    Returns
    -------
    dict
        The dock widgets by display name.
    """
    widgets, docks = {}, {}
    docked = getattr(viewer.window, "dock_widgets", {})
    created = any(f"{name} ({PLUGIN})" not in docked for name in DOCKS)
    for name in DOCKS:
        docks[name], widgets[name] = viewer.window.add_plugin_dock_widget(
            PLUGIN, name, tabify=name == "Adjacency")
    if created:
        from qtpy.QtCore import QTimer

        from napari_crant._qt.fit_screen import fit_docks

        fit_docks(widgets[DOCKS[0]].native)  # tables tabbed, query above: the window fits
        QTimer.singleShot(0, docks["Partners"].raise_)  # show the partner tab, not the adjacency
    return widgets


def set_query(query: Any, ids: Any = None, dataset: Any = None, materialization: Any = None,
              top_partners: int | None = None, color_by: str | None = None, **filters: Any) -> None:
    """Fill the query dock's boxes (what is not given stays as it is)."""
    unknown = set(filters) - set(FILTER_WIDGETS)
    if unknown:
        raise TypeError(f"unknown filter(s) {sorted(unknown)}; known: {', '.join(FILTER_WIDGETS)}")
    if dataset is not None:
        query.dataset.value = str(dataset)
    if materialization is not None:
        text = materialization.isoformat() if hasattr(materialization, "isoformat") else str(materialization)
        if text not in query.materialization.choices:
            query.materialization.choices = [*query.materialization.choices, text]
        query.materialization.value = text
    for key, value in filters.items():
        if value is not None:
            getattr(query, FILTER_WIDGETS[key]).value = value
    if top_partners is not None:
        query.top_partners.value = int(top_partners)
    if color_by is not None:
        query.color_by.value = color_by
    if ids is not None:
        query.ids.value = "\n".join(str(int(i)) for i in ids)


def start_view(viewer: Any, ids: Any, dataset: Any = None, materialization: Any = None,
               top_partners: int | None = None, color_by: str | None = None, **filters: Any
               ) -> tuple[dict[str, Any], Any]:
    """Dock the widgets in ``viewer``, fill the query dock and start loading ``ids``.

    Returns
    -------
    (widgets, worker)
        The dock widgets by display name, and the load's worker.

    Raises
    ------
    InvalidIDError
        An ID is not a uint64 neuron ID (named in the message).
    ViewError
        Another load is running in this viewer, or the query dock refused the input.
    """
    from napari_crant.ids import parse_ids

    roots = parse_ids(ids, "ids")
    widgets = open_docks(viewer)
    query = widgets["Query neurons"]
    if query.worker is not None:
        raise ViewError("napari-crant: a load is still running in this viewer; wait for it or cancel it")
    set_query(query, roots, dataset, materialization, top_partners, color_by, **filters)
    worker = query.load()
    if worker is None:
        raise ViewError(f"napari-crant: nothing loaded: {query.message.value}")
    return widgets, worker


def view(ids: Any, viewer: Any = None, dataset: Any = None, materialization: Any = "latest",
         top_partners: int = 0, *, color_by: str | None = None, threshold: int | None = None,
         min_size: float | None = None, clean: bool | None = None, update_ids: bool | None = None,
         max_distance: float | None = None, show: bool = True) -> Any:
    """Show neurons in napari with the napari-crant docks; returns the viewer at once.

    The skeletons, synapses and partners load in a background worker (the query dock shows
    progress and errors); the viewer is returned before they arrive.

    Parameters
    ----------
    ids
        Root IDs (int, numeric str, or a list of them).
    viewer
        The napari viewer to use; default: the current one, or a new one.
    dataset
        Dataset name or snapshot directory; default: the query dock's (the default dataset).
    materialization
        ``'latest'``, ``'live'``, a version number or a datetime / ISO timestamp.
    top_partners
        Also load this many strongest partners.
    color_by, threshold, min_size, clean, update_ids, max_distance
        The query dock's settings (``None``: leave as they are; ``min_size=0`` keeps all sizes).
    show
        Show the viewer window (when a new one is made).

    Returns
    -------
    napari.Viewer

    Raises
    ------
    InvalidIDError
        An ID is not a neuron ID (named in the message); nothing is opened.
    ViewError
        A load is already running in ``viewer``.
    """
    from napari_crant.ids import parse_ids

    roots = parse_ids(ids, "ids")  # before opening any window
    import napari

    if viewer is None:
        viewer = napari.current_viewer() or napari.Viewer(show=show)
    start_view(viewer, roots, dataset, materialization, top_partners, color_by, threshold=threshold,
               min_size=min_size, clean=clean, update_ids=update_ids, max_distance=max_distance)
    return viewer
