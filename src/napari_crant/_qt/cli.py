"""``napari-crant demo``: open napari with the plugin's docks and a demo neuron loaded."""

import argparse
import sys
from typing import Any

from napari_crant.cli import command

PLUGIN = "napari-crant"
#: dock widget display names (as in napari.yaml); Adjacency is tabbed with Partners
DOCKS = ("Query neurons", "Partners", "Adjacency")


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--screenshot", metavar="PNG",
                   help="save a screenshot of the window to PNG and exit (works headless under Xvfb)")
    p.add_argument("--canvas-only", action="store_true", help="screenshot the canvas only")
    p.add_argument("--dataset", default="demo", help="dataset (default: demo)")
    p.add_argument("--neuron", help="root ID to show (default: a well-connected demo neuron)")
    p.add_argument("--partners", type=int, default=3, help="also load this many strongest partners")
    p.add_argument("--ndisplay", type=int, choices=(2, 3), default=3, help="2D or 3D view")
    p.add_argument("--size", default="1600x1000", help="window size WxH (default 1600x1000)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the load")


def camera(viewer: Any) -> Any:
    """The viewer's camera (``viewer.scene.camera`` from napari 0.9, ``viewer.camera`` before)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None and hasattr(scene, "camera") else viewer.camera


def open_demo(viewer: Any, dataset: str = "demo", neuron: Any = None, partners: int = 3) -> Any:
    """Dock the plugin's widgets in ``viewer`` and start loading ``neuron`` (+ partners).

    Returns
    -------
    (widgets, worker)
        The dock widgets by display name, and the load's worker (``None`` if it did not start).
    """
    from napari_crant.view.loading import pick_demo_neuron

    widgets, docks = {}, {}
    for name in DOCKS:
        docks[name], widgets[name] = viewer.window.add_plugin_dock_widget(
            PLUGIN, name, tabify=name == "Adjacency")
    from qtpy.QtCore import QTimer

    QTimer.singleShot(0, docks["Partners"].raise_)  # show the partner tab, not the adjacency
    query = widgets["Query neurons"]
    query.dataset.value = str(dataset)
    if neuron is None:
        neuron = pick_demo_neuron(dataset)
    query.ids.value = str(neuron)
    query.top_partners.value = partners
    worker = query.load()
    return widgets, worker


@command("demo", "open napari with the CRANTb docks and a demo neuron and its partners", _args)
def _demo(args: argparse.Namespace) -> int:
    import napari
    from qtpy.QtCore import QTimer

    from napari_crant.datasets import ensure_demo

    if args.dataset == "demo":
        print("napari-crant demo: preparing the demo dataset (built once into the cache)…", flush=True)
        ensure_demo()
    w, h = (int(v) for v in args.size.lower().split("x"))
    viewer = napari.Viewer(title="napari-crant demo", ndisplay=args.ndisplay)
    viewer.window._qt_window.resize(w, h)
    widgets, worker = open_demo(viewer, args.dataset, args.neuron, args.partners)
    query, adjacency = widgets["Query neurons"], widgets["Adjacency"]
    status = {"code": 0}
    app = napari.qt.get_qapp()

    def fit() -> None:
        viewer.reset_view()
        if args.ndisplay == 3:
            camera(viewer).angles = (0.0, 0.0, 90.0)  # looking down z: x right, y down, as in 2D

    def shoot() -> None:
        if adjacency.worker is not None:  # wait for the adjacency too
            QTimer.singleShot(200, shoot)
            return
        app.processEvents()
        viewer.screenshot(args.screenshot, canvas_only=args.canvas_only, flash=False)
        print(f"napari-crant demo: saved {args.screenshot}", flush=True)
        viewer.close()
        app.quit()

    def finished() -> None:
        if query.message.value.startswith("Nothing loaded"):
            print(f"napari-crant demo: {query.message.value}", file=sys.stderr)
            status["code"] = 1
        fit()
        partners = widgets["Partners"]
        if partners.neuron.count() > 1:  # the demo neuron's partners first
            partners.neuron.setCurrentIndex(1)
        if args.screenshot:
            QTimer.singleShot(1500, shoot)  # let the adjacency worker and the canvas settle

    if worker is None:
        print(f"napari-crant demo: {query.message.value}", file=sys.stderr)
        return 1
    worker.finished.connect(finished)
    if args.screenshot:
        def give_up() -> None:
            print("napari-crant demo: timed out waiting for the load", file=sys.stderr)
            status["code"] = 1
            viewer.close()
            app.quit()

        QTimer.singleShot(int(args.timeout * 1000), give_up)
        app.exec()
    else:
        napari.run()
    return status["code"]
