"""``napari-crant demo`` and ``napari-crant view``: napari with the plugin's docks and neurons loaded."""

import argparse
import sys
from typing import Any

from napari_crant._qt.view import DOCKS, PLUGIN, camera, start_view
from napari_crant.cli import command
from napari_crant.session_file import SUFFIX

__all__ = ["DOCKS", "PLUGIN", "camera", "open_demo"]


def _window_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--screenshot", metavar="PNG",
                   help="save a screenshot of the window to PNG and exit (works headless under Xvfb)")
    p.add_argument("--canvas-only", action="store_true", help="screenshot the canvas only")
    p.add_argument("--ndisplay", type=int, choices=(2, 3), default=3, help="2D or 3D view")
    p.add_argument("--size", default="1600x1000", help="window size WxH (default 1600x1000)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the load")


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="demo", help="dataset (default: demo)")
    p.add_argument("--neuron", help="root ID to show (default: a well-connected demo neuron)")
    p.add_argument("--partners", type=int, default=3, help="also load this many strongest partners")
    _window_args(p)


def open_demo(viewer: Any, dataset: str = "demo", neuron: Any = None, partners: int = 3) -> Any:
    """Dock the plugin's widgets in ``viewer`` and start loading ``neuron`` (+ partners).

    Returns
    -------
    (widgets, worker)
        The dock widgets by display name, and the load's worker.
    """
    from napari_crant.scene.loading import pick_demo_neuron

    if neuron is None:
        neuron = pick_demo_neuron(dataset)
    return start_view(viewer, [neuron], dataset, None, partners)


def _new_viewer(args: argparse.Namespace, title: str) -> Any:
    import napari

    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise SystemExit(f"napari-crant: --size must be WIDTHxHEIGHT (e.g. 1600x1000), not {args.size!r}"
                         ) from None
    viewer = napari.Viewer(title=title, ndisplay=args.ndisplay)
    viewer.window._qt_window.resize(w, h)
    return viewer


def _run(prog: str, viewer: Any, widgets: dict[str, Any], worker: Any, args: argparse.Namespace,
         fit_view: bool = True) -> int:
    """Wait for the load (and the adjacency), then screenshot and quit, or hand over to napari."""
    import napari
    from qtpy.QtCore import QTimer

    query, adjacency = widgets["Query neurons"], widgets["Adjacency"]
    status = {"code": 0}
    app = napari.qt.get_qapp()

    def fit() -> None:
        viewer.reset_view()
        if viewer.dims.ndisplay == 3:
            camera(viewer).angles = (0.0, 0.0, 90.0)  # looking down z: x right, y down, as in 2D

    def shoot() -> None:
        if adjacency.worker is not None:  # wait for the adjacency too
            QTimer.singleShot(200, shoot)
            return
        app.processEvents()
        viewer.screenshot(args.screenshot, canvas_only=args.canvas_only, flash=False)
        print(f"{prog}: saved {args.screenshot}", flush=True)
        viewer.close()
        app.quit()

    def finished() -> None:
        if query.message.value.startswith("Nothing loaded"):
            print(f"{prog}: {query.message.value}", file=sys.stderr)
            status["code"] = 1
        if fit_view:
            fit()
        partners = widgets["Partners"]
        if partners.neuron.count() > 1:  # the first neuron's partners first
            partners.neuron.setCurrentIndex(1)
        if args.screenshot:
            QTimer.singleShot(1500, shoot)  # let the adjacency worker and the canvas settle

    if worker is not None:
        worker.finished.connect(finished)
    elif args.screenshot:
        QTimer.singleShot(500, shoot)
    if args.screenshot:
        def give_up() -> None:
            print(f"{prog}: timed out waiting for the load", file=sys.stderr)
            status["code"] = 1
            viewer.close()
            app.quit()

        QTimer.singleShot(int(args.timeout * 1000), give_up)
        app.exec()
    else:
        napari.run()
    return status["code"]


@command("demo", "open napari with the CRANTb docks and a demo neuron and its partners", _args)
def _demo(args: argparse.Namespace) -> int:
    from napari_crant.datasets import ensure_demo

    if args.dataset == "demo":
        ensure_demo(announce=lambda msg: print(f"napari-crant demo: {msg}…", flush=True))
    viewer = _new_viewer(args, "napari-crant demo")
    widgets, worker = open_demo(viewer, args.dataset, args.neuron, args.partners)
    return _run("napari-crant demo", viewer, widgets, worker, args)


def _view_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("ids", nargs="+", metavar="ID_OR_SESSION",
                   help=f"root IDs to show, or one session file (*{SUFFIX})")
    p.add_argument("--dataset", help="dataset name or snapshot directory (default: the default dataset)")
    p.add_argument("--materialization", default="latest",
                   help="'latest', 'live', a version number or an ISO timestamp (default: latest)")
    p.add_argument("--partners", type=int, default=0, help="also load this many strongest partners")
    p.add_argument("--threshold", type=int, help="minimum synapses per neuron pair")
    _window_args(p)


@command("view", "open napari with the CRANTb docks and these neurons (or a saved session)", _view_args)
def _view(args: argparse.Namespace) -> int:
    from napari_crant._qt.view import ViewError
    from napari_crant.ids import InvalidIDError, parse_ids
    from napari_crant.session_file import SessionFileError, is_session_path, read_session

    prog = "napari-crant view"
    session = None
    try:
        if len(args.ids) == 1 and is_session_path(args.ids[0]):
            session = read_session(args.ids[0])
        else:
            roots = parse_ids(args.ids, "ID")
    except (InvalidIDError, SessionFileError) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    viewer = _new_viewer(args, "napari-crant")
    try:
        if session is not None:
            from napari_crant._qt.session_io import restore
            from napari_crant._qt.view import open_docks

            worker = restore(viewer, session)
            widgets = open_docks(viewer)
        else:
            widgets, worker = start_view(viewer, roots, args.dataset, args.materialization, args.partners,
                                         threshold=args.threshold)
    except ViewError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        viewer.close()
        return 1
    return _run(prog, viewer, widgets, worker, args, fit_view=session is None or session.camera is None)
