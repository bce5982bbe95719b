"""The loaded neurons' layers in batches (issue 11, stalls): an arrival writes only its own
batch's layers, big arrivals are written over several event-loop turns, and every feature
(legend, hover, click, colours, Clear) works across batches."""

import numpy as np
import pytest

import tiny
from conftest import run_load  # tests/qt/conftest.py
from napari_crant._qt import layer_batches, layer_writes
from napari_crant._qt.session import find_layers, get_session

A2, B2, CD = int(tiny.A2), int(tiny.B2), int(tiny.CD)
KINDS = ("skeletons", "somata", "pre", "post")


@pytest.fixture
def one_neuron_batches(monkeypatch):
    """Every neuron in a batch of its own; and a record of every layer whose data is set."""
    monkeypatch.setattr(layer_batches, "BATCH_NEURONS", 1)
    written = []
    set_data = layer_writes._set_layer_data

    def spy(layer, data, kwargs, ltype):
        written.append(layer)
        return set_data(layer, data, kwargs, ltype)

    monkeypatch.setattr(layer_writes, "_set_layer_data", spy)
    return written


def _roots(layer):
    return set(layer.features["root_id"])


def _wait_drawn(qtbot, session):
    qtbot.waitUntil(lambda: not session.drawing, timeout=30_000)


def test_an_arrival_writes_only_its_own_batch(qtbot, viewer, query, one_neuron_batches):
    session = get_session(viewer)
    query.ids.value = str(A2)
    run_load(qtbot, query)
    _wait_drawn(qtbot, session)
    first = {kind: find_layers(viewer, kind) for kind in KINDS}
    assert all(len(layers) == 1 for layers in first.values())
    assert first["skeletons"][0].name == "CRANT skeletons"  # one batch: plain names
    one_neuron_batches.clear()
    sliced = []
    for layer in (first[k][0] for k in KINDS):
        layer.events.set_data.connect(lambda *_, layer=layer: sliced.append(layer))
    query.ids.value = str(B2)
    run_load(qtbot, query)
    _wait_drawn(qtbot, session)
    # B2 has its own layers; A2's were neither written again nor sliced again
    for kind in KINDS:
        layers = find_layers(viewer, kind)
        assert len(layers) == 2 and layers[0] is first[kind][0]
        if kind != "somata" or len(layers[1].data):
            assert _roots(layers[1]) <= {str(B2)}
    assert _roots(find_layers(viewer, "skeletons")[0]) == {str(A2)}
    assert _roots(find_layers(viewer, "skeletons")[1]) == {str(B2)}
    assert not [layer for layer in one_neuron_batches if any(layer is first[k][0] for k in KINDS)]
    assert not sliced
    # names say which neurons each batch holds (loading positions, the legend's order)
    assert [layer.name for layer in find_layers(viewer, "skeletons")] == ["CRANT skeletons 1",
                                                                          "CRANT skeletons 2"]
    # loading A2 again writes its batch only
    one_neuron_batches.clear()
    query.ids.value = str(A2)
    run_load(qtbot, query)
    _wait_drawn(qtbot, session)
    b_layers = [find_layers(viewer, k)[1] for k in KINDS]
    assert one_neuron_batches and not [layer for layer in one_neuron_batches
                                       if any(layer is b for b in b_layers)]


def test_a_big_arrival_is_written_over_several_turns(qtbot, viewer, query, one_neuron_batches,
                                                     monkeypatch):
    monkeypatch.setattr(layer_batches, "TURN_POINTS", 1)  # one layer a turn
    session = get_session(viewer)
    turns = []
    write_turn = session.batches.write_turn

    def counted(*args, **kwargs):
        before = len(session.batches.writes)
        write_turn(*args, **kwargs)
        turns.append(len(session.batches.writes) - before)

    monkeypatch.setattr(session.batches, "write_turn", counted)
    before = len(session.batches.writes)  # the empty layers made when the dock opened
    query.ids.value = f"{A2} {B2} {CD}"
    run_load(qtbot, query)
    _wait_drawn(qtbot, session)
    assert len(session.scene.neurons) == 3 and len(session.batches.batches) == 3
    writes = session.batches.writes[before:]
    assert max(turns) <= 2 and sum(turns) == len(writes)
    assert len([t for t in turns if t]) >= 6  # 12 layers, written a turn at a time
    # every layer written exactly once, and holding its neuron
    assert sorted(writes) == sorted((b, k) for b in range(3) for k in KINDS)
    for i, root in enumerate(session.scene.neurons):  # each batch's layers hold its neuron only
        assert set().union(*(_roots(find_layers(viewer, k)[i]) for k in KINDS)) == {str(root)}
    # the canvas repaints again once the arrival is written
    assert viewer.window._qt_viewer.canvas.native.updatesEnabled()


