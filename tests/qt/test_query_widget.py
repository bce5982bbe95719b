"""The query dock driven as a user would: type IDs, press Load, wait, look at the layers."""

import numpy as np
import pytest

import tiny
from conftest import run_load  # tests/qt/conftest.py
from napari_crant._qt.session import find_layer, get_session


def _layer_roots(layer):
    return set(layer.features["root_id"])


def _nothing_drawn(viewer):
    """No neuron in the layers (the query dock makes them empty when it opens, see prepare_layers)."""
    layers = [find_layer(viewer, kind) for kind in ("skeletons", "somata", "pre", "post")]
    return all(layer is None or len(layer.data) == 0 for layer in layers)


def test_the_dock_prepares_empty_layers_for_the_first_load(qtbot, viewer, query):
    qtbot.waitUntil(lambda: find_layer(viewer, "post") is not None, timeout=10_000)
    kinds = ("skeletons", "somata", "pre", "post")
    assert [len(find_layer(viewer, k).data) for k in kinds] == [0, 0, 0, 0]
    made = [id(find_layer(viewer, k)) for k in kinds]
    query.ids.value = str(tiny.A2)
    run_load(qtbot, query)
    assert [id(find_layer(viewer, k)) for k in kinds] == made  # filled, not made again
    assert len(find_layer(viewer, "skeletons").data) == 3 and len(find_layer(viewer, "pre").data) > 0


