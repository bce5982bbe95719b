"""Qt tests: run under Xvfb (``xvfb-run -a -s "-screen 0 1600x1000x24" python -m pytest tests/qt``)."""

import os

# off-main-thread layer writes raise (must be set before napari is imported)
os.environ["NAPARI_ENSURE_PLUGIN_MAIN_THREAD"] = "1"

import pytest  # noqa: E402

pytest.importorskip("qtpy")
pytest.importorskip("napari")


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.qt)


@pytest.fixture
def viewer(make_napari_viewer):
    return make_napari_viewer()


@pytest.fixture
def query(viewer, tiny_path):
    from napari_crant._qt.query_widget import QueryWidget

    w = QueryWidget(viewer)
    viewer.window.add_dock_widget(w, name="Query neurons")
    w.dataset.value = tiny_path
    return w


def run_load(qtbot, widget, timeout=30_000):
    """Press Load and wait for the worker to finish; returns the worker (or None)."""
    with qtbot.waitSignal(widget.load_button.native.clicked, timeout=1000):
        widget.load_button.native.click()
    worker = widget._last_worker
    if worker is not None:
        qtbot.waitUntil(lambda: widget.worker is None, timeout=timeout)
    return worker
