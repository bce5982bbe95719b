"""Opening the query dock (``_qt/dock_opening.py``): no pandas and no plugin settings in the turn the
dock is made; the Preferences page, napari's layer needs and the warm-up in workers; the empty layers
made a turn each; the garbage collector paused only until the warm-up's imports are done."""

from __future__ import annotations

import gc
import subprocess
import sys

import tiny


class Prefs:
    """What napari's plugin settings hold for napari-crant's Preferences page."""

    def __init__(self, default_dataset: str = "demo", cave_servers: str = "", cave_timeout: float = 120):
        self.default_dataset = default_dataset
        self.cave_servers, self.cave_timeout = cave_servers, cave_timeout


_FRESH = """
import os, sys, gc, time
import napari
from qtpy.QtWidgets import QApplication
viewer = napari.Viewer(show=False)
assert "pandas" not in sys.modules, "napari imported pandas itself"
from napari_crant._qt.query_widget import QueryWidget
assert "pandas" not in sys.modules, "importing the dock imported pandas"
widget = QueryWidget(viewer)
viewer.window.add_dock_widget(widget, name="Query neurons")
assert "pandas" not in sys.modules, "making the dock imported pandas"
from napari.settings import _PLUGIN_SETTINGS
assert not _PLUGIN_SETTINGS, "the dock read napari's plugin settings on the main thread"
deadline = time.monotonic() + 120
while time.monotonic() < deadline and (widget.workers or len(viewer.layers) < 4):
    QApplication.processEvents()
    time.sleep(0.005)
assert len(viewer.layers) == 4, [layer.name for layer in viewer.layers]
assert "pandas" in sys.modules and gc.isenabled() and gc.get_freeze_count() > 0
assert not widget.opening.pulse.beating and not widget.opening.collector.paused
assert widget.warm_up_result is not None and widget.warm_up_result.startswith("imports")
viewer.close()
print("ok")
"""


def test_the_dock_opens_without_pandas_or_plugin_settings(tmp_path):
    """(A fresh interpreter: this test process imported pandas long ago.)"""
    import os

    env = {**os.environ, "NAPARI_CRANT_DATA_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", _FRESH], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "ok"


def test_the_opening_ends_with_layers_warm_up_and_collector_back(qtbot, make_napari_viewer, tiny_path):
    from napari_crant import datasets
    from napari_crant._qt.query_widget import QueryWidget
    from napari_crant._qt.session import find_layer

    datasets.set_default_dataset(tiny_path)
    try:
        viewer = make_napari_viewer()
        was_enabled = gc.isenabled()
        widget = QueryWidget(viewer)
        assert len(viewer.layers) == 0  # nothing made in the dock's own turn
        held_while_made = []  # the workers' imports wait while the layers are made
        viewer.layers.events.inserted.connect(lambda e: held_while_made.append(widget.opening.pulse.held()))
        qtbot.waitUntil(lambda: widget.opening._started, timeout=10_000)
        assert not gc.isenabled() or not was_enabled  # paused while the workers import
        qtbot.waitUntil(lambda: widget.warm_up_result is not None, timeout=60_000)
        assert widget.warm_up_result == f"imports, dataset {tiny_path}"
        qtbot.waitUntil(lambda: all(find_layer(viewer, k) is not None
                                    for k in ("skeletons", "somata", "pre", "post")), timeout=30_000)
        assert all(len(layer.data) == 0 for layer in viewer.layers)
        assert held_while_made == [True] * 4
        qtbot.waitUntil(lambda: not widget.session.drawing and not widget.opening.pulse.held(), timeout=5_000)
        assert viewer.dims.ndim == 3 and tuple(viewer.dims.axis_labels) == ("z", "y", "x")
        qtbot.waitUntil(lambda: not widget.workers, timeout=60_000)
        assert gc.isenabled() == was_enabled
        assert not widget.opening.collector.paused and not widget.opening.pulse.beating
        assert not widget.opening.pulse.held()  # released once the layers were written
        assert widget.opening.worker_pulse is None  # later loads never wait
    finally:
        datasets.set_default_dataset(None)


