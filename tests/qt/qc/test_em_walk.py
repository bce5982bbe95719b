"""A fast walk through the synapses with the EM panel on: never another synapse's EM, and it catches up."""

import numpy as np
import pytest
from qc_helpers import build, load, wait
from qtpy.QtCore import QTimer

from napari_crant._qt.session import find_layer
from napari_crant.demo import TINY_NEURONS, make_demo
from napari_crant.scene.loading import pick_demo_neuron

#: a small cutout keeps the test quick
WIDTH_NM, SECTIONS = 512, 1


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("walk") / "demo"
    make_demo(out, n_neurons=TINY_NEURONS, seed=3)
    return out


def _key(qc):
    row = qc.current_row()
    return None if row is None else int(row["synapse_id"])


def test_a_fast_walk_never_shows_another_synapses_em_and_catches_up(qtbot, qc, demo):
    viewer = qc.session.viewer
    panel = qc.em_panel
    panel.set_size(WIDTH_NM, SECTIONS)
    load(viewer, [pick_demo_neuron(demo)], demo)
    build(qtbot, qc)
    qtbot.waitUntil(lambda: panel.shown is not None and panel.shown.synapse_id == _key(qc), timeout=300_000)
    drawn, wrong = [], []

    def check():
        """What the EM layers show is the current synapse's cutout, or nothing."""
        em, shown = find_layer(viewer, "qc_em"), panel.shown
        if em is None or not em.visible:
            return
        if shown is None or shown.synapse_id != _key(qc):
            wrong.append((None if shown is None else shown.synapse_id, _key(qc)))
        elif not np.allclose(em.translate, shown.em.translate):
            wrong.append(("layer", _key(qc)))
        elif not drawn or drawn[-1] != shown.synapse_id:
            drawn.append(shown.synapse_id)

    timer = QTimer()
    timer.timeout.connect(check)
    timer.start(1)
    try:
        # `n` held down (auto-repeat every ~30 ms), then a reviewer pressing it every ~100 ms: the
        # walk is the input, its pace the keyboard's
        for pace in [30] * 20 + [100] * 8:
            qc.do("next")
            check()
            qtbot.wait(pace)
            check()
        # it stops: the EM of the synapse it stopped at arrives (not those walked past first)
        stop = _key(qc)
        qtbot.waitUntil(lambda: panel.shown is not None and panel.shown.synapse_id == stop, timeout=300_000)
        check()
        assert find_layer(viewer, "qc_em").visible
    finally:
        timer.stop()
    assert wrong == []
    assert drawn[-1] == stop
    wait(qtbot, qc)


def test_a_fetch_the_walk_passes_is_cancelled_in_the_child_and_never_shown(qtbot, qc, demo):
    viewer = qc.session.viewer
    panel, prefetch = qc.em_panel, qc.em_panel.prefetch
    panel.set_size(4096, 7)  # seconds of drawing per cutout: the walk passes the one drawn
    load(viewer, [pick_demo_neuron(demo)], demo)
    build(qtbot, qc)
    renderer = panel.renderer
    first = _key(qc)
    qtbot.waitUntil(lambda: renderer.current == first, timeout=300_000)  # the child draws it
    qc.do("next")  # the walk passes it
    second = _key(qc)
    assert second != first and not prefetch.still_wanted(first)
    qtbot.waitUntil(lambda: prefetch.abandoned >= 1, timeout=120_000)
    assert renderer.cancelled == 1 and first not in prefetch and first not in prefetch.failures
    qtbot.waitUntil(lambda: panel.shown is not None and panel.shown.synapse_id == second, timeout=300_000)
    assert first not in prefetch and renderer.started == 1  # the child was not restarted
    wait(qtbot, qc)
