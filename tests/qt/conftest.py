"""Qt tests: run under Xvfb (``xvfb-run -a -s "-screen 0 1600x1000x24" python -m pytest tests/qt``)."""

import os

# off-main-thread layer writes raise (must be set before napari is imported)
os.environ["NAPARI_ENSURE_PLUGIN_MAIN_THREAD"] = "1"

import pytest

pytest.importorskip("qtpy")
pytest.importorskip("napari")

# Without a display Qt aborts the whole pytest process: leave these tests out instead.
HAS_DISPLAY = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
if not HAS_DISPLAY:
    collect_ignore_glob = ["test_*.py"]


def pytest_report_header(config):
    if not HAS_DISPLAY:
        return "napari-crant: no display, tests/qt skipped (run them under xvfb-run)"
    return None


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.qt)


@pytest.fixture
def viewer(make_napari_viewer):
    return make_napari_viewer()


@pytest.fixture
def query(qtbot, viewer, tiny_path):
    from napari_crant._qt.query_widget import QueryWidget

    w = QueryWidget(viewer)
    viewer.window.add_dock_widget(w, name="Query neurons")
    w.dataset.value = tiny_path
    wait_dock_ready(qtbot, w)
    yield w
    qtbot.waitUntil(lambda: not w.workers, timeout=30_000)  # no worker outlives the test


def wait_dock_ready(qtbot, widget, timeout=30_000):
    """Wait until the query dock has made its empty layers (a layer a turn, once the warm-up has
    built napari's units: see ``QueryWidget``)."""
    from napari_crant._qt.session import find_layer

    viewer = widget.session.viewer
    qtbot.waitUntil(lambda: find_layer(viewer, "post") is not None and not widget.session.drawing,
                    timeout=timeout)


def run_load(qtbot, widget, timeout=30_000):
    """Press Load and wait for the worker to finish and its neurons to be drawn (an arrival is
    written over event-loop turns, e.g. while the dock's first layers are still being made);
    returns the worker (or None)."""
    with qtbot.waitSignal(widget.load_button.native.clicked, timeout=1000):
        widget.load_button.native.click()
    worker = widget._last_worker
    if worker is not None:
        qtbot.waitUntil(lambda: widget.worker is None, timeout=timeout)
        qtbot.waitUntil(lambda: not widget.session.drawing, timeout=timeout)
    return worker


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """napari's make_napari_viewer fixture reads ``item.rep_call`` (napari sets it in its own conftest)."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


@pytest.fixture
def qc_data_dir(tmp_path, monkeypatch):
    """An empty user data folder (the QC verdict database) for this test."""
    monkeypatch.setenv("NAPARI_CRANT_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.fixture
def qc(qtbot, make_napari_viewer, qc_data_dir):
    """A docked synapse QC widget (tests in tests/qt/qc/) with its own verdict database."""
    from napari_crant._qt.qc.dock import QCWidget

    viewer = make_napari_viewer(show=True)
    w = QCWidget(viewer)
    viewer.window.add_dock_widget(w, name="Synapse QC")
    yield w
    qtbot.waitUntil(lambda: not w.workers, timeout=30_000)
    w.cleanup()  # starts no more EM fetches; the one running may take a while on a loaded machine
    qtbot.waitUntil(lambda: not w.em_panel.workers, timeout=300_000)
