"""napari_crant.view, sessions saved and reopened through napari (npe2 writer/reader), Neuroglancer link."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import napari_crant as nc
import tiny
from napari_crant._qt.session import get_session
from napari_crant._qt.session_io import capture
from napari_crant._qt.view import ViewError, camera, open_docks
from napari_crant.ids import InvalidIDError
from napari_crant.neuroglancer import decode_url
from napari_crant.session_file import SUFFIX, read_session


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_CRANT_DATA_DIR", str(tmp_path / "data"))  # QC verdicts


def _query(viewer):
    return open_docks(viewer)["Query neurons"]


def _wait(qtbot, viewer, timeout=60_000):
    """Until every worker of the docks is done (loads, adjacency, links)."""
    widgets = open_docks(viewer)
    qtbot.waitUntil(lambda: all(not getattr(w, "workers", ()) and getattr(w, "worker", None) is None
                                for w in widgets.values()), timeout=timeout)


def test_view_returns_at_once_then_loads_and_reuses_the_docks(qtbot, make_napari_viewer, tiny_path):
    viewer = make_napari_viewer()
    returned = nc.view([tiny.A2, str(tiny.B2)], viewer=viewer, dataset=tiny_path, threshold=1)
    assert returned is viewer
    query = _query(viewer)
    assert query.worker is not None  # returned while the worker loads
    _wait(qtbot, viewer)
    scene = get_session(viewer).scene
    assert [int(r) for r in scene.root_ids] == [int(tiny.A2), int(tiny.B2)]
    assert query.dataset.value == tiny_path and query.threshold.value == 1
    docks = dict(viewer.window.dock_widgets)
    assert {f"{name} (napari-crant)" for name in ("Query neurons", "Partners", "Adjacency")} <= set(docks)
    nc.view(tiny.A0, viewer=viewer, materialization=2, top_partners=0)
    assert len(viewer.window.dock_widgets) == len(docks)  # same docks, no duplicates
    assert query.materialization.value == "2"
    _wait(qtbot, viewer)
    assert get_session(viewer).params.materialization == 2
    assert f"{tiny.A0} was edited; showing {tiny.A2} instead" in query.message.value  # its root at v2


def test_view_refuses_bad_ids_and_a_second_concurrent_load(qtbot, make_napari_viewer, tiny_path):
    with pytest.raises(InvalidIDError, match="'abc'"):
        nc.view(["abc"])  # before any window opens
    viewer = make_napari_viewer()
    nc.view([tiny.A2], viewer=viewer, dataset=tiny_path)
    with pytest.raises(ViewError, match="still running"):
        nc.view([tiny.B2], viewer=viewer)
    _wait(qtbot, viewer)


def _loaded_viewer(qtbot, make_napari_viewer, tiny_path, **kw):
    viewer = make_napari_viewer(show=True)
    nc.view([tiny.B2, tiny.A2], viewer=viewer, dataset=tiny_path, **kw)
    _wait(qtbot, viewer)
    return viewer


def test_session_saved_by_napari_and_reopened(qtbot, make_napari_viewer, tiny_path, tmp_path):
    viewer = _loaded_viewer(qtbot, make_napari_viewer, tiny_path, threshold=2, color_by="neuron",
                            max_distance=5000.0)
    session = get_session(viewer)
    colours = {int(r): session.scene.color_of(int(r)).tolist() for r in session.scene.root_ids}
    viewer.dims.ndisplay = 3
    cam = camera(viewer)
    cam.center, cam.zoom, cam.angles = (900.0, 1500.0, 2500.0), 0.37, (15.0, -25.0, 80.0)
    path = tmp_path / f"review{SUFFIX}"
    written = viewer.layers.save(str(path), plugin="napari-crant")  # File > Save All Layers
    assert written == [str(path)]
    doc = json.loads(path.read_text())
    assert [n["root_id"] for n in doc["neurons"]] == [str(tiny.B2), str(tiny.A2)]
    assert doc["dataset"] == tiny_path and doc["filters"]["threshold"] == 2
    assert doc["color_by"] == "neuron" and doc["camera"]["zoom"] == pytest.approx(0.37)

    # change everything, then open the file as napari would (File > Open, drag and drop)
    session.clear()
    _query(viewer).threshold.value = 9
    _query(viewer).color_by.value = "type"
    viewer.dims.ndisplay = 2
    camera(viewer).zoom = 3.0
    # plugin=None: as File > Open and drag and drop (napari picks the reader by the file name)
    assert viewer.open(str(path), plugin=None) == []  # no layers from the reader: the query dock adds them
    _wait(qtbot, viewer)
    qtbot.waitUntil(lambda: viewer.dims.ndisplay == 3, timeout=5000)
    scene = get_session(viewer).scene
    assert [int(r) for r in scene.root_ids] == [int(tiny.B2), int(tiny.A2)]
    assert {int(r): scene.color_of(int(r)).tolist() for r in scene.root_ids} == colours
    assert _query(viewer).threshold.value == 2 and get_session(viewer).color_by == "neuron"
    cam = camera(viewer)
    np.testing.assert_allclose(cam.center, (900.0, 1500.0, 2500.0))
    np.testing.assert_allclose(cam.angles, (15.0, -25.0, 80.0))
    assert cam.zoom == pytest.approx(0.37)


def test_session_with_the_qc_position(qtbot, make_napari_viewer, tiny_path, tmp_path):
    viewer = _loaded_viewer(qtbot, make_napari_viewer, tiny_path)
    _, qc = viewer.window.add_plugin_dock_widget("napari-crant", "Synapse QC")
    box = qc.review_panel.neuron
    index = next((i for i in range(box.count()) if box.itemData(i) is not None
                  and int(box.itemData(i)) == int(tiny.A2)), -1)
    assert index >= 0
    box.setCurrentIndex(index)
    qc.build()
    qtbot.waitUntil(lambda: not qc.workers and len(qc.review.items) > 2, timeout=60_000)
    qc.review.go_to(2)
    saved_synapse = int(qc.current_row()["synapse_id"])
    path = nc.write_session(tmp_path / "with-qc", capture(viewer))
    state = read_session(path)
    assert state.qc is not None and state.qc.root_id == int(tiny.A2) and state.qc.synapse_id == saved_synapse
    qc.review.go_to(0)
    assert int(qc.current_row()["synapse_id"]) != saved_synapse
    _query(viewer).share.open(path)  # the dock's "Open session…" without the file dialog
    _wait(qtbot, viewer)
    qtbot.waitUntil(lambda: not qc.workers and qc.current_row() is not None
                    and int(qc.current_row()["synapse_id"]) == saved_synapse, timeout=60_000)
    assert qc.review.root == int(tiny.A2)
    qc.cleanup()


def test_open_session_errors_are_shown_not_raised(qtbot, make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    query = _query(viewer)
    bad = tmp_path / f"bad{SUFFIX}"
    bad.write_text('{"format": "napari-crant session", "version": 99, "dataset": "demo"}')
    assert query.share.open(bad) is None
    assert "newer napari-crant" in query.message.value and str(bad) in query.message.value
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert query.share.save(blocker / "s") is None  # a path under a file: a clear message
    assert "cannot write session" in query.message.value


def test_neuroglancer_button_link(qtbot, make_napari_viewer, tiny_path):
    from qtpy.QtGui import QGuiApplication

    viewer = _loaded_viewer(qtbot, make_napari_viewer, tiny_path)
    session = get_session(viewer)
    syn = session.scene.synapses()
    picked = syn["synapse_id"].to_numpy(np.uint64)[:2]
    session.highlight(picked)
    share = _query(viewer).share
    worker = share.make_link(open_browser=False)
    assert worker is not None
    qtbot.waitUntil(lambda: share.link is not None, timeout=60_000)
    assert QGuiApplication.clipboard().text() == share.link
    state = decode_url(share.link)
    layers = {layer["name"]: layer for layer in state["layers"]}
    seg = layers["CRANTb segmentation"]
    assert seg["segments"] == [str(tiny.B2), str(tiny.A2)]
    for r in (tiny.B2, tiny.A2):
        rgb = np.round(session.scene.color_of(int(r))[:3] * 255).astype(int)
        assert seg["segmentColors"][str(r)] == "#{:02x}{:02x}{:02x}".format(*rgb)
    notes = layers["synapses"]["annotations"]
    assert {a["description"].split()[1] for a in notes} == {str(int(s)) for s in picked}
    rows = syn[np.isin(syn["synapse_id"].to_numpy(np.uint64), picked)]
    want = sorted(map(tuple, rows[["x", "y", "z"]].drop_duplicates().to_numpy(float).tolist()))
    assert sorted(tuple(a["point"]) for a in notes) == want
    assert "demo's" in _query(viewer).message.value  # a snapshot's IDs: Neuroglancer warns


def test_neuroglancer_needs_neurons(make_napari_viewer):
    viewer = make_napari_viewer()
    query = _query(viewer)
    assert query.share.make_link() is None
    assert "Load neurons first" in query.message.value


def _cli(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-c", "import sys; from napari_crant.cli import main; sys.exit(main())", *args],
        env=dict(os.environ), capture_output=True, text=True, timeout=timeout)


def test_view_command(tmp_path, tiny_path):
    bad = _cli("view", "123", "abc")
    assert bad.returncode == 2 and "'abc'" in bad.stderr
    out = tmp_path / "view.png"
    proc = _cli("view", str(tiny.A2), str(tiny.B2), "--dataset", tiny_path, "--screenshot", str(out),
                "--timeout", "120")
    assert proc.returncode == 0, proc.stderr[-3000:]
    from imageio.v3 import imread

    img = imread(out)
    assert img.shape[0] > 500 and img[..., :3].std() > 5


def test_view_command_opens_a_session_file(tmp_path, tiny_path):
    from napari_crant.session_file import CameraState, SessionState, write_session

    path = write_session(tmp_path / "s", SessionState(
        dataset=tiny_path, neurons=[(int(tiny.A2), None)],
        camera=CameraState(center=(0.0, 1000.0, 1000.0), zoom=0.05, ndisplay=2)))
    out = tmp_path / "session.png"
    proc = _cli("view", str(path), "--screenshot", str(out), "--timeout", "120")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert out.is_file()
    broken = tmp_path / f"broken{SUFFIX}"
    broken.write_text("{")
    proc = _cli("view", str(broken))
    assert proc.returncode == 2 and "is not JSON" in proc.stderr


def test_a_reopened_session_keeps_its_colours_not_the_palettes(qtbot, make_napari_viewer, tiny_path,
                                                                tmp_path):
    from napari_crant._qt.session import find_layer

    viewer = _loaded_viewer(qtbot, make_napari_viewer, tiny_path, color_by="neuron")
    path = tmp_path / f"colours{SUFFIX}"
    viewer.layers.save(str(path), plugin="napari-crant")
    doc = json.loads(path.read_text())
    saved = {str(tiny.B2): [0.1, 0.2, 0.3, 1.0], str(tiny.A2): [0.9, 0.8, 0.7, 1.0]}  # off-palette
    for neuron in doc["neurons"]:
        neuron["color"] = saved[neuron["root_id"]]
    path.write_text(json.dumps(doc))
    assert [c for _, c in read_session(path).neurons] == [tuple(saved[str(tiny.B2)]),
                                                         tuple(saved[str(tiny.A2)])]
    get_session(viewer).clear()
    nc.view([tiny.A2], viewer=viewer, dataset=tiny_path)  # the palette's first colour goes to A2
    _wait(qtbot, viewer)
    viewer.open(str(path), plugin=None)
    _wait(qtbot, viewer)
    session = get_session(viewer)
    scene = session.scene
    assert [int(r) for r in scene.root_ids] == [int(tiny.B2), int(tiny.A2)]
    for root in (tiny.B2, tiny.A2):
        expected = saved[str(root)]
        np.testing.assert_allclose(scene.color_of(int(root)), expected)
        np.testing.assert_allclose(session.model.entry(int(root)).color, expected)  # legend
    skeletons = find_layer(viewer, "skeletons")
    roots = skeletons.features["root_id"].to_numpy()
    for root in (tiny.B2, tiny.A2):
        np.testing.assert_allclose(skeletons.edge_color[roots == str(root)][0], saved[str(root)], atol=1e-6)
    pre = find_layer(viewer, "pre")  # coloured by neuron
    proots = pre.features["root_id"].to_numpy()
    np.testing.assert_allclose(pre.face_color[proots == str(tiny.B2)][0], saved[str(tiny.B2)], atol=1e-6)
    # saved again: the same colours
    again = nc.write_session(tmp_path / "again", capture(viewer))
    assert [c for _, c in read_session(again).neurons] == [tuple(saved[str(tiny.B2)]),
                                                           tuple(saved[str(tiny.A2)])]