def test_load_pasted_ids_builds_layers(qtbot, viewer, query, tiny_path):
    import napari_crant as nc

    query.ids.value = f"root_id\n{tiny.A2}\n{tiny.B2}\n"  # a spreadsheet column with header
    worker = run_load(qtbot, query)
    assert worker is not None
    assert query.progress == (5, 5, "done")  # 2 skeletons + synapses, annotations, done
    assert getattr(worker, "pbar", None) is None  # no animated napari progress (repaints the window)
    assert query.message.value.startswith("Loaded 2 neurons"), query.message.value
    sk = find_layer(viewer, "skeletons")
    assert sk.data.shape == (4, 2, 3)  # A2: 4 nodes -> 3 edges; B2: 2 nodes -> 1 edge
    assert _layer_roots(sk) == {str(tiny.A2), str(tiny.B2)}
    assert sk.features["root_id"].dtype == object  # strings, never float
    assert sk.vector_style == "line"
    assert tuple(str(u) for u in sk.units) == ("nanometer",) * 3
    # synapses match attach_synapses from the query core
    n = nc.get_l2_skeleton([int(tiny.A2), int(tiny.B2)], dataset=tiny_path)
    nc.attach_synapses(n, dataset=tiny_path)
    expected_pre = sorted(str(s) for x in n for s in x.connectors.query("type == 'pre'")["synapse_id"])
    pre = find_layer(viewer, "pre")
    post = find_layer(viewer, "post")
    assert sorted(pre.features["synapse_id"]) == expected_pre
    assert len(post.data) == sum((x.connectors["type"] == "post").sum() for x in n)
    assert set(pre.features.columns) >= {"synapse_id", "partner_id", "size", "distance", "root_id"}
    # positions are (z, y, x) nm: synapse 1 pre point is at x = (10000 // 8 + 1) * 8
    row = pre.features.index[pre.features["synapse_id"] == str(tiny.synapse_id(1))][0]
    z, y, x = pre.data[row]
    assert (x, y, z) == ((10000 // 8 + 1) * 8, 10000, 100 * 42)
    assert find_layer(viewer, "somata").data.shape == (2, 3)  # both have a nucleus


def test_loading_more_adds_to_the_same_layers(qtbot, viewer, query):
    query.ids.value = str(tiny.A2)
    run_load(qtbot, query)
    n_layers = len(viewer.layers)
    query.ids.value = str(tiny.B2)
    run_load(qtbot, query)
    assert len(viewer.layers) == n_layers
    assert _layer_roots(find_layer(viewer, "skeletons")) == {str(tiny.A2), str(tiny.B2)}
    assert list(get_session(viewer).scene.neurons) == [int(tiny.A2), int(tiny.B2)]
    colors = find_layer(viewer, "skeletons").edge_color
    assert not np.allclose(colors[0], colors[-1])  # a distinct colour per neuron


def test_outdated_id_is_reported(qtbot, viewer, query):
    query.ids.value = str(tiny.A0)
    run_load(qtbot, query)
    msg = query.message.value
    assert f"{tiny.A0} was edited; showing {tiny.A2} instead" in msg
    assert _layer_roots(find_layer(viewer, "skeletons")) == {str(tiny.A2)}


@pytest.mark.parametrize("text", ["123, abc", "1.5e17", "-5"])
def test_bad_ids_inline_message_nothing_loaded(qtbot, viewer, query, text):
    query.ids.value = text
    worker = run_load(qtbot, query)
    assert worker is None
    assert query.message.value.startswith("Nothing loaded")
    assert "not neuron IDs" in query.message.value
    assert _nothing_drawn(viewer)
    assert query.load_button.enabled


def test_empty_input_asks_for_ids(qtbot, query):
    assert run_load(qtbot, query) is None
    assert "Paste neuron IDs" in query.message.value


def test_unknown_id_error_from_source(qtbot, viewer, query, monkeypatch):
    import napari_crant._qt.query_widget as qw

    shown = []
    monkeypatch.setattr(qw, "show_error", shown.append)
    query.ids.value = str(tiny.UNKNOWN)
    worker = run_load(qtbot, query)
    assert len(shown) == 1 and str(tiny.UNKNOWN) in shown[0]  # a notification too
    assert worker is not None
    assert query.message.value.startswith("Nothing loaded")
    assert str(tiny.UNKNOWN) in query.message.value
    assert _nothing_drawn(viewer)
    assert query.load_button.enabled and not query.cancel_button.enabled


def test_bad_dataset_error(qtbot, viewer, query, tmp_path):
    query.dataset.value = str(tmp_path / "missing")
    query.ids.value = str(tiny.A2)
    run_load(qtbot, query)
    assert "unknown dataset" in query.message.value
    assert _nothing_drawn(viewer)


def test_cancel_stops_the_load(qtbot, viewer, query, monkeypatch):
    import time

    import napari_crant.scene.loading as loading

    def slow(ids, should_stop, **kwargs):  # load_neurons' contract: stop when asked
        for i in range(200):
            time.sleep(0.02)
            yield i, 200, "slow"
            if should_stop():
                return loading.LoadResult([], loading.pd.DataFrame(), loading.pd.DataFrame(), {}, {},
                                          requested=1)
        raise AssertionError("not cancelled")

    monkeypatch.setattr(loading, "load_neurons", slow)
    query.ids.value = str(tiny.A2)
    query.load_button.native.click()
    worker = query.worker
    assert worker is not None and query.cancel_button.enabled
    qtbot.waitUntil(lambda: query.message.value.startswith("Loading: slow"), timeout=5000)
    with qtbot.waitSignal(worker.finished, timeout=10_000):
        query.cancel_button.native.click()
    assert "Cancelled" in query.message.value
    skeletons = find_layer(viewer, "skeletons")
    assert skeletons is None or len(skeletons.data) == 0
    assert query.load_button.enabled


def test_annotation_search_counts_then_loads(qtbot, viewer, query):
    query.search["cell_type"].value = "pn_da1"  # case-insensitive by default
    qtbot.waitUntil(lambda: query.match_label.value == "1 neuron match", timeout=10_000)
    query.regex.value = True
    query.search["cell_type"].value = ""
    query.search["side"].value = "left|right"
    qtbot.waitUntil(lambda: query.match_label.value == "2 neurons match", timeout=10_000)
    run_load(qtbot, query)
    # annotations name A0 (-> A2) and B0 (split into B2 + X: B2 keeps most of it)
    assert _layer_roots(find_layer(viewer, "skeletons")) == {str(tiny.A2), str(tiny.B2)}


def test_versions_listed_and_used(qtbot, query, viewer):
    worker = query.refresh_versions()
    qtbot.waitSignal(worker.finished, timeout=10_000).wait() if worker.is_running else None
    qtbot.waitUntil(lambda: "2" in query.materialization.choices, timeout=10_000)
    assert list(query.materialization.choices) == ["latest", "live", "3", "2"]  # 1 is invalid
    query.materialization.value = "2"  # before op 2: B0 not yet split
    query.ids.value = str(tiny.B2)
    run_load(qtbot, query)
    assert get_session(viewer).scene.provenance["materialization_version"] == 2
    assert f"{tiny.B2} was edited; showing {tiny.B0} instead" in query.message.value


def test_color_by_partner(qtbot, viewer, query):
    query.ids.value = str(tiny.A2)
    run_load(qtbot, query)
    pre = find_layer(viewer, "pre")
    by_type = pre.face_color.copy()
    assert np.allclose(by_type, by_type[0])
    query.color_by.value = "partner"
    assert not np.allclose(pre.face_color, by_type)


def test_layer_writes_off_main_thread_raise(qtbot, viewer, query):
    import threading

    from napari_crant._qt.session import apply_layer

    query.ids.value = str(tiny.A2)
    run_load(qtbot, query)
    scene = get_session(viewer).scene
    errors = []

    def off_thread():
        try:
            apply_layer(viewer, *scene.skeleton_layer())
        except RuntimeError as e:
            errors.append(e)

    t = threading.Thread(target=off_thread)
    t.start()
    t.join()
    assert errors and "main thread" in str(errors[0])


def test_ui_stays_responsive_while_loading(qtbot, viewer, query, monkeypatch):
    import time

    import napari_crant.scene.loading as loading

    real = loading.load_neurons

    def slow(ids, **kwargs):
        for i in range(10):
            time.sleep(0.05)
            yield i, 10, "slow"
        return (yield from real(ids, **kwargs))

    monkeypatch.setattr(loading, "load_neurons", slow)
    query.ids.value = str(tiny.A2)
    query.load_button.native.click()
    ticks = []
    from qtpy.QtCore import QTimer

    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(20)
    qtbot.waitUntil(lambda: query.worker is None, timeout=30_000)
    timer.stop()
    assert len(ticks) >= 10  # the event loop kept running during the load
    assert query.message.value.startswith("Loaded 1 neuron")


def test_a_pending_progress_message_never_replaces_the_final_one(qtbot, viewer, query):
    # the race seen under load: the worker's result is drawn, the throttled progress timer falls
    # due, and only then does the worker thread emit `finished`
    results = []
    query.ids.value = str(tiny.A2)
    with qtbot.waitSignal(query.load_button.native.clicked, timeout=1000):
        query.load_button.native.click()
    query._last_worker.returned.connect(results.append)
    qtbot.waitUntil(lambda: query.worker is None, timeout=30_000)
    assert results
    query.worker = query._last_worker  # the same load, before its `finished` arrives
    query._on_progress((1, 2, "first"))
    query._on_progress((2, 2, "pending"))  # throttled: waits for the timer
    query._on_returned(results[0])
    assert query.message.value.startswith("Loaded 1 neuron")
    qtbot.wait(3 * query._progress_timer.interval())
    assert query.message.value.startswith("Loaded 1 neuron")
    query._on_finished()


def test_2d_view_projects_the_whole_z_range(qtbot, viewer, query):
    viewer.dims.ndisplay = 2
    query.ids.value = f"{tiny.A2} {tiny.CD}"  # CD at z = 8400 nm, A2 at 4200 nm
    query.materialization.choices = ["latest", "live"]
    query.materialization.value = "live"
    run_load(qtbot, query)
    assert find_layer(viewer, "pre").projection_mode == "all"
    z = viewer.dims.range[0]
    assert viewer.dims.thickness[0] >= z.stop - z.start


def test_unexpected_source_error_is_reported(qtbot, viewer, query, monkeypatch):
    from napari_crant.sources.snapshot import SnapshotSource

    def broken(self, *args, **kwargs):
        raise OSError("disk on fire")

    monkeypatch.setattr(SnapshotSource, "synapses", broken)
    query.ids.value = str(tiny.A2)
    run_load(qtbot, query)
    assert query.message.value == "Nothing loaded: disk on fire"
    assert _nothing_drawn(viewer)
    assert query.load_button.enabled


def test_spreadsheet_paste_with_tabs_quotes_and_duplicates(qtbot, viewer, query):
    query.ids.value = f'"{tiny.A2}"\t;\n  {tiny.B2},{tiny.A2}\r\n'
    run_load(qtbot, query)
    assert list(get_session(viewer).scene.neurons) == [int(tiny.A2), int(tiny.B2)]


def test_no_match_search_error(qtbot, viewer, query):
    query.search["cell_type"].value = "no_such_type"
    qtbot.waitUntil(lambda: query.match_label.value == "0 neurons match", timeout=10_000)
    run_load(qtbot, query)
    assert query.message.value.startswith("Nothing loaded: no neurons match")


def test_another_neuron_updates_the_dims_once_and_refreshes_no_layer_twice(qtbot, viewer, query, monkeypatch):
    """Drawing a load (issue 11, stalls): the viewer's dims are updated once for all the layers
    (not once per layer), and the skeleton layer is not refreshed again by the mesh row
    (napari refreshes a layer at every ``visible = True``, changed or not)."""
    from napari.components.layerlist import LayerList

    query.ids.value = str(tiny.A2)
    run_load(qtbot, query)
    qtbot.wait(100)
    seen = {"ranges": 0, "skeleton refresh": 0}
    find_layer(viewer, "skeletons").events.set_data.connect(
        lambda *_: seen.__setitem__("skeleton refresh", seen["skeleton refresh"] + 1))
    ranges = LayerList._ranges.fget

    def counted(layers):
        seen["ranges"] += 1  # read by the viewer's _on_layers_change (the dims update)
        return ranges(layers)

    monkeypatch.setattr(LayerList, "_ranges", property(counted))
    query.ids.value = str(tiny.B2)
    run_load(qtbot, query)
    qtbot.wait(100)
    # the write slices the layer it wrote exactly once (napari's own slicer, which re-sliced it before when
    # the range grew, does not emit ``set_data`` here): never a second time for the mesh row
    assert seen == {"ranges": 1, "skeleton refresh": 1}
    assert _layer_roots(find_layer(viewer, "skeletons")) == {str(tiny.A2), str(tiny.B2)}
