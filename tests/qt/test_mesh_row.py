"""The query dock's mesh row: neurons as meshes in their colours, a brain/neuropil context, no meshes."""

import numpy as np
import pytest

import tiny
from napari_crant._qt.query_widget import QueryWidget
from napari_crant._qt.session import find_layer, get_session
from napari_crant.demo import TINY_NEURONS, make_demo
from napari_crant.scene.loading import load_neurons, pick_demo_neuron, run_to_end
from napari_crant.server.runner import serve_in_thread
from napari_crant.sources.cave import CaveDatasetConfig, CaveSource
from napari_crant.sources.snapshot import SnapshotSource

TOKEN = "5f3c9a0e7d21b4c68e0f1a2b3c4d5e6f"  # made up (cloud-volume takes hex tokens only)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("meshes") / "demo"
    make_demo(out, n_neurons=TINY_NEURONS, seed=3)
    return out


def _dock(qtbot, viewer, dataset):
    w = QueryWidget(viewer)
    viewer.window.add_dock_widget(w, name="Query neurons")
    session = get_session(viewer)
    session.params.dataset = dataset
    return w, session


def _load(session, ids):
    session.add(run_to_end(load_neurons(ids, **session.params.load_kwargs())))


def _idle(qtbot, w, timeout=300_000):
    qtbot.waitUntil(lambda: not w.meshes.workers and not w.workers, timeout=timeout)


def test_meshes_in_the_neurons_colours_and_a_context(qtbot, viewer, demo):
    w, session = _dock(qtbot, viewer, demo)
    root = pick_demo_neuron(demo)
    _load(session, [root])
    row = w.meshes
    assert find_layer(viewer, "meshes") is None  # skeletons by default
    row.display.value = "meshes"
    _idle(qtbot, w)
    layer, skeletons = find_layer(viewer, "meshes"), find_layer(viewer, "skeletons")
    assert layer is not None and layer.visible and not skeletons.visible
    assert layer.metadata["root_ids"] == [str(root)]
    colour = np.tile(session.scene.color_of(root), (len(layer.data[0]), 1))
    np.testing.assert_allclose(layer.vertex_colors, colour)
    # same world coordinates as the skeleton (z, y, x nm): the mesh's box holds the skeleton's nodes
    edges = skeletons.data
    nodes = np.concatenate([edges[:, 0], edges[:, 0] + edges[:, 1]])
    lo, hi = layer.data[0].min(axis=0), layer.data[0].max(axis=0)
    assert np.all(nodes.min(axis=0) >= lo - 50) and np.all(nodes.max(axis=0) <= hi + 50)
    row.display.value = "both"
    assert layer.visible and skeletons.visible
    row.display.value = "skeletons"
    assert not layer.visible and skeletons.visible
    row.context.value = "brain"
    _idle(qtbot, w)
    ctx = find_layer(viewer, "context")
    assert ctx is not None and ctx.metadata["context"] == "brain" and ctx.opacity < 0.3
    assert list(viewer.layers).index(ctx) == 0
    brain_lo, brain_hi = ctx.data[0].min(axis=0), ctx.data[0].max(axis=0)
    assert np.all(brain_lo <= lo) and np.all(brain_hi >= hi)  # the brain encloses the neuron
    row.context.value = "neuropils"
    _idle(qtbot, w)
    assert find_layer(viewer, "context").metadata["context"] == "neuropils"
    row.context.value = "none"
    assert find_layer(viewer, "context") is None


def test_a_dataset_without_meshes_is_a_message(qtbot, viewer, tiny_path):
    w, session = _dock(qtbot, viewer, tiny_path)
    _load(session, [tiny.A2])
    w.meshes.display.value = "meshes"
    _idle(qtbot, w)
    text = w.meshes.message.value
    assert text.startswith("No meshes:") and "skeleton" in text
    assert find_layer(viewer, "skeletons").visible and find_layer(viewer, "meshes") is None
    _load(session, [tiny.B2])  # the session goes on
    _idle(qtbot, w)
    assert len(session.scene.neurons) == 2


def test_a_server_without_meshes_is_a_message(qtbot, viewer, tiny_path, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    with serve_in_thread(SnapshotSource(tiny_path), token=TOKEN) as srv:
        cfg = CaveDatasetConfig(name="no-meshes", server_address=srv.url, datastack=srv.datastack,
                                timeout=20.0)
        w, session = _dock(qtbot, viewer, CaveSource(cfg, auth_token=TOKEN))
        _load(session, [tiny.B2])
        w.meshes.display.value = "meshes"
        _idle(qtbot, w)
        assert w.meshes.message.value.startswith("No meshes:")
        assert f"no mesh for root {int(tiny.B2)}" in w.meshes.message.value
        w.meshes.context.value = "brain"
        _idle(qtbot, w)
        assert "No brain mesh:" in w.meshes.message.value
        assert find_layer(viewer, "skeletons").visible
