"""Fixtures of the QC dock tests: an isolated verdict database and a docked QCWidget."""

import pytest


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_CRANT_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture
def qc(qtbot, make_napari_viewer):
    from napari_crant._qt.qc.dock import QCWidget

    viewer = make_napari_viewer(show=True)
    w = QCWidget(viewer)
    viewer.window.add_dock_widget(w, name="Synapse QC")
    yield w
    qtbot.waitUntil(lambda: not w.workers, timeout=30_000)
    w.cleanup()