def test_dataset_field_follows_the_preferences_default(qtbot, make_napari_viewer, monkeypatch, tiny_path):
    from napari_crant import datasets
    from napari_crant._qt import preferences
    from napari_crant._qt.query_widget import QueryWidget

    monkeypatch.setattr(preferences, "read_preferences", lambda: Prefs(default_dataset=tiny_path))
    try:
        widget = QueryWidget(make_napari_viewer())
        assert widget.dataset.value == "demo"  # the page is not read in the dock's own turn
        qtbot.waitUntil(lambda: widget.dataset.value == tiny_path, timeout=30_000)
        assert widget.session.params.dataset == tiny_path
        qtbot.waitUntil(lambda: widget.warm_up_result is not None, timeout=60_000)
        assert widget.warm_up_result == f"imports, dataset {tiny_path}"  # the warm-up opened it
        qtbot.waitUntil(lambda: not widget.workers, timeout=60_000)
    finally:
        datasets.set_default_dataset(None)


def slow_page(monkeypatch, default_dataset: str):
    """The Preferences page read only once the returned event is set; its default: ``default_dataset``."""
    import threading

    from napari_crant._qt import preferences

    release = threading.Event()

    def read():
        release.wait(10)
        return Prefs(default_dataset=default_dataset)

    monkeypatch.setattr(preferences, "read_preferences", read)
    return release


def test_a_dataset_typed_before_the_page_is_read_is_kept(qtbot, make_napari_viewer, monkeypatch, tiny_path):
    from napari_crant import datasets
    from napari_crant._qt.query_widget import QueryWidget

    release = slow_page(monkeypatch, tiny_path)
    try:
        widget = QueryWidget(make_napari_viewer())
        widget.dataset.value = "my_snapshot"  # the user types first
        release.set()
        qtbot.waitUntil(lambda: widget.opening._preferences_applied, timeout=30_000)
        assert widget.dataset.value == "my_snapshot"
        qtbot.waitUntil(lambda: not widget.workers, timeout=60_000)
    finally:
        datasets.set_default_dataset(None)


def test_a_load_waits_for_the_preferences_page(qtbot, make_napari_viewer, monkeypatch, tiny_path):
    """A load pressed while the page is still read (in its worker) uses the page's default dataset;
    so does a load started in the turn the dock was made (``napari_crant.view``)."""
    import threading

    from napari_crant import datasets
    from napari_crant._qt import preferences
    from napari_crant._qt.query_widget import QueryWidget

    release = slow_page(monkeypatch, tiny_path)
    try:
        widget = QueryWidget(make_napari_viewer())
        qtbot.waitUntil(lambda: widget.opening._started, timeout=10_000)
        assert not widget.opening._preferences_applied
        threading.Timer(0.3, release.set).start()
        worker = widget.load_ids([int(tiny.A0)])  # waits for the page (about 0.3 s), then loads
        assert worker is not None and widget.session.params.dataset == tiny_path
        assert widget.opening.worker_pulse is widget.opening.pulse  # its imports give way too, while it opens
        qtbot.waitUntil(lambda: widget.worker is None and not widget.session.drawing, timeout=60_000)
        assert [n.query_id for n in widget.session.scene.neurons.values()] == [int(tiny.A0)]  # (edited since)
        qtbot.waitUntil(lambda: not widget.workers, timeout=60_000)

        datasets.set_default_dataset(None)
        monkeypatch.setattr(preferences, "read_preferences", lambda: Prefs(default_dataset=tiny_path))
        other = QueryWidget(make_napari_viewer())
        worker = other.load_ids([int(tiny.A0)])  # the dock's own turn: the page read at once
        assert worker is not None and other.session.params.dataset == tiny_path
        assert other.dataset.value == tiny_path
        qtbot.waitUntil(lambda: other.worker is None and not other.session.drawing, timeout=60_000)
        assert [n.query_id for n in other.session.scene.neurons.values()] == [int(tiny.A0)]
        qtbot.waitUntil(lambda: not other.workers, timeout=60_000)
    finally:
        datasets.set_default_dataset(None)
