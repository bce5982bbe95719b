"""The QC dock's EM over the network: the local CAVE server stops in the middle of a review.

Real components throughout: the demo served by ``napari_crant.server`` (EM as precomputed,
supervoxels as graphene, the chunkedgraph), read by the real tensorstore / cloud-volume
readers through a :class:`CaveSource`; the server is stopped, and started again on the same
port, while the dock is open.
"""

import numpy as np
import pytest
from qc_helpers import build, load, wait

from napari_crant._qt.session import find_layer
from napari_crant.demo import TINY_NEURONS, make_demo
from napari_crant.scene.loading import pick_demo_neuron
from napari_crant.server.app import create_app
from napari_crant.server.runner import LocalCaveServer, free_port
from napari_crant.sources.cave import CaveDatasetConfig, CaveSource
from napari_crant.sources.snapshot import SnapshotSource

#: cloud-volume accepts only hex or base64 tokens (a made-up one)
TOKEN = "9c1e5a7f3b2d4e6f8a0b1c2d3e4f5a6b"
WIDTH_NM, SECTIONS = 512, 3


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("em-network") / "demo"
    make_demo(out, n_neurons=TINY_NEURONS, seed=3)
    return out


@pytest.fixture
def offline_home(tmp_path, monkeypatch):
    """HOME without a real token, no proxy for loopback, the CAVE cache in the test's folder."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NAPARI_CRANT_CAVE_CACHE_DIR", str(tmp_path / "cave-cache"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


def _serve(source, port):
    app = create_app(source, datastack="kronauer_ant", token=TOKEN)
    return LocalCaveServer(app, "127.0.0.1", port, "kronauer_ant").start()


def _shown(qc):
    """Whether the EM drawn is that of the synapse shown."""
    shown = qc.em_panel.shown
    return shown is not None and shown.synapse_id == int(qc.current_row()["synapse_id"])


def test_losing_the_server_mid_review_keeps_the_review_and_em_comes_back(qtbot, qc, demo, offline_home):
    snapshot = SnapshotSource(demo)
    port = free_port()
    server = _serve(snapshot, port)
    try:
        cave = CaveSource(CaveDatasetConfig(name="em-over-network", server_address=server.url,
                                            datastack=server.datastack, timeout=10.0), auth_token=TOKEN)
        viewer = qc.session.viewer
        panel = qc.em_panel
        panel.set_size(WIDTH_NM, SECTIONS)
        load(viewer, [pick_demo_neuron(demo)], cave)
        build(qtbot, qc)
        qtbot.waitUntil(lambda: _shown(qc), timeout=120_000)
        em = find_layer(viewer, "qc_em")
        assert em.visible and em.data.dtype == np.uint8
        # the EM came over HTTP from the server, not from the snapshot on disk
        assert panel.shown.em.attrs["url"] == f"precomputed://{server.url}/tissue/{server.datastack}/em"
        qtbot.waitUntil(lambda: not panel.workers, timeout=120_000)

        server.stop()  # the network is gone
        n = len(qc.review.items)
        far = min(n - 1, qc.review.current + panel.prefetch.ahead + 2)  # beyond what was fetched ahead
        assert panel.prefetch.status(int(qc.review.items.iloc[far]["synapse_id"])) != "ready"
        qc.review.go_to(far)
        key = int(qc.current_row()["synapse_id"])
        qtbot.waitUntil(lambda: panel.prefetch.status(key) == "failed", timeout=120_000)
        text = panel.status.text()
        assert f"No EM at synapse {key}" in text and "em-over-network" in text
        assert any(w in text for w in ("could not be read", "cannot connect", "unreachable")), text
        assert "Traceback" not in text and TOKEN not in text
        assert "#ff6b6b" in panel.status.styleSheet() and not panel.retry_button.isHidden()
        assert not em.visible  # no stale EM of another synapse

        # the review goes on: verdicts are stored, stepping works, the neuron stays loaded
        assert qc.set_verdict("correct")
        assert qc.review.counts()["correct"] == 1
        qc.do("previous")
        assert qc.review.current == far
        assert qc.session.scene.neurons and find_layer(viewer, "skeletons") is not None

        server = _serve(snapshot, port)  # the network is back
        qc.em_panel.retry()
        qtbot.waitUntil(lambda: _shown(qc), timeout=120_000)
        assert em.visible and panel.shown.synapse_id == key
        assert panel.retry_button.isHidden() and "#ff6b6b" not in panel.status.styleSheet()
        assert str(key) in panel.status.text()
        qtbot.waitUntil(lambda: not panel.workers, timeout=120_000)
        wait(qtbot, qc)
    finally:
        server.stop()