def test_legend_hover_click_and_colours_across_batches(qtbot, viewer, query, one_neuron_batches):
    session = get_session(viewer)
    query.ids.value = f"{A2} {B2}"
    run_load(qtbot, query)
    _wait_drawn(qtbot, session)
    a_sk, b_sk = find_layers(viewer, "skeletons")
    # hide B2 in the legend: its own batch's layers hide it, A2's are untouched
    session.model.set_visible(B2, False)
    assert (b_sk.edge_color[:, 3] == 0).all() and (a_sk.edge_color[:, 3] == 1).all()
    for layer in find_layers(viewer, "pre")[1:] + find_layers(viewer, "post")[1:]:
        assert not layer.shown.any()
    session.model.set_visible(B2, True)
    assert (b_sk.edge_color[:, 3] == 1).all()
    # hover and click on B2's skeleton, in the second batch's layer
    for kind in ("pre", "post", "somata"):
        for layer in find_layers(viewer, kind):
            layer.visible = False
    node = b_sk.data[0, 0]
    root, text = session.picker.pick(node)
    assert root == B2 and text.startswith(f"skeleton of {B2}")
    assert session.picker.click(node) == B2 and session.model.selected == B2
    # a synapse of the second batch is picked whatever layer is active
    post = find_layers(viewer, "post")[1]
    post.visible = True
    viewer.layers.selection.active = a_sk
    root, text = session.picker.pick(post.data[0])
    assert root == B2 and "postsynapse" in text
    # colours by neuron: every batch's synapses take their neuron's colour
    query.color_by.value = "neuron"
    for root, layer in zip((A2, B2), find_layers(viewer, "pre"), strict=True):
        if len(layer.data):
            assert np.allclose(layer.face_color[:, :3], session.scene.color_of(root)[:3], atol=1e-6)


def test_clear_keeps_one_empty_batch_and_the_next_load_fills_it(qtbot, viewer, query, one_neuron_batches):
    session = get_session(viewer)
    query.ids.value = f"{A2} {B2}"
    run_load(qtbot, query)
    _wait_drawn(qtbot, session)
    first = find_layers(viewer, "skeletons")[0]
    query.clear_button.native.click()
    for kind in KINDS:
        layers = find_layers(viewer, kind)
        assert len(layers) == 1 and len(layers[0].data) == 0
    assert find_layers(viewer, "skeletons")[0] is first and first.name == "CRANT skeletons"
    query.ids.value = str(B2)
    run_load(qtbot, query)
    _wait_drawn(qtbot, session)
    assert find_layers(viewer, "skeletons") == [first] and _roots(first) == {str(B2)}


def test_a_camera_set_while_batches_are_written_is_kept(qtbot, viewer, query, one_neuron_batches,
                                                        monkeypatch):
    """A reopened session sets its saved camera when the load returns: the refit at the end of the
    queued writes must not undo it (nor a move by the user meanwhile)."""
    monkeypatch.setattr(layer_batches, "TURN_POINTS", 1)
    session = get_session(viewer)
    moved = {}

    def set_camera(_result):
        assert session.drawing  # the later batches are still queued
        camera = viewer.scene.camera
        camera.center = (0.0, 12_345.0, 23_456.0)
        camera.zoom = 0.0123
        moved["at"] = (tuple(camera.center), camera.zoom)

    query.ids.value = f"{A2} {B2} {CD}"
    worker = query.load()
    worker.returned.connect(set_camera)  # after the dock's own handler (connected first)
    qtbot.waitUntil(lambda: "at" in moved and not session.drawing, timeout=30_000)
    camera = viewer.scene.camera
    assert (tuple(camera.center), camera.zoom) == moved["at"]


def test_timers_run_between_write_turns(qtbot, viewer, query, one_neuron_batches, monkeypatch):
    """Between two turns the event loop runs due timers (and input): the turns are not chained
    as posted calls into one stall."""
    from qtpy.QtCore import Qt, QTimer

    monkeypatch.setattr(layer_batches, "TURN_POINTS", 1)  # one layer a turn
    session = get_session(viewer)
    ticks = []
    beat = QTimer()
    beat.setTimerType(Qt.TimerType.PreciseTimer)
    beat.timeout.connect(lambda: ticks.append(len(turns)))
    turns = []
    write_turn = session.batches.write_turn

    def counted(*args, **kwargs):
        write_turn(*args, **kwargs)
        turns.append(1)

    monkeypatch.setattr(session.batches, "write_turn", counted)
    query.ids.value = f"{A2} {B2} {CD}"
    beat.start(1)
    try:
        run_load(qtbot, query)
        _wait_drawn(qtbot, session)
    finally:
        beat.stop()
    assert len(turns) >= 6
    # the heartbeat fired after every turn but the last (a turn number seen by a tick)
    seen = set(ticks)
    assert all(n in seen for n in range(1, len(turns)))


def test_a_turn_stops_before_a_layer_that_would_pass_its_points(qtbot, viewer, query, monkeypatch):
    """A turn writes at most TURN_POINTS points, unless one layer alone holds more (then that
    layer is the turn): an arrival into existing layers was written in one long turn."""
    session = get_session(viewer)
    query.ids.value = f"{A2} {B2}"
    run_load(qtbot, query)  # the layers exist: the next arrival only sets their data
    turns = []
    write_turn = session.batches.write_turn

    def counted(*args, **kwargs):
        before = len(session.batches.writes)
        write_turn(*args, **kwargs)
        turns.append([kind for _, kind in session.batches.writes[before:]])

    monkeypatch.setattr(session.batches, "write_turn", counted)
    query.ids.value = str(CD)
    sizes_before = {kind: len(find_layers(viewer, kind)[0].data) for kind in KINDS}
    limit = sizes_before["skeletons"] + sizes_before["somata"] + 2  # less than skeletons, somata, pre
    monkeypatch.setattr(layer_batches, "TURN_POINTS", limit)
    run_load(qtbot, query)  # CD joins the batch: its four layers are written again
    sizes = {kind: len(find_layers(viewer, kind)[0].data) for kind in KINDS}
    assert len(session.batches.batches) == 1 and sizes["pre"] > 2
    written = [t for t in turns if t]
    assert sorted(k for t in written for k in t) == sorted(KINDS)
    for kinds in written:  # within the limit, or a single layer
        assert len(kinds) == 1 or sum(sizes[k] for k in kinds) <= limit, (written, sizes, limit)
    assert len(written) >= 2, written
