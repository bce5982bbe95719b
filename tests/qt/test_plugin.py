"""The npe2 manifest, the sample data, the ``napari-crant demo`` command, and a screenshot."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tiny
from napari_crant import datasets
from napari_crant._qt.session import find_layer, get_session

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def tiny_as_demo(monkeypatch, tiny_path):
    """Make ``dataset='demo'`` mean the tiny snapshot (building the real demo takes a while)."""
    monkeypatch.setitem(datasets._registry, "demo", tiny_path)
    monkeypatch.delitem(datasets._open, "demo", raising=False)
    yield tiny_path
    datasets._open.pop("demo", None)


def test_manifest_valid_and_contributions():
    from npe2 import PluginManifest

    pm = PluginManifest.from_distribution("napari-crant")
    assert {w.display_name for w in pm.contributions.widgets} == {
        "Query neurons", "Partners", "Adjacency", "Synapse QC", "Neuron legend"}
    assert [s.display_name for s in pm.contributions.sample_data] == ["CRANTb demo neuron"]
    assert (ROOT / "src/napari_crant/napari.yaml").resolve() == (ROOT / "napari.yaml").resolve()


def test_startup_imports_stay_light():
    code = (
        "import sys, napari_crant\n"
        "from npe2 import PluginManifest\n"
        "PluginManifest.from_distribution('napari-crant')\n"
        "heavy = [m for m in ('pandas', 'navis', 'duckdb', 'scipy', 'napari_crant._qt.query_widget')"
        " if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_plugin_dock_widgets(make_napari_viewer):
    viewer = make_napari_viewer()
    from napari_crant._qt.adjacency import AdjacencyWidget
    from napari_crant._qt.partners import PartnerWidget
    from napari_crant._qt.query_widget import QueryWidget

    expected = {"Query neurons": QueryWidget, "Partners": PartnerWidget, "Adjacency": AdjacencyWidget}
    for name, cls in expected.items():
        _, w = viewer.window.add_plugin_dock_widget("napari-crant", name)
        assert isinstance(w, cls)
        assert get_session(w.viewer) is get_session(viewer)  # injected, and one session per viewer


def test_sample_data(make_napari_viewer, tiny_as_demo):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-crant", "demo_neuron")
    sk = find_layer(viewer, "skeletons")
    assert sk is not None and len(sk.data) > 0
    assert len(get_session(viewer).scene.neurons) >= 2  # the neuron and its partners
    assert find_layer(viewer, "pre") is not None and find_layer(viewer, "post") is not None
    assert sum(1 for layer in viewer.layers if layer.name == "CRANT skeletons") == 1
    viewer.open_sample("napari-crant", "demo_neuron")  # again: same layers, updated in place
    assert sum(1 for layer in viewer.layers if layer.name == "CRANT skeletons") == 1


def test_demo_command_screenshot(tmp_path, tiny_path):
    out = tmp_path / "demo.png"
    env = dict(os.environ)
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from napari_crant.cli import main; sys.exit(main())",
         "demo", "--dataset", tiny_path, "--neuron",
         str(tiny.A0), "--partners", "1", "--screenshot", str(out), "--timeout", "120"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert out.is_file()
    from imageio.v3 import imread

    img = imread(out)
    assert img.shape[0] > 500 and img.shape[1] > 800
    assert img[..., :3].std() > 5  # not a blank image


def test_canvas_screenshot_shows_neurons(qtbot, make_napari_viewer, tiny_path, tmp_path):
    from conftest import run_load
    from napari_crant._qt.cli import camera
    from napari_crant._qt.query_widget import QueryWidget

    viewer = make_napari_viewer(show=True)
    query = QueryWidget(viewer)
    viewer.window.add_dock_widget(query)
    query.dataset.value = tiny_path
    query.ids.value = f"{tiny.A2} {tiny.B2}"
    run_load(qtbot, query)
    viewer.dims.ndisplay = 3
    camera(viewer).angles = (0.0, 0.0, 90.0)
    viewer.reset_view()
    img = viewer.screenshot(canvas_only=True, flash=False)
    assert img.shape[-1] == 4
    coloured = (img[..., :3].astype(int).max(-1) > 60).sum()
    assert coloured > 100, "nothing drawn"
    from imageio.v3 import imwrite

    imwrite(os.environ.get("NAPARI_CRANT_SCREENSHOT", tmp_path / "canvas.png"), img)
    assert np.asarray(img).std() > 1
